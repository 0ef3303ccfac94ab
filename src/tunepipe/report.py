"""Reports over evaluated models: the validators' Pareto comparison (`tunepipe.pareto`),
regressions against a stored baseline, a Markdown report, a PNG, and the data of the DVC
plots. `evaluate` uses it on the models of one run; `stages/compare.py` on the same models
gathered across the workspace, `dvc exp show` experiments and git revisions.

The input is always what `evaluate` writes to ``metrics/eval.json``::

    {model: {task: {"greedy": summary, "sampled": summary + pass_at_k + k}, ...,
             "overall": {"greedy": aggregate, "sampled": aggregate}}}

where a summary is `tunepipe.metrics.summarize` output; only ``n`` and ``successes`` (or
``accuracy``) are needed, so older files and hand-written baselines work too. ``overall``
is recomputed from the tasks and never treated as an environment.

Models are compared in order of appearance (earlier first): a stored baseline, then the
extra models, then ``evaluate.models`` (base, sft, grpo); across sources, by commit or
experiment time, the workspace last. The earlier model keeps an environment unless the
later one clearly beats it (TASKS.md, "Comparing models the way validators do").

>>> ev = {"base": {"sat": {"greedy": {"n": 300, "successes": 36}}},
...       "grpo": {"sat": {"greedy": {"n": 300, "successes": 166}}}}
>>> an = analyse(rows_from_eval(ev, "eval.json"), rule="interval", mode="greedy",
...              min_samples=200, level=0.8)
>>> an["frontier"], an["winners"]
(['grpo'], {'sat': 'grpo'})
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tunepipe import TunepipeError

__all__ = ["ParetoArgs", "rows_from_eval", "read_eval", "analyse", "markdown", "headline", "headline_metrics",
           "read_train_logs", "bar_rows",
           "plot", "write_reports", "write_eval_outputs", "exp_show_sources", "git_source", "workspace_source",
           "rows_from_sources"]

OVERALL = "overall"
MODES = ("greedy", "sampled")
BASELINE = "baseline"
RULE_TEXT = {
    "interval": "a later model takes an env only if the lower bound of its {pct}% Jeffreys interval "
                "is above the earlier model's upper bound; overlapping intervals go to the earlier model",
    "epsilon": "a later model takes an env only if it beats the earlier one by more than "
               "max(0.005, 1.28·SE) (SE of the difference, n capped at 1000); a tie goes to the earlier model",
    "threshold": "a later model takes an env only if it beats the earlier one's score p by "
                 "min(max(0.2·(1 − p), 0.02), 0.1) (target capped at 1.0)",
}


@dataclass
class ParetoArgs:
    """``evaluate.pareto`` in params.yaml."""
    rule: str          # interval | epsilon | threshold (tunepipe.pareto.RULES)
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


# ----------------------------------------------------------------------------- outputs
def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pct(level: float) -> str:
    return f"{level * 100:g}"


def _fmt(e: dict | None, *, n: bool = False, pk: bool = False) -> str:
    if e is None:
        return "—"
    s = f"{e['accuracy']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"
    if pk and "pass_at_k" in e:
        s += f" · pass@{e['k']} {e['pass_at_k']:.3f}"
    return s + (f" n={e['n']}" if n else "")


def _uniform_n(an: dict, env: str, mode: str) -> int | None:
    ns = {m["envs"][env][mode]["n"] for m in an["models"] if mode in m["envs"].get(env, {})}
    return ns.pop() if len(ns) == 1 else None


def _display(m: dict) -> str:
    if not m["aliases"]:
        return m["name"]
    more = m["aliases"][:3] + (["…"] if len(m["aliases"]) > 3 else [])
    return f"{m['name']} (= {', '.join(more)})"


def _winner_text(an: dict, env: str) -> str:
    w = an["winners"][env]
    if w is None:
        return f"{env} → nobody (no model has ≥ {an['min_samples']} samples)"
    ok = an["eligible"][env]
    if len(ok) > 1 and w == ok[0]:
        return f"{env} → {w} (kept: nobody clearly beat it)"
    return f"{env} → {w}"


def _accuracy_table(an: dict, mode: str, *, with_pareto: bool) -> list[str]:
    envs = an["envs"]
    heads = []
    for env in envs:
        n = _uniform_n(an, env, mode)
        heads.append(f"{env} (n={n})" if n is not None else env)
    cols = ["model", *heads, "overall"] + (["frontier", "dominated by", "subset score"] if with_pareto else [])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for m in an["models"]:
        cells = [_display(m)]
        for env in envs:
            e = m["envs"].get(env, {}).get(mode)
            c = _fmt(e, n=_uniform_n(an, env, mode) is None, pk=mode == "sampled")
            if e is not None and with_pareto:
                if an["winners"].get(env) == m["name"]:
                    c = f"**{c}** ★"
                elif m["name"] not in an["eligible"][env]:
                    c += " †"
            cells.append(c)
        cells.append(_fmt(m["overall"].get(mode), pk=mode == "sampled"))
        if with_pareto:
            cells += ["✓" if m["frontier"] else "", ", ".join(m["dominated_by"]) or "—", f"{m['subset_score']:g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(an: dict, title: str = "Model comparison") -> str:
    """The report: the frontier and env winners first, then the tables, then how to read them."""
    mode, pct = an["mode"], _pct(an["level"])
    other = "sampled" if mode == "greedy" else "greedy"
    front = ", ".join(an["frontier"]) or "empty (dominance cycles: see head to head)"
    out = [f"# {title}", "",
           f"**Pareto frontier: {front}** — {an['rule']} rule on {mode} accuracy, {pct}% Jeffreys "
           f"intervals, at least {an['min_samples']} samples per env to win it.", "",
           "**Env winners:** " + " · ".join(_winner_text(an, e) for e in an["envs"]), ""]
    if an["baseline"] is not None:
        regs = [v for v in an["vs_baseline"] if v["verdict"] in ("regression", "missing")]
        if regs:
            what = ", ".join(f"{v['model']} on {v['env']} ({v['mode']}{', missing' if v['verdict'] == 'missing' else ''})"
                             for v in regs)
            out += [f"**vs baseline `{an['baseline']}`: {len(regs)} regression(s) ▼** — {what}", ""]
        else:
            out += [f"**vs baseline `{an['baseline']}`: no regressions.**", ""]
    for note in an["notes"]:
        out += [f"> {note}", ""]
    out += [f"## {mode.capitalize()} accuracy [{pct}% interval] — decides the winners", ""]
    out += _accuracy_table(an, mode, with_pareto=True)
    out += ["", f"★ holds the env (models taken in order of appearance, each later one must clearly beat "
                f"the holder); † fewer than {an['min_samples']} samples: cannot win it. "
                f"Subset score: the validators' score, one winner per non-empty subset of envs, "
                f"weight = subset size.", ""]
    if any(other in e for m in an["models"] for e in m["envs"].values()):
        t = an.get("temperature")
        label = f"{other.capitalize()} accuracy" + (f" at T={t:g}" if other == "sampled" and t is not None else "")
        out += [f"## {label} [{pct}% interval]" + (", pass@k" if other == "sampled" else ""), ""]
        out += _accuracy_table(an, other, with_pareto=False)
        out += [""]
    models = an["models"]
    pairs = an["head_to_head"]
    if len(models) > 6:  # keep it readable: pairs among the frontier, and one dominator of each other model
        keep = set(an["frontier"])
        chosen = [p for p in pairs if {p["earlier"], p["later"]} <= keep]
        for m in models:
            if m["frontier"] or not m["dominated_by"]:
                continue
            by = next((d for d in m["dominated_by"] if d in keep), m["dominated_by"][0])
            chosen += [p for p in pairs if {p["earlier"], p["later"]} == {m["name"], by}]
        pairs = sorted(chosen, key=lambda p: an["head_to_head"].index(p))
    if pairs:
        out += ["## Head to head (earlier vs later)", ""]
        for p in pairs:
            bits = []
            if p["later_takes"]:
                bits.append(f"{p['later']} takes {', '.join(p['later_takes'])}")
            if p["earlier_keeps"]:
                bits.append(f"{p['earlier']} keeps {', '.join(p['earlier_keeps'])}")
            if p["nobody"]:
                bits.append(f"nobody holds {', '.join(p['nobody'])}")
            verdict = f"**{p['dominates']} dominates**" if p["dominates"] else "neither dominates"
            out.append(f"- {p['earlier']} vs {p['later']}: {'; '.join(bits) or 'no envs'} → {verdict}")
        out += [""]
    if an["vs_baseline"]:
        out += [f"## vs baseline `{an['baseline']}`", "",
                "| model | env | mode | now | baseline | Δ | verdict |", "|---|---|---|---|---|---|---|"]
        sign = {"regression": "▼ regression", "missing": "▼ missing", "better": "▲ better", "same": "= same"}
        for v in an["vs_baseline"]:
            d = f"{v['now']['accuracy'] - v['then']['accuracy']:+.3f}" if v["now"] else "—"
            out.append(f"| {v['model']} | {v['env']} | {v['mode']} | {_fmt(v['now'])} | {_fmt(v['then'])} "
                       f"| {d} | {sign[v['verdict']]} |")
        out += ["", "Regression: the model's interval lies wholly below the baseline's "
                    "(each model against the baseline model of the same name, or the baseline's only model).", ""]
    out += ["## How to read this", "",
            f"- Order of appearance (earlier first): {', '.join(m['name'] for m in models)}. "
            f"{_cap(RULE_TEXT[an['rule']].format(pct=pct))}.",
            "- A model dominates another when it takes at least one env and loses none; an env a model "
            "lacks, or where it has too few samples, counts as lost. The frontier is the undominated models.",
            f"- Accuracy = mean score; interval = Jeffreys Beta(s + ½, n − s + ½), s the sum of scores.", ""]
    return "\n".join(out)


def headline(an: dict) -> dict:
    """``metrics/pareto.json``: the comparison's verdicts as flat numbers and short strings
    (a plain output since summary.json became the headline; it still diffs well in git)."""
    return {
        "rule": an["rule"], "mode": an["mode"], "min_samples": an["min_samples"],
        "frontier": " ".join(an["frontier"]) or "none",
        "winner": {e: (w or "none") for e, w in an["winners"].items()},
        "models": {m["name"]: {"frontier": int(m["frontier"]), "subset_score": m["subset_score"]}
                   for m in an["models"]},
        "regressions": an["regressions"],
    }


def bar_rows(an: dict, mode: str) -> list[dict]:
    """Rows of a DVC bar plot (template bar_horizontal, x: accuracy, y: label): one bar per
    (env, model), ``label`` unique, so `dvc plots diff` puts one bar per revision beside it."""
    rows = []
    for env in [OVERALL, *an["envs"]]:
        for m in an["models"]:
            e = m["overall"].get(mode) if env == OVERALL else m["envs"].get(env, {}).get(mode)
            if e is not None:
                rows.append({"label": f"{env} · {m['name']}", "env": env, "model": m["name"],
                             "accuracy": e["accuracy"], "ci_low": e["ci_low"], "ci_high": e["ci_high"], "n": e["n"]})
    return rows


def plot(an: dict, png: str | Path) -> None:
    """One panel per env (and overall): accuracy per model, both modes, with intervals.
    The env winner is starred, frontier models are bold on the axis, a baseline model is grey,
    a regression against the baseline gets a red ▼."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    models, mode = an["models"], an["mode"]
    panels = [*an["envs"], OVERALL]
    ncols = min(len(panels), 2 if len(panels) == 4 else 3)
    nrows = math.ceil(len(panels) / ncols)
    width = max(3.6, 1.2 + 0.75 * len(models))
    height = 3.5 * nrows + 0.9
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height), squeeze=False)
    regs = {(v["model"], v["env"], v["mode"]) for v in an["vs_baseline"] if v["verdict"] in ("regression", "missing")}
    modes = [mode] + [m for m in MODES if m != mode and any(m in e for r in models for e in r["envs"].values())]
    colors = {"greedy": "#3b75af", "sampled": "#ef8636"}
    for ax, env in zip(axes.flat, panels):
        for j, md in enumerate(modes):
            off = (j - (len(modes) - 1) / 2) * 0.36
            for i, m in enumerate(models):
                e = m["overall"].get(md) if env == OVERALL else m["envs"].get(env, {}).get(md)
                if e is None:
                    if j == 0:
                        ax.text(i, 0.02, "no\nresult", ha="center", fontsize=7, color="grey")
                    continue
                faded = env != OVERALL and md == mode and m["name"] not in an["eligible"].get(env, [])
                ax.bar(i + off, e["accuracy"], width=0.34, color="#9a9a9a" if m["baseline"] else colors[md],
                       alpha=0.35 if faded else (0.95 if md == mode else 0.55),
                       hatch=None if md == mode else "//", edgecolor="white" if md != mode else None,
                       yerr=[[e["accuracy"] - min(e["ci_low"], e["accuracy"])],
                             [max(e["ci_high"], e["accuracy"]) - e["accuracy"]]],
                       capsize=2.5, error_kw={"elinewidth": 0.9})
                top = max(e["ci_high"], e["accuracy"])
                ax.text(i + off, top + 0.015, f"{e['accuracy']:.2f}", ha="center", fontsize=7)
                if md == mode and env != OVERALL and an["winners"].get(env) == m["name"]:
                    ax.text(i + off, top + 0.075, "★", ha="center", fontsize=13, color="#c79a00")
                if (m["name"], env, md) in regs:
                    ax.text(i + off, top + (0.15 if md == mode and an["winners"].get(env) == m["name"] else 0.075),
                            "▼", ha="center", fontsize=11, color="#c0392b")
        ax.set_xticks(range(len(models)))
        tilt = len(models) > 4 or max(len(m["name"]) for m in models) > 11
        ax.set_xticklabels([m["name"] for m in models], rotation=25 if tilt else 0,
                           ha="right" if tilt else "center", fontsize=8)
        for lbl, m in zip(ax.get_xticklabels(), models):
            lbl.set_fontweight("bold" if m["frontier"] else "normal")
        ax.set_ylim(0, 1.15)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if env == OVERALL:
            ax.set_title("overall (pooled, not an env)", fontsize=9)
        else:
            n = _uniform_n(an, env, mode)
            w = an["winners"].get(env)
            ax.set_title(f"{env}{f' (n={n})' if n is not None else ''} — winner: {w or 'nobody'}", fontsize=9,
                         fontweight="bold")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles = [Patch(color=colors[md], alpha=0.95 if md == mode else 0.55, hatch=None if md == mode else "//",
                     label=f"{md}{' (decides winners)' if md == mode else ''}") for md in modes]
    handles.append(plt.Line2D([], [], ls="", marker="*", color="#c79a00", markersize=10, label="env winner"))
    if any(m["baseline"] for m in models):
        handles.append(Patch(color="#9a9a9a", label="baseline"))
    if regs:
        handles.append(plt.Line2D([], [], ls="", marker="v", color="#c0392b", label="regression vs baseline"))
    front = ", ".join(an["frontier"]) or "empty (a dominance cycle)"
    inch = 1.0 / height  # title block and legend in inches, whatever the number of rows
    fig.suptitle(f"Pareto frontier: {front}", fontsize=12, fontweight="bold", y=1 - 0.08 * inch, va="top")
    fig.text(0.5, 1 - 0.36 * inch, f"{an['rule']} rule on {mode} accuracy, {_pct(an['level'])}% Jeffreys "
                                   f"intervals, ≥ {an['min_samples']} samples to win an env; frontier models in bold",
             ha="center", va="top", fontsize=8.5, color="#444444")
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.3 * inch, 1, 1 - 0.5 * inch))
    fig.savefig(png, dpi=110, format="png")
    plt.close(fig)


