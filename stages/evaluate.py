"""evaluate: held-out accuracy of every model in ``evaluate.models`` (greedy and sampled),
scored by the task scorers; writes metrics/eval.json, a PNG and DVC plot data.

    python stages/evaluate.py --params params.yaml --data data/harmony/test.jsonl --models-dir models --out metrics
"""
from __future__ import annotations

from pathlib import Path

from tunepipe import cli, config, evaluation, io


def evaluate(params: str = "params.yaml", data: str = "data/harmony/test.jsonl", models_dir: str = "models",
             out: str = "metrics") -> None:
    p = config.load(params)
    a = config.typed(evaluation.EvalArgs, config.section(p, "evaluate"), "evaluate")
    seed = config.section(p, "base")["seed"]
    rows = io.read_jsonl(data, required=io.ROW_FIELDS + ("prompt_text",))
    if a.max_rows is not None:
        by_task: dict[str, list] = {}
        for r in rows:
            by_task.setdefault(r["task"], []).append(r)
        rows = [r for rs in by_task.values() for r in rs[: a.max_rows]]
    results, samples = {}, []
    for name in a.models:
        results[name] = evaluation.evaluate_model(name, str(Path(models_dir) / name), rows, a, seed, samples)
        for task, e in results[name].items():
            g = e["greedy"]
            line = f"{name:>6} {task}: greedy {g['accuracy']:.3f} [{g['ci_low']:.3f}, {g['ci_high']:.3f}] n={g['n']}"
            if "sampled" in e:
                s = e["sampled"]
                line += f" | sampled@T={a.temperature} {s['accuracy']:.3f} pass@{s['k']} {s['pass_at_k']:.3f}"
            print(line)
    out_dir = Path(out)
    io.write_json(out_dir / "eval.json", results)
    bars = [
        {"model": m, "task": t, "mode": mode, "accuracy": e[mode]["accuracy"],
         "ci_low": e[mode]["ci_low"], "ci_high": e[mode]["ci_high"]}
        for m, per_task in results.items() for t, e in per_task.items() for mode in ("greedy", "sampled") if mode in e
    ]
    io.write_json(out_dir / "eval_bars.json", bars)
    io.write_jsonl(out_dir / "eval_samples.jsonl", samples)
    evaluation.plot(results, str(out_dir / "eval.png"), a.level)


if __name__ == "__main__":
    cli.run(evaluate)
