"""Reference-scored tasks (`reference`): instructions with one or more reference answers,
scored by the similarity of a completion to the references -- BLEU, ROUGE-L, a reward
model, or BLEU + reward model -- the BLEUBERI recipe (docs/reference/validators.md).

Sources (``collect.reference.source``):

- a ``.jsonl`` / ``.json`` / ``.parquet`` file, or a directory holding such files, in the
  schema of the BLEUBERI-Tulu3-50k pool: ``id``, ``source``, ``messages`` (the chat; the
  prompt is every message before the first assistant turn; a plain ``prompt`` string works
  too) and ``ref_output_gold`` / ``ref_output_<model>`` columns.
  ``collect.reference.ref_models`` picks the reference columns (``[gold]``: the Tulu 3
  answer); a column missing from the source is a one-line error, a row whose value is null
  or blank is dropped (as BLEUBERI does), and a pool left empty is an error;
- a Hugging Face dataset id (``yapeichang/BLEUBERI-Tulu3-50k``), train split, when the hub
  is reachable (``HF_HUB_OFFLINE=1``, the test and Makefile default, is a one-line error);
- a directory with no such file (the default, ``data/sources/reference``, shipped holding
  only a README): the built-in pool of :mod:`tunepipe.tasks.reference_pool`.

Rows are taken as given and split train/test by a stable hash of the prompt
(``test_fraction``); ``collect.train/test.reference`` cap the rows (null: all). A train row
is made per reference (the SFT target; ``spec.answer_index`` says which), a test row per
prompt. Every spec holds all the references, the prompt messages (the reward model reads
them) and the pool row's id (``source_id``).

Scoring (:func:`score_many`; the reward stage writes ``reward.reference.metric`` and what the metric
needs into every spec, so GRPO and evaluate call the same function):

- ``bleu``: :func:`bleu`, BLEUBERI's reward (Hugging Face ``evaluate`` ``bleu`` with
  ``smooth=True``);
- ``rouge``: :func:`rouge_l`, the ROUGE-L F-measure of ``rouge-score`` (best reference);
- ``rm``: a sequence-classification reward model (``reward.reference.rm.model``: a local dir or an HF
  id) on the prompt + completion, batched; the score is ``sigmoid(logit / reward.reference.rm.scale)``;
- ``bleu+rm``: in GRPO (train rows) the mean of the per-group z-scores of BLEU and of the
  RM logit, a group being the completions of one prompt; in ``evaluate`` (test rows) and
  in selection, where there are no groups, ``(BLEU + sigmoid(logit / scale)) / 2``, with
  the components reported separately by :func:`metrics`. With ``rm`` alone, GRPO also gets
  the per-group z-score of the logit (a sigmoid saturates at 1.0 in float32 for logits
  above ~17, which the Skywork RM reaches).

The completion is read from the Harmony final channel; trailing end-of-turn tokens
(``<|im_end|>``...) are dropped, and with ``reward.reference.answer_tag: answer`` the text inside the
last ``<answer>...</answer>`` is scored when there is one. An empty answer scores 0.

"Solved" (success rate, pass@k, the reward stage's reference check): the score reaches the
score of the weakest reference under the same metric -- for BLEU and ROUGE that is 1.0, an
exact match of a reference after tokenisation; for the reward-model metrics the reward
stage stores the references' score in ``spec.ref_score``.

The code, by job: :mod:`~tunepipe.tasks.reference.similarity` (BLEU, ROUGE-L),
:mod:`~tunepipe.tasks.reference.rm` (the reward model), :mod:`~tunepipe.tasks.reference.scoring`
(what is scored of a completion, each metric's components),
:mod:`~tunepipe.tasks.reference.pool` (the sources), :mod:`~tunepipe.tasks.reference.rewarding`
(the reward stage: ``reward.reference``, the reference scores, the selection); this module
is the family record and re-exports their names.

>>> round(bleu("the cat sat on the mat", ["the cat sat on the mat"]), 6)
1.0
>>> bleu("", ["anything"]), round(bleu("the cat", ["the cat sat on the mat"]), 4)
(0.0, 0.1353)
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

from tunepipe import TunepipeError
from tunepipe.tasks.protocol import BuildRequest, Family
# the family's names, defined where the code that needs them lives, re-exported here
from tunepipe.tasks.reference.pool import FILE_TYPES, load_pool, pool_files, prompt_text  # noqa: F401
from tunepipe.tasks.reference.rewarding import (SELECTION_MODES, RewardConfig, RMConfig,  # noqa: F401
                                                SelectionConfig, reward, reward_spec, select, select_rows,
                                                with_reference_scores)
from tunepipe.tasks.reference.rm import _LOGITS, load_reward_model, rm_logits  # noqa: F401
from tunepipe.tasks.reference.scoring import (METRICS, NAME, _absolute, _metric, _uses_rm,  # noqa: F401
                                              components, extract, parse)
from tunepipe.tasks.reference.similarity import bleu, rouge_l, tokenize_13a  # noqa: F401

# --------------------------------------------------------------------- score


def _z(xs: list[float]) -> list[float]:
    """z-scores with the sample standard deviation (as BLEUBERI's pandas ``std``); all equal: 0."""
    if len(xs) < 2:
        return [0.0] * len(xs)
    mu = math.fsum(xs) / len(xs)
    sd = math.sqrt(math.fsum((x - mu) ** 2 for x in xs) / (len(xs) - 1))
    return [0.0 if sd == 0 else (x - mu) / sd for x in xs]


def score_many(completions: list[str], specs: list[dict]) -> list[float | None]:
    """Scores of a batch (the GRPO reward, evaluate's accuracy, the selection score).
    Specs flagged ``group_z`` (train rows with an RM metric) that occur at least twice in
    the batch form a group (the completions of one prompt) and get the mean of their
    components' z-scores within it (an empty answer's RM logit counts as its group's
    lowest); every other completion gets the absolute score in [0, 1]."""
    answers = [parse(c, s) for c, s in zip(completions, specs)]
    c = components(answers, specs)
    out: list[float | None] = [None if a is None else _absolute(c, i, s)
                               for i, (a, s) in enumerate(zip(answers, specs))]
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(specs):
        if s.get("group_z") and _uses_rm(s) and answers[i] is not None:
            groups.setdefault(json.dumps(s, sort_keys=True), []).append(i)
    for idx in groups.values():
        if len(idx) < 2:
            continue
        valid = [c["rm"][i] for i in idx if c["rm"][i] is not None]
        low = min(valid) if valid else 0.0
        zr = _z([low if c["rm"][i] is None else c["rm"][i] for i in idx])
        if _metric(specs[idx[0]]) == "rm":
            for i, z in zip(idx, zr):
                out[i] = z
        else:
            zb = _z([c["bleu"][i] for i in idx])
            for i, a, b in zip(idx, zb, zr):
                out[i] = (a + b) / 2.0
    return out


def score(completion, spec: dict) -> float | None:
    return score_many([completion], [spec])[0]


def solved(s: float | None, spec: dict) -> bool:
    """The score reaches the weakest reference's (``spec.ref_score``, default 1.0: an exact
    match for BLEU and ROUGE); RM metrics allow 1e-3 for batch/padding noise."""
    if s is None:
        return False
    tol = 1e-3 if _uses_rm(spec) else 1e-9
    return s >= float(spec.get("ref_score", 1.0)) - tol


def check_spec(spec: dict) -> None:
    refs = spec.get("references")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r.strip() for r in refs):
        raise ValueError(f"references: expected a non-empty list of non-empty strings, got {refs!r:.200}")
    prompt = spec.get("prompt")
    if not isinstance(prompt, list) or not prompt or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in prompt):
        raise ValueError("prompt: expected a non-empty list of {role, content} messages")
    if not isinstance(spec.get("source_id"), str):
        raise ValueError(f"source_id: expected a string, got {spec.get('source_id')!r}")
    if "metric" in spec and spec["metric"] not in METRICS:
        raise ValueError(f"metric: expected one of {', '.join(METRICS)}, got {spec['metric']!r}")
    if _uses_rm(spec) and not (isinstance(spec.get("rm"), dict) and isinstance(spec["rm"].get("model"), str)):
        raise ValueError(f"rm: metric {spec['metric']} needs rm.model")


