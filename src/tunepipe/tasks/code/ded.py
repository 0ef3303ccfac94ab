"""DED -- deduction: given a problem statement, write the program.

Rules (docs/reference/validators.md, as the Affine validators implement them):

- the response is stripped first; an empty one scores 0 without running anything;
- extraction: the LAST ```python block, else the last fenced block of any kind, else the
  first ``` pair (optional ``python`` tag, no newline needed), else the whole response
  (validators' ``strip_fences``);
- tests from ``verification_info`` (JSON, else a Python literal) ``{"test_cases": [...]}``:
  ``stdin_stdout`` pipes ``input`` (a newline appended when missing -- also to an empty
  input, as the validators do); ``function_call`` appends
  ``result = fn_name(*input)`` / ``print(result)`` under a ``__main__`` guard and expects
  ``output[0]`` when ``output`` is a non-empty list; other types are skipped;
- each test runs as the validators' executor does
  (:func:`tunepipe.tasks.code.executor.execute`: the ``solve()`` rule -- a second run with a
  runner only when the first printed nothing and there is no main guard --, strict
  UTF-8, output cut at 1 MB and compared, "[TIMEOUT]" on stderr);
- a test passes iff stderr is blank (whitespace-only stderr passes, unlike ABD) and the
  outputs are equal after stripping trailing spaces per line and trailing blank lines;
- score all-or-nothing: 1.0 only if every test passes (we stop at the first failure);
  no test cases at all (no ``test_cases`` key, or an empty list) -> 0.0; only unknown
  types -> 1.0 (nothing failed). :func:`build` never emits such rows, and
  :func:`check_spec` refuses them.

The interpreter (``python``) and ``hash_seed`` of a spec are its run settings, as for
ABD (see :mod:`tunepipe.tasks.code.abd`). :func:`build` keeps only rows whose reference
program scores 1.0 under these rules. Scorers never raise: :func:`parse`, :func:`score`
and :func:`score_many` give a score (or None for an unusable spec) for any completion.

>>> parse("```python\\nprint(1)\\n```\\nor better:\\n```python\\nprint(2)\\n```")
'print(2)'
"""
from __future__ import annotations

import random

from tunepipe import TunepipeError
from tunepipe.tasks.code import corpus, executor
from tunepipe.tasks.code.corpus import load_rl_python  # noqa: F401 (re-export)
from tunepipe.tasks.code.executor import DEFAULT_LIMITS  # noqa: F401 (re-export)

NAME = "ded"
SPLIT_GROUP = "code"   # see abd.SPLIT_GROUP

#: the validators' DED prompt (AffineFoundation/affinetes, environments/affine/ded.py): the problem
#: (right-stripped, as here) then their instructions, verbatim; field {problem} (the preset's collect.ded.prompt_template)
VALIDATORS_PROMPT = (
    '{problem}\n'
    '\n'
    '---\n'
    '⚠️ **Instructions** ⚠️\n'
    'Write a complete **Python 3** program that\n'
    '• reads *all* input from **STDIN** (using `input()` / `sys.stdin`),\n'
    '• writes *only* the required answer(s) to **STDOUT** using `print`,\n'
    '• contains no additional prompts or debug text, and\n'
    '• is returned as a single ```python … ``` fenced block.\n'
    ''
)


PROMPT_TEMPLATE = """{problem}

Write a complete Python 3 program that solves this. It must read all of its input from \
standard input (with input() or sys.stdin) and print only the answer to standard \
output, with no prompts or debug text. Return the program as a single ```python fenced \
code block."""

_RUNNABLE = ("stdin_stdout", "function_call")


def parse(completion, spec: dict | None = None) -> str | None:
    """The program a validator extracts from ``completion`` (None if it is not text).
    Never raises."""
    if not isinstance(completion, str):
        return None
    try:
        return executor.strip_fences(completion)
    except Exception:
        return None


