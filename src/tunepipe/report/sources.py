"""Report rows gathered across sources: `dvc exp show --json` experiments and commits, git
revisions (eval.json is ``cache: false``, so git holds it) and the workspace; what
`stages/compare.py` reads."""
from __future__ import annotations

import datetime as _dt
import json
import math
import subprocess
import sys
from pathlib import Path

from tunepipe import TunepipeError
from tunepipe.report.analysis import read_eval, rows_from_eval


def _iso_time(ts) -> float | None:
    if not ts:
        return None
    try:
        return _dt.datetime.fromisoformat(ts).timestamp()
    except (TypeError, ValueError):
        return None


def exp_show_sources(data, metrics_path: str = "metrics/eval.json", read=None) -> tuple[list[dict], list[str]]:
    """(sources, notes) from ``dvc exp show --json`` output: each commit row and each
    experiment (the workspace row is left out: `workspace_source` reads it). A source is
    ``{name, time, eval}``. ``metrics_path`` is taken from the row's metrics when DVC lists it
    there (commits from when eval.json was a DVC metric), else ``read(rev, metrics_path)``
    (default `git_eval`: eval.json is ``cache: false``, so the commit or the experiment's
    commit holds it); a row with neither is skipped with a note."""
    if not isinstance(data, list):
        raise TunepipeError("dvc exp show --json: expected a list of revisions")
    read = git_eval if read is None else read
    sources, notes = [], []

    def take(rec: dict, name: str) -> None:
        d = rec.get("data") or {}
        met = (d.get("metrics") or {}).get(metrics_path) or {}
        ev = None
        if not rec.get("error"):
            ev = met["data"] if "data" in met else (read(rec["rev"], metrics_path) if rec.get("rev") else None)
        if ev is None:
            notes.append(f"skipped {name}: no {metrics_path} in it")
            return
        sources.append({"name": name, "time": _iso_time(d.get("timestamp")), "eval": ev})

    for commit in data:
        if not isinstance(commit, dict) or commit.get("rev") == "workspace":
            continue
        take(commit, commit.get("name") or str(commit.get("rev", "?"))[:7])
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                take(rev, rev.get("name") or exp.get("name") or str(rev.get("rev", "?"))[:7])
    return sources, notes


def run_exp_show(cwd: str | Path = ".") -> list:
    p = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=cwd,
                       capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise TunepipeError(f"dvc exp show --json failed: {last}")
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError:
        raise TunepipeError("dvc exp show --json: output is not JSON") from None


def git_source(rev: str, metrics_path: str = "metrics/eval.json", cwd: str | Path = ".") -> dict:
    """``metrics_path`` as committed at git revision ``rev`` (eval.json is ``cache: false``,
    so git holds it)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)

    t = git("log", "-1", "--format=%ct", rev, "--")
    if t.returncode != 0:
        raise TunepipeError(f"revision {rev!r}: not a git revision here")
    shown = git("show", f"{rev}:{metrics_path}")
    if shown.returncode != 0:
        raise TunepipeError(f"revision {rev!r}: {metrics_path} is not committed there")
    try:
        ev = json.loads(shown.stdout)
    except json.JSONDecodeError as e:
        raise TunepipeError(f"revision {rev!r}: {metrics_path}: not valid JSON ({e.msg})") from None
    return {"name": rev, "time": float(t.stdout.strip() or 0), "eval": ev}


def git_eval(rev: str, metrics_path: str = "metrics/eval.json", cwd: str | Path = ".") -> dict | None:
    """``metrics_path`` as committed at ``rev``, or None when it is not there (or not JSON)."""
    try:
        return git_source(rev, metrics_path, cwd)["eval"]
    except TunepipeError:
        return None


def workspace_source(metrics_path: str | Path = "metrics/eval.json") -> dict | None:
    p = Path(metrics_path)
    return {"name": "workspace", "time": math.inf, "eval": read_eval(p)} if p.is_file() else None


def rows_from_sources(sources: list[dict], *, level: float, models: list[str] | None = None) -> list[dict]:
    """Report rows ``source:model`` from every source, in order of appearance (source time,
    then the model order inside the file). A model whose results are identical in several
    sources (base, when only grpo changed) is kept once, at its first appearance, with the
    others as aliases."""
    indexed = sorted(enumerate(sources), key=lambda t: (t[1]["time"] if t[1]["time"] is not None else math.inf, t[0]))
    rows, seen = [], {}
    for _, src in indexed:
        for r in rows_from_eval(src["eval"], f"{src['name']}: eval.json", source=src["name"], level=level,
                                models=models):
            key = json.dumps([r["model"], r["envs"]], sort_keys=True)
            if key in seen:
                seen[key]["aliases"].append(r["name"])
                continue
            seen[key] = r
            rows.append(r)
    return rows