def metrics(answers: list, specs: list[dict], level: float) -> dict:
    """evaluate's extra numbers: the components whatever the metric (mean ``bleu``,
    ``rouge_l``; ``rm_logit`` when the metric uses a reward model), ``exact_match`` (share
    of answers equal to a reference, whitespace-normalised), and a Student-t interval of the
    mean score (``mean_t_low`` / ``mean_t_high``, clipped to [0, 1]) -- the interval for a
    continuous score. The reported ``ci_low/ci_high`` (and the Pareto rule) stay the
    pipeline's Jeffreys interval on the sum of scores, which is wider (the variance of a
    [0, 1] score with mean p is at most p(1 - p))."""
    import statistics

    from scipy.stats import t as student_t

    n = len(answers)
    if n == 0:
        return {"bleu": 0.0, "rouge_l": 0.0, "exact_match": 0.0, "mean_t_low": 0.0, "mean_t_high": 1.0}
    texts = ["" if a is None else a for a in answers]
    c = components(texts, specs)
    scores = [_absolute(c, i, s) for i, s in enumerate(specs)]
    norm = lambda x: " ".join(x.split())  # noqa: E731
    out = {
        "bleu": math.fsum(bleu(a, s["references"]) for a, s in zip(texts, specs)) / n,
        "rouge_l": math.fsum(rouge_l(a, s["references"]) for a, s in zip(texts, specs)) / n,
        "exact_match": sum(any(norm(a) == norm(r) for r in s["references"]) for a, s in zip(texts, specs)) / n,
    }
    rms = [x for x in c["rm"] if x is not None]
    if any(_uses_rm(s) for s in specs):
        out["rm_logit"] = math.fsum(rms) / len(rms) if rms else 0.0
    mean = math.fsum(scores) / n
    if n > 1:
        half = student_t.ppf((1 + level) / 2, n - 1) * statistics.stdev(scores) / math.sqrt(n)
        out["mean_t_low"], out["mean_t_high"] = max(0.0, mean - half), min(1.0, mean + half)
    else:
        out["mean_t_low"], out["mean_t_high"] = 0.0, 1.0
    return out


