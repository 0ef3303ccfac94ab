"""The comparison itself: eval.json content read into report rows, and the validators'
Pareto comparison of those rows (`tunepipe.pareto`) with the regressions against a stored
baseline, as one JSON-able dict that `tunepipe.report.render`, `.figure` and `.summary` read.

The input is always what `evaluate` writes to ``metrics/eval.json``::

    {model: {task: {"greedy": summary, "sampled": summary + pass_at_k + k}, ...,
             "overall": {"greedy": aggregate, "sampled": aggregate}}}

where a summary is `tunepipe.metrics.summarize` output; only ``n`` and ``successes`` (or
``accuracy``) are needed, so older files and hand-written baselines work too. ``overall``
is recomputed from the tasks and never treated as an environment.

Models are compared in order of appearance (earlier first): a stored baseline, then the
extra models, then ``evaluate.models`` (base, sft, grpo); across sources, by commit or
experiment time, the workspace last. The earlier model keeps an environment unless the
later one clearly beats it (docs/reference/validators.md, "Comparing models the way
validators do").

>>> ev = {"base": {"sat": {"greedy": {"n": 300, "successes": 36}}},
...       "grpo": {"sat": {"greedy": {"n": 300, "successes": 166}}}}
>>> an = analyse(rows_from_eval(ev, "eval.json"), rule="interval", mode="greedy",
...              min_samples=200, level=0.8)
>>> an["frontier"], an["winners"]
(['grpo'], {'sat': 'grpo'})
"""
from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from pathlib import Path

from tunepipe import TunepipeError

OVERALL = "overall"
MODES = ("greedy", "sampled")
BASELINE = "baseline"


@dataclass
class ParetoArgs:
    """``evaluate.pareto`` in params.yaml."""
    rule: str          # interval | epsilon | threshold | champion (tunepipe.pareto.RULES)
    mode: str          # greedy | sampled: whose results decide the env winners
    min_samples: int   # fewer samples on an env: cannot win it (the validators use 200)


def check_pareto_args(p: ParetoArgs, where: str = "evaluate.pareto") -> ParetoArgs:
    from tunepipe.pareto import RULES

    if p.rule not in RULES:
        raise TunepipeError(f"{where}.rule: expected one of {', '.join(RULES)}, got {p.rule!r}")
    if p.mode not in MODES:
        raise TunepipeError(f"{where}.mode: expected greedy or sampled, got {p.mode!r}")
    if p.min_samples < 0:
        raise TunepipeError(f"{where}.min_samples: must be >= 0, got {p.min_samples}")
    return p


# ----------------------------------------------------------------------------- reading
def _entry(e, where: str, level: float) -> dict:
    """One (task, mode) result normalised to {n, successes, accuracy, ci_low, ci_high[, pass_at_k, k]}
    (the interval recomputed at ``level``, so every model in a report uses the same one)."""
    from tunepipe.metrics import jeffreys_interval

    if not isinstance(e, dict):
        raise TunepipeError(f"{where}: expected an object with n and successes, got {type(e).__name__}")
    n = e.get("n")
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or n < 0 or int(n) != n:
        raise TunepipeError(f"{where}.n: expected a non-negative integer, got {n!r}")
    n = int(n)
    s = e.get("successes")
    if s is None and isinstance(e.get("accuracy"), numbers.Real):
        s = e["accuracy"] * n
    if isinstance(s, bool) or not isinstance(s, numbers.Real) or not -1e-9 <= s <= n + 1e-9:
        raise TunepipeError(f"{where}: needs successes (or accuracy) in [0, n={n}], got {s!r}")
    s = min(max(float(s), 0.0), float(n))
    lo, hi = jeffreys_interval(s, n, level)
    out = {"n": n, "successes": s, "accuracy": s / n if n else 0.0, "ci_low": lo, "ci_high": hi}
    if isinstance(e.get("pass_at_k"), numbers.Real) and isinstance(e.get("k"), numbers.Real):
        out["pass_at_k"], out["k"] = float(e["pass_at_k"]), int(e["k"])
    return out


def _overall(envs: dict, mode: str, level: float) -> dict | None:
    from tunepipe.metrics import aggregate

    per = {t: e[mode] for t, e in envs.items() if mode in e}
    if not per:
        return None
    a = aggregate(per, level)
    out = {k: a[k] for k in ("n", "successes", "accuracy", "ci_low", "ci_high")}
    if all("pass_at_k" in e for e in per.values()):  # weighted by prompts (n / k)
        w = {t: e["n"] / max(e["k"], 1) for t, e in per.items()}
        if sum(w.values()) > 0:
            out["pass_at_k"] = sum(per[t]["pass_at_k"] * w[t] for t in per) / sum(w.values())
            out["k"] = max(e["k"] for e in per.values())
    return out


