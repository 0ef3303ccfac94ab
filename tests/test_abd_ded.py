"""ABD and DED: the validators' extraction/scoring rules, the built-in corpus, loaders."""
from __future__ import annotations

import json
import random
import sys
import types

import pytest
from hypothesis import given, settings, strategies as st

from tunepipe import TunepipeError, tasks
from tunepipe.tasks.code import abd, ded, executor
from tunepipe.tasks.code import corpus as code_corpus

FAST = dict(timeout_s=5.0, cpu_s=5.0, memory_mb=256)
DOUBLE = {"program": "print(int(input()) * 2)", "expected_output": "42\n", **FAST}


@pytest.fixture(scope="module")
def corpus():
    return code_corpus.builtin_rows()


# ------------------------------------------------------------------------ the corpus


def test_builtin_corpus_shape(corpus):
    assert len(corpus) >= 300
    assert corpus == code_corpus.builtin_rows()          # deterministic
    assert code_corpus.builtin_rows(seed=1)[0] != corpus[0]
    assert len({r["id"] for r in corpus}) == len(corpus)
    assert len({r["template"] for r in corpus}) >= 70
    assert len({r["program"] for r in corpus}) >= 250      # a few hundred distinct programs
    for row in corpus:
        assert set(code_corpus.RL_PYTHON_FIELDS) <= set(row)
        assert 3 <= len(row["program"].splitlines()) <= 12
        cases = json.loads(row["verification_info"])["test_cases"]
        assert 2 <= len(cases) <= 4 and all(c["type"] == "stdin_stdout" for c in cases)
        assert row["output"].strip()


def test_every_reference_scores_one(corpus):
    """All ABD reference inputs and DED reference solutions of the shipped corpus score
    1.0 through the sandbox, and ABD's expected outputs (run in the sandbox) equal the
    corpus outputs (computed in-process)."""
    n = len(corpus)
    a_rows = abd.build(n, random.Random(0), **FAST)
    d_rows = ded.build(n, random.Random(0), **FAST)
    by_program = {}
    for r in corpus:
        by_program.setdefault(r["program"], {})[abd.answer_for(r["inputs"])] = r["output"]
    for r in a_rows:
        assert by_program[r["spec"]["program"]][r["answer"]] == r["spec"]["expected_output"]
    a_scores = abd.score_many([r["answer"] for r in a_rows], [r["spec"] for r in a_rows])
    d_scores = ded.score_many([r["answer"] for r in d_rows], [r["spec"] for r in d_rows])
    assert [r["answer"] for r, s in zip(a_rows, a_scores) if s != 1.0] == []
    assert [r["answer"] for r, s in zip(d_rows, d_scores) if s != 1.0] == []


def test_wrong_inputs_score_zero(corpus):
    """A wrong input scores 0.0 -- checked against the truth computed in-process."""
    rows = abd.build(60, random.Random(1), **FAST)
    pool = [r["inputs"] for r in corpus]
    rng = random.Random(2)
    completions, specs = [], []
    for r in rows:
        for wrong in rng.sample(pool, 10):
            try:
                out = code_corpus.run_trusted(r["spec"]["program"], executor.stdin_text(wrong))
            except Exception:
                out = None
            if out is None or not abd.outputs_match(r["spec"]["expected_output"], out):
                completions.append(abd.answer_for(wrong))
                specs.append(r["spec"])
                break
    assert len(specs) >= 50
    assert set(abd.score_many(completions, specs)) == {0.0}


# ------------------------------------------------------------------------------- ABD


