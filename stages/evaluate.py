"""evaluate: held-out accuracy of every model in ``evaluate.extra_models`` and
``evaluate.models`` (greedy and sampled), scored by the task scorers; then the validators'
Pareto comparison of those models (and of a stored ``evaluate.baseline``, regressions
marked). Writes metrics/summary.json (the headline DVC shows: accuracy with intervals per
model and task, and the last sft/grpo losses and reward from their dvclive summaries
``--sft-live`` / ``--grpo-live`` when present), eval.json, pareto.json, report.md, eval.png,
the DVC bar data and the samples.

    python stages/evaluate.py --params params.yaml --data data/reward/test.jsonl --models-dir models --out metrics \
        --sft-live metrics/sft/metrics.json --grpo-live metrics/grpo/metrics.json
"""
from __future__ import annotations

from pathlib import Path

from tunepipe import TunepipeError, cli, config, evaluation, generation, io, report


def evaluate(params: str = "params.yaml", data: str = "data/reward/test.jsonl", models_dir: str = "models",
             out: str = "metrics", sft_live: str = "metrics/sft/metrics.json",
             grpo_live: str = "metrics/grpo/metrics.json") -> None:
    p = config.load(params)
    a = config.typed(evaluation.EvalArgs, config.section(p, "evaluate"), "evaluate")
    report.check_pareto_args(a.pareto)
    evaluation.check_budgets(a)
    if a.backend not in ("hf", "vllm"):
        raise TunepipeError(f"evaluate.backend: expected 'hf' or 'vllm', got {a.backend!r}")
    if a.backend == "vllm":
        generation.require_vllm("evaluate.backend=vllm", "evaluate.backend: hf")
    seed = config.section(p, "base")["seed"]
    # extra models first: they existed before this run, so they are the earlier ones
    paths = {**a.extra_models}
    for name in a.models:
        if name in paths:
            raise TunepipeError(f"evaluate.extra_models: {name!r} is also in evaluate.models")
        paths[name] = str(Path(models_dir) / name)
    for name, path in paths.items():  # fail before any generation, not after hours of it
        if not Path(path).is_dir():
            raise TunepipeError(f"evaluate: model {name!r}: {path} not found")
    baseline_rows = []
    if a.baseline is not None:
        baseline_rows = report.rows_from_eval(report.read_eval(a.baseline), a.baseline, source=report.BASELINE,
                                              level=a.level)
    rows = io.read_jsonl(data, required=io.ROW_FIELDS + ("prompt_text",))
    if a.max_rows is not None:
        by_task: dict[str, list] = {}
        for r in rows:
            by_task.setdefault(r["task"], []).append(r)
        rows = [r for rs in by_task.values() for r in rs[: a.max_rows]]
    results, samples = {}, []
    for name, path in paths.items():
        results[name] = evaluation.evaluate_model(name, path, rows, a, seed, samples)
        for task, e in results[name].items():
            g = e["greedy"]
            line = f"{name:>6} {task}: greedy {g['accuracy']:.3f} [{g['ci_low']:.3f}, {g['ci_high']:.3f}] n={g['n']}"
            if "mean_reward" in g:
                line += f" | mean reward {g['mean_reward']:.3f}, {g['mean_steps']:.1f} steps"
            if "sampled" in e:
                s = e["sampled"]
                line += f" | sampled@T={a.temperature} {s['accuracy']:.3f} pass@{s['k']} {s['pass_at_k']:.3f}"
            print(line)
    an = report.analyse(report.rows_from_eval(results, "eval.json", level=a.level), rule=a.pareto.rule,
                        mode=a.pareto.mode, min_samples=a.pareto.min_samples, level=a.level,
                        baseline_rows=baseline_rows, baseline_path=a.baseline, temperature=a.temperature)
    train_logs = report.read_train_logs(sft=sft_live, grpo=grpo_live)
    report.write_eval_outputs(out, results, an, samples, train_logs)
    io.write_jsonl(Path(out) / "eval_samples.jsonl", samples)
    for line in report.truncation_warnings(results):   # answers cut short score 0: said, not hidden
        print(line)
    for line in report.markdown(an).splitlines()[2:]:  # the frontier, the env winners, regressions
        if line.startswith("## "):
            break
        if line:
            print(line)


if __name__ == "__main__":
    cli.run(evaluate)
