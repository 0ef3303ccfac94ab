"""reward: turn each family's specs into what its scorer rewards, with the family's own
``reward.<name>`` params (decision: Boltzmann rewards of Q at ``reward.decision.tau``;
reference: the ``reward.reference.metric`` scorer; SAT: the shaping weight), let a family
select its train rows (reference: ``reward.reference.selection``, by the base model's
scores), verify every reference answer is solved by its task's own scorer, and write:

- ``train.jsonl`` / ``test.jsonl``: the rewarded rows (GRPO / evaluate);
- ``sft.jsonl``: the train rows without their specs (what SFT reads), so a reward-only
  param leaves it byte-identical and DVC does not rerun sft;
- per family that has one, a rewarded table (``decision.csv``), and
  ``<family>_selection.jsonl`` when a family selected rows.

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
from tunepipe.rewarding import parse_section, rewarded, select, sft_rows, verify


def reward(params: str = "params.yaml", data: str = "data/harmony", out: str = "data/reward",
           base: str = "models/base") -> None:
    p = config.load(params)
    args, cfgs = parse_section(config.section(p, "reward"), f"{params}: reward")
    splits, selection = {}, {}
    for split in ("train", "test"):
        path = Path(data) / f"{split}.jsonl"
        rows = io.read_jsonl(path, required=io.ROW_FIELDS + ("prompt_text", "completion_text"))
        for i, row in enumerate(rows, 1):
            if row["spec"] is None and row.get("source") != "import":
                raise TunepipeError(f"{path}:{i}: row {row['id']} has no spec")
        tasks.check_rows(rows, str(path))   # rows a user brings: bad specs fail here, named
        splits[split] = rewarded(rows, cfgs, str(path), split)
        if split == "train":
            splits[split], selection = select(splits[split], cfgs, base=base, seed=config.section(p, "base")["seed"])
            if args.verify_references:
                verify(splits[split], str(path))
    with io.atomic_dir(out) as tmp:
        for split, rows in splits.items():
            io.write_jsonl(tmp / f"{split}.jsonl", rows)
        io.write_jsonl(tmp / "sft.jsonl", sft_rows(splits["train"]))
        for name, records in selection.items():
            io.write_jsonl(tmp / f"{name}_selection.jsonl", records)
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
