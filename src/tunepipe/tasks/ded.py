"""DED -- deduction: given a problem statement, write the program.

Rules (TASKS.md, as the Affine validators implement them):

- extraction: the LAST ```python block, else the last fenced block of any kind, else the
  whole response (validators' ``strip_fences``; the executor then also appends a call of
  ``solve()`` when the program defines one without a ``__name__`` guard);
- tests from ``verification_info`` (JSON, else a Python literal) ``{"test_cases": [...]}``:
  ``stdin_stdout`` pipes ``input`` (a newline appended when missing -- also to an empty
  input, as the validators do); ``function_call`` appends
  ``result = fn_name(*input)`` / ``print(result)`` under a ``__main__`` guard and expects
  ``output[0]`` when ``output`` is a non-empty list; other types are skipped;
- a test passes iff nothing is written to stderr and the outputs are equal after
  stripping trailing spaces per line and trailing blank lines;
- score all-or-nothing: 1.0 only if every test passes (we stop at the first failure);
  no test cases at all -> 0.0; only unknown types -> 1.0 (as the validators do;
  :func:`build` never emits such rows).

>>> parse("```python\\nprint(1)\\n```\\nor better:\\n```python\\nprint(2)\\n```")
'print(2)'
"""
from __future__ import annotations

import random

from tunepipe import TunepipeError
from tunepipe.tasks import codecorpus
from tunepipe.tasks.codecorpus import DEFAULT_LIMITS, load_rl_python  # noqa: F401 (re-export)

NAME = "ded"
SPLIT_GROUP = "code"   # see abd.SPLIT_GROUP

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
        return codecorpus.strip_fences(completion)
    except Exception:
        return None


