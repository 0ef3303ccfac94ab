import doctest
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tunepipe.pareto as pareto
from tunepipe.metrics import jeffreys_interval
from tunepipe.pareto import dominates, env_winner, frontier, report_rows, subset_scores

RULES = ["interval", "epsilon", "threshold"]


def m(name, order, **envs):
    """A model; env=(successes, n) or env=successes (out of n=200)."""
    return {"name": name, "order": order,
            "envs": {e: {"successes": v[0], "n": v[1]} if isinstance(v, tuple)
                     else {"successes": v, "n": 200} for e, v in envs.items()}}


def test_doctests():
    assert doctest.testmod(pareto).failed == 0


# ----------------------------------------------------------------- shared behaviour
@pytest.mark.parametrize("rule", RULES)
def test_identical_results_go_to_the_earlier_model(rule):
    a, b = m("a", 0, sat=120, abd=50), m("b", 1, sat=120, abd=50)
    for env in ("sat", "abd"):
        assert env_winner(a, b, env, rule=rule) == "a"
        assert env_winner(b, a, env, rule=rule) == "a"   # argument order does not matter
    assert not dominates(b, a, rule=rule)
    assert dominates(a, b, rule=rule)
    assert frontier([b, a], rule=rule) == ["a"]


@pytest.mark.parametrize("rule", RULES)
def test_earlier_model_advantage(rule):
    # 0.55 vs 0.50 on 200 samples: higher, but not clearly (the 80% intervals overlap,
    # below the threshold target 0.60, within 1.28 SE = 0.064)
    a, b = m("a", 0, sat=100), m("b", 1, sat=110)
    assert jeffreys_interval(110, 200)[0] < jeffreys_interval(100, 200)[1]
    assert env_winner(a, b, "sat", rule=rule) == "a"
    assert not dominates(b, a, rule=rule)
    assert dominates(a, b, rule=rule)
    # the same numbers the other way round: the earlier model is simply better
    c, d = m("c", 0, sat=110), m("d", 1, sat=100)
    assert env_winner(c, d, "sat", rule=rule) == "c" and dominates(c, d, rule=rule)


@pytest.mark.parametrize("rule", RULES)
def test_clear_win(rule):
    a, b = m("a", 0, sat=100, abd=60), m("b", 1, sat=130, abd=90)
    assert env_winner(a, b, "sat", rule=rule) == "b"
    assert env_winner(a, b, "abd", rule=rule) == "b"
    assert dominates(b, a, rule=rule) and not dominates(a, b, rule=rule)
    assert frontier([a, b], rule=rule) == ["b"]


@pytest.mark.parametrize("rule", RULES)
def test_min_samples(rule):
    a, b = m("a", 0, sat=100), m("b", 1, sat=(150, 150))   # perfect, but only 150 samples
    assert env_winner(a, b, "sat", rule=rule) == "a"
    assert not dominates(b, a, rule=rule) and dominates(a, b, rule=rule)
    assert env_winner(a, b, "sat", rule=rule, min_samples=150) == "b"
    assert dominates(b, a, rule=rule, min_samples=100)
    # an earlier model below the minimum cannot hold the env against a worse later one
    c, d = m("c", 0, sat=(90, 100)), m("d", 1, sat=(20, 200))
    assert env_winner(c, d, "sat", rule=rule) == "d" and dominates(d, c, rule=rule)
    # both below the minimum: nobody holds it, both lose it, neither dominates
    e, f = m("e", 0, sat=(10, 50)), m("f", 1, sat=(40, 50))
    assert env_winner(e, f, "sat", rule=rule) is None
    assert not dominates(e, f, rule=rule) and not dominates(f, e, rule=rule)
    assert frontier([e, f], rule=rule) == ["e", "f"]


