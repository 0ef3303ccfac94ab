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

>>> round(bleu("the cat sat on the mat", ["the cat sat on the mat"]), 6)
1.0
>>> bleu("", ["anything"]), round(bleu("the cat", ["the cat sat on the mat"]), 4)
(0.0, 0.1353)
"""
from __future__ import annotations

import collections
import json
import math
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

from tunepipe import TunepipeError
from tunepipe.tasks.protocol import BuildRequest, Family, SelectRequest

NAME = "reference"
METRICS = ("bleu", "rouge", "rm", "bleu+rm")
SELECTION_MODES = ("all", "random", "easy", "medium", "hard")
FILE_TYPES = (".jsonl", ".json", ".parquet")
_TAIL = re.compile(r"(?:\s*(?:<\|[^<>|\s]{1,40}\|>|</s>|<eos>|<end_of_turn>))+\s*\Z")

# ------------------------------------------------------------------------- BLEU / ROUGE

_TOKENIZER = None


def tokenize_13a(text: str) -> list[str]:
    """The 13a (mteval-v13a) tokenisation that ``evaluate``'s ``bleu`` applies, as tokens."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

        _TOKENIZER = Tokenizer13a()
    return _TOKENIZER(text).split()


def _ngrams(tokens: list[str], max_order: int) -> collections.Counter:
    c = collections.Counter()
    for n in range(1, max_order + 1):
        for i in range(len(tokens) - n + 1):
            c[tuple(tokens[i:i + n])] += 1
    return c


def bleu(hypothesis: str, references: list[str], max_order: int = 4) -> float:
    """Sentence BLEU in [0, 1] as BLEUBERI computes its reward: Hugging Face ``evaluate``'s
    ``bleu`` with ``smooth=True``, i.e. TensorFlow NMT's ``compute_bleu`` (Lin & Och 2004
    smoothing) on 13a tokens:

    - n-grams up to ``max_order`` (4); the hypothesis' n-gram counts are clipped by the MAX
      count of that n-gram in any one reference;
    - every order is smoothed: p_n = (matches_n + 1) / (possible_n + 1), possible_n =
      max(0, len(hyp) - n + 1); the score is the geometric mean of p_1..p_4 times
    - the brevity penalty against the SHORTEST reference: r = min reference length, c =
      len(hyp); BP = 1 if c > r else exp(1 - r / c).

    An empty hypothesis (nothing left after tokenisation) scores 0, as in BLEUBERI (and in
    ``evaluate``, whose ``compute_bleu`` gives BP 0 at zero length); so does an empty
    reference list. It differs from sacrebleu's ``sentence_bleu`` default (exponential
    smoothing of zero counts only, effective order, the CLOSEST reference length, 0-100).
    """
    if not isinstance(hypothesis, str) or not references:
        return 0.0
    hyp = tokenize_13a(hypothesis)
    refs = [tokenize_13a(r) for r in references]
    ref_len = min(len(r) for r in refs)
    if not hyp or ref_len == 0:
        return 0.0
    merged = collections.Counter()
    for r in refs:
        merged |= _ngrams(r, max_order)
    overlap = _ngrams(hyp, max_order) & merged
    matches = [0] * max_order
    for gram, count in overlap.items():
        matches[len(gram) - 1] += count
    log_p = 0.0
    for n in range(1, max_order + 1):
        possible = max(0, len(hyp) - n + 1)
        log_p += math.log((matches[n - 1] + 1.0) / (possible + 1.0)) / max_order
    ratio = len(hyp) / ref_len
    bp = 1.0 if ratio > 1.0 else math.exp(1.0 - 1.0 / ratio)
    return math.exp(log_p) * bp


_ROUGE = None


def rouge_l(hypothesis: str, references: list[str]) -> float:
    """ROUGE-L F-measure of ``rouge-score`` (no stemming, its default tokenizer), against
    the reference that gives the best F (``RougeScorer.score_multi``) -- what ``evaluate``'s
    ``rouge`` returns for one prediction. Empty -> 0."""
    global _ROUGE
    if not isinstance(hypothesis, str) or not hypothesis.strip() or not references:
        return 0.0
    if _ROUGE is None:
        from rouge_score import rouge_scorer

        _ROUGE = rouge_scorer.RougeScorer(["rougeL"])
    return float(_ROUGE.score_multi(list(references), hypothesis)["rougeL"].fmeasure)


# ------------------------------------------------------------------------ reward model

