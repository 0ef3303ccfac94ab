"""ABD/DED scored as the validators' executor does (docs/reference/validators.md, "How the validators run a
program"), one table per rule of issue 15; scorers that never raise; check_spec tables
(SAT's are in test_sat.py).

Each row is a minimal program, a completion and the score the validators give it (derived
from the rules in docs/reference/validators.md). Rules 2 and 3 also run under a real CPython 3.12 with numpy
and pandas when one is here (``make validator-python``, ``TUNEPIPE_VALIDATOR_PYTHON``, or
a working ``python3.12`` on PATH).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tunepipe import sandbox, tasks
from tunepipe.tasks import sat
from tunepipe.tasks.code import abd, ded, executor

REPO = Path(__file__).resolve().parents[1]
FAST = dict(timeout_s=5.0, cpu_s=5.0, memory_mb=512)


def _validator_python() -> str | None:
    for cand in (os.environ.get("TUNEPIPE_VALIDATOR_PYTHON"), str(REPO / ".venv-validator/bin/python"),
                 shutil.which("python3.12")):
        if cand and os.path.exists(cand):
            ok = subprocess.run([cand, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 12))"],
                                capture_output=True)
            if ok.returncode == 0:
                return cand
    return None


VALIDATOR_PY = _validator_python()
#: the default interpreter (this venv's), and the validators' one where available
PYTHONS = [None, pytest.param(VALIDATOR_PY, marks=pytest.mark.skipif(
    VALIDATOR_PY is None, reason="no CPython 3.12 here (make validator-python)"), id="py312")]


def abd_spec(program: str, expected: str, **kw) -> dict:
    return {"program": program, "expected_output": expected, **FAST, **kw}


def ded_spec(*cases, **kw) -> dict:
    return {"tests": [{"type": "stdin_stdout", "input": i, "output": o} for i, o in cases], **FAST, **kw}


def inp(text: str) -> str:
    return f"<INPUT>\n{text}\n</INPUT>"


def py(program: str) -> str:
    return f"```python\n{program}\n```"


# ------------------------------------------------------------------ 1. the solve() rule


@pytest.mark.parametrize("program, completion, expected", [
    # defines solve_case and calls it: printed on the first run, run as is (ours was 0)
    ("def solve_case(n):\n    return n * 2\nprint(solve_case(int(input())))", inp("21"), 1.0),
    # calls solve() itself: no second run (ours appended another call: EOF on stderr)
    ("def solve():\n    print(int(input()) * 2)\nsolve()", inp("21"), 1.0),
    # solve takes arguments and is called with them (ours called solve() with none)
    ("def solve(n):\n    return n * 2\nprint(solve(int(input())))", inp("21"), 1.0),
    # __name__ only in a comment: no guard, printed nothing -> runner (ours: no runner)
    ("# runs without an if __name__ guard\ndef solve():\n    return int(input()) * 2", inp("21"), 1.0),
    # the plain case: solve() never called, no guard -> runner prints the result
    ("def solve():\n    return int(input()) * 2", inp("21"), 1.0),
    # a real main guard that does not call solve: run as is, prints nothing
    ("def solve():\n    return int(input()) * 2\nif __name__ == '__main__':\n    pass", inp("21"), 0.0),
    # first run printed something: no runner, even though solve() was never called
    ("def solve():\n    return 1\nprint(int(input()) * 2)", inp("21"), 1.0),
    # first run wrote to stderr: no runner
    ("import sys\nsys.stderr.write('x')\ndef solve():\n    return int(input()) * 2", inp("21"), 0.0),
])
def test_rule1_solve_runner_abd(program, completion, expected):
    assert abd.score(completion, abd_spec(program, "42\n")) == expected


@pytest.mark.parametrize("program, expected", [
    ("def solve():\n    return [int(x) * 2 for x in input().split()]", 1.0),   # list: space-separated
    ("def solve():\n    return tuple(int(x) * 2 for x in input().split())", 1.0),
    ("def solve():\n    print(*(int(x) * 2 for x in input().split()))", 1.0),  # returns None
    ("def solve_case():\n    return 0\n# __name__\ndef solve():\n    return '2 4'", 1.0),
    ("def solve(a, b):\n    return a + b", 0.0),                               # TypeError
])
def test_rule1_solve_runner_ded(program, expected):
    assert ded.score(py(program), ded_spec(("1 2", "2 4"))) == expected


def test_rule1_builder_no_longer_emits_unsolvable_rows(tmp_path):
    """rl-python rows with solve_case / self-called solve / a __name__ comment got the
    runner, crashed, fell back to the row's output and could never be solved; now their
    own output is expected and the reference scores 1.0."""
    rows = [{"program": p, "inputs": "21", "output": "stale\n"} for p in (
        "def solve_case(n):\n    return n * 2\nprint(solve_case(int(input())))",
        "def solve():\n    print(int(input()) * 2)\nsolve()",
        "# __name__ is not checked\ndef solve():\n    return int(input()) * 2",
    )]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import random

    built = abd.build(3, random.Random(0), source=str(path), **FAST)
    assert [r["spec"]["expected_output"] for r in built] == ["42\n"] * 3
    assert abd.score_many([r["answer"] for r in built], [r["spec"] for r in built]) == [1.0] * 3


# ------------------------------------------------------------------ 2. site-packages


@pytest.mark.parametrize("python", PYTHONS)
def test_rule2_site_packages(python):
    check = subprocess.run([python or sys.executable, "-c", "import numpy, pandas"], capture_output=True)
    if check.returncode:
        pytest.skip("numpy/pandas not installed for this interpreter")
    prog = "import numpy as np\nprint(int(np.array(list(map(int, input().split()))).sum()))"
    assert abd.score(inp("1 2 3"), abd_spec(prog, "6\n", python=python)) == 1.0
    pd_prog = "import pandas as pd\nprint(pd.Series(input().split()).str.len().max())"
    assert ded.score(py(pd_prog), ded_spec(("a bbb cc", "3"), python=python)) == 1.0


# ------------------------------------------------------------- 3. interpreter version


@pytest.mark.parametrize("python", PYTHONS)
def test_rule3_invalid_escape_warning_fails(python):
    """CPython 3.12 prints a SyntaxWarning for '\\d' in a normal string: stderr -> 0."""
    prog = "import re\nx = re.findall('\\d+', input())\nprint(int(x[0]) * 2)"
    res = sandbox.run(prog, "21\n", **FAST, python=python)
    assert res.stdout == "42\n" and "SyntaxWarning: invalid escape sequence" in res.stderr
    assert abd.score(inp("21"), abd_spec(prog, "42\n", python=python)) == 0.0
    assert ded.score(py(prog), ded_spec(("21", "42"), python=python)) == 0.0
    raw = "import re\nx = re.findall(r'\\d+', input())\nprint(int(x[0]) * 2)"   # fine
    assert abd.score(inp("21"), abd_spec(raw, "42\n", python=python)) == 1.0


def test_rule3_the_interpreter_is_a_param():
    if VALIDATOR_PY is None:
        pytest.skip("no CPython 3.12 here (make validator-python)")
    prog = "import sys\nprint(sys.version_info[:2] == (3, 12), input())"
    assert abd.score(inp("ok"), abd_spec(prog, "True ok\n", python=VALIDATOR_PY)) == 1.0


# --------------------------------------------------------------- 4. strict UTF-8 output


@pytest.mark.parametrize("task, program, spec_out, expected", [
    # invalid bytes fail the run (we used to replace them with U+FFFD)
    ("abd", "import sys\ninput()\nsys.stdout.buffer.write(b'\\xff42\\n')", "\ufffd42\n", 0.0),
    ("ded", "import sys\ninput()\nsys.stdout.buffer.write(b'\\xff42\\n')", "\ufffd42", 0.0),
    ("abd", "import sys\ninput()\nsys.stderr.buffer.write(b'')\nsys.stdout.buffer.write(b'\\xc3\\xa942\\n')",
     "é42\n", 1.0),                                              # valid UTF-8 is fine
    # universal newlines: a lone \r reads as \n
    ("ded", "import sys\ninput()\nsys.stdout.write('4\\r2\\n')", "4\n2", 1.0),
    ("abd", "import sys\ninput()\nsys.stdout.write('4\\r2\\r\\n')", "4\n2\n", 1.0),
])
def test_rule4_strict_utf8(task, program, spec_out, expected):
    if task == "abd":
        assert abd.score(inp("x"), abd_spec(program, spec_out)) == expected
    else:
        assert ded.score(py(program), ded_spec(("x", spec_out))) == expected


def test_rule4_invalid_stderr_bytes_fail_even_blank_for_ded():
    prog = "import sys\nprint(input())\nsys.stderr.buffer.write(b'\\xff')"
    assert ded.score(py(prog), ded_spec(("a", "a"))) == 0.0


# ---------------------------------------------------------------- 5. output over 1 MB


def test_rule5_output_past_the_cap_is_truncated_and_compared():
    cut = "x" * 1_000_000 + executor.TRUNCATION_MARK
    prog = "print('x' * int(input()))"
    assert abd.score(inp("2000000"), abd_spec(prog, cut)) == 1.0      # ours: killed -> 0
    assert abd.score(inp("999999"), abd_spec(prog, cut)) == 0.0
    endless = "while True:\n    print('x' * 999)"                     # killed at the cap
    assert ded.score(py(endless), ded_spec(("", ("x" * 999 + "\n") * 1000 + executor.TRUNCATION_MARK))) == 1.0
    # a multi-byte character cut by the cap is dropped, not an encoding error
    uni = "print('a' + 'é' * 600000)"
    assert ded.score(py(uni), ded_spec(("", "a" + "é" * 499999 + executor.TRUNCATION_MARK))) == 1.0
    # stderr past the cap is stderr all the same
    noisy = "import sys\nprint(42)\nsys.stderr.write('e' * 2000000)"
    assert abd.score(inp(""), abd_spec(noisy, "42\n")) == 0.0


def test_rule5_timeout_appends_a_marker_to_stderr():
    prog = "import time\nprint(int(input()) * 2, flush=True)\ntime.sleep(30)"
    res = sandbox.run(prog, "21\n", timeout_s=1.0, memory_mb=256)
    assert executor.streams(res) == ("42\n", executor.TIMEOUT_MARK)
    spec = abd_spec(prog, "42\n", timeout_s=1.0)
    assert abd.score(inp("21"), spec) == 0.0
    assert ded.score(py(prog), ded_spec(("21", "42"), timeout_s=1.0)) == 0.0


# ---------------------------------------------------------------------- 6. hash seed

WORDS = ("apple pear plum fig kiwi lime date melon grape cherry lemon mango peach berry "
         "nut oak pine elm ash yew").split()
SET_PROGRAM = "words = set(input().split())\nprint(' '.join(words))"


def test_rule6_hash_randomisation_as_the_validators():
    """A program whose output follows set order of strings: the expected output was
    computed by one interpreter, the answer is run by another one with its own random
    seed; validators score it 0 in practice (we pinned PYTHONHASHSEED=0 and scored 1)."""
    line = " ".join(WORDS)
    pinned = sandbox.run(SET_PROGRAM, line + "\n", **FAST, hash_seed=0).stdout
    assert sandbox.run(SET_PROGRAM, line + "\n", **FAST, hash_seed=0).stdout == pinned
    assert sandbox.run(SET_PROGRAM, line + "\n", **FAST).stdout != pinned   # randomised
    assert abd.score(inp(line), abd_spec(SET_PROGRAM, pinned)) == 0.0
    assert ded.score(py(SET_PROGRAM), ded_spec((line, pinned))) == 0.0
    # the deliberate difference, off by default: hash_seed pins the seed
    assert abd.score(inp(line), abd_spec(SET_PROGRAM, pinned, hash_seed=0)) == 1.0
    sorted_prog = "print(' '.join(sorted(set(input().split()))))"       # order-free: fine
    assert abd.score(inp(line), abd_spec(sorted_prog, " ".join(sorted(WORDS)) + "\n")) == 1.0


def test_rule6_each_process_draws_its_own_seed():
    code = ("import sys; sys.path.insert(0, %r)\nfrom tunepipe import sandbox\n"
            "print(sandbox.run('print(hash(\"abc\"))', '', timeout_s=5, memory_mb=256).stdout)")
    seen = {subprocess.run([sys.executable, "-c", code % str(REPO / "src")], capture_output=True,
                           text=True, cwd="/tmp").stdout for _ in range(2)}
    assert len(seen) == 2 and "" not in seen


# ------------------------------------------------------------------------ 7. DED specs


@pytest.mark.parametrize("spec, expected", [
    ({"verification_info": "{}"}, 0.0),                                   # no test_cases (ours: None)
    ({"verification_info": json.dumps({"test_cases": None})}, 0.0),
    ({"verification_info": json.dumps({"test_cases": []})}, 0.0),
    ({"tests": []}, 0.0),
    ({"tests": None}, 0.0),
    ({"verification_info": json.dumps({"test_cases": [{"type": "unknown", "input": "1", "output": "2"}]})}, 1.0),
    ({"tests": [{"type": "x"}, {"type": "y"}]}, 1.0),                     # nothing failed
    ({"tests": [{"type": "x"}, {"type": "stdin_stdout", "input": "1", "output": "9"}]}, 0.0),
    ({"verification_info": "not json ["}, None),                           # unusable spec
    ({"tests": "nope"}, None),
    ({}, None),
])
def test_rule7_ded_spec_rules(spec, expected):
    assert ded.score(py("print(int(input()) + 1)"), {**spec, **FAST}) == expected


# ------------------------------------------------------------- 8. scorers never raise


@pytest.mark.parametrize("first", ["²", "³" * 3, "9" * 5000, "٣"])
def test_rule8_abd_loop_count_that_is_no_int(first):
    spec = abd_spec("for _ in range(int(input())):\n    print(input())", "a\n")
    completion = inp(f"{first}\na")
    expected = 0.0
    assert abd.score(completion, spec) == expected
    assert tasks.score_batch(["abd", "abd"], [completion, inp("1\na")], [spec, spec]) == [expected, 1.0]
    assert abd.score_many([completion] * 3, [spec] * 3) == [expected] * 3


def test_lone_surrogates_and_nul_bytes():
    spec = abd_spec("s = input()\nprint(len(s))", "1\n")
    assert abd.score(inp("\ud800"), spec) == 0.0     # stdin is invalid UTF-8: the program fails
    assert abd.score(inp("\udcff"), spec) == 0.0
    assert abd.score(inp("\x00"), spec) == 1.0
    assert ded.score(py("print('\ud800')"), ded_spec(("", "x"))) == 0.0     # cannot be printed
    assert ded.score(py("print(input())"), ded_spec(("\ud800", "\ud800"))) == 0.0


def test_empty_response_scores_zero_without_running(monkeypatch):
    monkeypatch.setattr(sandbox, "run", lambda *a, **k: pytest.fail("must not run"))
    assert abd.score("  \n\t ", abd_spec("print(1)", "1\n")) == 0.0
    assert ded.score("", ded_spec(("", ""))) == 0.0
    assert ded.score(" \n ", ded_spec(("", ""))) == 0.0


# ----------------------------------------------------------------- property tests

ODD = "²³¹٣٠۵߅१௩๓0123456789\x00\x01\x07\x1b\x7f\u200b\u2028\ufeff\ud800\udcff\r\n\t é€𝟘"
TOKENS = st.sampled_from([
    "<INPUT>", "</INPUT>", "<input>", "</Input>", "<think>", "</think>", "<thinking>", "</thinking>",
    "```python\n", "```", "```py\n", "\n", "\r\n", "x1=True", "x2=False", "x3=1", "x=", "=True",
    "x٣=True", "x²=True", "X1 = true", "UNSAT", "def solve():", "return 1", "print(", ")",
    "input()", "for _ in range(int(input())):", "if __name__ == '__main__':", "²", "٣",
])
HUGE = st.one_of(st.integers(min_value=20, max_value=6000).map(lambda n: "9" * n),   # > 4300 digits:
                 st.text(alphabet="0123456789", min_size=20, max_size=60))           # int() refuses
TEXT = st.lists(st.one_of(TOKENS, HUGE, st.text(alphabet=ODD, max_size=8), st.text(max_size=8)),
                max_size=14).map("".join)
NOT_TEXT = st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.lists(st.text(max_size=3), max_size=3))

ABD_SPEC = abd_spec("for _ in range(int(input())):\n    print(input())", "a\n", timeout_s=2.0)
DED_SPEC = ded_spec(("3", "4"), timeout_s=2.0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(TEXT, NOT_TEXT))
def test_parsers_never_raise(text):
    a = abd.parse(text, ABD_SPEC)
    assert a is None or isinstance(a, str)
    d = ded.parse(text, DED_SPEC)
    assert d is None or isinstance(d, str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(TEXT, TEXT.map(lambda t: f"<INPUT>{t}</INPUT>"), TEXT.map(py), NOT_TEXT))
def test_code_scorers_never_raise(text):
    assert abd.score(text, ABD_SPEC) in (0.0, 1.0)
    assert ded.score(text, DED_SPEC) in (0.0, 1.0)


SPEC_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
SPEC_KEYS = st.sampled_from(["n_vars", "clauses", "program", "expected_output", "tests",
                             "verification_info", "timeout_s", "cpu_s", "memory_mb",
                             "max_output_bytes", "python", "hash_seed", "type", "input", "output"])
SAFE_PYTHONS = st.sampled_from([None, "", "/no/such/python", sys.executable, "sh", 3])   # never run junk


def _safe_python(spec, python):
    if isinstance(spec, dict) and "python" in spec:
        spec["python"] = python
    return spec


SPECS = st.one_of(SPEC_VALUES, st.builds(_safe_python, st.dictionaries(SPEC_KEYS, SPEC_VALUES, max_size=6),
                                         SAFE_PYTHONS))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SPECS)
def test_bad_specs_give_none_or_a_score_and_check_spec_says_why(spec):
    for module in (sat, abd, ded):
        try:
            module.check_spec(spec)
        except ValueError as e:
            assert str(e).split(":")[0] in ("spec", "n_vars", "clauses", "program", "expected_output",
                                            "tests", "verification_info", "timeout_s", "cpu_s",
                                            "memory_mb", "max_output_bytes", "python", "hash_seed"), e
    assert sat.score("x1=True", spec) in (None, 0.0, 1.0)
    assert sat.score_partial("x1=True", spec) is None or 0.0 <= sat.score_partial("x1=True", spec) <= 1.0
    assert abd.score("<INPUT></INPUT>", spec) in (None, 0.0, 1.0)
    assert ded.score("", spec) in (None, 0.0, 1.0)


# ----------------------------------------------------------------------- check_spec

GOOD_CASE = {"type": "stdin_stdout", "input": "1", "output": "2"}
FN_CASE = {"type": "function_call", "fn_name": "add", "input": [1, 2], "output": [3]}


@pytest.mark.parametrize("spec, error", [
    ({"program": "print(input())", "expected_output": "a\n"}, None),
    (abd_spec("print(input())", "a\n", python=None, hash_seed=7, max_output_bytes=1000), None),
    (abd_spec("print(input())", "a\n", python=sys.executable), None),
    ({"expected_output": "a\n"}, "program: missing"),
    ({"program": 3, "expected_output": "a\n"}, "program: expected a string, got int"),
    ({"program": "  \n", "expected_output": "a\n"}, "program: empty"),
    ({"program": "print(1)"}, "expected_output: missing"),
    ({"program": "print(1)", "expected_output": ["1"]}, "expected_output: expected a string, got list"),
    ({"program": "print(1)", "expected_output": "\n"}, "expected_output: empty"),
    (abd_spec("print(1)", "1", timeout_s=-1), "timeout_s: expected a positive number, got -1"),
    (abd_spec("print(1)", "1", cpu_s=float("nan")), "cpu_s: expected a positive number"),
    (abd_spec("print(1)", "1", memory_mb="lots"), "memory_mb: expected a positive int, got 'lots'"),
    (abd_spec("print(1)", "1", memory_mb=1.5), "memory_mb: expected a positive int, got 1.5"),
    (abd_spec("print(1)", "1", max_output_bytes=True), "max_output_bytes: expected a positive int"),
    (abd_spec("print(1)", "1", hash_seed=-1), "hash_seed: expected null or an int"),
    (abd_spec("print(1)", "1", hash_seed="0"), "hash_seed: expected null or an int"),
    (abd_spec("print(1)", "1", python=3), "python: expected null or an interpreter"),
    (abd_spec("print(1)", "1", python="/no/such/python3.12"), "python: no executable interpreter"),
    ("print(1)", "spec: expected an object, got str"),
])
def test_abd_check_spec(spec, error):
    _check(abd, spec, error)


@pytest.mark.parametrize("spec, error", [
    ({"tests": [GOOD_CASE]}, None),
    ({"tests": [FN_CASE, {"type": "other"}], **FAST}, None),
    ({"verification_info": json.dumps({"test_cases": [GOOD_CASE]})}, None),
    ({"verification_info": str({"test_cases": [GOOD_CASE]})}, None),            # Python literal
    ({"tests": [{"type": "stdin_stdout", "input": ["1", "2"], "output": "3"}]}, None),
    ({}, "tests: missing"),
    ({"tests": "x"}, "tests: expected a list of test cases, got str"),
    ({"tests": []}, "tests: no test cases"),
    ({"tests": [{"type": "other"}]}, "tests: no runnable test case"),
    ({"tests": ["x"]}, "tests: case 0: expected an object, got str"),
    ({"tests": [GOOD_CASE, {"input": "1", "output": "1"}]}, "tests: case 1: type: expected a string"),
    ({"tests": [{"type": "stdin_stdout", "input": "1"}]}, "tests: case 0: output: missing"),
    ({"tests": [{"type": "stdin_stdout", "input": 1, "output": "1"}]}, "tests: case 0: input: expected a string"),
    ({"tests": [dict(FN_CASE, fn_name="1x")]}, "tests: case 0: fn_name: expected a function name"),
    ({"tests": [{k: v for k, v in FN_CASE.items() if k != "fn_name"}]}, "tests: case 0: fn_name"),
    ({"tests": [dict(FN_CASE, input="1, 2")]}, "tests: case 0: input: expected a list of arguments"),
    ({"verification_info": "{["}, "verification_info: neither JSON nor a Python literal"),
    ({"verification_info": "{}"}, "verification_info: no 'test_cases' key"),
    ({"verification_info": json.dumps({"test_cases": {"a": 1}})}, "verification_info: expected a list"),
    ({"tests": [GOOD_CASE], "memory_mb": 0}, "memory_mb: expected a positive int, got 0"),
    ({"tests": [GOOD_CASE], "hash_seed": 2 ** 32}, "hash_seed: expected null or an int"),
    (None, "spec: expected an object, got NoneType"),
])
def test_ded_check_spec(spec, error):
    _check(ded, spec, error)


def _check(module, spec, error):
    """check_spec accepts ``spec`` (error None) or raises ValueError starting with ``error``."""
    if error is None:
        assert module.check_spec(spec) is None
    else:
        with pytest.raises(ValueError) as e:
            module.check_spec(spec)
        assert str(e.value).startswith(error), str(e.value)


def test_run_settings_reach_the_spec_and_the_sandbox():
    import random

    rows = abd.build(2, random.Random(0), python=sys.executable, hash_seed=5, **FAST)
    assert all(r["spec"]["python"] == sys.executable and r["spec"]["hash_seed"] == 5 for r in rows)
    assert all(abd.check_spec(r["spec"]) is None for r in rows)
    rows = ded.build(2, random.Random(0), hash_seed=5, **FAST)
    assert all(r["spec"]["hash_seed"] == 5 and ded.check_spec(r["spec"]) is None for r in rows)
    with pytest.raises(ValueError, match="^python: no executable interpreter"):
        abd.build(1, random.Random(0), python="/no/such/python")
    with pytest.raises(ValueError, match="^hash_seed: "):
        ded.build(1, random.Random(0), hash_seed="random")
    spec = abd_spec("print(hash('abc'))", "1\n", hash_seed=3)
    want = subprocess.run([sys.executable, "-c", "print(hash('abc'))"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": "3"}).stdout
    assert executor.execute(spec["program"], "", spec) == (want, "")
    assert abd.score(inp(""), abd_spec("print(hash('abc'))", want, hash_seed=3)) == 1.0
