"""What a report writes: ``metrics/summary.json`` (the headline, the one DVC metric),
``pareto.json``, the DVC bar-plot data, and the writers of `evaluate`'s outputs and
`compare`'s report (Markdown + PNG)."""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

from tunepipe import TunepipeError
from tunepipe.report.analysis import MODES, OVERALL
from tunepipe.report.figure import plot
from tunepipe.report.render import episodes_markdown, markdown, task_metrics_markdown


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


def write_reports(an: dict, out_dir: str | Path, *, prefix: str, title: str) -> None:
    """``<prefix>.md`` (report), ``<prefix>.png``; each written atomically."""
    from tunepipe import io

    out = Path(out_dir)
    with io.atomic_file(out / f"{prefix}.md") as tmp:
        Path(tmp).write_text(markdown(an, title) + "\n")
    with io.atomic_file(out / f"{prefix}.png") as tmp:
        plot(an, tmp)


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