def write_reports(an: dict, out_dir: str | Path, *, prefix: str, title: str) -> None:
    """``<prefix>.md`` (report), ``<prefix>.png``; each written atomically."""
    from tunepipe import io

    out = Path(out_dir)
    with io.atomic_file(out / f"{prefix}.md") as tmp:
        Path(tmp).write_text(markdown(an, title) + "\n")
    with io.atomic_file(out / f"{prefix}.png") as tmp:
        plot(an, tmp)


# ----------------------------------------------------------------------------- across sources
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


# ----------------------------------------------------------------------------- evaluate's outputs
#: the keys every task's summary has (metrics.summarize + evaluation); others are a family's own
SUMMARY_KEYS = {"n", "n_invalid", "accuracy", "mean", "std", "median", "success_rate", "successes", "ci_low",
                "ci_high", "n_errors", "pass_at_k", "k"}


def task_metrics_markdown(results: dict) -> list[str]:
    """Tables of the numbers a task family adds (``Family.metrics``: decision's best-action
    rate, regret, invalid rate), one per such task, and a line naming scorer errors."""
    out: list[str] = []
    tasks_seen = sorted({t for per in results.values() for t in per if t != "overall"})
    for task in tasks_seen:
        keys: list[str] = []
        for per in results.values():
            for mode_entry in per.get(task, {}).values():
                keys += [k for k in mode_entry if k not in SUMMARY_KEYS and k not in keys]
        if not keys:
            continue
        out += [f"## {task}: task metrics", "", "| model | mode | " + " | ".join(keys) + " |",
                "|---|---|" + "---|" * len(keys)]
        for model, per in results.items():
            for mode, e in per.get(task, {}).items():
                out.append(f"| {model} | {mode} | " + " | ".join(
                    f"{e[k]:.3f}" if isinstance(e.get(k), float) else str(e.get(k, "—")) for k in keys) + " |")
        out.append("")
    errors = [(m, t, mode, e["n_errors"]) for m, per in results.items() for t, d in per.items() if t != "overall"
              for mode, e in d.items() if e.get("n_errors")]
    if errors:
        out += ["> Scorer errors (counted as invalid, score 0): " + ", ".join(
            f"{m}/{t}/{mode}: {n}" for m, t, mode, n in errors), ""]
    return out


