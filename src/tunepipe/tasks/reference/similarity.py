"""BLEU and ROUGE-L of the ``reference`` family (:mod:`tunepipe.tasks.reference`): BLEUBERI's
sentence BLEU on 13a tokens, and ``rouge-score``'s ROUGE-L against the best reference."""
from __future__ import annotations

import collections
import math

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

