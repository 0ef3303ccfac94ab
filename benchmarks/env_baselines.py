"""Baselines of the multi-turn text environments: per env and difficulty, the oracle's and a
uniformly random valid-action policy's success rates, the oracle's mean steps, and the mean
length in words of the first observation and of a whole oracle episode (instruction + first
observation + every turn and observation).

    PYTHONPATH=src .venv/bin/python benchmarks/env_baselines.py [--seeds 200] [--max-steps 20]
"""
from __future__ import annotations

import argparse
import random
import statistics

from tunepipe.tasks.envs import ENVS, EnvConfig, oracle_policy, random_policy, run_episode


def words(text: str) -> int:
    return len(text.split())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=200)
    p.add_argument("--max-steps", type=int, default=20)
    a = p.parse_args(argv)
    cfg = EnvConfig(difficulty=[1, 3], max_steps=a.max_steps, success_reward=1.0, step_reward=0.0,
                    invalid_reward=0.0, server=None)
    print(f"seeds per cell: {a.seeds}; max_steps: {a.max_steps}; random policy: uniform over valid_actions()\n")
    print("| env | difficulty | oracle success | random success | oracle steps (mean / max) "
          "| first obs words | episode words (mean / max) |")
    print("|---|---|---|---|---|---|---|")
    for name, cls in ENVS.items():
        env = cls(cfg)
        for d in (1, 2, 3):
            ok, steps, first, total = 0, [], [], []
            for seed in range(a.seeds):
                out = run_episode(env, oracle_policy(env), seed, d)
                ok += out["success"]
                steps.append(out["steps"])
                obs0 = env.reset(seed, d)
                first.append(words(obs0))
                total.append(words(env.instruction) + words(obs0)
                             + sum(words(t) + words(o) for t, _, o, _ in out["turns"]))
            rng = random.Random(d)
            rnd = sum(run_episode(env, random_policy(env, rng), s, d)["success"] for s in range(a.seeds))
            print(f"| {name} | {d} | {ok / a.seeds:.2f} | {rnd / a.seeds:.2f} | "
                  f"{statistics.mean(steps):.1f} / {max(steps)} | {statistics.mean(first):.0f} | "
                  f"{statistics.mean(total):.0f} / {max(total)} |")


if __name__ == "__main__":
    main()