def episodes_markdown(samples: list[dict], max_turns: int = 12) -> list[str]:
    """One sample episode per environment and model (the first held-out instance), turn by
    turn: the model's turn, the environment's answer and the step reward."""
    from tunepipe.episodes import transcript

    first: dict[tuple[str, str], dict] = {}
    for s in samples:
        if s.get("episode") is not None:
            first.setdefault((s["task"], s["model"]), s)
    if not first:
        return []
    out = ["## Sample episodes (greedy, the first held-out instance)", ""]
    for (task, model), s in sorted(first.items()):
        ep = s["episode"]
        turns = transcript({"turns": ep["turns"][:max_turns]})
        more = f"\n… {len(ep['turns']) - max_turns} more turns" if len(ep["turns"]) > max_turns else ""
        out += [f"### {task} · {model}: {'solved' if ep['success'] else 'not solved'}, reward {ep['reward']:g}, "
                f"{ep['steps']} steps{' (cut by episode.max_length)' if ep['truncated'] else ''}",
                "", "```", turns + more, "```", ""]
    return out


def _r(x, nd: int = 4):
    return round(float(x), nd) if isinstance(x, numbers.Real) and math.isfinite(x) else None


#: train section of the headline: (key, stage, dvclive summary keys tried in turn). The dvclive
#: summary holds the last logged value of each Trainer / TRL log key ("/" → "_"): ``loss`` is
#: the last logged step's train loss, ``train_loss`` (logged once at the end) the run's mean.
TRAIN_KEYS = (("sft_loss", "sft", ("loss", "train_loss")), ("sft_eval_loss", "sft", ("eval_loss",)),
              ("grpo_loss", "grpo", ("loss", "train_loss")), ("grpo_reward", "grpo", ("reward",)))


