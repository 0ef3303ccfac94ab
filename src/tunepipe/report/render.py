"""The Markdown of a report: the comparison (`markdown`, from `tunepipe.report.analysis`'s
dict) and the sections `evaluate` adds to ``metrics/report.md`` (a family's own metrics,
sample episodes)."""
from __future__ import annotations

RULE_TEXT = {
    "interval": "a later model takes an env only if the lower bound of its {pct}% Jeffreys interval "
                "is above the earlier model's upper bound; overlapping intervals go to the earlier model",
    "epsilon": "a later model takes an env only if it beats the earlier one by more than "
               "max(0.005, 1.28·SE) (SE of the difference, n capped at 1000); a tie goes to the earlier model",
    "threshold": "a later model takes an env only if it beats the earlier one's score p by "
                 "min(max(0.2·(1 − p), 0.02), 0.1) (target capped at 1.0)",
    "champion": "a later model (the challenger) takes an env only if its mean beats the earlier one's (the "
                "champion's) by more than 0.03, and dethrones it only with such an env and none below 0.98 × "
                "the champion's mean; otherwise the champion keeps everything",
}


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


#: the truncation numbers evaluate adds to each task and mode (``evaluation.truncation``; the
#: environments' turns also ``truncated_episodes``)
TRUNCATION_KEYS = {"budget", "truncated", "truncated_share", "truncated_episodes"}

#: the keys every task's summary has (metrics.summarize + evaluation); others are a family's own
SUMMARY_KEYS = {"n", "n_invalid", "accuracy", "mean", "std", "median", "success_rate", "successes", "ci_low",
                "ci_high", "n_errors", "pass_at_k", "k", *TRUNCATION_KEYS}

#: report.md warns where more than this share of a model's completions (environments: model turns)
#: of a task reached the generation budget without a stop token
TRUNCATION_WARN = 0.05


def truncation_warnings(results: dict, threshold: float = TRUNCATION_WARN) -> list[str]:
    """One line per model, task and mode whose truncated share is above ``threshold``, naming
    the budget and the param that raises it: a score of 0 for answers cut short is never silent.
    Entries without truncation numbers (an older eval.json) are skipped."""
    out = []
    for model, per in results.items():
        for task, modes in per.items():
            if task == "overall" or not isinstance(modes, dict):
                continue
            for mode in ("greedy", "sampled"):
                e = modes.get(mode)
                if not isinstance(e, dict) or not isinstance(e.get("truncated_share"), (int, float)):
                    continue
                if e["truncated_share"] <= threshold:
                    continue
                share, b = f"{e['truncated_share']:.0%}", e.get("budget", "?")
                if "truncated_episodes" in e:
                    out.append(f"WARNING {model}: {task}: {share} of {mode} turns hit turn_tokens={b} "
                               f"({e['truncated_episodes']} of {e['n']} episodes): "
                               f"raise evaluate.episode.turn_tokens.{task}")
                else:
                    out.append(f"WARNING {model}: {task}: {share} of {mode} completions hit max_new_tokens={b}: "
                               f"raise evaluate.max_new_tokens.{task}")
    return out


def truncation_markdown(results: dict, threshold: float = TRUNCATION_WARN) -> list[str]:
    """The truncation section of report.md: the warnings (:func:`truncation_warnings`), then per
    model and task the budget and the share of greedy and sampled completions (environments:
    model turns, and the episodes with any) that reached it without a stop token."""
    rows = []
    for model, per in results.items():
        for task, modes in per.items():
            if task == "overall" or not isinstance(modes, dict):
                continue
            cells, budget = [], None
            for mode in ("greedy", "sampled"):
                e = modes.get(mode)
                if not isinstance(e, dict) or "truncated_share" not in e:
                    cells.append("—")
                    continue
                budget = e.get("budget", budget)
                c = f"{e['truncated_share']:.1%} ({e['truncated']})"
                if "truncated_episodes" in e:
                    c += f", {e['truncated_episodes']} of {e['n']} episodes"
                cells.append(c)
            if budget is not None:
                rows.append(f"| {model} | {task} | {budget} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    warnings = truncation_warnings(results, threshold)
    out = ["## Truncation: completions that hit the generation budget", ""]
    out += [f"> **{w}**" for w in warnings] + ([""] if warnings else [])
    out += ["| model | task | budget (new tokens) | greedy | sampled |", "|---|---|---|---|---|", *rows, "",
            f"Share (count) of completions that reached the budget without a stop token; environments: of the "
            f"model's turns (budget per turn: evaluate.episode.turn_tokens). Above {threshold:.0%}: a warning. "
            f"A cut answer usually scores 0.", ""]
    return out


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
