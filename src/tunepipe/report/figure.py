"""The report's PNG: one panel per env (and overall). matplotlib is imported inside `plot`,
so importing the report costs nothing when no picture is drawn."""
from __future__ import annotations

import math
from pathlib import Path

from tunepipe.report.analysis import MODES, OVERALL
from tunepipe.report.render import _pct, _uniform_n


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