def headline_metrics(results: dict, train_logs: dict | None = None, frontier: list[str] | None = None) -> dict:
    """``metrics/summary.json``, the one file DVC shows as metrics: per model and task the
    greedy accuracy with its interval (``greedy``, ``greedy_low``, ``greedy_high``), the
    sampled one when sampled, ``mean_reward`` for environments; per model the pooled greedy
    accuracy (``overall.greedy``); ``train``: the last train loss (and eval loss) of sft, the
    last train loss and mean reward of grpo, from their dvclive summaries ``train_logs``
    (``{"sft": {...}, "grpo": {...}}``, a missing one left out); ``frontier`` (space separated).
    Numbers rounded to 4 places. The detail stays in eval.json / pareto.json / report.md.

    >>> h = headline_metrics({"sft": {"sat": {"greedy": {"accuracy": 0.25678, "ci_low": 0.2, "ci_high": 0.3}}}},
    ...                      {"sft": {"loss": 1.234567, "eval_loss": 1.5}}, ["sft"])
    >>> h["frontier"], h["sft"], h["train"]
    ('sft', {'sat': {'greedy': 0.2568, 'greedy_low': 0.2, 'greedy_high': 0.3}}, {'sft_loss': 1.2346, 'sft_eval_loss': 1.5})
    """
    out: dict = {}
    if frontier is not None:
        out["frontier"] = " ".join(frontier) or "none"
    for model, per in results.items():
        if model in ("frontier", "train"):
            raise TunepipeError(f"evaluate: a model named {model!r} clashes with summary.json's {model!r} key")
        m: dict = {}
        for task, modes in per.items():
            t: dict = {}
            for mode in MODES if task != OVERALL else ("greedy",):
                e = modes.get(mode)
                if not isinstance(e, dict) or _r(e.get("accuracy")) is None:
                    continue
                t[mode] = _r(e["accuracy"])
                if task != OVERALL:
                    for end in ("low", "high"):
                        if _r(e.get(f"ci_{end}")) is not None:
                            t[f"{mode}_{end}"] = _r(e[f"ci_{end}"])
                if mode == "greedy" and _r(e.get("mean_reward")) is not None:
                    t["mean_reward"] = _r(e["mean_reward"])
            if t:
                m[task] = t
        out[model] = m
    train = {}
    for key, stage, names in TRAIN_KEYS:
        log = (train_logs or {}).get(stage) or {}
        v = next((_r(log[n]) for n in names if _r(log.get(n)) is not None), None)
        if v is not None:
            train[key] = v
    if train:
        out["train"] = train
    return out


