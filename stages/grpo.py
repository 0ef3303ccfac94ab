"""grpo: TRL GRPOTrainer from the SFT model; rewards are the task scorers.

    python stages/grpo.py --params params.yaml --data data/reward/train.jsonl --init models/sft \
        --out models/grpo --ckpt models/checkpoints/grpo --live metrics/grpo --completions metrics/grpo_completions.csv
"""
from __future__ import annotations

from tunepipe import cli, config, training


def grpo(params: str = "params.yaml", data: str = "data/reward/train.jsonl", init: str = "models/sft",
         out: str = "models/grpo", ckpt: str = "models/checkpoints/grpo", live: str = "metrics/grpo",
         completions: str = "metrics/grpo_completions.csv") -> None:
    p = config.load(params)
    args = config.typed(training.GRPOArgs, config.section(p, "grpo"), "grpo")
    cli.maybe_relaunch(config.section(p, "launch"))
    res = training.grpo(args, data=data, init=init, out=out, ckpt_dir=ckpt, live_dir=live,
                        completions_csv=completions, seed=config.section(p, "base")["seed"])
    print(f"grpo: {res['steps']} steps, train loss {res['train_loss']:.4f} -> {out}")


if __name__ == "__main__":
    cli.run(grpo)