# ---------------------------------------------------------------------- the rows


@dataclass
class Config:
    """params ``collect.reference``."""
    source: str              # a pool file / a directory of them / an HF id; a directory without one: the built-in pool
    ref_models: list[str]    # reference columns ref_output_<name> to use (gold = the pool's own answer)
    test_fraction: float     # share of prompts held out, by a stable hash of the prompt
    pool_size: int           # built-in pool: rows generated
    pool_seed: int           # built-in pool: seed


def build(n: int | None, rng: random.Random, cfg: Config, req: BuildRequest) -> list[dict]:
    """Every row of ``req.split`` (collect caps them): one per reference in train, one per
    prompt in test."""
    from tunepipe.tasks.decision import in_test

    if not 0.0 <= cfg.test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in [0, 1), got {cfg.test_fraction!r}")
    test = req.split == "test"
    rows = []
    for e in load_pool(cfg):
        if in_test(prompt_text(e["prompt"]), cfg.test_fraction) != test:
            continue
        for j in [0] if test else range(len(e["references"])):
            spec = {"references": e["references"], "prompt": e["prompt"], "source_id": e["source_id"],
                    "answer_index": j}
            rows.append({"task": NAME, "prompt": e["prompt"], "answer": e["references"][j], "spec": spec})
    if not rows and not test:
        raise TunepipeError(f"collect.reference.source: {cfg.source}: no train rows (test_fraction "
                            f"{cfg.test_fraction})")
    return rows


def key(row: dict) -> str:
    return json.dumps([row["prompt"], row["answer"]], sort_keys=True)


def is_loaded(cfg: Config) -> bool:
    return True   # always a pool taken as given (the built-in one too): counts are caps


FAMILY = Family(
    name=NAME, config=Config, build=build, parse=parse, score=score, check_spec=check_spec, key=key,
    score_many=score_many, solved=solved, reads="final", loaded=is_loaded, reward_config=RewardConfig,
    reward=reward, select=select_rows, metrics=metrics,
    budget=512,   # BLEUBERI generates (and scores against references of) 512 tokens
)
