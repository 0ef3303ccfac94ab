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
from tunepipe.report.render import episodes_markdown, markdown, task_metrics_markdown, truncation_markdown


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
#: sft's eval loss and grpo's loss stay in metrics/sft|grpo/metrics.json (the plots' data).
TRAIN_KEYS = (("sft_loss", "sft", ("loss", "train_loss")), ("grpo_reward", "grpo", ("reward",)))

#: the evaluated model that is not trained (the base stage's): the report and eval.json carry it
UNTRAINED = "base"


def family_headline(task: str) -> str:
    """The greedy result that leads a family's headline: ``accuracy`` unless the family names
    another (decision: the best-action rate, which means the same at every ``reward.decision.tau``,
    where the mean Boltzmann reward does not)."""
    from tunepipe import tasks

    try:
        return tasks.get(task).headline
    except TunepipeError:   # a task of a stored baseline this install does not know
        return "accuracy"


def headline_metrics(results: dict, train_logs: dict | None = None, frontier: list[str] | None = None) -> dict:
    """``metrics/summary.json``, the one file DVC shows as metrics, small enough that
    ``dvc metrics show`` fits 200 columns: ``frontier`` (space separated); the last evaluated
    model (the final trained one: grpo) per family, its greedy headline (:func:`family_headline`);
    every earlier trained model's pooled greedy accuracy (``<model>.overall``); ``train``: the
    last sft train loss and grpo mean reward, from their dvclive summaries ``train_logs``
    (``{"sft": {...}, "grpo": {...}}``, a missing one left out). Numbers rounded to 4 places.
    The detail -- every model per family, intervals, sampled accuracy, mean rewards -- stays in
    eval.json / pareto.json / report.md.

    >>> h = headline_metrics({"sft": {"sat": {"greedy": {"accuracy": 0.25678}}, "overall": {"greedy": {"accuracy": 0.25}}},
    ...                       "grpo": {"sat": {"greedy": {"accuracy": 0.3}}}}, {"sft": {"loss": 1.234567}}, ["grpo"])
    >>> h
    {'frontier': 'grpo', 'grpo': {'sat': 0.3}, 'sft': {'overall': 0.25}, 'train': {'sft_loss': 1.2346}}
    """
    out: dict = {}
    if frontier is not None:
        out["frontier"] = " ".join(frontier) or "none"
    for model in results:
        if model in ("frontier", "train"):
            raise TunepipeError(f"evaluate: a model named {model!r} clashes with summary.json's {model!r} key")
    models = list(results)
    if models:
        last = models[-1]
        per = {}
        for task, modes in results[last].items():
            greedy = modes.get("greedy") if isinstance(modes, dict) else None
            v = _r((greedy or {}).get(family_headline(task))) if task != OVERALL else None
            if v is not None:
                per[task] = v
        out[last] = per
        for model in models[:-1]:
            v = _r(((results[model].get(OVERALL) or {}).get("greedy") or {}).get("accuracy"))
            if model != UNTRAINED and v is not None:
                out[model] = {OVERALL: v}
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
        Path(tmp).write_text("\n".join([markdown(an, "Evaluation report"), *truncation_markdown(results),
                                        *task_metrics_markdown(results),
                                        *episodes_markdown(samples or [])]) + "\n")
    with io.atomic_file(out / "eval.png") as tmp:
        plot(an, tmp)
