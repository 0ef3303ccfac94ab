"""Start-up of the stages that need no torch (collect, reward, compare): the median wall time of
``python stages/<stage>.py --help`` over ``--repeats`` runs, next to ``python -c "import torch"``
(and a bare ``python -c pass``) as references; and whether torch is imported on that path (from
``python -X importtime``), with the chain of imports that pulls it in. Goal: <= 1.5 s each.

    python benchmarks/stage_startup.py                      # collect, reward, compare; 5 runs each
    python benchmarks/stage_startup.py --stages collect reward --repeats 9 --json out.json

``--help`` is Fire's: the stage module and everything it imports at module level is loaded, the
stage function does not run (no data needed). The runs alternate stage by stage in each repeat.
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchutil as bu  # noqa: E402

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=bu.REPO, env=bu.child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    return dt


def torch_chain(cmd: list[str]) -> dict:
    """Whether ``cmd`` imports torch, and the import chain (outermost first) that does."""
    p = subprocess.run([cmd[0], "-X", "importtime"] + cmd[1:], cwd=bu.REPO, env=bu.child_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    for ln in p.stderr.splitlines():
        m = _LINE.match(ln)
        if m:
            lines.append((len(m.group(3)) // 2, m.group(4), int(m.group(2))))
    for i, (depth, name, cum) in enumerate(lines):
        if name == "torch" or name.startswith("torch."):
            chain, d = [(name, cum)], depth
            for dj, nj, cj in lines[i + 1:]:   # importtime lists children before their parent
                if dj < d:
                    chain.append((nj, cj))
                    d = dj
                if d == 0:
                    break
            return {"imports_torch": True, "chain": [n for n, _ in reversed(chain)],
                    "chain_cumulative_ms": [round(c / 1000) for _, c in reversed(chain)]}
    return {"imports_torch": False, "chain": [], "chain_cumulative_ms": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", nargs="+", default=["collect", "reward", "compare"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--goal", type=float, default=1.5, help="seconds")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()
    cmds = {s: [bu.PY, str(bu.REPO / "stages" / f"{s}.py"), "--help"] for s in a.stages}
    cmds["python -c 'import torch'"] = [bu.PY, "-c", "import torch"]
    cmds["python -c pass"] = [bu.PY, "-c", "pass"]
    for cmd in cmds.values():   # warm the file cache once
        wall(cmd)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(a.repeats):
        for k, cmd in cmds.items():
            times[k].append(wall(cmd))
    fig = {"machine": bu.machine(), "repeats": a.repeats, "goal_s": a.goal, "results": {}}
    for k, cmd in cmds.items():
        r = {"median_s": statistics.median(times[k]), "min_s": min(times[k]), "max_s": max(times[k])}
        if k in a.stages:
            r.update(torch_chain(cmd), meets_goal=r["median_s"] <= a.goal)
        fig["results"][k] = r
    m = fig["machine"]
    print(f"machine: {m['processor']}, {m['cpu_count']} cores, torch {m['torch']} with {m['torch_threads']} threads")
    print(f"median of {a.repeats} runs of `python stages/<stage>.py --help` (goal <= {a.goal} s)")
    for k, r in fig["results"].items():
        line = f"  {k:26s}{r['median_s']:7.2f} s  (min {r['min_s']:.2f}, max {r['max_s']:.2f})"
        if "imports_torch" in r:
            line += f"  {'OK ' if r['meets_goal'] else 'SLOW'}  torch imported: {'yes' if r['imports_torch'] else 'no'}"
            if r["imports_torch"]:
                line += "  via " + " -> ".join(f"{n} ({c} ms)" for n, c in zip(r["chain"], r["chain_cumulative_ms"]))
        print(line)
    bu.dump(fig, a.json)


if __name__ == "__main__":
    main()
