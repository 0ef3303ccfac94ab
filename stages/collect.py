"""collect: generate (or load) task rows and write disjoint train/test JSONL splits; import
real evaluation logs (score >= collect.import.min_score) into train.

    python stages/collect.py --params params.yaml --out data/collect

collect.train / collect.test map task names to row counts; collect.<task> holds the
keyword arguments of that task's ``build`` (all of them: a missing or unknown key is an
error). Test rows are drawn first, so the held-out set does not depend on the train size;
tasks with a ``source_key`` (ABD, DED) never train on a held-out source program.
"""
from __future__ import annotations

import inspect
import random
from pathlib import Path

from tunepipe import TunepipeError, cli, config, io, tasks
from tunepipe.tasks import imported

INTERNAL = {"workers", "exclude"}   # build() arguments collect supplies itself


def build_params(module, name: str, p: dict, where: str) -> dict:
    """collect.<name>, checked against the keyword arguments of the task's builder."""
    fn = module.build
    kw = [q for q in inspect.signature(fn).parameters.values() if q.kind == q.KEYWORD_ONLY]
    if not kw:   # build(n, rng, **params) forwards to generate(rng, *, ...)
        kw = [q for q in inspect.signature(module.generate).parameters.values() if q.kind == q.KEYWORD_ONLY]
    names = {q.name for q in kw} - INTERNAL
    section = p.get(name)
    if not isinstance(section, dict):
        raise TunepipeError(f"{where}: missing section collect.{name}")
    unknown, missing = sorted(set(section) - names), sorted(names - set(section))
    if missing:
        raise TunepipeError(f"{where}: collect.{name}.{missing[0]}: missing key")
    if unknown:
        raise TunepipeError(f"{where}: collect.{name}: unknown key(s) {', '.join(unknown)}; "
                            f"expected {', '.join(sorted(names))}")
    return dict(section)


def draw(module, name: str, n: int, rng: random.Random, params: dict, seen: set, exclude: set,
         where: str) -> list[dict]:
    """``n`` rows of task ``name`` not in ``seen`` (keys) and not from ``exclude`` (sources)."""
    extra = {"exclude": frozenset(exclude)} if hasattr(module, "source_key") else {}
    kept, tries = [], 0
    while len(kept) < n:
        tries += 1
        if tries > 20 * n + 100:
            raise TunepipeError(f"collect.{name}: cannot draw {n} distinct rows; enlarge the sizes")
        try:
            batch = module.build(n - len(kept), rng, **params, **extra)
        except (TypeError, ValueError) as e:
            raise TunepipeError(f"{where}: collect.{name}: {e}") from None
        for row in batch:
            k = module.key(row) if hasattr(module, "key") else repr(row["spec"])
            if k not in seen:
                seen.add(k)
                kept.append(row)
    return kept


def collect(params: str = "params.yaml", out: str = "data/collect") -> None:
    p = config.load(params)
    seed = config.section(p, "base")["seed"]
    c = config.section(p, "collect")
    counts = {}
    for split in ("train", "test"):
        cs = c.get(split)
        if not isinstance(cs, dict) or not cs:
            raise TunepipeError(f"{params}: collect.{split} must map task names to row counts")
        for name, n in cs.items():
            tasks.get(name)
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise TunepipeError(f"{params}: collect.{split}.{name} must be a non-negative int, got {n!r}")
        counts[split] = cs
    names = list(dict.fromkeys([*counts["test"], *counts["train"]]))
    modules = {name: tasks.get(name) for name in names}
    task_params = {name: build_params(modules[name], name, c, params) for name in names}
    seen: set[str] = set()
    held_out: set[str] = set()   # source programs of test rows (ABD/DED)
    rows_by_split: dict[str, list[dict]] = {"test": [], "train": []}
    for split in ("test", "train"):   # test first: the held-out set ignores the train size
        for name, n in counts[split].items():
            module = modules[name]
            group = getattr(module, "SPLIT_GROUP", name)
            rng = random.Random(f"{seed}/{split}/{group}")
            rows = draw(module, name, n, rng, task_params[name], seen,
                        held_out if split == "train" else set(), params)
            if split == "test" and hasattr(module, "source_key"):
                held_out |= {module.source_key(r) for r in rows}
            for i, row in enumerate(rows):
                rows_by_split[split].append({"id": f"{split}-{name}-{i:05d}", **row})
    imp = c.get("import")
    if not isinstance(imp, dict):
        raise TunepipeError(f"{params}: missing section collect.import")
    for key in ("path", "min_score", "max_results", "envs"):
        if key not in imp:
            raise TunepipeError(f"{params}: collect.import.{key}: missing key")
    if imp["path"]:
        rows = imported.load(imp["path"], min_score=imp["min_score"], max_results=imp["max_results"],
                             envs=imp["envs"])
        rows_by_split["train"] += [{"id": f"train-import-{i:05d}", **r} for i, r in enumerate(rows)]
        print(f"import: {len(rows)} rows with score >= {imp['min_score']} from {imp['path']}")
    with io.atomic_dir(out) as tmp:   # both splits or neither
        for split, rows in rows_by_split.items():
            io.write_jsonl(tmp / f"{split}.jsonl", rows)
            by_task = {}
            for r in rows:
                by_task[r["task"]] = by_task.get(r["task"], 0) + 1
            print(f"{split}: {len(rows)} rows {by_task} -> {Path(out) / f'{split}.jsonl'}")


if __name__ == "__main__":
    cli.run(collect)