_RM: dict = {}          # (model, dtype) -> (model, tokenizer)
_LOGITS: dict = {}      # (model, dtype, max_length, prompt json, text) -> logit
_LOGITS_MAX = 200_000


def load_reward_model(name: str, dtype: str = "auto"):
    """A sequence-classification reward model with one output (a local dir or an HF id),
    cached per process. Anything that does not load is a one-line :class:`TunepipeError`."""
    key = (name, dtype)
    if key in _RM:
        return _RM[key]
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tunepipe import models

    if not isinstance(name, str) or not name:
        raise TunepipeError(f"reward.reference.rm.model: expected a local model dir or an HF id, got {name!r}")
    local = Path(name).expanduser().exists() or name.startswith((".", "/", "~"))
    src = str(Path(name).expanduser()) if local else name
    dt = models.torch_dtype(dtype)
    try:
        tok = AutoTokenizer.from_pretrained(src)
        model = AutoModelForSequenceClassification.from_pretrained(src, dtype=dt)
    except Exception as e:   # not a dir, no weights, not a classifier, offline hub...
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        hint = "" if local else " (an HF id needs the hub: HF_HUB_OFFLINE=0 and the network, or a local dir)"
        raise TunepipeError(f"reward.reference.rm.model: cannot load {name!r} as a sequence-classification reward "
                            f"model{hint}: {msg}") from None
    if model.config.num_labels != 1:
        raise TunepipeError(f"reward.reference.rm.model: {name!r} has {model.config.num_labels} outputs; a reward model "
                            "has one (num_labels=1)")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    if tok.pad_token is None:
        raise TunepipeError(f"reward.reference.rm.model: {name!r}: its tokenizer has no pad, eos or unk token to pad with")
    model.config.pad_token_id = tok.pad_token_id
    tok.truncation_side = "left"     # keep the end of the response: the score is read at the last token
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    _RM[key] = (model, tok)
    return model, tok


def _conversation_text(tok, prompt: list[dict], response: str) -> str:
    conv = [*prompt, {"role": "assistant", "content": response}]
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(conv, tokenize=False)
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in conv)


def rm_logits(answers: list[str], specs: list[dict]) -> list[float | None]:
    """The reward model's logit for each (prompt, answer) pair, batched per reward model
    (``spec.rm``: model, dtype, max_length, batch_size); None for an empty answer. Cached
    per process, so evaluate's extra metrics do not run the model twice."""
    import torch

    out: list[float | None] = [None] * len(answers)
    todo: dict[tuple, list[int]] = {}
    for i, (a, s) in enumerate(zip(answers, specs)):
        if not a or not a.strip():
            continue
        rm = s["rm"]
        k = (rm["model"], rm["dtype"], rm["max_length"], json.dumps(s["prompt"], sort_keys=True), a)
        if k in _LOGITS:
            out[i] = _LOGITS[k]
        else:
            todo.setdefault(k[:3], []).append(i)
    for (name, dtype, max_length), idx in todo.items():
        model, tok = load_reward_model(name, dtype)
        bs = max(1, int(specs[idx[0]]["rm"]["batch_size"]))
        for start in range(0, len(idx), bs):
            chunk = idx[start:start + bs]
            texts = [_conversation_text(tok, specs[i]["prompt"], answers[i]) for i in chunk]
            enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                      add_special_tokens=False)
            enc = {k: v.to(model.device) for k, v in enc.items()}
            with torch.inference_mode():
                logits = model(**enc).logits[:, 0].float().tolist()
            if len(_LOGITS) > _LOGITS_MAX:
                _LOGITS.clear()
            for i, x in zip(chunk, logits):
                out[i] = float(x)
                prompt = json.dumps(specs[i]["prompt"], sort_keys=True)
                _LOGITS[(name, dtype, max_length, prompt, answers[i])] = float(x)
    return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


# --------------------------------------------------------------------- parse / score