@pytest.mark.parametrize("rule", RULES)
def test_missing_env_cannot_be_won(rule):
    a = m("a", 0, sat=100, abd=100)
    b = m("b", 1, sat=180)                 # far better on sat, never ran abd
    assert env_winner(a, b, "sat", rule=rule) == "b"
    assert env_winner(a, b, "abd", rule=rule) == "a"
    assert not dominates(b, a, rule=rule) and not dominates(a, b, rule=rule)
    assert frontier([a, b], rule=rule) == ["a", "b"]
    # a later model that has an env the earlier one lacks takes it whatever its score
    c = m("c", 2, sat=100, abd=100, ded=1)
    assert env_winner(a, c, "ded", rule=rule) == "c"
    # c copies a and adds ded: only epsilon counts the copied envs as ties rather than losses
    assert dominates(c, a, rule=rule) == (rule == "epsilon")
    assert env_winner(a, m("x", 3), "sat", rule=rule) == "a"
    assert env_winner(m("x", 0), m("y", 1), "sat", rule=rule) is None


# ----------------------------------------------------------------- the acceptance table
# (case, rule, min_samples, earlier model a's envs, later model b's envs,
#  a dominates b, b dominates a, frontier); env=(successes, n) or successes out of 200
DOMINANCE_TABLE = [
    ("tie: identical results go to the earlier model", "interval", 200,
     dict(sat=120, abd=50), dict(sat=120, abd=50), True, False, ["a"]),
    ("tie under epsilon too", "epsilon", 200,
     dict(sat=120, abd=50), dict(sat=120, abd=50), True, False, ["a"]),
    ("earlier-model advantage: 0.55 vs 0.50, intervals overlap", "interval", 200,
     dict(sat=100), dict(sat=110), True, False, ["a"]),
    ("earlier-model advantage under epsilon: within 1.28 SE", "epsilon", 200,
     dict(sat=100), dict(sat=110), True, False, ["a"]),
    ("later clearly better on every env", "interval", 200,
     dict(sat=100, abd=60), dict(sat=130, abd=90), False, True, ["b"]),
    ("later clearly better on one env, tied on the other", "interval", 200,
     dict(sat=100, abd=60), dict(sat=130, abd=60), False, False, ["a", "b"]),
    ("... which epsilon counts as a tie, not a loss", "epsilon", 200,
     dict(sat=100, abd=60), dict(sat=130, abd=60), False, True, ["b"]),
    ("each clearly wins one env", "interval", 200,
     dict(sat=150, abd=60), dict(sat=100, abd=110), False, False, ["a", "b"]),
    ("min_samples: a perfect later model with 150 < 200 samples cannot win", "interval", 200,
     dict(sat=100), dict(sat=(150, 150)), True, False, ["a"]),
    ("min_samples lowered to 150: now it wins", "interval", 150,
     dict(sat=100), dict(sat=(150, 150)), False, True, ["b"]),
    ("min_samples: an earlier model below it loses even to a worse later one", "interval", 200,
     dict(sat=(90, 100)), dict(sat=(20, 200)), False, True, ["b"]),
    ("min_samples: nobody eligible, both lose, nobody dominates", "interval", 200,
     dict(sat=(10, 50)), dict(sat=(40, 50)), False, False, ["a", "b"]),
    ("env missing from the later model: it cannot win it, counts as lost", "interval", 200,
     dict(sat=100, abd=100), dict(sat=180), False, False, ["a", "b"]),
    ("env missing from the later model, earlier worse everywhere else", "interval", 200,
     dict(sat=20, abd=20), dict(sat=180), False, False, ["a", "b"]),
    ("env missing from the earlier model: the later takes it whatever its score", "interval", 200,
     dict(sat=100), dict(sat=180, abd=1), False, True, ["b"]),
    ("env missing from the earlier model, later no better elsewhere", "interval", 200,
     dict(sat=100), dict(sat=100, abd=1), False, False, ["a", "b"]),
    ("env missing, epsilon: the copied env is a tie, the extra env a win", "epsilon", 200,
     dict(sat=100), dict(sat=100, abd=1), False, True, ["b"]),
]


@pytest.mark.parametrize("case, rule, min_samples, a_envs, b_envs, a_dom_b, b_dom_a, front",
                         DOMINANCE_TABLE, ids=[row[0] for row in DOMINANCE_TABLE])
def test_dominance_table(case, rule, min_samples, a_envs, b_envs, a_dom_b, b_dom_a, front):
    a, b = m("a", 0, **a_envs), m("b", 1, **b_envs)
    kw = dict(rule=rule, min_samples=min_samples)
    assert dominates(a, b, **kw) is a_dom_b
    assert dominates(b, a, **kw) is b_dom_a
    assert frontier([b, a], **kw) == front     # input order does not matter: `order` does
    # the same two models presented the other way round in time swap the verdicts on ties
    if a_envs == b_envs:
        assert dominates(m("b", 0, **b_envs), m("a", 1, **a_envs), **kw)


