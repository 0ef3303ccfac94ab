"""Evaluation: generate on the held-out split, score with the task scorers, summarise.

Greedy accuracy and sampled accuracy (at a temperature from params) are both reported:
GRPO moves the two differently (it turns pass@k into pass@1 for sampled decoding first).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunepipe import TunepipeError, tasks


@dataclass
class EvalArgs:
    models: list[str]
    max_rows: int | None
    max_new_tokens: int
    batch_size: int
    backend: str
    dtype: str
    temperature: float
    num_samples: int
    level: float


def _score_all(rows, completions) -> list[list[float]]:
    out = []
    for row, comps in zip(rows, completions):
        scores = [tasks.score_completion(row["task"], c, row["spec"]) for c in comps]
        out.append([0.0 if s is None else float(s) for s in scores])
    return out


def evaluate_model(name: str, path: str, rows: list[dict], a: EvalArgs, seed: int, samples_out: list | None = None) -> dict:
    """Per-task metrics of one model: greedy, and sampled (mean accuracy and pass@k)."""
    from tunepipe import generation, metrics, models

    if not Path(path).is_dir():
        raise TunepipeError(f"evaluate: model {name!r}: {path} not found")
    prompts = [r["prompt_text"] for r in rows]
    if a.backend == "hf":
        model = models.load_model(path, dtype=a.dtype)
        tok = models.load_tokenizer(path)
        gen = lambda **kw: generation.hf_generate(model, tok, prompts, max_new_tokens=a.max_new_tokens,
                                                  batch_size=a.batch_size, seed=seed, **kw)
    elif a.backend == "vllm":
        gen = lambda desc, **kw: generation.vllm_generate(path, prompts, max_new_tokens=a.max_new_tokens, seed=seed, **kw)
    else:
        raise TunepipeError(f"evaluate.backend: expected 'hf' or 'vllm', got {a.backend!r}")
    greedy = _score_all(rows, g := gen(do_sample=False, temperature=1.0, num_samples=1, desc=f"{name} greedy"))
    sampled_c = gen(do_sample=True, temperature=a.temperature, num_samples=a.num_samples, desc=f"{name} sampled") if a.num_samples > 0 else [[] for _ in rows]
    sampled = _score_all(rows, sampled_c)
    if samples_out is not None:
        for row, gc, sc, gs, ss in zip(rows, g, sampled_c, greedy, sampled):
            samples_out.append({"model": name, "id": row["id"], "task": row["task"], "greedy": gc[0],
                                "greedy_score": gs[0], "sampled": sc, "sampled_scores": ss})
    result = {}
    for task in sorted({r["task"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["task"] == task]
        g_sum = metrics.summarize([greedy[i][0] for i in idx], level=a.level)
        entry = {"greedy": g_sum}
        if a.num_samples > 0:
            flat = [s for i in idx for s in sampled[i]]
            s_sum = metrics.summarize(flat, level=a.level)
            s_sum["pass_at_k"] = sum(
                metrics.pass_at_k(len(sampled[i]), sum(1 for s in sampled[i] if s >= 1.0), a.num_samples) for i in idx
            ) / len(idx)
            s_sum["k"] = a.num_samples
            entry["sampled"] = s_sum
        result[task] = entry
    return result


def plot(results: dict, png: str, level: float) -> None:
    """Greedy and sampled accuracy per model and task, with Jeffreys intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model_names = list(results)
    task_names = sorted({t for m in results.values() for t in m})
    fig, axes = plt.subplots(1, len(task_names), figsize=(4.5 * len(task_names), 3.6), squeeze=False)
    for ax, task in zip(axes[0], task_names):
        for j, mode in enumerate(("greedy", "sampled")):
            xs, ys, lo, hi = [], [], [], []
            for i, m in enumerate(model_names):
                e = results[m].get(task, {}).get(mode)
                if e:
                    xs.append(i + (j - 0.5) * 0.3)
                    ys.append(e["accuracy"])
                    # the Jeffreys interval (exact Beta quantiles) excludes 0 at s = 0 and 1 at s = n
                    lo.append(max(0.0, e["accuracy"] - e["ci_low"]))
                    hi.append(max(0.0, e["ci_high"] - e["accuracy"]))
            if xs:
                ax.bar(xs, ys, width=0.28, yerr=[lo, hi], capsize=3, label=mode, alpha=0.85)
                for x, y in zip(xs, ys):
                    ax.text(x, y + 0.02, f"{y:.2f}", ha="center", fontsize=8)
        ax.set_xticks(range(len(model_names)), model_names)
        ax.set_ylim(0, 1.08)
        ax.set_title(f"{task}: held-out accuracy ({int(level * 100)}% Jeffreys CI)", fontsize=9)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
