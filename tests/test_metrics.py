import doctest
import itertools
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import beta

import tunepipe.metrics as metrics
from tunepipe.metrics import aggregate, jeffreys_interval, pass_at_k, summarize


def test_doctests():
    assert doctest.testmod(metrics).failed == 0


# ----------------------------------------------------------------- jeffreys_interval
def test_jeffreys_matches_beta_ppf():
    grid = itertools.product([1, 2, 7, 50, 200, 1000, 5000],
                             [0.0, 0.013, 0.25, 0.5, 0.731, 0.99, 1.0],
                             [0.5, 0.8, 0.95])
    for n, frac, level in grid:
        s = frac * n  # s = 0, s = n and fractional sums of partial scores
        lo, hi = jeffreys_interval(s, n, level)
        a, b = s + 0.5, n - s + 0.5
        assert lo == pytest.approx(beta.ppf((1 - level) / 2, a, b), abs=1e-9), (s, n, level)
        assert hi == pytest.approx(beta.ppf((1 + level) / 2, a, b), abs=1e-9), (s, n, level)
        assert 0.0 <= lo < hi <= 1.0
        assert type(lo) is float and type(hi) is float


def test_jeffreys_default_level_is_80_percent():
    assert jeffreys_interval(30, 100) == jeffreys_interval(30, 100, 0.8)
    lo, hi = jeffreys_interval(30, 100)
    assert lo == pytest.approx(beta.ppf(0.1, 30.5, 70.5), abs=1e-12)
    assert hi == pytest.approx(beta.ppf(0.9, 30.5, 70.5), abs=1e-12)


def test_jeffreys_no_trials_is_uninformative():
    assert jeffreys_interval(0, 0) == (0.0, 1.0)
    assert jeffreys_interval(0.0, 0, 0.95) == (0.0, 1.0)


def test_jeffreys_narrows_with_samples():
    widths = [hi - lo for lo, hi in (jeffreys_interval(n / 2, n) for n in (10, 100, 1000))]
    assert widths == sorted(widths, reverse=True)


@pytest.mark.parametrize("args, match", [
    ((-1, 10), "successes"),
    ((11, 10), "successes"),
    ((float("nan"), 10), "successes"),
    (("3", 10), "successes"),
    ((1, -1), "trials"),
    ((1, 2.5), "trials"),
    ((1, 10, 0.0), "level"),
    ((1, 10, 1.0), "level"),
    ((1, 10, 80), "level"),
])
def test_jeffreys_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        jeffreys_interval(*args)


# ----------------------------------------------------------------- summarize
def test_summarize_empty():
    assert summarize([]) == {
        "n": 0, "n_invalid": 0, "accuracy": 0.0, "mean": 0.0, "std": 0.0, "median": 0.0,
        "success_rate": 0.0, "successes": 0.0, "ci_low": 0.0, "ci_high": 1.0,
    }


def test_summarize_all_invalid_counts_as_zero():
    s = summarize([None, None, None])
    got = (s["n"], s["n_invalid"], s["successes"], s["accuracy"], s["success_rate"])
    assert got == (3, 3, 0.0, 0.0, 0.0)
    assert (s["std"], s["median"]) == (0.0, 0.0)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(jeffreys_interval(0, 3))


@pytest.mark.parametrize("scores, expected", [
    # scores -> n, n_invalid, successes, accuracy, std, median, success_rate
    ([1, 0, 1, 1], (4, 0, 3.0, 0.75, math.sqrt(0.1875), 1.0, 0.75)),
    ([1.0, 0.0, None, 0.5], (4, 1, 1.5, 0.375, math.sqrt(0.171875), 0.25, 0.5)),
    ([0.2, 0.2], (2, 0, 0.4, 0.2, 0.0, 0.2, 1.0)),
    ([None, 1.0], (2, 1, 1.0, 0.5, 0.5, 0.5, 0.5)),
    ([1.0], (1, 0, 1.0, 1.0, 0.0, 1.0, 1.0)),
])
def test_summarize_table(scores, expected):
    s = summarize(scores)
    keys = ("n", "n_invalid", "successes", "accuracy", "std", "median", "success_rate")
    got = tuple(s[k] for k in keys)
    assert got == pytest.approx(expected)
    assert s["mean"] == s["accuracy"]
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(jeffreys_interval(expected[2], expected[0]))


def test_summarize_is_plain_json():
    s = summarize([1, 0, None, 0.25], level=0.9)
    assert json.loads(json.dumps(s)) == s
    assert type(s["n"]) is int and type(s["n_invalid"]) is int
    assert all(type(v) is float for k, v in s.items() if k not in ("n", "n_invalid"))
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(jeffreys_interval(1.25, 4, 0.9))


@pytest.mark.parametrize("bad", [[1.5], [-0.1], [float("nan")], ["1"], [True]])
def test_summarize_rejects_bad_scores(bad):
    with pytest.raises(ValueError, match="score #0"):
        summarize(bad)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), max_size=40))
