"""Real AgentGym engines in-process: per engine and difficulty, the oracle's and a uniformly
random valid-action policy's success rates over a sample of the difficulty's indices, at most
``--rounds`` rounds an episode (the validators allow 30). Success = the engine's ``completed``.

    PYTHONPATH=src .venv/bin/python benchmarks/env_engines.py [--per-difficulty 40] [--rounds 30]
    PYTHONPATH=src .venv/bin/python benchmarks/env_engines.py --by-level   # babyai: per level
"""
from __future__ import annotations

import argparse
import random


def run(engine, data_idx: int, policy: str, rounds: int, rng: random.Random) -> tuple[bool, int]:
    """One episode; (completed, rounds used). ``policy``: "oracle" or "random"."""
    engine.reset(data_idx)
    for n in range(1, rounds + 1):
        if policy == "oracle":
            action = engine.expert_action()
        else:
            action = rng.choice(engine.valid_actions() or [""])
        out = engine.step(action)
        if "error" in out or out["done"]:
            break
    return engine.completed, n


def babyai_rows(per_difficulty: int, rounds: int, by_level: bool = False):
    from tunepipe.tasks.envs.engines.babyai import ALL_LEVELS, N_LEVELS, BabyAIEngine
    eng, rng = BabyAIEngine(), random.Random(0)
    rows = []
    for d, idxs in BabyAIEngine.INDEX_RANGES.items():
        sample = list(idxs)[:per_difficulty]
        if by_level:
            for lvl in idxs.levels:
                sub = [i for i in sample if i % N_LEVELS + 1 == lvl]
                o = sum(run(eng, i, "oracle", rounds, rng)[0] for i in sub)
                r = sum(run(eng, i, "random", rounds, rng)[0] for i in sub)
                rows.append(("babyai", f"{d}: {ALL_LEVELS[lvl]}", len(sub), o, r))
        else:
            o = sum(run(eng, i, "oracle", rounds, rng)[0] for i in sample)
            r = sum(run(eng, i, "random", rounds, rng)[0] for i in sample)
            rows.append(("babyai", d, len(sample), o, r))
    return rows


ENGINES = {"babyai": babyai_rows}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-difficulty", type=int, default=40)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--by-level", action="store_true")
    p.add_argument("--engines", nargs="*", default=list(ENGINES))
    a = p.parse_args(argv)
    print("| engine | difficulty | n | oracle success | random success |")
    print("|---|---|---|---|---|")
    for name in a.engines:
        kw = {"by_level": True} if a.by_level and name == "babyai" else {}
        for eng, d, n, o, r in ENGINES[name](a.per_difficulty, a.rounds, **kw):
            print(f"| {eng} | {d} | {n} | {o / max(n, 1):.2f} | {r / max(n, 1):.2f} |", flush=True)


if __name__ == "__main__":
    main()
