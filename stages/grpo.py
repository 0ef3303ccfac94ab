"""grpo: TRL GRPOTrainer from the SFT model; rewards are the task scorers.

    python stages/grpo.py --params params.yaml --data data/reward/train.jsonl --init models/sft \
        --out models/grpo --ckpt models/checkpoints/grpo --live metrics/grpo --completions metrics/grpo_completions.csv
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from tunepipe import TunepipeError, cli, config, generation, io, tasks, training


def grpo_rows(data: str, only: list[str] | None) -> list[dict]:
    """The rows GRPO can reward: those with a spec (imported logs may have none), of the
    tasks in ``grpo.tasks`` (null: every task)."""
    for name in only or []:
        tasks.get(name)   # a misspelled task is an error, not an empty filter
    rows = [r for r in io.read_jsonl(data, required=("task", "spec"))
            if r["spec"] is not None and (only is None or r["task"] in only)]
    if not rows:
        raise TunepipeError(f"{data}: no rows of grpo.tasks {only} with a spec to reward")
    return rows


def grpo(params: str = "params.yaml", data: str = "data/reward/train.jsonl", init: str = "models/sft",
         out: str = "models/grpo", ckpt: str = "models/checkpoints/grpo", live: str = "metrics/grpo",
         completions: str = "metrics/grpo_completions.csv") -> None:
    p = config.load(params)
    args = config.typed(training.GRPOArgs, config.section(p, "grpo"), "grpo")
    training.grpo_trl_kwargs(args, where=p["__file__"])   # grpo.trl's names, before any launch
    training.check_budgets(args)
    if args.use_vllm:   # TRL's vLLM rollouts: colocate (in the training processes) or server (`trl vllm-serve`)
        if args.vllm_mode not in ("colocate", "server"):
            raise TunepipeError(f"grpo.vllm_mode: expected 'colocate' or 'server', got {args.vllm_mode!r}")
        generation.require_vllm("grpo.use_vllm=true", "grpo.use_vllm: false")
    cli.maybe_relaunch(config.section(p, "launch"))
    with tempfile.TemporaryDirectory(prefix="tunepipe-grpo-") as tmp:
        rows_path = Path(tmp) / "train.jsonl"   # content-hashed by the resume fingerprint
        io.write_jsonl(rows_path, grpo_rows(data, args.tasks))
        res = training.grpo(args, data=str(rows_path), init=init, out=out, ckpt_dir=ckpt, live_dir=live,
                            completions_csv=completions, seed=config.section(p, "base")["seed"])
    print(f"grpo: {res['steps']} steps, train loss {res['train_loss']:.4f} -> {out}")


if __name__ == "__main__":
    cli.run(grpo)
