"""reward: turn each family's specs into what its scorer rewards (decision: Boltzmann
rewards of Q at ``reward.tau``; reference: the ``reward.metric`` scorer), optionally select
the reference-scored train rows by the base model's scores (``reward.selection``), verify
every reference answer is solved by its task's own scorer, and write the SFT/GRPO/
evaluation-ready splits (plus, per family that has one, a rewarded table such as
``decision.csv``, and ``reference_selection.jsonl`` when rows were selected).

    python stages/reward.py --params params.yaml --data data/harmony --base models/base --out data/reward

References are scored through the same path as a model completion (the rendered SFT
target), in parallel where the task runs programs (ABD/DED: the sandbox). Imported
evaluation logs (``source: import``) keep the score the validator gave them instead.
The base model is loaded only when a selection mode needs its answers.
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from tunepipe import TunepipeError, cli, config, io, tasks
from tunepipe.rewarding import RewardArgs, check, rewarded, select, verify


def reward(params: str = "params.yaml", data: str = "data/harmony", out: str = "data/reward",
           base: str = "models/base") -> None:
    p = config.load(params)
    args = config.typed(RewardArgs, config.section(p, "reward"), f"{params}: reward")
    check(args, params)
    splits, selection = {}, None
    for split in ("train", "test"):
        path = Path(data) / f"{split}.jsonl"
        rows = io.read_jsonl(path, required=io.ROW_FIELDS + ("prompt_text", "completion_text"))
        for i, row in enumerate(rows, 1):
            if row["spec"] is None and row.get("source") != "import":
                raise TunepipeError(f"{path}:{i}: row {row['id']} has no spec")
        tasks.check_rows(rows, str(path))   # rows a user brings: bad specs fail here, named
        splits[split] = rewarded(rows, args, str(path), split)
        if split == "train":
            splits[split], selection = select(splits[split], args, base=base, seed=config.section(p, "base")["seed"])
            if args.verify_references:
                verify(splits[split], str(path))
    with io.atomic_dir(out) as tmp:
        for split, rows in splits.items():
            io.write_jsonl(tmp / f"{split}.jsonl", rows)
        if selection is not None:
            io.write_jsonl(tmp / "reference_selection.jsonl", selection)
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
