"""Writes the rehearsal sources: small local files in the real sources' schemas, made from
tunepipe's built-in generators (deterministic: rerunning rewrites the same bytes).

    .venv/bin/python data/sources/rehearsal/make.py

- ``qvalues.csv``: the decision workflow's Q-value CSV (``prompt``, ``q_action_0..K-1``).
- ``tulu3-50k.parquet``: the BLEUBERI-Tulu3-50k schema (``id``, ``source``, ``messages``,
  ``ref_output_gold`` and ``ref_output_<model>`` for its five models).
- ``rl-python.jsonl``: the satpalsr/rl-python schema (``program``, ``inputs``, ``output``,
  ``prompt``, ``verification_info``).
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from tunepipe.tasks import reference_pool
from tunepipe.tasks import decision
from tunepipe.tasks.code import corpus

HERE = Path(__file__).resolve().parent
#: the released pool has five ``ref_output_<model>`` columns besides gold; these names stand in for
#: them (collect.reference.ref_models picks columns by name: the recipes use gold only)
POOL_MODELS = ("model1", "model2", "model3", "model4", "model5")


def qvalues(n: int = 48) -> None:
    cfg = decision.Config(source="", test_file=None, test_fraction=0.2, answer_template="[{action}]",
                          prompt_template="It is {hour}:00. A {duration} h job needs {energy} kWh. Forecast carbon "
                                          "intensity by start time:\n{options}\nWhich start emits the least CO2? "
                                          "Answer [k].",
                          option_template="[{action}] +{delay} h: {intensity} g/kWh", energy_kwh=[5, 50],
                          duration_h=[1, 4], delays_h=[0, 1, 3, 6], noise=40.0)
    rng = random.Random(0)
    rows = [decision.generate(rng, cfg) for _ in range(n)]
    k = len(rows[0]["spec"]["q"])
    with open(HERE / "qvalues.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", *(f"q_action_{i}" for i in range(k))])
        for r in rows:
            w.writerow([r["prompt"], *r["spec"]["q"]])


def tulu_pool(n: int = 64) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for i, r in enumerate(reference_pool.pool(n, 0)):
        row = {"id": f"rehearsal-{i}", "source": "tunepipe-builtin", "messages": [
            {"role": "user", "content": r["messages"][0]["content"]},
            {"role": "assistant", "content": r["ref_output_gold"]}], "ref_output_gold": r["ref_output_gold"]}
        for m in POOL_MODELS:
            row[f"ref_output_{m}"] = r.get("ref_output_alt") or r["ref_output_gold"]
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows), HERE / "tulu3-50k.parquet")


def rl_python(n: int = 60) -> None:
    keep = ("program", "inputs", "output", "prompt", "verification_info")
    with open(HERE / "rl-python.jsonl", "w") as f:
        for r in corpus.builtin_rows(0, n):
            f.write(json.dumps({k: r[k] for k in keep}) + "\n")


if __name__ == "__main__":
    qvalues()
    tulu_pool()
    rl_python()
