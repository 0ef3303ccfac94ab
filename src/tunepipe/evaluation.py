"""Evaluation: generate on the held-out split, score with the task scorers, summarise.

Greedy accuracy and sampled accuracy (at a temperature from params) are both reported:
GRPO moves the two differently (it turns pass@k into pass@1 for sampled decoding first).
Each model also gets an ``overall`` entry (samples pooled over its tasks; not a task).
The Pareto comparison, baseline check, report and plots are `tunepipe.report`'s.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunepipe import TunepipeError, tasks
from tunepipe.episodes import EpisodeArgs
from tunepipe.report import ParetoArgs


@dataclass
class EvalArgs:
    models: list[str]
    extra_models: dict[str, str]   # name -> local model dir, evaluated too (earlier than `models`)
    baseline: str | None           # a stored eval.json: compared with, regressions marked
    max_rows: int | None
    max_new_tokens: int | None | dict[str, int | None]   # tasks.budget: per family (null: its own)
    batch_size: int
    backend: str
    dtype: str
    temperature: float
    num_samples: int
    level: float
    pareto: ParetoArgs
    episode: EpisodeArgs           # multi-turn environments: tokens per turn, episode length
    seed: str | None = None        # null: one seed (base.seed) per run | per_task: the validators' per-task seed

    def __post_init__(self):
        if self.seed not in SEED_MODES:
            raise ValueError(f"seed: expected null or per_task, got {self.seed!r}")


SEED_MODES = (None, "per_task")
#: the environment names the validators hash for the per-task seed (AffineFoundation/affine,
#: affine/core/environments.py); other tasks hash their own name
VALIDATOR_ENVS = {"sat": "affine:sat", "abd": "affine:abd-v2", "ded": "affine:ded-v2"}


def task_seed(env: str, task_id: int) -> int:
    """The validators' per-task sampling seed (Dec 2025): the first 8 bytes of
    sha256(f"{env}:{task_id}"), big-endian, mod 2**32. Every model gets the same seed on a task.

    >>> task_seed("affine:sat", 0) == int.from_bytes(__import__("hashlib").sha256(b"affine:sat:0").digest()[:8], "big") % 2**32
    True
    """
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{env}:{task_id}".encode()).digest()[:8], "big") % 2**32


def row_task_id(row: dict, index: int) -> int:
    """A row's task id: its ``task_id`` (SAT ``generator: validators``), else the number at the
    end of its ``id`` (``test-sat-00012`` -> 12), else ``index``."""
    tid = row.get("task_id")
    if isinstance(tid, int) and not isinstance(tid, bool):
        return tid
    tail = str(row.get("id", "")).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else index


def row_seeds(rows: list[dict]) -> list[int]:
    """:func:`task_seed` of every row (``evaluate.seed: per_task``)."""
    return [task_seed(VALIDATOR_ENVS.get(r["task"], r["task"]), row_task_id(r, i)) for i, r in enumerate(rows)]


def check_budgets(a: EvalArgs) -> None:
    """``evaluate.max_new_tokens`` and ``evaluate.episode.turn_tokens`` as budgets per family
    (:func:`tunepipe.tasks.check_budget`), or a one-line error."""
    tasks.check_budgets("evaluate", "max_new_tokens", a.max_new_tokens, a.episode.turn_tokens)


def _score_all(rows, completions) -> tuple[list[list[float | None]], list[list[bool]]]:
    """Scores per row, one per completion (None: invalid, counted 0 by the statistics),
    and whether the scorer raised. One batch, so ABD/DED programs run in parallel."""
    flat = [(r["task"], c, r["spec"]) for r, comps in zip(rows, completions) for c in comps]
    errors: list[bool] = []
    scores = tasks.score_batch([f[0] for f in flat], [f[1] for f in flat], [f[2] for f in flat], errors) if flat else []
    it, et = iter(scores), iter(errors)
    return ([[next(it) for _ in comps] for comps in completions],
            [[next(et) for _ in comps] for comps in completions])


def task_summary(task: str, rows: list[dict], completions: list[list[str]], scores: list[list[float | None]],
                 errors: list[list[bool]], level: float, k: int | None = None) -> dict:
    """One task's statistics over its rows' completions: :func:`metrics.summarize` with the
    family's ``solved`` rule, ``n_errors`` (scorer exceptions), pass@k when ``k``, and the
    family's own ``metrics`` of the parsed answers."""
    from tunepipe import metrics

    family = tasks.get(task)
    flat = [(r, c, s) for r, cs, ss in zip(rows, completions, scores) for c, s in zip(cs, ss)]
    solved = [tasks.solved(task, s, r["spec"]) for r, _c, s in flat]
    out = metrics.summarize([s for _r, _c, s in flat], level=level, solved=solved)
    out["n_errors"] = sum(e for es in errors for e in es)
    if k is not None:
        per_row = [sum(tasks.solved(task, s, r["spec"]) for s in ss) for r, ss in zip(rows, scores)]
        out["pass_at_k"] = sum(metrics.pass_at_k(len(ss), c, k) for ss, c in zip(scores, per_row)) / max(len(rows), 1)
        out["k"] = k
    if family.metrics is not None:
        answers = [tasks.parse_completion(task, c, r["spec"]) for r, c, _s in flat]
        out.update(family.metrics(answers, [r["spec"] for r, _c, _s in flat], level))
    return out


