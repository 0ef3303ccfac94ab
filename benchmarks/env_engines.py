"""Baselines of the real environment engines (tunepipe.tasks.envs.engines): per engine and
difficulty, the oracle's and a uniformly random valid-action policy's success rates over evenly
spaced indices of the difficulty's INDEX_RANGES, at most --max-rounds actions (the validators: 30).

    PYTHONPATH=src .venv/bin/python benchmarks/env_engines.py [--n 10] [--max-rounds 30]
"""
from __future__ import annotations

import argparse
import random
import statistics


def spaced(r: range, n: int) -> list:
    n = min(n, len(r))
    return [r[(i * len(r)) // n] for i in range(n)]


def sciworld_baselines(n: int = 10, max_rounds: int = 30) -> list:
    """Rows (engine, difficulty, oracle success, oracle mean rounds, random success) for sciworld."""
    from tunepipe.tasks.envs.engines import sciworld as sw
    eng = sw.SciWorldEngine()
    rows = []
    try:
        for level, r in eng.INDEX_RANGES.items():
            idx = spaced(r, n)
            oracle = [sw.run_episode(eng, i, sw.expert_policy, max_rounds) for i in idx]
            rng = random.Random(level)
            rnd = [sw.run_episode(eng, i, sw.random_policy(rng), max_rounds) for i in idx]
            rows.append(("sciworld", level, statistics.mean(o["completed"] for o in oracle),
                         statistics.mean(o["rounds"] for o in oracle),
                         statistics.mean(o["completed"] for o in rnd)))
    finally:
        eng.close()
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10, help="indices per difficulty")
    p.add_argument("--max-rounds", type=int, default=30)
    a = p.parse_args(argv)
    print(f"indices per difficulty: {a.n}; max rounds: {a.max_rounds}\n")
    print("| engine | difficulty | oracle success | oracle rounds (mean) | random success |")
    print("|---|---|---|---|---|")
    for name, level, ok, rounds, rnd in sciworld_baselines(a.n, a.max_rounds):
        print(f"| {name} | {level} | {ok:.2f} | {rounds:.1f} | {rnd:.2f} |")


if __name__ == "__main__":
    main()