@pytest.mark.parametrize("completion, expected", [
    ("<INPUT>\n21\n</INPUT>", "21"),
    ("no tags at all", None),
    ("", None),
    ("<think>maybe <INPUT>1</INPUT></think>\n<INPUT>2</INPUT>", "2"),
    ("<thinking><INPUT>1</INPUT></thinking><INPUT>\n2\n</INPUT>", "2"),
    ("<think><INPUT>1</INPUT></think> and nothing after", ""),       # tags only in thinking
    ("<THINK><INPUT>1</INPUT></THINK>", "1"),                       # think tags: case-sensitive
    ("<INPUT>1</INPUT> first try, then <INPUT>\n3\n4\n</INPUT>", "3\n4"),   # the last one
    ("<input>\n5 6\n</input>", "5 6"),                               # case-insensitive
    ("<Input>7</INPUT>", "7"),
    ("<INPUT>\r\n1 2\r\n3\r\n</INPUT>", "1 2\n3"),                   # CRLF
    ("<INPUT>\n1   \n2\t\n\n   \n</INPUT>", "1\n2"),                 # trailing spaces/blank lines
    ("<INPUT>\n\n  a\n\nb\n</INPUT>", "a\n\nb"),                     # inner blank kept, stripped
    ("<INPUT>   </INPUT>", ""),
    ("<INPUT>unterminated", None),
])
def test_abd_extraction(completion, expected):
    assert abd.parse(completion, DOUBLE) == expected


@pytest.mark.parametrize("expected, actual, match", [
    ("1\n2\n", "1\n2\n", True),
    ("1\n2\n", "1\n2", True),
    ("1\r\n2\r\n", "1\n2\n", True),
    ("  1\n2", "1\n2\n\n", True),
    ("1 \n2", "1\n2   ", True),
    ("1\n2", "1\n3", False),
    ("1 2", "1  2", False),
    ("1\n\n2", "1\n2", False),
])
def test_abd_output_match(expected, actual, match):
    assert abd.outputs_match(expected, actual) is match


def test_abd_scoring():
    assert abd.score("<INPUT>21</INPUT>", DOUBLE) == 1.0
    assert abd.score("I think <INPUT>\n21   \n\n</INPUT>", DOUBLE) == 1.0
    assert abd.score("<INPUT>20</INPUT>", DOUBLE) == 0.0
    assert abd.score("21", DOUBLE) == 0.0                       # no tags
    assert abd.score("<INPUT>x</INPUT>", DOUBLE) == 0.0         # crashes: stderr
    noisy = dict(DOUBLE, program="import sys\nprint(int(input()) * 2)\nprint('warn', file=sys.stderr)")
    assert abd.score("<INPUT>21</INPUT>", noisy) == 0.0         # any stderr -> 0
    looping = dict(DOUBLE, program="n = int(input())\nwhile n == 0:\n    pass\nprint(42)",
                   timeout_s=1.0)
    assert abd.score("<INPUT>0</INPUT>", looping) == 0.0        # timeout -> 0
    assert abd.score("<INPUT>1</INPUT>", looping) == 1.0
    assert abd.score("<INPUT>21</INPUT>", {"program": 3}) is None
    assert tasks.score_completion("abd", "<INPUT>21</INPUT>", DOUBLE) == 1.0


def test_abd_sanity_check_runs_nothing(monkeypatch):
    from tunepipe import sandbox

    monkeypatch.setattr(sandbox, "run", lambda *a, **k: pytest.fail("must not run"))
    two = dict(DOUBLE, program="a = input()\nb = input()\nprint(a + b)")
    assert abd.score("<INPUT>\n1\n</INPUT>", two) == 0.0
    loop = dict(DOUBLE, program="for _ in range(int(input())):\n    print(input())")
    assert abd.score("<INPUT>\n3\na\nb\n</INPUT>", loop) == 0.0   # needs > 3 lines
    assert abd.input_ok(loop["program"], "3\na\nb\nc")
    assert abd.input_ok("print(1)", "")