def extract(text: str, tag: str | None) -> str:
    """What is scored of a completion: trailing end-of-turn tokens dropped, then the text
    inside the last ``<tag>...</tag>`` when there is one (``tag`` null: the whole text)."""
    text = _TAIL.sub("", text)
    if tag:
        found = re.findall(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", text, flags=re.S)
        if found:
            return found[-1].strip()
    return text.strip()


def parse(completion, spec: dict | None = None) -> str | None:
    """The answer text :func:`extract` gives (``spec.answer_tag``, default ``answer``);
    None only for a non-string. Never raises."""
    if not isinstance(completion, str):
        return None
    tag = spec.get("answer_tag", "answer") if isinstance(spec, dict) else "answer"
    return extract(completion, tag if isinstance(tag, str) else None)


def _metric(spec: dict) -> str:
    return spec.get("metric", "bleu")


def _uses_rm(spec: dict) -> bool:
    return _metric(spec) in ("rm", "bleu+rm")


def components(answers: list[str | None], specs: list[dict]) -> dict[str, list]:
    """Per answer, what its metric needs: ``bleu``, ``rouge`` (floats or None where the
    metric does not use it) and ``rm`` (logits, None for an empty answer or no RM)."""
    n = len(answers)
    texts = ["" if a is None else a for a in answers]
    out = {"bleu": [None] * n, "rouge": [None] * n, "rm": [None] * n}
    for i, (a, s) in enumerate(zip(texts, specs)):
        m = _metric(s)
        if m in ("bleu", "bleu+rm"):
            out["bleu"][i] = bleu(a, s["references"])
        if m == "rouge":
            out["rouge"][i] = rouge_l(a, s["references"])
    idx = [i for i, s in enumerate(specs) if _uses_rm(s)]
    if idx:
        for i, x in zip(idx, rm_logits([texts[i] for i in idx], [specs[i] for i in idx])):
            out["rm"][i] = x
    return out


def _absolute(c: dict, i: int, spec: dict) -> float:
    m = _metric(spec)
    if m == "bleu":
        return c["bleu"][i]
    if m == "rouge":
        return c["rouge"][i]
    r = 0.0 if c["rm"][i] is None else _sigmoid(c["rm"][i] / float(spec["rm"]["scale"]))
    return r if m == "rm" else (c["bleu"][i] + r) / 2.0


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


# ---------------------------------------------------------------------- the sources


@dataclass
class Config:
    """params ``collect.reference``."""
    source: str              # a pool file / a directory of them / an HF id; a directory without one: the built-in pool
    ref_models: list[str]    # reference columns ref_output_<name> to use (gold = the pool's own answer)
    test_fraction: float     # share of prompts held out, by a stable hash of the prompt
    pool_size: int           # built-in pool: rows generated
    pool_seed: int           # built-in pool: seed


def pool_files(source: str) -> list[Path] | None:
    """The local files of a source (None: an HF id; [] : a directory holding none, the
    built-in pool)."""
    p = Path(source).expanduser()
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and f.suffix in FILE_TYPES)
    if p.is_file():
        if p.suffix not in FILE_TYPES:
            raise TunepipeError(f"collect.reference.source: {source}: expected a {', '.join(FILE_TYPES)} file")
        return [p]
    if source.startswith((".", "/", "~")) or p.suffix in FILE_TYPES or source.count("/") != 1 \
            or not re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        raise TunepipeError(f"collect.reference.source: {source}: no such file or directory "
                            "(nor a Hugging Face dataset id owner/name)")
    return None


def _read_file(path: Path) -> tuple[list[str], list[dict]]:
    """(columns, rows) of one pool file."""
    where = f"collect.reference.source: {path}"
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:
            raise TunepipeError(f"{where}: not a readable parquet file ({str(e).splitlines()[0][:200]})") from None
        return list(table.column_names), table.to_pylist()
    rows = []
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise TunepipeError(f"{where}:{line_no}: not valid JSON ({e.msg})") from None
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise TunepipeError(f"{where}: not valid JSON ({e.msg}, line {e.lineno})") from None
        rows = data if isinstance(data, list) else None
        if rows is None:
            raise TunepipeError(f"{where}: expected a JSON array of rows")
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict):
            raise TunepipeError(f"{where}: row {i}: expected a JSON object")
    return list(dict.fromkeys(k for r in rows for k in r)), rows


def _read_hub(source: str) -> tuple[list[str], list[dict]]:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise TunepipeError(f"collect.reference.source: {source!r} is a Hugging Face dataset id but HF_HUB_OFFLINE "
                            "is set: run with HF_HUB_OFFLINE=0 (and the network), or use a local .jsonl/.parquet copy")
    try:
        import datasets

        ds = datasets.load_dataset(source, split="train")
    except Exception as e:
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise TunepipeError(f"collect.reference.source: cannot load Hugging Face dataset {source!r}: {msg}") from None
    return list(ds.column_names), [dict(r) for r in ds]