def normalize(text: str) -> str:
    """Trailing blank lines and per-line trailing spaces removed (validators' rule)."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def tests_of(spec: dict) -> list | None:
    """The test cases of a spec (``tests``, or a raw ``verification_info``)."""
    if not isinstance(spec, dict):
        return None
    tests = spec.get("tests")
    if tests is None and "verification_info" in spec:
        try:
            tests = codecorpus.parse_verification_info(spec["verification_info"]).get("test_cases")
        except ValueError:
            return None
    return tests if isinstance(tests, list) else None


def test_program(program: str, case: dict) -> tuple[str, str, str] | None:
    """(program to run, stdin, expected stdout) for one test case; None to skip it."""
    ctype = case.get("type")
    if ctype == "stdin_stdout":
        inp = codecorpus.to_str(case.get("input"))
        return program, inp if inp.endswith("\n") else inp + "\n", codecorpus.to_str(case.get("output"))
    if ctype == "function_call":
        args = case.get("input", [])
        exp = case.get("output")
        exp = codecorpus.to_str(exp[0]) if isinstance(exp, list) and exp else codecorpus.to_str(exp)
        call = (f"\nif __name__ == '__main__':\n"
                f"    result = {case.get('fn_name')}(*{args!r})\n"
                "    print(result)")
        return program + call, "", exp
    return None


def score(completion, spec: dict) -> float | None:
    """1.0 iff the extracted program passes every test case of ``spec`` in the sandbox;
    None for an unusable spec."""
    tests = tests_of(spec)
    if tests is None:
        return None
    if not tests:
        return 0.0
    program = parse(completion, spec)
    if program is None:
        return 0.0
    from tunepipe import sandbox

    limits = codecorpus.run_limits(spec)
    for case in tests:
        if not isinstance(case, dict):
            continue
        job = test_program(program, case)
        if job is None:
            continue
        src, stdin, expected = job
        res = sandbox.run(codecorpus.validator_source(src), stdin, **limits)
        if res.killed_reason is not None or res.stderr.strip() \
                or normalize(res.stdout) != normalize(expected):
            return 0.0
    return 1.0


def score_many(completions: list[str], specs: list[dict], workers: int | None = None) -> list:
    """:func:`score` over a batch, in parallel."""
    return codecorpus.score_many(score, completions, specs, workers)


def answer_for(program: str) -> str:
    return "```python\n" + program.strip("\n") + "\n```"


def build(n: int, rng: random.Random, *, source: str = "builtin",
          prompt_template: str = PROMPT_TEMPLATE, corpus_size: int = codecorpus.BUILTIN_SIZE,
          corpus_seed: int = 0, timeout_s: float | None = None, cpu_s: float | None = None,
          memory_mb: int | None = None, max_output_bytes: int | None = None,
          exclude: frozenset | set = frozenset()) -> list[dict]:
    """``n`` DED rows drawn without replacement (order from ``rng``) from ``source``:
    ``"builtin"``, a local rl-python JSONL/JSON file, or a Hugging Face dataset id.

    ``prompt_template`` is a ``str.format`` template with the field ``{problem}``. The
    reference answer is the row's ``program`` in a python block; the spec holds the test
    cases and the limits. Rows without a runnable test case are skipped, and so are rows
    whose program is in ``exclude`` (see :func:`source_key`)."""
    try:
        prompt_template.format(problem="p")
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise TunepipeError(f"ded prompt_template: invalid str.format template "
                            f"({type(e).__name__}: {e}); available field: {{problem}}") from None
    limits = codecorpus.limits_from(dict(timeout_s=timeout_s, cpu_s=cpu_s, memory_mb=memory_mb,
                                         max_output_bytes=max_output_bytes))
    rows = codecorpus.load_source(source, corpus_size=corpus_size, corpus_seed=corpus_seed)
    out = []
    for i in codecorpus.sample_order(len(rows), rng):
        if len(out) == n:
            break
        where = f"ded source {source!r}: row {i}"
        row = rows[i]
        problem = codecorpus.field(row, "prompt", where)
        program = codecorpus.field(row, "program", where)
        try:
            info = codecorpus.parse_verification_info(codecorpus.field(row, "verification_info", where))
        except ValueError as e:
            raise TunepipeError(f"{where}: field 'verification_info': {e}") from None
        tests = info.get("test_cases")
        if not problem.strip() or not program.strip() or program.strip() in exclude or not isinstance(tests, list) \
                or not any(isinstance(t, dict) and t.get("type") in _RUNNABLE for t in tests):
            continue
        out.append({
            "task": NAME,
            "prompt": [{"role": "user", "content": prompt_template.format(problem=problem.rstrip())}],
            "answer": answer_for(program),
            "spec": {"tests": tests, **limits},
        })
    if len(out) < n:
        raise TunepipeError(f"ded: {n} rows requested but source {source!r} has only "
                            f"{len(out)} usable rows"
                            f"{' outside the held-out programs' if exclude else ''} "
                            "(lower n or raise corpus_size)")
    return out


def source_key(row: dict) -> str:
    """The source program of a row (its reference solution): what train and test must not
    share -- the same key as :func:`tunepipe.tasks.abd.source_key`."""
    return parse(row["answer"]) or ""


def generate(rng: random.Random, **params) -> dict:
    """One row (registry interface); see :func:`build`."""
    return build(1, rng, **params)[0]


def check_spec(spec: dict) -> None:
    """``ValueError("<field>: ...")`` unless ``spec`` is a usable DED spec."""
    if "tests" not in spec and "verification_info" not in spec:
        raise ValueError("tests: missing (or a raw verification_info)")
    if tests_of(spec) is None:
        raise ValueError("tests: expected a list of test cases")


# ---------------------------------------------------------------- the task protocol

from dataclasses import asdict  # noqa: E402

from tunepipe.tasks.protocol import BuildRequest, Family  # noqa: E402


def _build(n: int, rng: random.Random, cfg, req: BuildRequest) -> list[dict]:
    return build(n, rng, **asdict(cfg), exclude=req.exclude)


FAMILY = Family(
    name=NAME, config=codecorpus.CodeConfig, build=_build, parse=parse, score=score, check_spec=check_spec,
    score_many=score_many, split_group=SPLIT_GROUP, source_key=source_key,
)