def rows_from_eval(ev, where: str, *, source: str | None = None, level: float = 0.8,
                   models: list[str] | None = None) -> list[dict]:
    """eval.json content → report rows ``{name, model, source, envs: {task: {mode: entry}},
    overall: {mode: entry}}``, in the file's model order. ``name`` is ``source:model``
    when a source is given. ``models`` keeps only those model names (in that order)."""
    if not isinstance(ev, dict) or not ev:
        raise TunepipeError(f"{where}: expected a non-empty object {{model: {{task: {{greedy: ...}}}}}}")
    rows = []
    names = [m for m in (models or ev) if m in ev]
    for m in names:
        per_task = ev[m]
        if not isinstance(per_task, dict):
            raise TunepipeError(f"{where}: model {m!r}: expected an object {{task: {{greedy: ...}}}}")
        envs = {}
        for task, modes in per_task.items():
            if task == OVERALL:
                continue
            if not isinstance(modes, dict) or not any(k in modes for k in MODES):
                raise TunepipeError(f"{where}: {m}.{task}: expected an object with 'greedy' and/or 'sampled'")
            envs[task] = {mode: _entry(modes[mode], f"{where}: {m}.{task}.{mode}", level)
                          for mode in MODES if mode in modes}
        overall = {mode: o for mode in MODES if (o := _overall(envs, mode, level)) is not None}
        rows.append({"name": f"{source}:{m}" if source else m, "model": m, "source": source,
                     "envs": dict(sorted(envs.items())), "overall": overall, "aliases": []})
    return rows


def read_eval(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise TunepipeError(f"{p}: eval results not found")
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TunepipeError(f"{p}: not valid JSON ({getattr(e, 'msg', e)})") from None


# ----------------------------------------------------------------------------- analysis
def _vs_baseline(rows: list[dict], base_rows: list[dict]) -> list[dict]:
    """Each model against the baseline model of the same name (or the baseline's only model):
    per env and mode, ``regression`` if its interval lies wholly below the baseline's,
    ``better`` if wholly above, else ``same``; an env the baseline has and the model lacks
    is a ``missing`` regression (it would lose that env)."""
    by_model = {r["model"]: r for r in base_rows}
    out = []
    for r in rows:
        ref = by_model.get(r["model"]) or (base_rows[0] if len(base_rows) == 1 else None)
        if ref is None:
            continue
        for task, modes in ref["envs"].items():
            for mode, b in modes.items():
                c = r["envs"].get(task, {}).get(mode)
                if task not in r["envs"]:
                    verdict = "missing"
                elif c is None:
                    continue
                elif c["ci_high"] < b["ci_low"]:
                    verdict = "regression"
                elif c["ci_low"] > b["ci_high"]:
                    verdict = "better"
                else:
                    verdict = "same"
                out.append({"model": r["name"], "baseline": ref["name"], "env": task, "mode": mode,
                            "verdict": verdict, "now": c, "then": b})
    return out


def analyse(rows: list[dict], *, rule: str, mode: str, min_samples: int, level: float,
            baseline_rows: list[dict] | None = None, baseline_path: str | None = None,
            temperature: float | None = None, notes: list[str] | None = None) -> dict:
    """The whole comparison as one JSON-able dict (what `markdown`, `plot` and `headline` read).
    ``baseline_rows`` (a stored result) come first in the order and are checked for regressions."""
    from tunepipe import pareto

    base_rows = list(baseline_rows or [])
    every = base_rows + list(rows)
    names = [r["name"] for r in every]
    if len(set(names)) != len(names):
        raise TunepipeError(f"model names must be unique, repeated: {sorted({x for x in names if names.count(x) > 1})}")
    if not any(mode in e for r in every for e in r["envs"].values()):
        raise TunepipeError(f"evaluate.pareto.mode={mode}: no model has {mode} results"
                            + (" (evaluate.num_samples is 0?)" if mode == "sampled" else ""))
    pm = [{"name": r["name"], "order": i,
           "envs": {t: {"successes": e[mode]["successes"], "n": e[mode]["n"]}
                    for t, e in r["envs"].items() if mode in e}} for i, r in enumerate(every)]
    kw = dict(rule=rule, min_samples=min_samples, level=level)
    front = pareto.frontier(pm, **kw)
    env_rows = pareto.report_rows(pm, **kw)
    scores = pareto.subset_scores(pm, **kw)
    by_name = {m["name"]: m for m in pm}
    models = []
    for i, r in enumerate(every):
        me = by_name[r["name"]]
        models.append({**r, "order": i, "baseline": i < len(base_rows), "frontier": r["name"] in front,
                       "subset_score": scores[r["name"]],
                       "dominated_by": [o["name"] for o in pm if o is not me and pareto.dominates(o, me, **kw)]})
    envs = [er["env"] for er in env_rows]
    h2h = []
    for i, a in enumerate(pm):
        for b in pm[i + 1:]:
            takes = {a["name"]: [], b["name"]: [], None: []}
            for env in sorted(set(a["envs"]) | set(b["envs"])):
                takes[pareto.env_winner(a, b, env, **kw)].append(env)
            dom = (a["name"] if pareto.dominates(a, b, **kw) else
                   b["name"] if pareto.dominates(b, a, **kw) else None)
            h2h.append({"earlier": a["name"], "later": b["name"], "earlier_keeps": takes[a["name"]],
                        "later_takes": takes[b["name"]], "nobody": takes[None], "dominates": dom})
    vs = _vs_baseline(list(rows), base_rows) if base_rows else []
    return {
        "rule": rule, "mode": mode, "level": level, "min_samples": min_samples, "temperature": temperature,
        "envs": envs, "models": models, "frontier": front,
        "winners": {er["env"]: er["winner"] for er in env_rows},
        "eligible": {er["env"]: [n for n, c in er["models"].items() if c and c["eligible"]] for er in env_rows},
        "head_to_head": h2h, "baseline": baseline_path, "vs_baseline": vs,
        "regressions": sum(v["verdict"] in ("regression", "missing") for v in vs),
        "notes": list(notes or []),
    }