def test_frontier_table_of_three():
    # base < sft < grpo on sat; sft clearly beats base on abd too; grpo never ran abd
    base = m("base", 0, sat=40, abd=60)
    sft = m("sft", 1, sat=100, abd=100)
    grpo = m("grpo", 2, sat=160)
    assert frontier([base, sft, grpo]) == ["sft", "grpo"]   # base: dominated by sft
    assert dominates(sft, base) and not dominates(grpo, sft) and not dominates(sft, grpo)
    assert not dominates(grpo, base)                        # the missing abd is a loss
    # sft a little better than base on abd (overlapping intervals): base keeps abd
    assert frontier([m("base", 0, sat=40, abd=95), sft, grpo]) == ["base", "sft", "grpo"]
    grpo_tie = m("grpo", 2, sat=160, abd=110)               # overlaps sft on abd: sft keeps it
    assert frontier([base, sft, grpo_tie]) == ["sft", "grpo"]
    assert frontier([base, sft, m("grpo", 2, sat=160, abd=150)]) == ["grpo"]


# ----------------------------------------------------------------- the three rules by hand
def test_interval_rule_boundary():
    # Beta(100.5, 100.5) 80% upper bound = 0.54516; 118/200 -> lower 0.54493, 119/200 -> 0.54998
    a = m("a", 0, sat=100)
    assert jeffreys_interval(100, 200)[1] == pytest.approx(0.545161, abs=1e-6)
    assert jeffreys_interval(118, 200)[0] == pytest.approx(0.544934, abs=1e-6)
    assert jeffreys_interval(119, 200)[0] == pytest.approx(0.549983, abs=1e-6)
    assert env_winner(a, m("b", 1, sat=118), "sat") == "a"
    assert env_winner(a, m("b", 1, sat=119), "sat") == "b"
    # a wider interval (level 0.95) makes 119/200 overlap again
    assert env_winner(a, m("b", 1, sat=119), "sat", level=0.95) == "a"


@pytest.mark.parametrize("p_early, s_lose, s_win", [
    (100, 119, 120),   # p 0.50: margin min(max(0.10, 0.02), 0.1) = 0.10 -> target 0.60
    (160, 167, 168),   # p 0.80: margin 0.04 -> target 0.84
    (40, 59, 60),      # p 0.20: 0.2 * 0.8 = 0.16 capped at 0.10 -> target 0.30
    (190, 193, 194),   # p 0.95: 0.2 * 0.05 = 0.01, floor 0.02 -> target 0.97
    (198, 199, 200),   # p 0.99: 1.01 capped at 1.0 -> only a perfect score wins
])
def test_threshold_rule(p_early, s_lose, s_win):
    a = m("a", 0, sat=p_early)
    assert env_winner(a, m("b", 1, sat=s_lose), "sat", rule="threshold") == "a"
    assert env_winner(a, m("b", 1, sat=s_win), "sat", rule="threshold") == "b"


def test_threshold_rule_perfect_scores_tie_to_the_earlier():
    a, b = m("a", 0, sat=200), m("b", 1, sat=200)
    assert env_winner(a, b, "sat", rule="threshold") == "a"
    assert not dominates(b, a, rule="threshold")


def test_threshold_rule_options():
    a, b = m("a", 0, sat=100), m("b", 1, sat=110)   # 0.50 -> 0.55
    assert env_winner(a, b, "sat", rule="threshold") == "a"
    assert env_winner(a, b, "sat", rule="threshold", cap=0.05) == "b"


