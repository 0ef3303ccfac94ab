"""Sandbox throughput: programs per second for a batch of short programs, against two naive
baselines in the same invocation: ``subprocess.run([python, -c, code])`` one at a time,
and the same driven by a ``ThreadPoolExecutor`` on all cores (the fair one: it uses the
cores the sandbox uses).

    .venv/bin/python benchmarks/sandbox_throughput.py              # 1,000 programs
    .venv/bin/python benchmarks/sandbox_throughput.py --n 200 --json out.json

The programs are the built-in ABD/DED corpus's reference programs run on their reference
inputs (3-12 line stdin/stdout programs), cycled to ``--n``. All sides run the same
programs on the same stdin with the same interpreter (``--python``, default this one,
site-packages on), and their outputs are checked to be equal. The sandbox is timed after
its zygote has started (the one-off start is reported separately) and uses ``run_many``
with its default workers (one per core) unless ``--workers`` says otherwise; the thread
pool has as many threads. The sides alternate in ``--rounds`` chunks, so load from other
processes on a shared machine hits them alike; the figures are ratios of total times.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tunepipe import sandbox  # noqa: E402
from tunepipe.tasks.code import corpus, executor  # noqa: E402

LIMITS = dict(timeout_s=10.0, memory_mb=512)


def jobs(n: int) -> list[dict]:
    rows = corpus.builtin_rows()
    return [dict(code=rows[i % len(rows)]["program"], stdin=executor.stdin_text(rows[i % len(rows)]["inputs"]),
                 **LIMITS) for i in range(n)]


def naive_one(job: dict, python: str) -> str:
    p = subprocess.run([python, "-c", job["code"]], input=job["stdin"], capture_output=True,
                       text=True, timeout=job["timeout_s"])
    return p.stdout


def naive(batch: list[dict], python: str) -> list[str]:
    return [naive_one(job, python) for job in batch]


def naive_pool(batch: list[dict], python: str, pool: ThreadPoolExecutor) -> list[str]:
    return list(pool.map(lambda job: naive_one(job, python), batch))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="programs in the batch")
    ap.add_argument("--workers", type=int, default=None,
                    help="sandbox workers and baseline threads (default: one per core)")
    ap.add_argument("--rounds", type=int, default=10,
                    help="alternate the sides in this many rounds (background load hits all)")
    ap.add_argument("--python", default=None, help="interpreter of the programs (default: this one)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()
    batch = [dict(job, python=a.python) for job in jobs(a.n)]
    python = sandbox.interpreter(a.python)
    workers = a.workers or min(sandbox.cores(), a.n)

    t0 = time.perf_counter()
    caps = sandbox.capabilities(python=a.python)   # starts the zygote
    start_s = time.perf_counter() - t0

    # interleaved rounds, so that all sides see the same background load
    results, seq_out, pool_out = [], [], []
    sbx_s = seq_s = pool_s = 0.0
    step = max(1, -(-a.n // a.rounds))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for lo in range(0, a.n, step):
            chunk = batch[lo:lo + step]
            t0 = time.perf_counter()
            results += sandbox.run_many(chunk, workers=a.workers)
            sbx_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            seq_out += naive(chunk, python)
            seq_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            pool_out += naive_pool(chunk, python, pool)
            pool_s += time.perf_counter() - t0
    failed = [r for r in results if not r.ok]
    mismatched = sum(r.stdout != e or r.stdout != p for r, e, p in zip(results, seq_out, pool_out))

    fig = {
        "programs": a.n,
        "cores": sandbox.cores(),
        "workers": workers,
        "rounds": a.rounds,
        "python": caps["python"],
        "python_version": caps["python_version"],
        "isolation": {k: caps[k] for k in ("pid_namespace", "network", "setuid", "memory_cgroup",
                                           "readonly_root", "killing")},
        "zygote_start_s": round(start_s, 3),
        "sandbox_s": round(sbx_s, 3),
        "sandbox_programs_per_s": round(a.n / sbx_s, 1),
        "baseline_s": round(seq_s, 3),
        "baseline_programs_per_s": round(a.n / seq_s, 1),
        "pool_baseline_s": round(pool_s, 3),
        "pool_baseline_programs_per_s": round(a.n / pool_s, 1),
        "speedup": round(seq_s / sbx_s, 2),
        "speedup_vs_pool": round(pool_s / sbx_s, 2),
        "failed": len(failed),
        "output_mismatches": mismatched,
    }
    print(f"{a.n} programs, {fig['cores']} cores, {workers} workers, python {fig['python_version']}, "
          f"isolation: {fig['isolation']}")
    for label, rate, secs, extra in (
            ("sandbox.run_many", fig["sandbox_programs_per_s"], sbx_s, f"; zygote start {start_s:.2f} s once"),
            ("naive, one at a time", fig["baseline_programs_per_s"], seq_s, ""),
            (f"naive, {workers} threads", fig["pool_baseline_programs_per_s"], pool_s, "")):
        print(f"  {label:26s}{rate:8.1f} programs/s  ({secs:.2f} s{extra})")
    print(f"  {'speedup vs one at a time':26s}{fig['speedup']:8.2f} x")
    print(f"  {'speedup vs thread pool':26s}{fig['speedup_vs_pool']:8.2f} x   "
          f"(failed: {len(failed)}, output mismatches: {mismatched})")
    if a.json:
        Path(a.json).write_text(json.dumps(fig, indent=2) + "\n")
    if failed or mismatched:
        sys.exit(1)


if __name__ == "__main__":
    main()
