"""Evaluation statistics, computed the way the validators compute them.

Every score is a float in [0, 1] (1.0 = solved; partial credit allowed) or None
(invalid: the scorer could not read the answer). An environment's evidence is the SUM
of its scores ``s`` out of ``n`` samples, and its uncertainty is the Jeffreys interval:
the equal-tailed quantiles of the posterior Beta(s + 0.5, n - s + 0.5), 80% by default
(the 0.10 and 0.90 quantiles), which `tunepipe.pareto` uses to compare models.

Everything returned is a plain ``int``/``float`` (JSON-serialisable for ``metrics/``,
``dvc metrics diff``), never NaN: statistics of an empty list are 0.0 and its interval
is the whole of [0, 1].

>>> s = summarize([1.0, 0.0, None, 0.5])
>>> s["n"], s["n_invalid"], s["successes"], s["accuracy"], s["success_rate"]
(4, 1, 1.5, 0.375, 0.5)
>>> round(s["ci_low"], 4), round(s["ci_high"], 4)
(0.1426, 0.6795)
"""
from __future__ import annotations

import math
import numbers
import statistics

__all__ = ["jeffreys_interval", "summarize", "aggregate", "pass_at_k"]


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    return float(level)


def _check_count(value, what: str) -> int:
    """A non-negative integer (ints, numpy ints and integral floats are accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    if not math.isfinite(value) or value < 0 or int(value) != value:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def jeffreys_interval(successes: float, trials: int, level: float = 0.8) -> tuple[float, float]:
    """Equal-tailed Jeffreys interval for a success rate: the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of Beta(successes + 0.5, trials - successes + 0.5).

    ``successes`` may be fractional (the sum of partial scores). No boundary adjustment
    is made at s = 0 or s = n: these are the plain posterior quantiles, as the validators
    use them. ``trials == 0`` gives the uninformative ``(0.0, 1.0)``.

    >>> lo, hi = jeffreys_interval(100, 200)
    >>> round(lo, 4), round(hi, 4)
    (0.4548, 0.5452)
    >>> jeffreys_interval(0, 0)
    (0.0, 1.0)
    """
    level = _check_level(level)
    n = _check_count(trials, "trials")
    if isinstance(successes, bool) or not isinstance(successes, numbers.Real):
        raise ValueError(f"successes must be a number, got {successes!r}")
    s = float(successes)
    if not math.isfinite(s) or s < 0.0 or s > n:
        raise ValueError(f"successes must lie in [0, trials={n}], got {successes!r}")
    if n == 0:
        return (0.0, 1.0)
    from scipy.special import betaincinv  # the same Boost routine as scipy.stats.beta.ppf

    a, b = s + 0.5, n - s + 0.5
    tail = (1.0 - level) / 2.0
    return (float(betaincinv(a, b, tail)), float(betaincinv(a, b, 1.0 - tail)))


def summarize(scores: list[float | None], level: float = 0.8, solved: list[bool] | None = None) -> dict:
    """Statistics of one task's per-sample scores.

    None (invalid answer) counts as a 0.0 score everywhere and is also reported as
    ``n_invalid``; ``n`` counts every sample, valid or not. ``accuracy`` = ``mean`` =
    ``successes / n`` (the solve rate for 0/1 tasks); ``std`` is the population standard
    deviation; ``success_rate`` is the share of samples that count as solved (``solved``:
    one bool per score, the task family's rule; default: scoring > 0); ``ci_low/ci_high``
    is the Jeffreys interval on (``successes``, ``n``) at ``level``.

    >>> summarize([])["ci_high"], summarize([None, None])["n_invalid"]
    (1.0, 2)
    """
    level = _check_level(level)
    values: list[float] = []
    n_invalid = 0
    for i, score in enumerate(scores):
        if score is None:
            n_invalid += 1
            values.append(0.0)
            continue
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise ValueError(f"score #{i} must be a number in [0, 1] or None, got {score!r}")
        x = float(score)
        if not 0.0 <= x <= 1.0:  # also rejects NaN
            raise ValueError(f"score #{i} must be in [0, 1] or None, got {score!r}")
        values.append(x)
    n = len(values)
    successes = math.fsum(values)
    if n == 0:
        mean = std = median = success_rate = 0.0
    else:
        mean = successes / n
        std = statistics.pstdev(values, mu=mean)
        median = float(statistics.median(values))
        if solved is not None:
            if len(solved) != n:
                raise ValueError(f"solved has {len(solved)} flags for {n} scores")
            success_rate = sum(1 for f in solved if f) / n
        else:
            success_rate = sum(1 for x in values if x > 0.0) / n
    successes = min(successes, float(n))  # fsum of values <= 1 cannot exceed n; belt and braces
    ci_low, ci_high = jeffreys_interval(successes, n, level)
    return {
        "n": n,
        "n_invalid": n_invalid,
        "accuracy": float(mean),
        "mean": float(mean),
        "std": float(std),
        "median": median,
        "success_rate": float(success_rate),
        "successes": float(successes),
        "ci_low": ci_low,
        "ci_high": ci_high,
    }


def aggregate(per_task: dict[str, dict], level: float = 0.8) -> dict:
    """Pool per-task summaries (as returned by `summarize`) into one overall row.

    Weighted by samples: ``accuracy`` = sum of successes / sum of n (micro average),
    ``mean`` = ``accuracy``, ``success_rate`` is the n-weighted mean of the tasks' success
    rates (the overall share of non-zero scores), ``std`` is the population standard
    deviation of all pooled scores (law of total variance: exact from the per-task
    ``std`` and ``mean``), and the Jeffreys interval is on the pooled (sum of successes,
    sum of n). ``macro_accuracy`` is the unweighted mean of the per-task accuracies over
    tasks with n > 0 (a task with no samples has no accuracy to average). Each task needs
    ``n`` and ``successes``; ``success_rate``, ``std`` and ``n_invalid`` are used when
    present (0 otherwise). The pooled median cannot be recovered from summaries: take it
    from the raw scores (``summarize`` of all of them) when you need it.

    >>> a = aggregate({"sat": summarize([1, 1, 0, 0]), "abd": summarize([1.0, 0.0])})
    >>> a["n"], a["accuracy"], a["macro_accuracy"], a["n_tasks"]
    (6, 0.5, 0.5, 2)
    >>> b = aggregate({"sat": summarize([1, 1, 1, 0]), "abd": summarize([0.0, 0.0])})
    >>> b["accuracy"], b["macro_accuracy"]
    (0.5, 0.375)
    >>> round(b["std"], 6) == round(summarize([1, 1, 1, 0, 0.0, 0.0])["std"], 6)
    True
    """
    level = _check_level(level)
    total_n = 0
    total_s = 0.0
    total_invalid = 0
    weighted_success = 0.0
    moments: list[tuple[int, float, float]] = []  # (n, mean, std) per task, for the pooled std
    accuracies: list[float] = []
    for task, row in per_task.items():
        try:
            n = _check_count(row["n"], f"task {task!r}: n")
            s = row["successes"]
        except KeyError as e:
            raise ValueError(f"task {task!r}: missing field {e.args[0]!r}") from None
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not 0.0 <= s <= n:
            raise ValueError(f"task {task!r}: successes must lie in [0, n={n}], got {s!r}")
        total_n += n
        total_s += float(s)
        total_invalid += _check_count(row.get("n_invalid", 0), f"task {task!r}: n_invalid")
        weighted_success += float(row.get("success_rate", 0.0)) * n
        if n > 0:
            accuracies.append(float(s) / n)
            moments.append((n, float(s) / n, float(row.get("std", 0.0))))
    total_s = min(total_s, float(total_n))
    mean = total_s / total_n if total_n else 0.0
    var = math.fsum(n * (sd * sd + (mu - mean) ** 2) for n, mu, sd in moments) / total_n if total_n else 0.0
    ci_low, ci_high = jeffreys_interval(total_s, total_n, level)
    return {
        "n": total_n,
        "n_invalid": total_invalid,
        "n_tasks": len(per_task),
        "successes": float(total_s),
        "accuracy": mean,
        "mean": mean,
        "std": math.sqrt(max(var, 0.0)),
        "success_rate": weighted_success / total_n if total_n else 0.0,
        "macro_accuracy": math.fsum(accuracies) / len(accuracies) if accuracies else 0.0,
        "ci_low": ci_low,
        "ci_high": ci_high,
    }


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021, the Codex paper): the chance that at least one
    of k samples drawn without replacement from n, of which c are correct, is correct:
    ``1 - C(n - c, k) / C(n, k)``, computed exactly with integers.

    >>> pass_at_k(10, 0, 5), pass_at_k(10, 10, 1), pass_at_k(4, 1, 2), pass_at_k(4, 3, 2)
    (0.0, 1.0, 0.5, 1.0)
    """
    n = _check_count(n, "n")
    c = _check_count(c, "c")
    k = _check_count(k, "k")
    if c > n:
        raise ValueError(f"c (correct samples) must be <= n={n}, got {c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must lie in [1, n={n}], got {k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)
