"""sft: TRL SFTTrainer (LoRA or full fine-tune), resumable from persisted checkpoints.

    python stages/sft.py --params params.yaml --data data/reward/sft.jsonl --base models/base \
        --out models/sft --ckpt models/checkpoints/sft --live metrics/sft
"""
from __future__ import annotations

from tunepipe import cli, config, training


def sft(params: str = "params.yaml", data: str = "data/reward/sft.jsonl", base: str = "models/base",
        out: str = "models/sft", ckpt: str = "models/checkpoints/sft", live: str = "metrics/sft") -> None:
    p = config.load(params)
    args = config.typed(training.SFTArgs, config.section(p, "sft"), "sft")
    training.sft_trl_kwargs(args, where=p["__file__"])   # sft.trl's names, before any launch
    cli.maybe_relaunch(config.section(p, "launch"))
    res = training.sft(args, data=data, base=base, out=out, ckpt_dir=ckpt, live_dir=live,
                       seed=config.section(p, "base")["seed"])
    print(f"sft: {res['steps']} steps, train loss {res['train_loss']:.4f} -> {out}")


if __name__ == "__main__":
    cli.run(sft)
