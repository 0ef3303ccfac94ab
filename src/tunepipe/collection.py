"""The collect stage's logic: draw task rows per split, keep train and test disjoint,
import evaluation logs. ``stages/collect.py`` only reads params and writes the outputs.

Params (``collect``): ``train`` / ``test`` map task names to row counts (``null`` for a
family that loads its rows from a source: every row of that split); ``collect.<task>`` is
the family's typed config (:attr:`Family.config`); ``collect.import`` the evaluation-log
import.

Rules:
- each (split, family) draws from its own seeded ``random.Random(f"{seed}/{split}/{group}")``
  (``group`` = the family's ``split_group`` or its name), test first, so the held-out set
  does not depend on the train size;
- a row whose ``key`` was already drawn (in either split) is drawn again: train and test
  never share an instance;
- families with a ``source_key`` (ABD, DED) never train on a source of a test row;
- every drawn row's spec passes the family's ``check_spec`` (bad input fails here, with
  the row named, before anything is written).
"""
from __future__ import annotations

import dataclasses
import random

from tunepipe import TunepipeError, config, tasks
from tunepipe.tasks import BuildRequest, Family


def counts_of(c: dict, where: str) -> dict[str, dict[str, int | None]]:
    """``{"test": {task: n}, "train": {...}}`` from ``collect.test`` / ``collect.train``
    (names checked; ``null`` counts are checked by :func:`draw_splits`)."""
    counts = {}
    for split in ("train", "test"):
        cs = c.get(split)
        if not isinstance(cs, dict) or not cs:
            raise TunepipeError(f"{where}: collect.{split} must map task names to row counts")
        for name, n in cs.items():
            tasks.get(name)
            if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
                raise TunepipeError(f"{where}: collect.{split}.{name} must be a non-negative int, got {n!r}")
        counts[split] = cs
    return counts


def is_loaded(family: Family, cfg) -> bool:
    return family.loaded is not None and bool(family.loaded(cfg))


def family_config(family: Family, c: dict, where: str):
    """``collect.<name>`` as the family's typed config."""
    if not isinstance(c.get(family.name), dict):
        raise TunepipeError(f"{where}: missing section collect.{family.name}")
    return config.typed(family.config, c[family.name], f"{where}: collect.{family.name}")


def draw(family: Family, cfg, n: int | None, rng: random.Random, req: BuildRequest, seen: set) -> list[dict]:
    """``n`` rows of ``family`` whose keys are not in ``seen`` (added to it). A generated
    family is asked again until it has drawn ``n`` distinct rows; a loaded one gives its
    split once, ``n`` being a cap (None: all of it)."""
    loaded = is_loaded(family, cfg)
    if n is None and not loaded:
        raise TunepipeError(f"{req.where}: collect.{req.split}.{family.name}: null (every row) is for "
                            "sources read as given; a generated family needs a count")
    kept, tries, built, stalled = [], 0, 0, 0
    while loaded or len(kept) < n:
        tries += 1
        if not loaded and (tries > 20 * n + 100 or stalled > 20 * n + 100):
            raise TunepipeError(f"collect.{req.split}.{family.name}: cannot draw {n} distinct rows ({len(kept)} "
                                "drawn, the rest repeat rows already drawn); lower the count or enlarge the sizes")
        try:
            batch = family.build(None if loaded else n - len(kept), rng, cfg, dataclasses.replace(req, start=built))
        except (TypeError, ValueError) as e:
            raise TunepipeError(f"{req.where}: collect.{family.name}: {e}") from None
        built += len(batch)
        before = len(kept)
        for row in batch:
            k = family.key(row)
            if k not in seen and (not loaded or n is None or len(kept) < n):
                seen.add(k)
                kept.append(row)
        stalled = stalled + len(batch) if len(kept) == before else 0   # rows drawn since the last new one
        if loaded:
            print(f"collect.{family.name}: {len(kept)} {req.split} rows from {getattr(cfg, 'source', 'its source')}"
                  + (f" (cap {n})" if n is not None else ""))
            break
    return kept


def draw_splits(c: dict, seed: int, where: str) -> dict[str, list[dict]]:
    """Rows per split (``id``, ``task``, ``prompt``, ``answer``, ``spec``) of every family
    in ``collect.train`` / ``collect.test``."""
    counts = counts_of(c, where)
    names = list(dict.fromkeys([*counts["test"], *counts["train"]]))
    families = {name: tasks.get(name) for name in names}
    cfgs = {name: family_config(families[name], c, where) for name in names}
    seen: set[str] = set()
    held_out: set[str] = set()   # source keys of test rows (ABD/DED programs)
    out: dict[str, list[dict]] = {"test": [], "train": []}
    for split in ("test", "train"):   # test first: the held-out set ignores the train size
        for name, n in counts[split].items():
            family = families[name]
            rng = random.Random(f"{seed}/{split}/{family.split_group or name}")
            req = BuildRequest(split=split, seed=seed, where=where,
                               exclude=frozenset(held_out) if split == "train" else frozenset())
            rows = draw(family, cfgs[name], n, rng, req, seen)
            if split == "test" and family.source_key is not None:
                held_out |= {family.source_key(r) for r in rows}
            rows = [{"id": f"{split}-{name}-{i:05d}", **row} for i, row in enumerate(rows)]
            tasks.check_rows(rows, f"collect.{name} ({split})")
            out[split] += rows
    return out


def import_rows(c: dict, where: str) -> list[dict]:
    """Train rows from ``collect.import`` (real evaluation logs); [] when ``path`` is null."""
    from tunepipe.tasks import imported

    if not isinstance(c.get("import"), dict):
        raise TunepipeError(f"{where}: missing section collect.import")
    imp = config.typed(imported.ImportArgs, c["import"], f"{where}: collect.import")
    if not imp.path:
        return []
    rows = imported.load(imp.path, min_score=imp.min_score, max_results=imp.max_results, envs=imp.envs)
    print(f"import: {len(rows)} rows with score >= {imp.min_score} from {imp.path}")
    return [{"id": f"train-import-{i:05d}", **r} for i, r in enumerate(rows)]


def check_keys(c: dict, where: str) -> None:
    """``collect``'s own keys are ``train``, ``test``, ``import`` and family names: anything
    else (a misspelt family) is a one-line error naming the nearest valid key."""
    config.reject_unknown(c, ["train", "test", "import", *tasks.names()], f"{where}: collect")


def collect(params: dict) -> dict[str, list[dict]]:
    """Both splits from a loaded params dict (:func:`tunepipe.config.load`)."""
    where = params.get("__file__", "params.yaml")
    seed = config.section(params, "base")["seed"]
    c = config.section(params, "collect")
    check_keys(c, where)
    rows = draw_splits(c, seed, where)
    rows["train"] += import_rows(c, where)
    return rows