def test_epsilon_rule_not_worse_everywhere_and_clearly_better_once():
    # sat: 0.50 -> 0.60, SE = sqrt(.25/200 + .24/200) = 0.04950, 1.28 SE = 0.06336 < 0.10
    # abd: 0.50 -> 0.47, SE = 0.04996: 1.28 SE = 0.0639 > 0.03, so b is "not worse";
    #      a is "better" there (0.03 >= 0.5 SE = 0.02498) but that is no loss for b
    a, b = m("a", 0, sat=100, abd=100), m("b", 1, sat=120, abd=94)
    assert env_winner(a, b, "sat", rule="epsilon") == "b"
    assert env_winner(a, b, "abd", rule="epsilon") == "a"
    assert dominates(b, a, rule="epsilon") and not dominates(a, b, rule="epsilon")
    assert frontier([a, b], rule="epsilon") == ["b"]
    # under the interval rule the earlier model keeps abd, so neither dominates
    assert not dominates(b, a) and not dominates(a, b)
    # abd 0.50 -> 0.43: 0.07 > 1.28 SE = 0.0637: b is worse there and loses it
    c = m("c", 1, sat=120, abd=86)
    assert not dominates(c, a, rule="epsilon") and not dominates(a, c, rule="epsilon")


def test_epsilon_rule_better_but_within_tolerance_goes_to_the_earlier():
    # 0.55 vs 0.50: b is "better" (0.05 >= 0.5 SE = 0.0249) but a is "not worse"
    # (0.05 <= 1.28 SE = 0.0638): a full tie, which goes to the earlier model
    a, b = m("a", 0, sat=100), m("b", 1, sat=110)
    assert env_winner(a, b, "sat", rule="epsilon") == "a"
    assert dominates(a, b, rule="epsilon") and not dominates(b, a, rule="epsilon")
    # 0.57: 0.07 > 1.28 SE = 0.0632 -> b wins
    assert env_winner(a, m("b", 1, sat=114), "sat", rule="epsilon") == "b"


def test_epsilon_rule_caps_n_at_1000():
    # 0.500 -> 0.525 on 5000 samples each; with n capped at 1000,
    # SE = sqrt(.25/1000 + .249375/1000) = 0.022347, 1.28 SE = 0.0286 > 0.025 -> a keeps it;
    # uncapped, 1.28 SE = 0.0128 and b would win
    a, b = m("a", 0, sat=(2500, 5000)), m("b", 1, sat=(2625, 5000))
    assert env_winner(a, b, "sat", rule="epsilon") == "a"
    assert env_winner(a, b, "sat", rule="epsilon", n_cap=10**9) == "b"


def test_epsilon_rule_floor():
    # near 1.0 the SE is tiny and the 0.005 floor applies:
    # 0.995 -> 1.0: SE = 0.00223, max(0.005, 0.00286) = 0.005, 0.005 is not beyond it
    a = m("a", 0, sat=(995, 1000))
    assert env_winner(a, m("b", 1, sat=(1000, 1000)), "sat", rule="epsilon") == "a"
    # 0.99 -> 1.0: 0.01 > 0.005 -> b
    a2 = m("a", 0, sat=(990, 1000))
    assert env_winner(a2, m("b", 1, sat=(1000, 1000)), "sat", rule="epsilon") == "b"
    # 0.990 -> 0.997: SE = 0.00359, tolerance 0.005 < 0.007; the better margin max(0.008, ...)
    # is capped at that tolerance, so b is also "better" and wins (and dominates)
    b3 = m("b", 1, sat=(997, 1000))
    assert env_winner(a2, b3, "sat", rule="epsilon") == "b"
    assert dominates(b3, a2, rule="epsilon") and not dominates(a2, b3, rule="epsilon")


def test_rule_validation():
    a, b = m("a", 0, sat=100), m("b", 1, sat=100)
    with pytest.raises(ValueError, match="unknown rule"):
        env_winner(a, b, "sat", rule="elo")
    with pytest.raises(ValueError, match="n_cap"):
        dominates(a, b, rule="interval", n_cap=5)
    with pytest.raises(ValueError, match="unique"):
        frontier([a, m("a", 1)])
    with pytest.raises(ValueError, match="successes"):
        dominates(a, m("c", 1, sat=(5, 4)))
    with pytest.raises(ValueError, match="itself"):
        env_winner(a, a, "sat")


# ----------------------------------------------------------------- frontier, subsets, report
def _four():
    return [
        m("late", 3, sat=100, abd=60),    # a copy of base, arriving last
        m("grpo", 2, sat=160, abd=88),    # much better on sat, a hair worse on abd than sft
        m("sft", 1, sat=130, abd=90),
        m("base", 0, sat=100, abd=60),
    ]