def evaluate_model(name: str, path: str, rows: list[dict], a: EvalArgs, seed: int, samples_out: list | None = None) -> dict:
    """Per-task metrics of one model: greedy, and sampled (mean accuracy and pass@k)."""
    from tunepipe import models

    if not Path(path).is_dir():
        raise TunepipeError(f"evaluate: model {name!r}: {path} not found")
    if any(r["task"] == "overall" for r in rows):
        raise TunepipeError("evaluate: a task may not be named 'overall' (it holds the pooled results)")
    env_rows = [r for r in rows if tasks.multi_turn(r["task"])]
    rows = [r for r in rows if not tasks.multi_turn(r["task"])]
    if a.backend not in ("hf", "vllm"):
        raise TunepipeError(f"evaluate.backend: expected 'hf' or 'vllm', got {a.backend!r}")
    check_budgets(a)
    model = tok = None
    if a.backend == "hf" or env_rows:   # episodes run with transformers whatever the backend
        model = models.load_model(path, dtype=a.dtype)
        tok = models.load_tokenizer(path)
    seeds = row_seeds(rows) if a.seed == "per_task" else None
    g, sampled_c, g_cut, s_cut = _generate_all(name, path, model, tok, rows, a, seed, seeds)
    greedy, g_err = _score_all(rows, g)
    sampled, s_err = _score_all(rows, sampled_c)
    if samples_out is not None:
        for row, gc, sc, gs, ss, gt, st in zip(rows, g, sampled_c, greedy, sampled, g_cut, s_cut):
            rec = {"model": name, "id": row["id"], "task": row["task"], "greedy": gc[0],
                   "greedy_score": gs[0], "sampled": sc, "sampled_scores": ss,
                   "greedy_truncated": gt[0], "sampled_truncated": st}
            if "task_id" in row:
                rec["task_id"] = row["task_id"]
            samples_out.append(rec)
    result, env_scores = episode_results(name, model, tok, env_rows, a, samples_out) if env_rows else ({}, [])
    for task in sorted({r["task"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["task"] == task]
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        b = tasks.budget(task, a.max_new_tokens)
        entry = {"greedy": {**task_summary(task, pick(rows), pick(g), pick(greedy), pick(g_err), a.level),
                            **truncation(pick(g_cut), b)}}
        if a.num_samples > 0:
            entry["sampled"] = {**task_summary(task, pick(rows), pick(sampled_c), pick(sampled), pick(s_err), a.level,
                                               k=a.num_samples), **truncation(pick(s_cut), b)}
        result[task] = entry
    flat0 = lambda xss: [[0.0 if s is None else s for s in xs] for xs in xss]  # noqa: E731
    greedy, sampled = flat0(greedy), flat0(sampled)
    greedy += env_scores
    result = dict(sorted(result.items()))
    result["overall"] = overall(result, greedy, sampled, a)
    return result


def truncation(cut: list[list[bool]], budget: int) -> dict:
    """eval.json's truncation numbers of one task and mode: ``budget`` (new tokens),
    ``truncated`` (completions that hit it without a stop token) and ``truncated_share``."""
    flat = [c for cs in cut for c in cs]
    n = sum(flat)
    return {"budget": budget, "truncated": n, "truncated_share": n / len(flat) if flat else 0.0}


def _generate_all(name: str, path: str, model, tok, rows: list[dict], a: EvalArgs, seed: int,
                  seeds: list[int] | None = None):
    """Greedy and sampled completions of the single-turn ``rows`` (per row a list: one greedy
    completion, ``num_samples`` samples) and their truncation flags, shaped alike. Each family
    generates with its own budget (:func:`tunepipe.tasks.budget` of ``max_new_tokens``): rows
    whose families share a budget share batches, so with one int for every family the batches
    (and every completion) are those of a single call over all rows. vLLM: one engine, a budget
    per prompt. ``seeds``: one per row (``evaluate.seed: per_task``)."""
    from tunepipe import generation

    prompts = [r["prompt_text"] for r in rows]
    budgets = [tasks.budget(r["task"], a.max_new_tokens) for r in rows]
    groups: dict[int, list[int]] = {}
    for i, b in enumerate(budgets):
        groups.setdefault(0 if a.backend == "vllm" else b, []).append(i)
    g: list = [None] * len(rows)
    sampled: list = [[] for _ in rows]
    g_cut: list = [[False] for _ in rows]
    s_cut: list = [[] for _ in rows]
    for b, idx in sorted(groups.items()):
        ps = [prompts[i] for i in idx]
        sd = None if seeds is None else [seeds[i] for i in idx]
        tag = f" ({b} tokens)" if len(groups) > 1 else ""
        if a.backend == "vllm":
            gen = lambda desc, cut, **kw: generation.vllm_generate(  # noqa: E731
                path, ps, max_new_tokens=[budgets[i] for i in idx], seed=seed, truncated=cut, seeds=sd, **kw)
        else:
            gen = lambda desc, cut, **kw: generation.hf_generate(  # noqa: E731
                model, tok, ps, max_new_tokens=b, batch_size=a.batch_size, seed=seed, desc=desc, truncated=cut, seeds=sd, **kw)
        gc: list = []
        sc: list = [[] for _ in idx]
        if a.backend == "hf" and a.num_samples > 0:   # both passes from one prefill per prompt
            both: list = []
            gg, ss = generation.hf_generate_both(model, tok, ps, max_new_tokens=b, batch_size=a.batch_size,
                                                 num_samples=a.num_samples, temperature=a.temperature, seed=seed,
                                                 desc=f"{name} generation{tag}", truncated=both, seeds=sd)
            gg, gc, sc = [[x] for x in gg], [[x] for x in both[0]], both[1]
        else:
            gg = gen(f"{name} greedy{tag}", gc, do_sample=False, temperature=1.0, num_samples=1)
            ss = [[] for _ in idx]
            if a.num_samples > 0:
                ss = gen(f"{name} sampled{tag}", sc, do_sample=True, temperature=a.temperature,
                         num_samples=a.num_samples)
        for j, i in enumerate(idx):
            g[i], sampled[i], g_cut[i], s_cut[i] = gg[j], ss[j], gc[j], sc[j]
    return g, sampled, g_cut, s_cut


def episode_results(name: str, model, tok, rows: list[dict], a: EvalArgs,
                    samples_out: list | None) -> tuple[dict, list[list[float]]]:
    """Greedy episodes on the held-out instances of the environments: per environment the
    success rate (``accuracy``, Jeffreys interval: the engine's completion), ``mean_reward``
    (the rows' ``train_reward``), ``validator_score`` (the mean of the validators' episode
    score: the last turn's reported reward, quirks included), ``mean_steps``, ``n_truncated`` (episodes cut by ``episode.max_length``), and the
    model turns cut by the turn budget: ``budget`` (``episode.turn_tokens`` of the family),
    ``truncated`` (turns), ``truncated_share`` (of all turns), ``truncated_episodes``
    (episodes with any).
    ``episode.layout: agentgym`` plays the validators' regime (:func:`tunepipe.episodes.layout_rows`).
    Sampled episodes are not run (the Pareto comparison reads greedy by default). Also
    returns each episode's score (1.0 solved, else 0.0) for the pooled ``overall``."""
    from tunepipe import episodes, generation

    rows = episodes.layout_rows(rows, a.episode.layout)
    res = episodes.run(model, tok, rows, args=a.episode, gen_kwargs={"do_sample": False},
                       stop_ids=generation.stop_token_ids(model, tok), batch_size=a.batch_size,
                       desc=f"{name} episodes")
    out = {}
    for task in sorted({r["task"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["task"] == task]
        scores = [[1.0 if res[i]["success"] else 0.0] for i in idx]
        g = task_summary(task, [rows[i] for i in idx], [[res[i]["text"]] for i in idx], scores,
                         [[False] for _ in idx], a.level)
        rewards = [res[i]["reward"] for i in idx]
        g["mean_reward"] = sum(rewards) / len(idx)
        g["validator_score"] = sum(res[i]["validator_score"] for i in idx) / len(idx)
        g["mean_steps"] = sum(res[i]["steps"] for i in idx) / len(idx)
        g["n_truncated"] = sum(res[i]["truncated"] for i in idx)
        g.update(truncation([res[i]["turns_truncated"] for i in idx], tasks.budget(task, a.episode.turn_tokens)))
        g["truncated_episodes"] = sum(any(res[i]["turns_truncated"]) for i in idx)
        out[task] = {"greedy": g}
    if samples_out is not None:
        for row, r in zip(rows, res):
            samples_out.append({"model": name, "id": row["id"], "task": row["task"], "greedy": r["text"],
                                "greedy_score": 1.0 if r["success"] else 0.0, "sampled": [], "sampled_scores": [],
                                "episode": {"success": r["success"], "reward": r["reward"],
                                            "validator_score": r["validator_score"], "steps": r["steps"],
                                            "truncated": r["truncated"], "turns": r["turns"],
                                            "turns_truncated": r["turns_truncated"]}})
    return out, [[1.0 if r["success"] else 0.0] for r in res]


def overall(per_task: dict, greedy: list[list[float]], sampled: list[list[float]], a: EvalArgs) -> dict:
    """Every task pooled: `metrics.aggregate` (weighted by samples) plus the pooled median;
    sampled also gets pass@k averaged over all prompts."""
    import statistics

    from tunepipe import metrics

    out = {}
    for mode, scores in (("greedy", greedy), ("sampled", sampled)):
        per = {t: e[mode] for t, e in per_task.items() if mode in e}
        if not per:
            continue
        agg = metrics.aggregate(per, level=a.level)
        flat = [s for row in scores for s in row]
        agg["median"] = float(statistics.median(flat)) if flat else 0.0
        if mode == "sampled":
            prompts = {t: e["n"] / a.num_samples for t, e in per.items()}
            agg["pass_at_k"] = sum(per[t]["pass_at_k"] * prompts[t] for t in per) / max(sum(prompts.values()), 1)
            agg["k"] = a.num_samples
        out[mode] = agg
    return out
