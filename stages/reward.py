"""reward: turn each family's specs into what its scorer rewards (decision: Boltzmann
rewards of Q at ``reward.tau``), verify every reference answer is solved by its task's own
scorer, and write the SFT/GRPO/evaluation-ready splits (plus, per family that has one, a
rewarded table such as ``decision.csv`` with ``reward_action_*`` columns).

    python stages/reward.py --params params.yaml --data data/harmony --out data/reward

References are scored through the same path as a model completion (the rendered SFT
target), in parallel where the task runs programs (ABD/DED: the sandbox). Imported
evaluation logs (``source: import``) keep the score the validator gave them instead.
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from tunepipe import TunepipeError, cli, config, io, tasks
from tunepipe.rewarding import RewardArgs, rewarded, verify


def reward(params: str = "params.yaml", data: str = "data/harmony", out: str = "data/reward") -> None:
    args = config.typed(RewardArgs, config.section(config.load(params), "reward"), f"{params}: reward")
    if not args.tau > 0:
        raise TunepipeError(f"{params}: reward.tau: expected a number > 0, got {args.tau!r}")
    if args.normalize not in ("none", "minmax"):
        raise TunepipeError(f"{params}: reward.normalize: expected 'none' or 'minmax', got {args.normalize!r}")
    splits = {}
    for split in ("train", "test"):
        path = Path(data) / f"{split}.jsonl"
        rows = io.read_jsonl(path, required=io.ROW_FIELDS + ("prompt_text", "completion_text"))
        for i, row in enumerate(rows, 1):
            if row["spec"] is None and row.get("source") != "import":
                raise TunepipeError(f"{path}:{i}: row {row['id']} has no spec")
        tasks.check_rows(rows, str(path))   # rows a user brings: bad specs fail here, named
        splits[split] = rewarded(rows, args, str(path))
        if split == "train" and args.verify_references:
            verify(splits[split], str(path))
    with io.atomic_dir(out) as tmp:
        for split, rows in splits.items():
            io.write_jsonl(tmp / f"{split}.jsonl", rows)
        for name in sorted({r["task"] for r in splits["train"]}):
            family = tasks.get(name)
            if family.reward_table is not None:
                cols, recs = family.reward_table([r for r in splits["train"] if r["task"] == name])
                with open(tmp / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
                    w = csv.DictWriter(f, fieldnames=cols)
                    w.writeheader()
                    w.writerows(recs)
    for split, rows in splits.items():
        print(f"{split}: {len(rows)} rows {dict(Counter(r['task'] for r in rows))} -> {out}/{split}.jsonl")


if __name__ == "__main__":
    cli.run(reward)
