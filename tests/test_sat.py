"""SAT: generation as the validators do it, and their parse/score rules, table-style; check_spec;
scorers that never raise."""
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tunepipe import tasks
from tunepipe.tasks import sat

SPEC = {"n_vars": 3, "clauses": [[1, -2], [2, 3], [-1, 3]]}  # x1=T, x2=T, x3=T satisfies


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("x1=True, x2=True, x3=True", 1.0),
        ("x1=1, x2=1, x3=1", 1.0),  # 1/0 accepted
        ("x1=True, x2=False, x3=True", 1.0),
        ("x1=False, x2=False, x3=False", 0.0),  # second clause unsatisfied
        ("x1=True, x2=True", 0.0),  # partial: x3 unassigned, so (¬x1 ∨ x3) is unsatisfied
        ("", 0.0),
        ("UNSAT", 0.0),
        ("I don't know", 0.0),
        ("x1 = True, x2 = True, x3 = True", 0.0),  # spaces around '=' do not match the validator regex
        ("X1=True, X2=True, X3=True", 0.0),  # case-sensitive
        ("x1=true, x2=true, x3=true", 0.0),
        ("x1=False, x1=True, x2=True, x3=True", 1.0),  # contradictory: the last value wins
        ("x1=True, x2=True, x3=True, x1=False", 0.0),  # ... also when the last one is wrong
        ("x1=True, x2=True, x3=True, x4=False, x99=True", 1.0),  # extra variables are ignored
        ("<think>x1=False</think> x1=True, x2=True, x3=True", 1.0),  # thinking text is parsed too
        ("<think>x3=False</think> final: x1=True, x2=True", 0.0),  # ... and counts (x3 false)
    ],
)
def test_score_table(completion, expected):
    assert sat.score(completion, SPEC) == expected


def test_unassigned_variable_satisfies_nothing():
    spec = {"n_vars": 2, "clauses": [[-2]]}  # needs x2=False
    assert sat.score("x1=True", spec) == 0.0
    assert sat.score("x1=True, x2=False", spec) == 1.0


@pytest.mark.parametrize("garbage", [None, "", "xx=True", "x=True", "x1=Maybe", "\x00\xff", "x1=" * 1000])
def test_parse_never_raises_and_returns_none_on_garbage(garbage):
    assert sat.parse(garbage, SPEC) is None
    assert sat.score(garbage or "", SPEC) == 0.0


def test_parse_last_wins():
    assert sat.parse("x2=0 x1=1 x2=True") == {1: True, 2: True}


def test_partial_credit_is_tolerant_and_fractional():
    spec = {"n_vars": 2, "clauses": [[1], [2], [-1, -2], [1, 2]]}
    assert sat.score_partial("X1 = true, x2=FALSE", spec) == 0.75
    assert sat.score("X1 = true, x2=FALSE", spec) == 0.0  # never the reported accuracy


@pytest.mark.parametrize("n, k", [(3, 2), (4, 2), (6, 4), (7, 5), (15, 10)])
def test_planted_instances_follow_the_validator_recipe(n, k):
    rng = random.Random(n * 100 + k)
    for _ in range(20):
        planted, clauses = sat.planted_instance(rng, n, k, 4.26)
        assert len(clauses) == int(4.26 * n)
        for c in clauses:
            assert len(c) == k and len({abs(l) for l in c}) == k
            assert all(1 <= abs(l) <= n for l in c)
        assert sat.satisfies(planted, clauses)


def test_generate_is_deterministic_and_answers_score_one():
    params = dict(n_vars=[4, 6], k=[2, 3], ratio=4.26, answer="random_solution",
                  prompt_template="{k}-SAT over x1..x{n}: {formula} Answer x1=True, ... or UNSAT.")
    a = sat.build(30, random.Random(7), **params)
    b = sat.build(30, random.Random(7), **params)
    assert a == b
    for row in a:
        assert row["task"] == "sat"
        assert sat.score(row["answer"], row["spec"]) == 1.0
        content = row["prompt"][0]["content"]
        assert "∧" in content and "∨" in content and "x1..x" in content
    planted = sat.build(5, random.Random(7), **{**params, "answer": "planted"})
    assert all(sat.score(r["answer"], r["spec"]) == 1.0 for r in planted)


def test_random_solution_enumerates_all_solutions():
    spec_clauses = [[1, 2], [-1, -2]]  # exactly one of x1, x2
    sols = sat.all_solutions(2, spec_clauses)
    assert sorted(tuple(s.values()) for s in sols) == [(False, True), (True, False)]


def test_formula_text_format():
    assert sat.formula_text([[1, -3, 4], [-2, 5, 1]]) == "(x1 ∨ ¬x3 ∨ x4) ∧ (¬x2 ∨ x5 ∨ x1)"