def test_abd_build_rows():
    rows = abd.build(5, random.Random(3), prompt_template="P:{program}|O:{output}", timeout_s=7)
    again = abd.build(5, random.Random(3), prompt_template="P:{program}|O:{output}", timeout_s=7)
    assert rows == again
    for r in rows:
        assert r["task"] == "abd" and r["prompt"][0]["role"] == "user"
        assert r["prompt"][0]["content"] == (f"P:{r['spec']['program']}|"
                                             f"O:{r['spec']['expected_output'].rstrip()}")
        assert r["answer"].startswith("<INPUT>\n") and r["answer"].endswith("\n</INPUT>")
        assert r["spec"]["timeout_s"] == 7.0 and r["spec"]["memory_mb"] == 512
    assert abd.build(5, random.Random(4)) != rows
    default = abd.build(1, random.Random(3))[0]["prompt"][0]["content"]
    assert "```python" in default and "<INPUT>" in default and "</INPUT>" in default
    with pytest.raises(TunepipeError, match="prompt_template"):
        abd.build(1, random.Random(0), prompt_template="{prog}")
    with pytest.raises(TunepipeError, match="corpus_size"):
        abd.build(50, random.Random(0), corpus_size=10)


WORDS = ", ".join(repr(w) for w in ("apple pear plum fig kiwi lime date melon grape cherry lemon "
                                     "mango peach berry nut oak pine elm ash yew").split())