def test_frontier_of_four():
    models = _four()
    assert frontier(models) == ["sft", "grpo"]
    names = {x["name"]: x for x in models}
    assert dominates(names["sft"], names["base"]) and dominates(names["base"], names["late"])
    assert not dominates(names["grpo"], names["sft"]) and not dominates(names["sft"], names["grpo"])
    assert frontier([]) == []


def test_frontier_can_be_empty_on_a_cycle():
    # interval, one env: 90 -> 100 overlap (a keeps), 100 -> 110 overlap (b keeps),
    # but 110 clearly beats 90: c dominates a, a dominates b, b dominates c
    a, b, c = m("a", 0, sat=90), m("b", 1, sat=100), m("c", 2, sat=110)
    assert dominates(a, b) and dominates(b, c) and dominates(c, a)
    assert frontier([a, b, c]) == []
    # nobody is undominated: the one dominated by the fewest, then the earliest, takes it
    assert subset_scores([a, b, c]) == {"a": 1.0, "b": 0.0, "c": 0.0}


def test_subset_scores_of_four():
    # {sat}: grpo; {abd}: sft (grpo does not clearly beat it); {sat, abd}: frontier sft, grpo -> sft
    assert subset_scores(_four()) == {"base": 0.0, "sft": 3.0, "grpo": 1.0, "late": 0.0}
    assert subset_scores(_four(), weight=lambda k: 10 ** k) == {
        "base": 0.0, "sft": 110.0, "grpo": 10.0, "late": 0.0}
    assert subset_scores([]) == {}


def test_subset_scores_restricts_to_the_subset():
    a = m("a", 0, sat=100, abd=100, ded=100)
    b = m("b", 1, sat=150, abd=150)        # lacks ded
    # b wins every subset without ded (3 subsets: sizes 1, 1, 2 -> 4); a keeps the rest
    # ({ded}: 1, {sat, ded}/{abd, ded}: neither dominates -> earliest a: 2 + 2, all: 3)
    assert subset_scores([a, b]) == {"a": 8.0, "b": 4.0}
    assert sum(subset_scores([a, b]).values()) == 1 + 1 + 1 + 2 + 2 + 2 + 3


def test_report_rows_king_of_the_hill():
    models = _four() + [m("probe", 4, sat=(10, 20))]
    rows = report_rows(models)
    assert [r["env"] for r in rows] == ["abd", "sat"]
    by_env = {r["env"]: r for r in rows}
    assert by_env["sat"]["winner"] == "grpo"
    assert by_env["abd"]["winner"] == "sft"
    assert list(by_env["sat"]["models"]) == ["base", "sft", "grpo", "late", "probe"]
    cell = by_env["sat"]["models"]["sft"]
    assert cell["accuracy"] == 0.65 and cell["n"] == 200 and cell["eligible"]
    assert (cell["ci_low"], cell["ci_high"]) == pytest.approx(jeffreys_interval(130, 200))
    assert by_env["sat"]["models"]["probe"]["eligible"] is False
    assert by_env["abd"]["models"]["probe"] is None
    assert json.loads(json.dumps(rows)) == rows
    assert report_rows([m("x", 0, sat=(5, 10))])[0]["winner"] is None


# ----------------------------------------------------------------- properties
_env = st.tuples(st.integers(0, 400), st.integers(0, 400)).map(lambda t: (min(t), max(t)))
_model_envs = st.dictionaries(st.sampled_from(["sat", "abd", "ded"]), _env, max_size=3)


@settings(max_examples=40, deadline=None)
@given(st.lists(_model_envs, min_size=2, max_size=4), st.sampled_from(RULES))
def test_dominance_is_never_mutual(envs_list, rule):
    models = [m(f"m{i}", i, **envs) for i, envs in enumerate(envs_list)]
    for x in models:
        assert not dominates(x, x, rule=rule)
        for y in models:
            if x is not y:
                assert not (dominates(x, y, rule=rule) and dominates(y, x, rule=rule))
    n_envs = len(set().union(*(x["envs"] for x in models)))
    scores = subset_scores(models, rule=rule)
    expected = sum(k * math.comb(n_envs, k) for k in range(1, n_envs + 1))
    assert sum(scores.values()) == pytest.approx(expected)