def normalize(text: str) -> str:
    """Trailing blank lines and per-line trailing spaces removed (validators' rule)."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def tests_of(spec: dict) -> list | None:
    """The test cases of a spec (``tests``, or a raw ``verification_info``): a list, ``[]``
    when there are none (no ``test_cases`` key: the validators score that 0.0), None for
    an unusable spec (neither key, unparseable, not a list)."""
    if not isinstance(spec, dict):
        return None
    if "tests" in spec:
        tests = spec["tests"]
    elif "verification_info" in spec:
        try:
            tests = executor.parse_verification_info(spec["verification_info"]).get("test_cases")
        except ValueError:
            return None
    else:
        return None
    if tests is None:
        return []
    return tests if isinstance(tests, list) else None


def test_program(program: str, case: dict) -> tuple[str, str, str] | None:
    """(program to run, stdin, expected stdout) for one test case; None to skip it."""
    if not isinstance(case, dict):
        return None
    ctype = case.get("type")
    if ctype == "stdin_stdout":
        inp = executor.to_str(case.get("input"))
        return program, inp if inp.endswith("\n") else inp + "\n", executor.to_str(case.get("output"))
    if ctype == "function_call":
        args = case.get("input", [])
        exp = case.get("output")
        exp = executor.to_str(exp[0]) if isinstance(exp, list) and exp else executor.to_str(exp)
        call = (f"\nif __name__ == '__main__':\n"
                f"    result = {case.get('fn_name')}(*{args!r})\n"
                "    print(result)")
        return program + call, "", exp
    return None


def check_spec(spec) -> None:
    """ValueError ``"<field>: <what is wrong>"`` for a spec that lacks its test cases, has
    a malformed one, none that can run, or a bad run setting; None for a good one."""
    if not isinstance(spec, dict):
        raise ValueError(f"spec: expected an object, got {type(spec).__name__}")
    if "tests" in spec:
        tests, name = spec["tests"], "tests"
    elif "verification_info" in spec:
        name = "verification_info"
        try:
            info = executor.parse_verification_info(spec["verification_info"])
        except ValueError as e:
            raise ValueError(f"verification_info: {e}") from None
        if "test_cases" not in info:
            raise ValueError("verification_info: no 'test_cases' key")
        tests = info["test_cases"]
    else:
        raise ValueError("tests: missing (neither 'tests' nor 'verification_info')")
    if not isinstance(tests, list):
        raise ValueError(f"{name}: expected a list of test cases, got {type(tests).__name__}")
    if not tests:
        raise ValueError(f"{name}: no test cases")
    for i, case in enumerate(tests):
        if not isinstance(case, dict):
            raise ValueError(f"{name}: case {i}: expected an object, got {type(case).__name__}")
        ctype = case.get("type")
        if not isinstance(ctype, str):
            raise ValueError(f"{name}: case {i}: type: expected a string, got {ctype!r}")
        if ctype not in _RUNNABLE:
            continue
        for key in ("input", "output"):
            if key not in case:
                raise ValueError(f"{name}: case {i}: {key}: missing")
        if ctype == "stdin_stdout":
            for key in ("input", "output"):
                if not isinstance(case[key], (str, list)):
                    raise ValueError(f"{name}: case {i}: {key}: expected a string or a list of "
                                     f"lines, got {type(case[key]).__name__}")
        else:
            fn = case.get("fn_name")
            if not isinstance(fn, str) or not fn.isidentifier():
                raise ValueError(f"{name}: case {i}: fn_name: expected a function name, got {fn!r}")
            if not isinstance(case["input"], (list, tuple)):
                raise ValueError(f"{name}: case {i}: input: expected a list of arguments, "
                                 f"got {type(case['input']).__name__}")
    if not any(case.get("type") in _RUNNABLE for case in tests):
        raise ValueError(f"{name}: no runnable test case (types: {', '.join(_RUNNABLE)})")
    executor.check_run_spec(spec)


def score(completion, spec: dict) -> float | None:
    """1.0 iff the extracted program passes every test case of ``spec`` (validators'
    executor, in the sandbox); None for an unusable spec. Never raises for any completion
    (SandboxError only when the sandbox itself cannot work)."""
    tests = tests_of(spec)
    if tests is None:
        return None
    try:
        executor.run_limits(spec)
    except ValueError:
        return None
    if not tests:
        return 0.0
    if not isinstance(completion, str) or not completion.strip():
        return 0.0
    program = parse(completion.strip(), spec)
    if program is None:
        return 0.0
    for case in tests:
        job = test_program(program, case)
        if job is None:
            continue
        src, stdin, expected = job
        try:
            out, err = executor.execute(src, stdin, spec)
        except ValueError:   # the interpreter went away
            return None
        if err.strip() or normalize(out) != normalize(expected):
            return 0.0
    return 1.0


def score_many(completions: list[str], specs: list[dict], workers: int | None = None) -> list:
    """:func:`score` over a batch, in parallel."""
    return executor.score_many(score, completions, specs, workers)


def answer_for(program: str) -> str:
    return "```python\n" + program.strip("\n") + "\n```"


def build(n: int, rng: random.Random, *, source: str = "builtin",
          prompt_template: str = PROMPT_TEMPLATE, corpus_size: int = corpus.BUILTIN_SIZE,
          corpus_seed: int = 0, timeout_s: float | None = None, cpu_s: float | None = None,
          memory_mb: int | None = None, max_output_bytes: int | None = None,
          python: str | None = None, hash_seed: int | None = None,
          workers: int | None = None, exclude: frozenset | set = frozenset()) -> list[dict]:
    """``n`` DED rows drawn without replacement (order from ``rng``) from ``source``:
    ``"builtin"``, a local rl-python JSONL/JSON file, or a Hugging Face dataset id.

    ``prompt_template`` is a ``str.format`` template with the field ``{problem}``. The
    reference answer is the row's ``program`` in a python block; the spec holds the test
    cases, the limits, ``python`` and ``hash_seed``. Rows without a runnable test case or
    whose reference does not score 1.0 are skipped, and so are rows whose program is in
    ``exclude`` (see :func:`source_key`)."""
    try:
        prompt_template.format(problem="p")
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise TunepipeError(f"ded prompt_template: invalid str.format template "
                            f"({type(e).__name__}: {e}); available field: {{problem}}") from None
    limits = executor.limits_from(dict(timeout_s=timeout_s, cpu_s=cpu_s, memory_mb=memory_mb,
                                       max_output_bytes=max_output_bytes, python=python,
                                       hash_seed=hash_seed))
    rows = corpus.load_source(source, corpus_size=corpus_size, corpus_seed=corpus_seed)
    order = corpus.sample_order(len(rows), rng)
    out: list[dict] = []
    pos = 0
    while len(out) < n and pos < len(order):
        need = n - len(out)
        batch = order[pos:pos + need + max(4, need // 8)]
        pos += len(batch)
        cands = []
        for i in batch:
            where = f"ded source {source!r}: row {i}"
            row = rows[i]
            problem = corpus.field(row, "prompt", where)
            program = corpus.field(row, "program", where)
            try:
                info = executor.parse_verification_info(corpus.field(row, "verification_info", where))
            except ValueError as e:
                raise TunepipeError(f"{where}: field 'verification_info': {e}") from None
            tests = info.get("test_cases")
            if not problem.strip() or not program.strip() or program.strip() in exclude \
                    or not isinstance(tests, list) \
                    or not any(isinstance(t, dict) and t.get("type") in _RUNNABLE for t in tests):
                continue
            row = {
                "task": NAME,
                "prompt": [{"role": "user", "content": prompt_template.format(problem=problem.rstrip())}],
                "answer": answer_for(program),
                "spec": {"tests": tests, **limits},
            }
            try:
                check_spec(row["spec"])
            except ValueError:
                continue
            cands.append(row)
        scores = score_many([r["answer"] for r in cands], [r["spec"] for r in cands], workers)
        for row, s in zip(cands, scores):
            if s == 1.0:
                out.append(row)
                if len(out) == n:
                    break
    if len(out) < n:
        raise corpus.too_few_rows(NAME, n, source, len(out), bool(exclude))
    return out


def source_key(row: dict) -> str:
    """The source program of a row (its reference solution): what train and test must not
    share -- the same key as :func:`tunepipe.tasks.code.abd.source_key`."""
    return parse(row["answer"]) or ""


def generate(rng: random.Random, **params) -> dict:
    """One row (registry interface); see :func:`build`."""
    return build(1, rng, **params)[0]



# ---------------------------------------------------------------- the task protocol

from dataclasses import asdict  # noqa: E402

from tunepipe.tasks.protocol import BuildRequest, Family  # noqa: E402


def _build(n: int, rng: random.Random, cfg, req: BuildRequest) -> list[dict]:
    return build(n, rng, **asdict(cfg), exclude=req.exclude)


FAMILY = Family(
    name=NAME, config=corpus.CodeConfig, build=_build, parse=parse, score=score, check_spec=check_spec,
    score_many=score_many, split_group=SPLIT_GROUP, source_key=source_key,
    budget=8192,   # reasoning, then a whole program (often 50-150 lines) in a fenced block
)
