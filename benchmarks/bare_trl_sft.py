"""A bare TRL SFT run, the baseline of benchmarks/sft_vs_trl.py: a plain ``SFTTrainer`` on
prompt/completion rows, no checkpoints, no evaluation, no dvclive.

    python benchmarks/bare_trl_sft.py --base models/base --data data/reward/train.jsonl --steps 40

The rows are those stages/sft.py trains on: the file's rows as the stage tokenizes them (an
environment's expert episode one sequence, every model turn a target), shuffled with
``random.Random(seed)``, the first ``int(len * eval_fraction)`` held out. Prints the Trainer's log dicts and, last,
one JSON line ``{"bare_sft": {...}}`` (steps, last logged loss, train_runtime).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="models/base")
    ap.add_argument("--data", default="data/reward/train.jsonl")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2.0e-3)
    ap.add_argument("--lr-scheduler", default="constant")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--eval-fraction", type=float, default=0.05)
    ap.add_argument("--activation-checkpointing", choices=["true", "false"], default=None,
                    help="recompute activations in backward; default: TRL's default (on)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/bare_trl_sft")
    a = ap.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    with open(a.data) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    set_seed(a.seed)
    tok = AutoTokenizer.from_pretrained(a.base)
    # the same token sequences as the stage: an environment's expert episode is one sequence,
    # every model turn a target (tunepipe.training.sft_examples / tokenize_examples)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from tunepipe.training import sft_examples, tokenize_examples

    rows = sft_examples(rows)
    random.Random(a.seed).shuffle(rows)
    rows = rows[int(len(rows) * a.eval_fraction):]
    ds = Dataset.from_dict(tokenize_examples(rows, tok))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(a.base)
    # TRL's SFTConfig defaults to bf16=True, which refuses to start on a CPU: fp32 there, as ours
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    # TRL's configs default gradient_checkpointing=True (transformers' activation_checkpointing)
    ckpt = {} if a.activation_checkpointing is None else {"activation_checkpointing": a.activation_checkpointing == "true"}
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(output_dir=a.out, per_device_train_batch_size=a.batch_size, max_steps=a.steps,
                       learning_rate=a.lr, lr_scheduler_type=a.lr_scheduler, seed=a.seed,
                       completion_only_loss=True, report_to="none", save_strategy="no", eval_strategy="no",
                       logging_steps=10, max_length=a.max_length, bf16=bf16, **ckpt),
        train_dataset=ds,
        processing_class=tok,
    )
    res = trainer.train()
    loss = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(json.dumps({"bare_sft": {"steps": res.global_step, "last_loss": loss[-1] if loss else None,
                                   "mean_loss": res.training_loss, "train_runtime": res.metrics["train_runtime"]}}))


if __name__ == "__main__":
    main()
