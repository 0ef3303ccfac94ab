"""The ``reference`` family's part of the reward stage (:mod:`tunepipe.tasks.reference`):
params ``reward.reference`` (:class:`RewardConfig`), the reward hook that writes the metric
into every spec and the references' own score (:func:`reward`), and the difficulty
selection of the train pool (:func:`select_rows`)."""
from __future__ import annotations

import random
from dataclasses import dataclass

from tunepipe.tasks.protocol import SelectRequest
from tunepipe.tasks.reference.pool import prompt_text
from tunepipe.tasks.reference.rm import load_reward_model
from tunepipe.tasks.reference.scoring import METRICS, NAME, _absolute, _uses_rm, components, parse

SELECTION_MODES = ("all", "random", "easy", "medium", "hard")


@dataclass
class RMConfig:
    """params ``reward.reference.rm``: the reward model of the ``rm`` and ``bleu+rm`` metrics."""
    model: str | None       # a local sequence-classification model dir or an HF id (num_labels=1)
    dtype: str              # auto | float32 | bfloat16 | float16
    max_length: int         # prompt + completion tokens (truncated from the left)
    batch_size: int
    scale: float            # score = sigmoid(logit / scale) where a score in [0, 1] is needed

    def __post_init__(self):
        for bad, key, expected, got in ((self.batch_size < 1, "batch_size", "an int >= 1", self.batch_size),
                                        (self.max_length < 1, "max_length", "an int >= 1", self.max_length),
                                        (not self.scale > 0, "scale", "a number > 0", self.scale)):
            if bad:
                raise ValueError(f"{key}: expected {expected}, got {got!r}")


@dataclass
class SelectionConfig:
    """params ``reward.reference.selection``: which reference-scored train rows GRPO and SFT get."""
    mode: str                   # all | random | easy | medium | hard
    num_examples: int | None    # rows of the pool kept; null: no selection
    max_new_tokens: int         # the base model's answer to each pool prompt
    temperature: float          # 0: greedy
    top_p: float
    batch_size: int

    def __post_init__(self):
        for bad, key, expected, got in (
                (self.mode not in SELECTION_MODES, "mode", ", ".join(SELECTION_MODES), self.mode),
                (self.num_examples is not None and self.num_examples < 1, "num_examples", "an int >= 1 or null",
                 self.num_examples),
                (self.max_new_tokens < 1, "max_new_tokens", "an int >= 1", self.max_new_tokens),
                (self.temperature < 0, "temperature", "a number >= 0 (0: greedy)", self.temperature),
                (not 0 < self.top_p <= 1, "top_p", "a number in (0, 1]", self.top_p),
                (self.batch_size < 1, "batch_size", "an int >= 1", self.batch_size)):
            if bad:
                raise ValueError(f"{key}: expected {expected}, got {got!r}")


@dataclass
class RewardConfig:
    """params ``reward.reference``: the metric GRPO and evaluate score with, and the
    difficulty selection of the train pool."""
    metric: str               # bleu | rouge | rm | bleu+rm
    answer_tag: str | None    # score the text inside <tag>...</tag> when present; null: the whole answer
    rm: RMConfig
    selection: SelectionConfig

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"metric: expected one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.metric in ("rm", "bleu+rm") and not self.rm.model:
            raise ValueError(f"rm.model: expected a reward model (local dir or HF id) for metric {self.metric}, "
                             f"got {self.rm.model!r}")


def reward_spec(spec: dict, cfg: RewardConfig, split: str) -> dict:
    """The spec with what the scorer needs from ``reward.reference``: ``metric``,
    ``answer_tag``, and for RM metrics ``rm`` (model, dtype, max_length, batch_size, scale)
    plus ``group_z`` on train rows."""
    metric = cfg.metric
    out = {k: v for k, v in spec.items() if k not in ("metric", "answer_tag", "rm", "group_z", "ref_score")}
    out["metric"], out["answer_tag"] = metric, cfg.answer_tag
    if metric in ("rm", "bleu+rm"):
        out["rm"] = {k: getattr(cfg.rm, k) for k in ("model", "dtype", "max_length", "batch_size", "scale")}
        if split == "train":
            out["group_z"] = True
    return out


def reward(rows: list[dict], cfg: RewardConfig, split: str) -> list[dict]:
    """The reward stage's hook: every spec through :func:`reward_spec`, then, for metrics with
    a reward model, the references' own score (:func:`with_reference_scores`)."""
    return with_reference_scores([r if r["spec"] is None else {**r, "spec": reward_spec(r["spec"], cfg, split)}
                                  for r in rows])


