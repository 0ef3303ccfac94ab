"""Sandbox throughput: programs per second for a batch of short programs, against the naive
baseline of one ``subprocess.run([python, -c, code])`` at a time, in the same invocation.

    .venv/bin/python benchmarks/sandbox_throughput.py              # 1,000 programs
    .venv/bin/python benchmarks/sandbox_throughput.py --n 200 --json out.json

The programs are the built-in ABD/DED corpus's reference programs run on their reference
inputs (3-12 line stdin/stdout programs), cycled to ``--n``. Both sides run the same
programs on the same stdin, and their outputs are checked to be equal. The sandbox is
timed after its zygote has started (the one-off start is reported separately) and uses
``run_many`` with its default workers (one per core) unless ``--workers`` says otherwise.
The two sides alternate in ``--rounds`` chunks, so load from other processes on a shared
machine hits both alike; the figure is the ratio of their total times.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tunepipe import sandbox  # noqa: E402
from tunepipe.tasks import codecorpus  # noqa: E402

LIMITS = dict(timeout_s=10.0, memory_mb=512)


def jobs(n: int) -> list[dict]:
    rows = codecorpus.builtin_rows()
    return [dict(code=rows[i % len(rows)]["program"], stdin=codecorpus.stdin_text(rows[i % len(rows)]["inputs"]),
                 **LIMITS) for i in range(n)]


def naive(batch: list[dict]) -> list[str]:
    out = []
    for job in batch:
        p = subprocess.run([sys.executable, "-c", job["code"]], input=job["stdin"], capture_output=True,
                           text=True, timeout=job["timeout_s"])
        out.append(p.stdout)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="programs in the batch")
    ap.add_argument("--workers", type=int, default=None, help="sandbox workers (default: one per core)")
    ap.add_argument("--rounds", type=int, default=10,
                    help="alternate sandbox and baseline in this many rounds (background load hits both)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()
    batch = jobs(a.n)

    t0 = time.perf_counter()
    caps = sandbox.capabilities()   # starts the zygote
    start_s = time.perf_counter() - t0

    # interleaved rounds, so that both sides see the same background load
    results, expected, sbx_s, base_s = [], [], 0.0, 0.0
    step = max(1, -(-a.n // a.rounds))
    for lo in range(0, a.n, step):
        chunk = batch[lo:lo + step]
        t0 = time.perf_counter()
        results += sandbox.run_many(chunk, workers=a.workers)
        sbx_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        expected += naive(chunk)
        base_s += time.perf_counter() - t0
    failed = [r for r in results if not r.ok]
    mismatched = sum(r.stdout != e for r, e in zip(results, expected))

    fig = {
        "programs": a.n,
        "cores": sandbox.cores(),
        "workers": a.workers or min(sandbox.cores(), a.n),
        "rounds": a.rounds,
        "python": platform.python_version(),
        "isolation": {k: caps[k] for k in ("pid_namespace", "network", "setuid", "memory_cgroup",
                                           "readonly_root", "killing")},
        "zygote_start_s": round(start_s, 3),
        "sandbox_s": round(sbx_s, 3),
        "sandbox_programs_per_s": round(a.n / sbx_s, 1),
        "baseline_s": round(base_s, 3),
        "baseline_programs_per_s": round(a.n / base_s, 1),
        "speedup": round(base_s / sbx_s, 2),
        "failed": len(failed),
        "output_mismatches": mismatched,
    }
    print(f"{a.n} programs, {fig['cores']} cores, isolation: {fig['isolation']}")
    print(f"  sandbox.run_many  {fig['sandbox_programs_per_s']:8.1f} programs/s  ({sbx_s:.2f} s; "
          f"zygote start {start_s:.2f} s once)")
    print(f"  naive subprocess  {fig['baseline_programs_per_s']:8.1f} programs/s  ({base_s:.2f} s)")
    print(f"  speedup           {fig['speedup']:8.2f} x   (failed: {len(failed)}, output mismatches: {mismatched})")
    if a.json:
        Path(a.json).write_text(json.dumps(fig, indent=2) + "\n")
    if failed or mismatched:
        sys.exit(1)


if __name__ == "__main__":
    main()
