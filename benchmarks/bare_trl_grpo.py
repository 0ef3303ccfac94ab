"""A bare TRL GRPO run, the baseline of benchmarks/grpo_vs_trl.py: a plain ``GRPOTrainer`` on
the SAT train rows, rewarded by our SAT scorer, no checkpoints, no dvclive, no completion log.

    python benchmarks/bare_trl_grpo.py --init models/base --data data/reward/train.jsonl --steps 10

The reward is what ``grpo.reward: strict+partial`` gives SAT rows: ``tasks.score_batch`` (the
validator score) plus ``--partial-weight`` x the share of clauses satisfied. The group shape
(``--prompts-per-step`` x ``--num-generations``), completion length, learning rate, schedule,
temperature, beta, epsilon, loss type and reward scaling are arguments (grpo_vs_trl.py passes
params.yaml's). Prints the Trainer's log dicts and, last, one JSON line ``{"bare_grpo": {...}}``.
"""
from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def sat_reward(partial_weight: float):
    from tunepipe import tasks

    partial = tasks.get("sat").shaping["partial"]

    def reward(prompts, completions, spec, **kw):
        specs = [json.loads(s) for s in spec]
        scores = tasks.score_batch(["sat"] * len(specs), list(completions), specs)
        return [None if s is None else s + partial_weight * partial(c, sp)
                for s, c, sp in zip(scores, completions, specs)]

    return reward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--init", default="models/base")
    ap.add_argument("--data", default="data/reward/train.jsonl")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--prompts-per-step", type=int, default=4)
    ap.add_argument("--num-generations", type=int, default=16)
    ap.add_argument("--max-completion-length", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2.0e-4)
    ap.add_argument("--lr-scheduler", default="constant")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--beta", type=float, default=0.0)
    ap.add_argument("--epsilon", type=float, default=0.2)
    ap.add_argument("--loss-type", default="dapo")
    ap.add_argument("--scale-rewards", default="group")
    ap.add_argument("--partial-weight", type=float, default=0.2)
    ap.add_argument("--logging-steps", type=int, default=5)
    ap.add_argument("--activation-checkpointing", choices=["true", "false"], default=None,
                    help="recompute activations in backward; default: TRL's default (on)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/bare_trl_grpo")
    a = ap.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import GRPOConfig, GRPOTrainer

    with open(a.data) as f:
        rows = [r for r in map(json.loads, filter(str.strip, f)) if r["task"] == "sat" and r.get("spec") is not None]
    set_seed(a.seed)
    ds = Dataset.from_dict({"prompt": [r["prompt_text"] for r in rows], "spec": [json.dumps(r["spec"]) for r in rows]})
    tok = AutoTokenizer.from_pretrained(a.init)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(a.init)
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()   # TRL defaults bf16=True: fails on a CPU
    # TRL's configs default gradient_checkpointing=True (transformers' activation_checkpointing)
    ckpt = {} if a.activation_checkpointing is None else {"activation_checkpointing": a.activation_checkpointing == "true"}
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[sat_reward(a.partial_weight)],
        args=GRPOConfig(output_dir=a.out, per_device_train_batch_size=a.prompts_per_step * a.num_generations,
                        num_generations=a.num_generations, max_completion_length=a.max_completion_length,
                        learning_rate=a.lr, lr_scheduler_type=a.lr_scheduler, temperature=a.temperature, beta=a.beta,
                        epsilon=a.epsilon, loss_type=a.loss_type, scale_rewards=a.scale_rewards, max_steps=a.steps,
                        seed=a.seed, logging_steps=a.logging_steps, report_to="none", save_strategy="no", bf16=bf16, **ckpt),
        train_dataset=ds,
        processing_class=tok,
    )
    res = trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    print(json.dumps({"bare_grpo": {"steps": res.global_step, "last_reward": rewards[-1] if rewards else None,
                                    "train_runtime": res.metrics["train_runtime"]}}))


if __name__ == "__main__":
    main()
