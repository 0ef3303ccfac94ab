"""What the ``reference`` family (:mod:`tunepipe.tasks.reference`) scores of a completion
(:func:`extract` / :func:`parse`), and per answer what its metric needs (:func:`components`)
and its absolute score in [0, 1] (:func:`_absolute`); the family's name and metrics. The
batch scorer (group z-scores), ``solved`` and ``metrics`` are the family's, in its
``__init__``."""
from __future__ import annotations

import re

from tunepipe.tasks.reference.rm import _sigmoid, rm_logits
from tunepipe.tasks.reference.similarity import bleu, rouge_l

NAME = "reference"
METRICS = ("bleu", "rouge", "rm", "bleu+rm")
_TAIL = re.compile(r"(?:\s*(?:<\|[^<>|\s]{1,40}\|>|</s>|<eos>|<end_of_turn>))+\s*\Z")


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