def test_bad_generation_params_raise():
    with pytest.raises(ValueError):
        sat.generate(random.Random(0), n_vars=[3, 3], k=[2, 2], ratio=4.26, answer="nope", prompt_template="{formula}")


def test_registry_and_harmony_completions():
    assert tasks.get("sat") is sat.FAMILY
    spec = {"n_vars": 1, "clauses": [[1]]}
    assert tasks.score_completion("sat", "<|channel|>final<|message|>x1=True<|return|>", spec) == 1.0
    assert tasks.score_completion("sat", "<|channel|>analysis<|message|>x1=True<|end|>", spec) == 1.0
    with pytest.raises(Exception, match="unknown task 'nope'"):
        tasks.get("nope")


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize("spec, error", [
    ({"n_vars": 3, "clauses": [[1, -2], [3]]}, None),
    ({"n_vars": 0, "clauses": []}, None),
    ({"clauses": [[1]]}, "n_vars: missing"),
    ({"n_vars": 3}, "clauses: missing"),
    ({"n_vars": 3, "clauses": [[1, "x"]]}, "clauses: expected a list of lists of non-zero ints, got 'x' in clause 0"),
    ({"n_vars": 3, "clauses": [[1], [0]]}, "clauses: expected a list of lists of non-zero ints, got 0 in clause 1"),
    ({"n_vars": 3, "clauses": [[True]]}, "clauses: expected a list of lists of non-zero ints, got True in clause 0"),
    ({"n_vars": 3, "clauses": [[1.0]]}, "clauses: expected a list of lists of non-zero ints, got 1.0 in clause 0"),
    ({"n_vars": 3, "clauses": [[1], 2]}, "clauses: expected a list of lists of non-zero ints, got int as clause 1"),
    ({"n_vars": 3, "clauses": "(x1 ∨ x2)"}, "clauses: expected a list of lists of non-zero ints, got str"),
    ({"n_vars": 3, "clauses": [[1], []]}, "clauses: clause 1 is empty"),
    ({"n_vars": 3, "clauses": [[4]]}, "clauses: literal 4 in clause 0 is outside x1..x3"),
    ({"n_vars": "3", "clauses": [[1]]}, "n_vars: expected a non-negative int, got '3'"),
    ({"n_vars": True, "clauses": [[1]]}, "n_vars: expected a non-negative int"),
    ({"n_vars": -1, "clauses": []}, "n_vars: expected a non-negative int"),
    ([[1, 2]], "spec: expected an object, got list"),
])
def test_sat_check_spec(spec, error):
    if error is None:
        assert sat.check_spec(spec) is None
    else:
        with pytest.raises(ValueError) as e:
            sat.check_spec(spec)
        assert str(e.value).startswith(error), str(e.value)



@pytest.mark.parametrize("spec", [None, "x", {}, {"n_vars": 3}, {"clauses": "x"}, {"clauses": [["x"]]},
                                  {"clauses": [1, 2]}, {"clauses": [[1.5]]}])
def test_unusable_specs_score_none(spec):
    assert sat.score("x1=True", spec) is None and sat.score_partial("x1=True", spec) is None


ODD = "²³¹٣٠۵߅१௩๓0123456789\x00\x01\x07\x1b\x7f\u200b\u2028\ufeff\ud800\udcff\r\n\t é€𝟘"
TOKENS = st.sampled_from(["x1=True", "x2=False", "x3=1", "x=", "=True", "x٣=True", "x²=True", "x𝟘=1",
                          "X1 = true", "x 2 = FALSE", "UNSAT", "<think>", "</think>", "x", "="])
HUGE = st.integers(min_value=20, max_value=6000).map(lambda n: "x" + "9" * n + "=True")   # int() refuses
TEXT = st.lists(st.one_of(TOKENS, HUGE, st.text(alphabet=ODD, max_size=8), st.text(max_size=8)),
                max_size=14).map("".join)
NOT_TEXT = st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.lists(st.text(max_size=3), max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(TEXT, NOT_TEXT))
def test_sat_never_raises(text):
    parsed = sat.parse(text, SPEC)
    assert parsed is None or all(isinstance(k, int) and isinstance(v, bool) for k, v in parsed.items())
    assert sat.score(text, SPEC) in (0.0, 1.0)
    assert 0.0 <= sat.score_partial(text, SPEC) <= 1.0



def test_unicode_digits_and_huge_numbers():
    assert sat.parse("x٣=True") == {3: True}              # \\d matches other decimal digits
    assert sat.parse("x²=True") is None                  # ² is no decimal digit
    huge = "x" + "9" * 5000 + "=True"                    # more digits than int() converts
    assert sat.parse("x1=True " + huge) is None and sat.score("x1=True, x2=True, x3=True " + huge, SPEC) == 0.0
    assert sat.score_partial("x1=True, x2=True, x3=True " + huge, SPEC) == 1.0