def _prompt_of(row: dict, where: str) -> list[dict]:
    """The prompt messages of a pool row: ``messages`` before the first assistant turn, or
    a ``prompt`` string as one user message."""
    msgs = row.get("messages")
    if msgs is not None:
        if not isinstance(msgs, list) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in msgs):
            raise TunepipeError(f"{where}: field 'messages': expected a list of {{role, content}} messages")
        prompt = []
        for m in msgs:
            if m["role"] == "assistant":
                break
            prompt.append({"role": m["role"], "content": m["content"]})
    elif isinstance(row.get("prompt"), str):
        prompt = [{"role": "user", "content": row["prompt"]}]
    else:
        raise TunepipeError(f"{where}: field 'messages': missing (and no 'prompt' string)")
    if not any(m["role"] == "user" and m["content"].strip() for m in prompt):
        raise TunepipeError(f"{where}: field 'messages': no user message before the first assistant turn")
    return prompt


def _entries(columns: list[str], rows: list[dict], ref_models: list[str], where: str) -> tuple[list[dict], int]:
    """Pool rows -> ``{source_id, prompt, references}``; (entries, rows dropped for a
    missing reference)."""
    if not ref_models:
        raise TunepipeError("collect.reference.ref_models: name at least one reference column (e.g. [gold])")
    for m in ref_models:
        if f"ref_output_{m}" not in columns:
            have = [c for c in columns if c.startswith("ref_output_")]
            raise TunepipeError(f"{where}: missing column 'ref_output_{m}' (collect.reference.ref_models: {m}); "
                                f"reference columns there: {', '.join(have) or 'none'}")
    if "messages" not in columns and "prompt" not in columns:
        raise TunepipeError(f"{where}: missing column 'messages' (or 'prompt')")
    out, dropped = [], 0
    for i, row in enumerate(rows, 1):
        here = f"{where}: row {i}"
        refs = []
        for m in ref_models:
            v = row.get(f"ref_output_{m}")
            if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
                break
            if not isinstance(v, str):
                raise TunepipeError(f"{here}: field 'ref_output_{m}': expected a string, got {type(v).__name__}")
            refs.append(v)
        if len(refs) < len(ref_models):
            dropped += 1
            continue
        sid = row.get("id")
        out.append({"source_id": str(sid) if sid is not None else f"row-{i}", "prompt": _prompt_of(row, here),
                    "references": refs})
    return out, dropped


_POOL_CACHE: dict = {}


def load_pool(cfg: Config) -> list[dict]:
    """Every usable pool row of ``cfg.source`` (cached per process: collect asks once per
    split). Errors: a missing reference column, a pool left empty after dropping rows
    without every reference."""
    files = pool_files(cfg.source)
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files or [])
    key = (cfg.source, tuple(cfg.ref_models), cfg.pool_size, cfg.pool_seed, stamp)
    if key in _POOL_CACHE:
        return _POOL_CACHE[key]
    if files is None:
        parts = [(f"collect.reference.source: {cfg.source}", *_read_hub(cfg.source))]
    elif not files:
        from tunepipe.tasks import reference_pool

        rows = reference_pool.pool(cfg.pool_size, cfg.pool_seed)
        parts = [(f"collect.reference: built-in pool ({cfg.source} holds no pool file)",
                  ["id", "source", "messages", "ref_output_gold", "ref_output_alt"], rows)]
    else:
        parts = [(f"collect.reference.source: {f}", *_read_file(f)) for f in files]
    entries, read, dropped = [], 0, 0
    for where, columns, rows in parts:
        e, d = _entries(columns, rows, cfg.ref_models, where)
        entries += e
        read += len(rows)
        dropped += d
    if not entries:
        raise TunepipeError(f"collect.reference.source: {cfg.source}: no rows left ({read} read, {dropped} dropped "
                            f"for a null or blank reference among ref_models {cfg.ref_models})")
    if dropped:
        print(f"collect.reference: dropped {dropped} of {read} pool rows without every reference of {cfg.ref_models}")
    _POOL_CACHE.clear()
    _POOL_CACHE[key] = entries
    return entries


def prompt_text(prompt: list[dict]) -> str:
    return "\n".join(m["content"] for m in prompt)


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


# ----------------------------------------------------------------- the reward stage


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


FAMILY = Family(
    name=NAME, config=Config, build=build, parse=parse, score=score, check_spec=check_spec, key=key,
    score_many=score_many, solved=solved, reads="final", loaded=is_loaded, reward_config=RewardConfig,
    reward=reward, select=select_rows, metrics=metrics,
)
