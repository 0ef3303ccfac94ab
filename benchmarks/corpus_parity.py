"""Score every row of the shipped corpus (builtin, seed 0) with the ABD and DED scorers, to
check that a change of the scoring rules leaves the rows that were already scored like the
validators alone.

    PYTHONPATH=src .venv/bin/python benchmarks/corpus_parity.py --out after.json
    PYTHONPATH=/tmp/old/src .venv/bin/python benchmarks/corpus_parity.py --out before.json
    .venv/bin/python benchmarks/corpus_parity.py --compare before.json after.json

Four scores per row: the ABD reference input against the row's program and output, the
DED reference program against the row's tests, and a wrong answer for each (the next
row's input / program), so that both 1.0s and 0.0s are covered. Only the public scorer
API (``abd.score_many``, ``ded.score_many``, ``answer_for``) is used, so the script runs
unchanged against older versions of the library (``PYTHONPATH`` picks the version).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

KINDS = ("abd_ref", "abd_wrong", "ded_ref", "ded_wrong")


def score_corpus(size: int) -> dict:
    from tunepipe.tasks.code import abd, corpus, ded, executor

    rows = corpus.builtin_rows(0, size)
    limits = dict(executor.DEFAULT_LIMITS)
    a_specs = [{"program": r["program"], "expected_output": r["output"], **limits} for r in rows]
    d_specs = [{"tests": json.loads(r["verification_info"])["test_cases"], **limits} for r in rows]
    nxt = rows[1:] + rows[:1]
    out = {
        "abd_ref": abd.score_many([abd.answer_for(r["inputs"]) for r in rows], a_specs),
        "abd_wrong": abd.score_many([abd.answer_for(r["inputs"]) for r in nxt], a_specs),
        "ded_ref": ded.score_many([ded.answer_for(r["program"]) for r in rows], d_specs),
        "ded_wrong": ded.score_many([ded.answer_for(r["program"]) for r in nxt], d_specs),
    }
    out["ids"] = [r["id"] for r in rows]
    return out


def compare(before: dict, after: dict) -> int:
    """Print the per-kind counts; returns the number of changed scores."""
    changed = 0
    for kind in KINDS:
        b, a = before[kind], after[kind]
        diff = [i for i, (x, y) in enumerate(zip(b, a)) if x != y]
        changed += len(diff)
        print(f"{kind:10s} rows {len(a):5d}  score 1.0: before {sum(x == 1.0 for x in b):5d} "
              f"after {sum(y == 1.0 for y in a):5d}  unchanged {len(a) - len(diff):5d}  changed {len(diff)}"
              + (f"  e.g. {[before['ids'][i] for i in diff[:5]]}" if diff else ""))
    total = sum(len(after[k]) for k in KINDS)
    print(f"total: {total - changed}/{total} scores unchanged")
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1000, help="corpus rows (builtin corpus_size)")
    ap.add_argument("--out", default=None, help="write the scores to this JSON file")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), default=None,
                    help="compare two score files instead of scoring")
    a = ap.parse_args()
    if a.compare:
        before, after = (json.loads(Path(p).read_text()) for p in a.compare)
        sys.exit(1 if compare(before, after) else 0)
    t0 = time.perf_counter()
    scores = score_corpus(a.size)
    for kind in KINDS:
        print(f"{kind:10s} {sum(s == 1.0 for s in scores[kind]):5d}/{len(scores[kind])} score 1.0")
    print(f"({time.perf_counter() - t0:.1f} s)")
    if a.out:
        Path(a.out).write_text(json.dumps(scores) + "\n")


if __name__ == "__main__":
    main()