def test_summarize_properties(scores):
    s = summarize(scores)
    assert s["n"] == len(scores) and s["n_invalid"] == scores.count(None)
    assert 0.0 <= s["successes"] <= s["n"]
    assert 0.0 <= s["accuracy"] <= 1.0 and 0.0 <= s["success_rate"] <= 1.0
    assert 0.0 <= s["ci_low"] < s["ci_high"] <= 1.0
    assert not any(isinstance(v, float) and math.isnan(v) for v in s.values())


# ----------------------------------------------------------------- aggregate
def test_aggregate_empty():
    a = aggregate({})
    got = (a["n"], a["n_tasks"], a["accuracy"], a["macro_accuracy"], a["success_rate"])
    assert got == (0, 0, 0.0, 0.0, 0.0)
    assert (a["ci_low"], a["ci_high"]) == (0.0, 1.0)


def test_aggregate_weights_by_samples():
    per_task = {
        "sat": summarize([1, 1, 1, 0, 0, 0, 0, 0]),   # 3/8
        "abd": summarize([1.0, None]),                # 1/2, one invalid
        "ded": summarize([]),                         # no samples: not in the macro mean
    }
    a = aggregate(per_task)
    assert a["n"] == 10 and a["n_tasks"] == 3 and a["n_invalid"] == 1
    assert a["successes"] == 4.0
    assert a["accuracy"] == pytest.approx(0.4)                      # micro: 4 / 10
    assert a["macro_accuracy"] == pytest.approx((3 / 8 + 1 / 2) / 2)
    assert a["success_rate"] == pytest.approx((3 + 1) / 10)         # n-weighted
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(jeffreys_interval(4, 10))
    assert json.loads(json.dumps(a)) == a


def test_aggregate_partial_scores_pool_sums():
    a = aggregate({"x": summarize([0.5, 0.5]), "y": summarize([0.25, 0.0, 1.0, 0.0])})
    assert a["successes"] == 2.25 and a["n"] == 6
    assert a["accuracy"] == pytest.approx(2.25 / 6)
    assert a["success_rate"] == pytest.approx((2 + 2) / 6)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(jeffreys_interval(2.25, 6), abs=1e-12)


def test_aggregate_rejects_bad_rows():
    with pytest.raises(ValueError, match="'sat'.*successes"):
        aggregate({"sat": {"n": 3}})
    with pytest.raises(ValueError, match="'sat'"):
        aggregate({"sat": {"n": 3, "successes": 4}})


# ----------------------------------------------------------------- pass_at_k
def _brute_pass_at_k(n, c, k):
    samples = [1] * c + [0] * (n - c)
    draws = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in d) for d in draws) / len(draws)


def test_pass_at_k_matches_brute_force():
    for n, c in ((n, c) for n in range(1, 8) for c in range(n + 1)):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_brute_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_edges_and_large_n():
    assert pass_at_k(200, 0, 10) == 0.0
    assert pass_at_k(200, 200, 1) == 1.0
    assert pass_at_k(200, 37, 1) == pytest.approx(37 / 200)
    assert pass_at_k(2000, 1, 1000) == pytest.approx(0.5)


@pytest.mark.parametrize("args", [(5, 6, 1), (5, 2, 0), (5, 2, 6), (-1, 0, 1), (5, 2.5, 1)])
def test_pass_at_k_rejects_bad_input(args):
    with pytest.raises(ValueError):
        pass_at_k(*args)


# ----------------------------------------------------------------- aggregate = pooling
@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.sampled_from([0.0, 1.0]), st.floats(0, 1)), max_size=15),
                min_size=1, max_size=4))
def test_aggregate_equals_summarize_of_pooled_scores(tasks):
    """The weighted aggregate of per-task summaries is the summary of all samples pooled
    (except the median, which summaries cannot give)."""
    agg = aggregate({f"t{i}": summarize(s) for i, s in enumerate(tasks)})
    pooled = summarize([x for s in tasks for x in s])
    for key in ("n", "n_invalid", "successes", "accuracy", "mean", "std", "success_rate", "ci_low", "ci_high"):
        assert agg[key] == pytest.approx(pooled[key], abs=1e-9), key
    assert agg["n_tasks"] == len(tasks)


def test_aggregate_overall_fields():
    a = aggregate({"sat": summarize([1, 0, 0, 0]), "abd": summarize([1, 1, 0.5, None])})
    assert set(a) >= {"n", "accuracy", "mean", "std", "success_rate", "macro_accuracy", "ci_low", "ci_high"}
    assert a["success_rate"] == pytest.approx(4 / 8)       # overall share of non-zero scores
    assert a["macro_accuracy"] == pytest.approx((0.25 + 0.625) / 2)
    assert json.loads(json.dumps(a)) == a
