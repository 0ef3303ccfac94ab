"""Baselines of the five environment engines (tunepipe.tasks.envs.agentgym.ENGINES: the real
babyai, textcraft and sciworld engines in-process, the webshop and alfworld simulators): per
engine and difficulty, the oracle's and a random policy's success over evenly spaced indices of
the difficulty's INDEX_RANGES, each episode played as the validators play it (AgentGym's client
parse, at most --rounds rounds: 30). The random policy picks a valid action uniformly (the
engine's list; TextCraft lists none: the actions its observation implies). Success is the
engine's completion signal; "score" is the validators' episode score (the last turn's reported
reward), averaged.

    PYTHONPATH=src .venv/bin/python benchmarks/env_engines.py [--n 40] [--sciworld-n 5] [--rounds 30]
        [--engines babyai textcraft ...]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time


def spaced(r, n: int) -> list:
    """``n`` evenly spaced members of an index sequence (all of it when shorter)."""
    n = min(n, len(r))
    return [r[(i * len(r)) // n] for i in range(n)]


def engine_rows(name: str, n: int, rounds: int, seed: int = 0) -> list[dict]:
    """One row per difficulty: indices, oracle success / mean rounds, random success / mean score."""
    from tunepipe.tasks.envs import make, oracle_turn, random_turn, run_episode
    eng = make(name)
    rows = []
    try:
        for d, r in sorted(eng.INDEX_RANGES.items()):
            idx = spaced(r, n)
            oracle = [run_episode(eng, oracle_turn, i, rounds) for i in idx]
            rng = random.Random(f"{seed}/{name}/{d}")
            rnd = [run_episode(eng, random_turn(rng), i, rounds) for i in idx]
            rows.append({"engine": name, "difficulty": d, "n": len(idx),
                         "oracle": statistics.mean(o["success"] for o in oracle),
                         "oracle_rounds": statistics.mean(o["rounds"] for o in oracle),
                         "random": statistics.mean(o["success"] for o in rnd),
                         "random_score": statistics.mean(o["score"] for o in rnd)})
    finally:
        eng.close()
    return rows


def main(argv=None) -> None:
    from tunepipe import TunepipeError
    from tunepipe.tasks.envs.agentgym import ENGINES
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=40, help="indices per difficulty")
    p.add_argument("--sciworld-n", type=int, default=5, help="indices per difficulty for sciworld (a reset ~1 s)")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--engines", nargs="*", default=list(ENGINES), choices=list(ENGINES))
    a = p.parse_args(argv)
    print(f"rounds per episode: {a.rounds}; indices per difficulty: {a.n} (sciworld {a.sciworld_n})\n")
    print("| engine | difficulty | n | oracle success | oracle rounds (mean) | random success | random score (mean) |")
    print("|---|---|---|---|---|---|---|")
    for name in a.engines:
        t = time.time()
        try:
            rows = engine_rows(name, a.sciworld_n if name == "sciworld" else a.n, a.rounds)
        except TunepipeError as e:   # e.g. no Java: only sciworld is off
            print(f"| {name} | — | 0 | {e} | | | |", flush=True)
            continue
        for r in rows:
            print(f"| {r['engine']} | {r['difficulty']} | {r['n']} | {r['oracle']:.2f} | {r['oracle_rounds']:.1f} | "
                  f"{r['random']:.2f} | {r['random_score']:.2f} |", flush=True)
        print(f"{name}: {time.time() - t:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
