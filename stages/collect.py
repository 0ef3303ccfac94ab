"""collect: generate (or load) task rows and write disjoint train/test JSONL splits.

    python stages/collect.py --params params.yaml --out data/collect
"""
from __future__ import annotations

import random
from pathlib import Path

from tunepipe import TunepipeError, cli, config, io, tasks


def collect(params: str = "params.yaml", out: str = "data/collect") -> None:
    p = config.load(params)
    seed = config.section(p, "base")["seed"]
    c = config.section(p, "collect")
    splits = {}
    for split in ("train", "test"):
        counts = c.get(split)
        if not isinstance(counts, dict) or not counts:
            raise TunepipeError(f"{params}: collect.{split} must map task names to row counts")
        splits[split] = counts
    seen: set[str] = set()
    rows_by_split: dict[str, list[dict]] = {"test": [], "train": []}
    # test first, so the held-out set does not depend on the train size
    for split in ("test", "train"):
        for name, n in splits[split].items():
            module = tasks.get(name)
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise TunepipeError(f"{params}: collect.{split}.{name} must be a non-negative int, got {n!r}")
            task_params = c.get(name)
            if not isinstance(task_params, dict):
                raise TunepipeError(f"{params}: missing section collect.{name}")
            rng = random.Random(f"{seed}/{split}/{name}")
            kept, tries = [], 0
            while len(kept) < n:
                tries += 1
                if tries > 20 * n + 100:
                    raise TunepipeError(f"collect.{name}: cannot draw {n} distinct {split} rows; enlarge the sizes")
                try:
                    batch = module.build(n - len(kept), rng, **task_params)
                except (TypeError, ValueError) as e:
                    raise TunepipeError(f"{params}: collect.{name}: {e}") from None
                for row in batch:
                    k = module.key(row) if hasattr(module, "key") else repr(row["spec"])
                    if k not in seen:
                        seen.add(k)
                        kept.append(row)
            for i, row in enumerate(kept):
                rows_by_split[split].append({"id": f"{split}-{name}-{i:05d}", **row})
    for split, rows in rows_by_split.items():
        io.write_jsonl(Path(out) / f"{split}.jsonl", rows)
        print(f"{split}: {len(rows)} rows -> {Path(out) / f'{split}.jsonl'}")


if __name__ == "__main__":
    cli.run(collect)