def test_abd_build_keeps_only_rows_its_reference_solves(tmp_path):
    """The expected output is the program's own (not a stale ``output``); rows whose
    expected output falls back to the row's ``output`` (the program fails on its input)
    can never be solved and are skipped; solve_case programs are kept (validators' rule);
    a program printing a set of strings depends on the hash seed: kept only when the
    seed is pinned."""
    rows = [
        {"program": "print(int(input()) + 1)", "inputs": "41", "output": "stale"},  # runs
        {"program": "import sys\nsys.exit('broken')", "inputs": "", "output": "from row\n"},
        {"program": "pass", "inputs": "", "output": ""},                           # unusable
        {"program": "def solve_case(n):\n    return n * 3\nprint(solve_case(int(input())))",
         "inputs": "5", "output": "15\n"},
        {"program": f"print(list({{{WORDS}}}))", "inputs": "", "output": "?"},  # hash order
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    built = abd.build(2, random.Random(0), source=str(path), **FAST)
    assert sorted(r["spec"]["expected_output"] for r in built) == ["15\n", "42\n"]
    assert all(r["spec"]["hash_seed"] is None and r["spec"]["python"] is None for r in built)
    with pytest.raises(TunepipeError, match="only 2 usable rows"):
        abd.build(3, random.Random(0), source=str(path), **FAST)
    pinned = abd.build(3, random.Random(0), source=str(path), hash_seed=7, **FAST)
    assert {r["spec"]["hash_seed"] for r in pinned} == {7}
    assert any(r["spec"]["expected_output"].startswith("['") for r in pinned)
    assert abd.score_many([r["answer"] for r in pinned], [r["spec"] for r in pinned]) == [1.0] * 3


# ------------------------------------------------------------------------------- DED


@pytest.mark.parametrize("completion, expected", [
    ("```python\nprint(1)\n```", "print(1)"),
    ("```python\nprint(1)\n```\nbetter:\n```python\nprint(2)\n```", "print(2)"),     # last
    ("```python\nprint(1)\n```\n```js\nconsole.log(2)\n```", "print(1)"),            # python wins
    ("```\nprint(3)\n```\ntext\n```text\nprint(4)\n```", "print(4)"),                # last fence
    ("```Python\nprint(5)\n```", "print(5)"),                                        # any fence
    ("```python print(6)```", "print(6)"),                                           # inline
    ("  print(7)\n", "print(7)"),                                                    # whole text
    ("<think>```python\nprint(0)\n```</think>```python\nprint(8)\n```", "print(8)"),
    ("```python\r\nprint(9)\r\n```", "print(9)"),
    ("", ""),
])
def test_ded_extraction(completion, expected):
    assert ded.parse(completion, {}) == expected


def _spec(cases, **kw):
    return {"tests": cases, **FAST, **kw}


def test_ded_stdin_stdout_scoring():
    spec = _spec([{"type": "stdin_stdout", "input": "2 3", "output": "5"},
                  {"type": "stdin_stdout", "input": ["10", "20"], "output": "30\n\n"}])
    good = "Here:\n```python\nimport sys\nprint(sum(map(int, sys.stdin.read().split())))\n```"
    assert ded.score(good, spec) == 1.0
    assert ded.score("```python\nprint(5)\n```", spec) == 0.0
    spaced = "```python\nimport sys\nprint(sum(map(int, sys.stdin.read().split())), '  ')\nprint()\n```"
    assert ded.score(spaced, spec) == 1.0                        # trailing spaces / blank lines
    warn = good[:-3] + "print('warning', file=sys.stderr)\n```"
    assert ded.score(warn, spec) == 0.0                          # stderr fails the test
    solve = "```python\ndef solve():\n    return sum(map(int, open(0).read().split()))\n```"
    assert ded.score(solve, spec) == 1.0                         # validators' solve() autorun


def test_ded_function_call_scoring():
    spec = _spec([{"type": "function_call", "fn_name": "add", "input": [2, 3], "output": [5]},
                  {"type": "function_call", "fn_name": "add", "input": ["a", "b"], "output": "ab"},
                  {"type": "unknown_type", "input": "x", "output": "y"}])
    assert ded.score("```python\ndef add(a, b):\n    return a + b\n```", spec) == 1.0
    assert ded.score("```python\ndef add(a, b):\n    return a * 2\n```", spec) == 0.0
    assert ded.score("```python\ndef plus(a, b):\n    return a + b\n```", spec) == 0.0


def test_ded_stops_at_first_failure(monkeypatch):
    from tunepipe import sandbox

    calls = []
    real = sandbox.run
    monkeypatch.setattr(sandbox, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    spec = _spec([{"type": "stdin_stdout", "input": "1", "output": "2"}] * 3)
    assert ded.score("```python\nprint(3)\n```", spec) == 0.0
    assert len(calls) == 1


def test_ded_spec_edge_cases():
    literal = "{'test_cases': [{'type': 'stdin_stdout', 'input': '4\\n', 'output': '16\\n'}]}"
    spec = {"verification_info": literal, **FAST}
    assert ded.score("```python\nprint(int(input()) ** 2)\n```", spec) == 1.0
    assert ded.score("print(1)", _spec([])) == 0.0                       # no tests -> 0
    assert ded.score("print(1)", _spec([{"type": "other"}])) == 1.0     # only skipped -> 1
    assert ded.score("print(1)", {"verification_info": "not json ["}) is None
    assert ded.score("print(1)", "not a dict") is None


def test_ded_build_rows():
    rows = ded.build(4, random.Random(5), prompt_template="Solve: {problem}", memory_mb=128)
    assert rows == ded.build(4, random.Random(5), prompt_template="Solve: {problem}", memory_mb=128)
    for r in rows:
        assert r["task"] == "ded" and r["prompt"][0]["content"].startswith("Solve: ")
        assert r["answer"].startswith("```python\n") and r["answer"].endswith("\n```")
        assert r["spec"]["memory_mb"] == 128 and len(r["spec"]["tests"]) >= 2
    default = ded.build(1, random.Random(5))[0]["prompt"][0]["content"]
    assert "```python" in default and "Python 3" in default
    with pytest.raises(TunepipeError, match="prompt_template"):
        ded.build(1, random.Random(0), prompt_template="{nope}")


# ------------------------------------------------------------------- never raising


JUNK = st.lists(st.sampled_from([
    "<INPUT>", "</INPUT>", "<input>", "</input>", "<think>", "</think>", "<thinking>",
    "</thinking>", "```python\n", "```", "```js\n", "\n", "\r\n", " ", "1 2", "x", "\x00",
    "é", "def solve():", "input()",
]), max_size=30).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), JUNK))
def test_parsers_never_raise(text):
    a = abd.parse(text, DOUBLE)
    assert a is None or isinstance(a, str)
    assert isinstance(ded.parse(text, {}), str)


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text(max_size=5))))
def test_parsers_never_raise_on_non_text(value):
    assert abd.parse(value, DOUBLE) is None and ded.parse(value, {}) is None
    assert abd.score(value, DOUBLE) == 0.0


