"""Baselines of the real (in-process AgentGym) environment engines: per engine and difficulty,
the oracle's and a random policy's success rates over that difficulty's AgentGym indices within
the validators' 30 rounds, and the oracle's mean / max steps.

    PYTHONPATH=src .venv/bin/python benchmarks/env_engines.py [--max-steps 30] [--stride 1]
"""
from __future__ import annotations

import argparse
import statistics


def textcraft_rows(max_steps: int = 30, stride: int = 1, seed: int = 0) -> list[dict]:
    """One row per difficulty: indices, oracle / random success, oracle steps (unbounded run)."""
    from tunepipe.tasks.envs.engines import textcraft as tc
    rows = []
    engine = tc.TextCraftEngine()
    for d, rng_ in tc.TextCraftEngine.INDEX_RANGES.items():
        idx = list(rng_)[::stride]
        steps = []
        for i in idx:
            engine.reset(i)
            steps.append(len(engine.plan()))
        rows.append({"engine": "textcraft", "difficulty": d, "indices": len(idx),
                     "oracle": tc.success_rate(idx, "oracle", max_steps),
                     "random": tc.success_rate(idx, "random", max_steps, seed),
                     "oracle_steps_mean": statistics.mean(steps), "oracle_steps_max": max(steps)})
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--stride", type=int, default=1, help="use every stride-th index of a difficulty")
    a = p.parse_args(argv)
    print(f"max_steps: {a.max_steps}; random policy: uniform over the commands shown, their gets, inventory\n")
    print("| engine | difficulty | indices | oracle success | random success | oracle steps (mean / max) |")
    print("|---|---|---|---|---|---|")
    for r in textcraft_rows(a.max_steps, a.stride):
        print(f"| {r['engine']} | {r['difficulty']} | {r['indices']} | {r['oracle']:.3f} | {r['random']:.3f} | "
              f"{r['oracle_steps_mean']:.1f} / {r['oracle_steps_max']} |")


if __name__ == "__main__":
    main()
