"""The reward stage's logic: family reward hooks over specs, reference verification, and the
difficulty selection of reference-scored train rows (BLEUBERI: the base model answers each
pool prompt once; keep the rows it does worst on)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from tunepipe import TunepipeError, tasks


@dataclass
class RMArgs:
    """``reward.rm``: the reward model of the ``rm`` and ``bleu+rm`` metrics."""
    model: str | None       # a local sequence-classification model dir or an HF id (num_labels=1)
    dtype: str              # auto | float32 | bfloat16 | float16
    max_length: int         # prompt + completion tokens (truncated from the left)
    batch_size: int
    scale: float            # score = sigmoid(logit / scale) where a score in [0, 1] is needed


@dataclass
class SelectionArgs:
    """``reward.selection``: which reference-scored train rows GRPO and SFT get."""
    mode: str                   # all | random | easy | medium | hard
    num_examples: int | None    # rows of the pool kept; null: no selection
    max_new_tokens: int         # the base model's answer to each pool prompt
    temperature: float          # 0: greedy
    top_p: float
    batch_size: int


@dataclass
class RewardArgs:
    verify_references: bool   # every train reference must count as solved by its task's scorer
    tau: float                # Boltzmann temperature of the decision rewards (> 0)
    normalize: str            # none | minmax: Q per row before tau
    metric: str               # reference rows: bleu | rouge | rm | bleu+rm
    answer_tag: str | None    # reference rows: score the text inside <tag>...</tag> when present
    rm: RMArgs
    selection: SelectionArgs


def check(a: RewardArgs, where: str) -> None:
    """One-line errors for values no scorer can use (before any work is done)."""
    from tunepipe.tasks import reference

    s = a.selection
    bad = [
        (not a.tau > 0, "tau", "a number > 0", a.tau),
        (a.normalize not in ("none", "minmax"), "normalize", "'none' or 'minmax'", a.normalize),
        (a.metric not in reference.METRICS, "metric", f"one of {', '.join(reference.METRICS)}", a.metric),
        (a.metric in ("rm", "bleu+rm") and not a.rm.model, "rm.model",
         f"a reward model (local dir or HF id) for metric {a.metric}", a.rm.model),
        (a.rm.batch_size < 1, "rm.batch_size", "an int >= 1", a.rm.batch_size),
        (a.rm.max_length < 1, "rm.max_length", "an int >= 1", a.rm.max_length),
        (not a.rm.scale > 0, "rm.scale", "a number > 0", a.rm.scale),
        (s.mode not in reference.SELECTION_MODES, "selection.mode", ", ".join(reference.SELECTION_MODES), s.mode),
        (s.num_examples is not None and s.num_examples < 1, "selection.num_examples", "an int >= 1 or null",
         s.num_examples),
        (s.max_new_tokens < 1, "selection.max_new_tokens", "an int >= 1", s.max_new_tokens),
        (s.temperature < 0, "selection.temperature", "a number >= 0 (0: greedy)", s.temperature),
        (not 0 < s.top_p <= 1, "selection.top_p", "a number in (0, 1]", s.top_p),
        (s.batch_size < 1, "selection.batch_size", "an int >= 1", s.batch_size),
    ]
    for failed, key, expected, got in bad:
        if failed:
            raise TunepipeError(f"{where}: reward.{key}: expected {expected}, got {got!r}")


def rewarded(rows: list[dict], args: RewardArgs, where: str, split: str = "train") -> list[dict]:
    """Rows with each spec passed through its family's ``reward`` hook (if any), given the
    params section ``reward`` plus ``split``; reference rows scored by a reward model also
    get the score of their references (``spec.ref_score``)."""
    section = {**asdict(args), "split": split}
    out = []
    for i, row in enumerate(rows, 1):
        family = tasks.get(row["task"])
        if family.reward is not None and row["spec"] is not None:
            try:
                row = {**row, "spec": family.reward(row["spec"], section)}
            except ValueError as e:
                raise TunepipeError(f"{where}:{i}: row {row['id']}: reward.{e}") from None
        out.append(row)
    if any(r["task"] == "reference" for r in out):
        from tunepipe.tasks import reference

        out = reference.with_reference_scores(out)
    return out


def select(rows: list[dict], args: RewardArgs, *, base: str, seed: int) -> tuple[list[dict], list[dict] | None]:
    """The train rows with the reference-scored ones cut down to ``reward.selection``:
    every reference row of the kept pool rows (the SFT set: one row per reference; GRPO:
    the same prompts). Modes easy/medium/hard first have the base model (``base``) answer
    each pool prompt once (``hf_generate``: sampled at ``temperature``/``top_p``, or greedy
    at 0) and score the answer with the family's scorer. Returns (rows, one record per pool
    row with its base completion, score, ascending rank and whether it was kept), or
    (rows, None) when nothing is selected (mode all, num_examples null, no such rows)."""
    from tunepipe.tasks import reference

    s = args.selection
    pool, seen = [], set()
    for r in rows:
        if r["task"] == reference.NAME and r["spec"]["source_id"] not in seen:
            seen.add(r["spec"]["source_id"])
            pool.append(r)
    if s.mode == "all" or s.num_examples is None or not pool:
        if pool and s.mode != "all":
            print(f"reward.selection: num_examples is null: every one of {len(pool)} reference pool rows kept")
        return rows, None
    completions = scores = None
    if s.mode != "random":
        from tunepipe import generation, models

        model, tok = models.load_model(base), models.load_tokenizer(base)
        out = generation.hf_generate(model, tok, [r["prompt_text"] for r in pool], max_new_tokens=s.max_new_tokens,
                                     batch_size=s.batch_size, do_sample=s.temperature > 0,
                                     temperature=s.temperature if s.temperature > 0 else 1.0, top_p=s.top_p,
                                     num_samples=1, seed=seed, desc="selection: base answers")
        completions = [c[0] for c in out]
        scores = tasks.score_batch([r["task"] for r in pool], completions, [r["spec"] for r in pool])
    keep = reference.select(scores or [None] * len(pool), s.mode, s.num_examples, seed)
    kept = {pool[i]["spec"]["source_id"] for i in keep}
    rank = {}
    if scores is not None:
        rank = {i: k for k, i in enumerate(sorted(range(len(pool)), key=lambda i: (scores[i] or 0.0, i)))}
    records = [{"source_id": r["spec"]["source_id"],
                "instruction": reference.prompt_text(r["prompt"]) if isinstance(r["prompt"], list) else r["prompt"],
                "completion": completions[i] if completions else None,
                "score": scores[i] if scores else None, "rank": rank.get(i),
                "selected": r["spec"]["source_id"] in kept, "mode": s.mode}
               for i, r in enumerate(pool)]
    span = f" (base scores {min(x or 0.0 for x in scores):.3f}..{max(x or 0.0 for x in scores):.3f})" if scores else ""
    print(f"reward.selection: {s.mode}: kept {len(kept)} of {len(pool)} reference pool rows{span}")
    return [r for r in rows if r["task"] != reference.NAME or r["spec"]["source_id"] in kept], records


def verify(rows: list[dict], where: str) -> None:
    """Every reference answer (except imported logs) counts as solved by its scorer."""
    def reference(row):   # environments: the whole expert episode, replayed
        if tasks.multi_turn(row["task"]):
            return "\n\n".join([row["answer"], *(t["answer"] for t in row["turns"])])
        return row["completion_text"]

    # imported logs and environment instances without an expert (a real server's) have no reference
    idx = [i for i, row in enumerate(rows) if row.get("source") != "import"
           and not (tasks.multi_turn(row["task"]) and row.get("turns") is None)]
    scores = tasks.score_batch([rows[i]["task"] for i in idx], [reference(rows[i]) for i in idx],
                               [rows[i]["spec"] for i in idx])
    for i, s in zip(idx, scores):
        if not tasks.solved(rows[i]["task"], s, rows[i]["spec"]):
            raise TunepipeError(f"{where}:{i + 1}: reference answer of row {rows[i]['id']} scores {s}, "
                                "which does not count as solved")