def with_reference_scores(rows: list[dict]) -> list[dict]:
    """Rows of this family whose metric uses a reward model get ``spec.ref_score``: the
    lowest absolute score of their references (what :func:`solved` compares with). Loads
    the reward model first: one that does not load is a one-line error."""
    need = [r for r in rows if r["task"] == NAME and _uses_rm(r["spec"])]
    if not need:
        return rows
    rm = need[0]["spec"]["rm"]
    load_reward_model(rm["model"], rm["dtype"])
    by_source: dict[str, dict] = {}
    for r in need:
        by_source.setdefault(r["spec"]["source_id"], {k: v for k, v in r["spec"].items() if k != "group_z"})
    flat = [(sid, ref) for sid, s in by_source.items() for ref in s["references"]]
    specs = [by_source[sid] for sid, _ in flat]
    c = components([parse(ref, s) for (_, ref), s in zip(flat, specs)], specs)   # as verify reads them
    best: dict[str, float] = {}
    for i, (sid, _) in enumerate(flat):
        v = _absolute(c, i, specs[i])
        best[sid] = min(best.get(sid, v), v)
    return [{**r, "spec": {**r["spec"], "ref_score": best[r["spec"]["source_id"]]}}
            if r["task"] == NAME and _uses_rm(r["spec"]) else r for r in rows]


def select(scores: list[float | None], mode: str, k: int, seed: int) -> list[int]:
    """Indices (ascending) of the ``k`` pool rows kept by ``mode``, from the base model's
    score of each row (None counts 0): ``hard`` the k lowest, ``easy`` the k highest,
    ``medium`` the window starting at (N - k) // 2 of the ascending order, ``random`` a
    sample seeded by ``seed`` (scores unused). Ties keep pool order. k >= N: every row.

    >>> select([0.5, 0.1, 0.9, 0.3], "hard", 2, 0), select([0.5, 0.1, 0.9, 0.3], "easy", 2, 0)
    ([1, 3], [0, 2])
    >>> select([0.5, 0.1, 0.9, 0.3, 0.7], "medium", 3, 0)
    [0, 3, 4]
    """
    n = len(scores)
    if mode not in SELECTION_MODES or mode == "all":
        raise ValueError(f"selection.mode: expected random, easy, medium or hard, got {mode!r}")
    if k >= n:
        return list(range(n))
    if mode == "random":
        return sorted(random.Random(f"{seed}/reference-selection").sample(range(n), k))
    s = [0.0 if x is None else float(x) for x in scores]
    up = sorted(range(n), key=lambda i: (s[i], i))
    if mode == "hard":
        keep = up[:k]
    elif mode == "easy":
        keep = sorted(range(n), key=lambda i: (-s[i], i))[:k]
    else:
        start = (n - k) // 2
        keep = up[start:start + k]
    return sorted(keep)


def select_rows(rows: list[dict], cfg: RewardConfig, req: SelectRequest) -> tuple[list[dict], list[dict] | None]:
    """The reward stage's selection (``reward.reference.selection``, BLEUBERI's): the train
    rows cut down to every row of the kept pool rows (the SFT set: one row per reference;
    GRPO: the same prompts). Modes easy/medium/hard first have the base model
    (``req.base``) answer each pool prompt once (sampled at ``temperature``/``top_p``, or
    greedy at 0) and score the answer with this family's scorer. Returns (rows, one record
    per pool row with its base completion, score, ascending rank and whether it was kept),
    or (rows, None) when nothing is selected (mode all, num_examples null, no rows)."""
    s = cfg.selection
    pool, seen = [], set()
    for r in rows:
        if r["spec"]["source_id"] not in seen:
            seen.add(r["spec"]["source_id"])
            pool.append(r)
    if s.mode == "all" or s.num_examples is None or not pool:
        if pool and s.mode != "all":
            print(f"reward.reference.selection: num_examples is null: every one of {len(pool)} pool rows kept")
        return rows, None
    completions = scores = None
    if s.mode != "random":
        from tunepipe import generation, models, tasks

        model, tok = models.load_model(req.base), models.load_tokenizer(req.base)
        out = generation.hf_generate(model, tok, [r["prompt_text"] for r in pool], max_new_tokens=s.max_new_tokens,
                                     batch_size=s.batch_size, do_sample=s.temperature > 0,
                                     temperature=s.temperature if s.temperature > 0 else 1.0, top_p=s.top_p,
                                     num_samples=1, seed=req.seed, desc="selection: base answers")
        completions = [c[0] for c in out]
        scores = tasks.score_batch([r["task"] for r in pool], completions, [r["spec"] for r in pool])
    keep = select(scores or [None] * len(pool), s.mode, s.num_examples, req.seed)
    kept = {pool[i]["spec"]["source_id"] for i in keep}
    rank = {}
    if scores is not None:
        rank = {i: k for k, i in enumerate(sorted(range(len(pool)), key=lambda i: (scores[i] or 0.0, i)))}
    records = [{"source_id": r["spec"]["source_id"],
                "instruction": prompt_text(r["prompt"]) if isinstance(r["prompt"], list) else r["prompt"],
                "completion": completions[i] if completions else None,
                "score": scores[i] if scores else None, "rank": rank.get(i),
                "selected": r["spec"]["source_id"] in kept, "mode": s.mode}
               for i, r in enumerate(pool)]
    span = f" (base scores {min(x or 0.0 for x in scores):.3f}..{max(x or 0.0 for x in scores):.3f})" if scores else ""
    print(f"reward.reference.selection: {s.mode}: kept {len(kept)} of {len(pool)} pool rows{span}")
    return [r for r in rows if r["spec"]["source_id"] in kept], records