# --------------------------------------------------------------------------- loaders


def _rl_rows():
    return [{"program": "a, b = map(int, input().split())\nprint(a + b)", "inputs": "1 2",
             "output": "3\n", "prompt": "Add two numbers.",
             "verification_info": str({"test_cases": [
                 {"type": "stdin_stdout", "input": "5 6\n", "output": "11\n"}]})},
            {"program": "print(input()[::-1])", "inputs": "abc", "output": "cba\n",
             "prompt": "Reverse a word.",
             "verification_info": json.dumps({"test_cases": [
                 {"type": "stdin_stdout", "input": "xy", "output": "yx"}]})}]


def test_local_files(tmp_path):
    jsonl = tmp_path / "rl.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n\n" for r in _rl_rows()))
    as_json = tmp_path / "rl.json"
    as_json.write_text(json.dumps(_rl_rows()))
    assert list(code_corpus.load_rl_python(str(jsonl))) == _rl_rows()
    assert list(code_corpus.load_rl_python(str(as_json))) == _rl_rows()
    for path in (jsonl, as_json):
        a = abd.build(2, random.Random(0), source=str(path), **FAST)
        d = ded.build(2, random.Random(0), source=str(path), **FAST)
        assert abd.score_many([r["answer"] for r in a], [r["spec"] for r in a]) == [1.0, 1.0]
        assert ded.score_many([r["answer"] for r in d], [r["spec"] for r in d]) == [1.0, 1.0]


def test_loader_errors(tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_rl_rows()[0]) + "\n{not json\n")
    with pytest.raises(TunepipeError, match=r"source: .*bad.jsonl:2: invalid JSON"):
        list(code_corpus.load_rl_python(str(bad)))
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"program": "print(1)"}) + "\n")
    with pytest.raises(TunepipeError, match="row 0: field 'inputs' is missing"):
        abd.build(1, random.Random(0), source=str(missing))
    with pytest.raises(TunepipeError, match="field 'prompt' is missing"):
        ded.build(1, random.Random(0), source=str(missing))
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(dict(_rl_rows()[0], verification_info="{[")) + "\n")
    with pytest.raises(TunepipeError, match="verification_info"):
        ded.build(1, random.Random(0), source=str(broken))
    with pytest.raises(TunepipeError, match="not a JSON/JSONL file"):
        abd.build(1, random.Random(0), source=str(tmp_path / "nope.jsonl"))

    def offline(*a, **k):
        raise ConnectionError("Couldn't reach the Hugging Face Hub\nmore detail")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(TunepipeError) as err:
        ded.build(1, random.Random(0), source="satpalsr/rl-python")
    msg = str(err.value)
    assert msg.startswith("source: ") and "satpalsr/rl-python" in msg and "\n" not in msg


def test_hf_dataset_rows(monkeypatch):
    fake = types.SimpleNamespace(load_dataset=lambda name, split: iter(_rl_rows()))
    monkeypatch.setitem(sys.modules, "datasets", fake)
    rows = ded.build(2, random.Random(0), source="AffineFoundation/rl-python", **FAST)
    assert {r["answer"] for r in rows} == {ded.answer_for(r["program"]) for r in _rl_rows()}


def test_registry_entry_points():
    for name, mod in (("abd", abd), ("ded", ded)):
        assert tasks.get(name) is mod.FAMILY and mod.NAME == name
        row = mod.generate(random.Random(0), **FAST)
        assert tasks.score_completion(name, row["answer"], row["spec"]) == 1.0