def read_train_logs(**paths) -> dict:
    """``{stage: dvclive summary}`` for each ``stage=path`` whose file exists (others left out)."""
    logs = {}
    for stage, path in paths.items():
        if path and Path(path).is_file():
            try:
                logs[stage] = json.loads(Path(path).read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise TunepipeError(f"{path}: not valid JSON ({getattr(e, 'msg', e)})") from None
    return logs


def write_eval_outputs(out_dir: str | Path, results: dict, an: dict, samples: list[dict] | None = None,
                       train_logs: dict | None = None) -> None:
    """Everything `evaluate` writes besides the samples: ``summary.json`` (the headline, the
    only DVC metric: `headline_metrics`), ``eval.json`` (the per-model, per-task numbers),
    ``pareto.json`` (the comparison's verdicts), ``report.md``, ``eval.png`` and the DVC bar
    data ``eval_bars_greedy.json`` / ``eval_bars_sampled.json``."""
    from tunepipe import io

    out = Path(out_dir)
    io.write_json(out / "eval.json", results)
    io.write_json(out / "pareto.json", headline(an))
    io.write_json(out / "summary.json", headline_metrics(results, train_logs, an["frontier"]))
    for mode in MODES:
        io.write_json(out / f"eval_bars_{mode}.json", bar_rows(an, mode))
    with io.atomic_file(out / "report.md") as tmp:
        Path(tmp).write_text("\n".join([markdown(an, "Evaluation report"), *task_metrics_markdown(results),
                                        *episodes_markdown(samples or [])]) + "\n")
    with io.atomic_file(out / "eval.png") as tmp:
        plot(an, tmp)
