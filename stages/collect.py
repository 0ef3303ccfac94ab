"""collect: generate (or load) task rows and write disjoint train/test JSONL splits; import
real evaluation logs (score >= collect.import.min_score) into train.

    python stages/collect.py --params params.yaml --out data/collect

collect.train / collect.test map task names to row counts; collect.<task> is that
family's typed config. The rules (seeding, held-out exclusion, spec checks) are
:mod:`tunepipe.collection`'s.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from tunepipe import cli, collection, config, io


def collect(params: str = "params.yaml", out: str = "data/collect") -> None:
    rows_by_split = collection.collect(config.load(params))
    with io.atomic_dir(out) as tmp:   # both splits or neither
        for split, rows in rows_by_split.items():
            io.write_jsonl(tmp / f"{split}.jsonl", rows)
            print(f"{split}: {len(rows)} rows {dict(Counter(r['task'] for r in rows))} -> {Path(out) / f'{split}.jsonl'}")


if __name__ == "__main__":
    cli.run(collect)
