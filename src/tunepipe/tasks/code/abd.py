"""ABD -- abduction: given a program and the output it printed, find its stdin.

Rules (docs/reference/validators.md, as the Affine validators implement them):

- expected output: run the program on the row's ``inputs`` (newline-terminated) in the
  sandbox; if that fails (stderr) or prints nothing, use the row's ``output``;
- the response is stripped first; an empty one scores 0 without running anything;
- extraction: drop ``<think>...</think>`` and ``<thinking>...</thinking>``; take the LAST
  ``<INPUT>(.*?)</INPUT>`` (case-insensitive, across lines); strip it, strip trailing
  spaces per line, drop trailing blank lines. No tags anywhere -> 0;
- sanity check before running: at least as many input lines as ``input()`` calls in the
  program (and, for ``for _ in range(int(input()))`` programs whose first line is a
  number t, more than t lines; a first line that ``isdigit()`` but is no int, such as
  ``²``, fails the check instead of raising);
- run as the validators' executor does (:func:`tunepipe.tasks.code.executor.execute`: the
  ``solve()`` rule, strict UTF-8, output cut at 1 MB and compared, "[TIMEOUT]" on stderr;
  30 s wall, 10 s CPU, 512 MiB); any stderr -> 0 (even a lone newline);
- output match: exact, or equal after strip + CRLF->LF, or equal line lists after
  stripping trailing spaces per line. Score 1.0 / 0.0.

The interpreter (``python``) and ``hash_seed`` of a spec are its run settings (see
:mod:`tunepipe.tasks.code.executor`); their defaults (this venv's interpreter, hash
randomisation on) are the validators' except for the interpreter's version and packages:
point ``python`` at a CPython 3.12 with numpy and pandas (``make validator-python``) for
validator-grade numbers. ``hash_seed: <int>`` is the one deliberate difference, off by
default: reproducible runs of programs whose output follows set/dict order of strings,
which the validators score 0 in practice.

:func:`build` keeps only rows whose reference input scores 1.0 under these rules: the
reference runs a second time (as a model answer would be scored, under another hash seed
when the seed is random) and must print the expected output without stderr. So a row
whose expected output fell back to the row's ``output`` (its program fails or prints
nothing on its own input) is skipped: no input reproduces it.

Scorers never raise: :func:`parse`, :func:`score` and :func:`score_many` give a score
(or None for an unusable spec) for any completion. :func:`check_spec` refuses a bad spec.

>>> spec = {"program": "print(int(input()) * 2)", "expected_output": "42\\n"}
>>> parse("<think><INPUT>1</INPUT></think> so: <input>\\n21  \\n\\n</input>", spec)
'21'
>>> parse("no tags", spec) is None
True
"""
from __future__ import annotations

import random
import re

from tunepipe import TunepipeError
from tunepipe.tasks.code import corpus, executor
from tunepipe.tasks.code.corpus import load_rl_python  # noqa: F401 (re-export)
from tunepipe.tasks.code.executor import DEFAULT_LIMITS  # noqa: F401 (re-export)

NAME = "abd"
#: collect draws ABD and DED rows of a split from one shuffle of the same source, so
#: their held-out programs coincide and neither task trains on the other's test programs
SPLIT_GROUP = "code"

#: the validators' ABD prompt (AffineFoundation/affinetes, environments/affine/abd.py, PROMPT_TEMPLATE), verbatim;
#: fields {program} and {output} (the preset's collect.abd.prompt_template)
VALIDATORS_PROMPT = (
    'You are a programming expert. Given a Python program and its expected output, you need to determine the exact input that would produce this output.\n'
    '\n'
    'Program:\n'
    '```python\n'
    '{program}\n'
    '```\n'
    '\n'
    'Expected Output:\n'
    '```\n'
    '{output}\n'
    '```\n'
    '\n'
    'Task: Analyze the program to understand what input format it expects from stdin, then provide the input data that would produce the expected output.\n'
    '\n'
    'You can provide any explanations, analysis, or reasoning you want. However, you MUST include the input data within <INPUT> </INPUT> tags.\n'
    '\n'
    'Format the input data like this:\n'
    '<INPUT>\n'
    '[input data here - each line on a separate line as the program expects]\n'
    '</INPUT>\n'
    '\n'
    'I will extract only the content between these tags.\n'
    '\n'
    'Requirements for the input data within the tags:\n'
    '1. Each line of input should be on a separate line\n'
    '2. Use the exact format the program expects  \n'
    '3. Provide the raw input values that should be fed to stdin\n'
    '4. Do not include any prefixes or extra formatting within the INPUT tags\n'
    '\n'
    'Please analyze the program and provide the required input:'
)


PROMPT_TEMPLATE = """Here is a Python program that reads from standard input:

```python
{program}
```

When it was run, it printed exactly this:

```
{output}
```

Work out an input that makes the program print exactly that output. You may reason \
first, but you must give the input between <INPUT> and </INPUT> tags: one line of \
input per line, exactly as the program reads it, with nothing else inside the tags."""

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_THINKING = re.compile(r"<thinking>.*?</thinking>", re.DOTALL)
_INPUT = re.compile(r"<INPUT>(.*?)</INPUT>", re.IGNORECASE | re.DOTALL)
_LOOP = "for _ in range(int(input()))"


# --------------------------------------------------------------------------- scoring


def parse(completion, spec: dict | None = None) -> str | None:
    """The stdin a validator extracts from ``completion``: the normalised content of the
    last <INPUT> block outside thinking; ``""`` when the only tags are inside thinking;
    None when there are no tags at all. Never raises."""
    if not isinstance(completion, str):
        return None
    try:
        text = _THINKING.sub("", _THINK.sub("", completion))
        matches = _INPUT.findall(text)
        if not matches:
            return "" if _INPUT.search(completion) else None
        lines = [ln.rstrip() for ln in matches[-1].strip().splitlines()]
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines)
    except Exception:   # pathological input (e.g. RecursionError/MemoryError)
        return None


def input_ok(program: str, inp: str) -> bool:
    """The validators' sanity check: enough input lines for the program's ``input()``s.
    A loop count that ``isdigit()`` but is not an int (``²``; more than 4300 digits) makes
    their check raise: False here, the sample is not run."""
    lines = inp.splitlines() if inp else []
    if _LOOP in program and lines and lines[0].isdigit():
        try:
            return len(lines) > int(lines[0])
        except ValueError:
            return False
    return len(lines) >= program.count("input()")


def outputs_match(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    exp = expected.strip().replace("\r\n", "\n")
    act = actual.strip().replace("\r\n", "\n")
    if exp == act:
        return True
    return [ln.rstrip() for ln in exp.splitlines()] == [ln.rstrip() for ln in act.splitlines()]


def check_spec(spec) -> None:
    """ValueError ``"<field>: <what is wrong>"`` for a spec that lacks a field or has one
    of a wrong type or value; None for a good one."""
    if not isinstance(spec, dict):
        raise ValueError(f"spec: expected an object, got {type(spec).__name__}")
    for name in ("program", "expected_output"):
        if name not in spec:
            raise ValueError(f"{name}: missing")
        if not isinstance(spec[name], str):
            raise ValueError(f"{name}: expected a string, got {type(spec[name]).__name__}")
    if not spec["program"].strip():
        raise ValueError("program: empty")
    if not spec["expected_output"].strip():
        raise ValueError("expected_output: empty (the validators never ask for an empty output)")
    executor.check_run_spec(spec)


def score(completion, spec: dict) -> float | None:
    """1.0 iff the extracted input makes ``spec["program"]`` print
    ``spec["expected_output"]`` (validators' executor, in the sandbox); None for an
    unusable spec. Never raises for any completion (SandboxError only when the sandbox
    itself cannot work)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("program"), str) \
            or not isinstance(spec.get("expected_output"), str):
        return None
    try:
        executor.run_limits(spec)
    except ValueError:
        return None
    if not isinstance(completion, str) or not completion.strip():
        return 0.0
    inp = parse(completion, spec)
    if inp is None or not input_ok(spec["program"], inp):
        return 0.0
    try:
        out, err = executor.execute(spec["program"], executor.stdin_text(inp), spec)
    except ValueError:   # the interpreter went away
        return None
    if err:
        return 0.0
    return 1.0 if outputs_match(spec["expected_output"], out) else 0.0


def score_many(completions: list[str], specs: list[dict], workers: int | None = None) -> list:
    """:func:`score` over a batch, in parallel."""
    return executor.score_many(score, completions, specs, workers)


# -------------------------------------------------------------------------- building


def answer_for(inputs: str) -> str:
    """The reference completion for a row whose stdin is ``inputs``."""
    lines = [ln.rstrip() for ln in inputs.strip().splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    return "<INPUT>\n" + "\n".join(lines) + "\n</INPUT>"


def build(n: int, rng: random.Random, *, source: str = "builtin",
          prompt_template: str = PROMPT_TEMPLATE, corpus_size: int = corpus.BUILTIN_SIZE,
          corpus_seed: int = 0, timeout_s: float | None = None, cpu_s: float | None = None,
          memory_mb: int | None = None, max_output_bytes: int | None = None,
          python: str | None = None, hash_seed: int | None = None,
          workers: int | None = None, exclude: frozenset | set = frozenset()) -> list[dict]:
    """``n`` ABD rows drawn without replacement (order from ``rng``) from ``source``:
    ``"builtin"``, a local rl-python JSONL/JSON file, or a Hugging Face dataset id.

    ``prompt_template`` is a ``str.format`` template with fields ``{program}`` and
    ``{output}``. Limits default to the validators' (DEFAULT_LIMITS); they, ``python``
    and ``hash_seed`` go into each row's spec. Rows whose reference input does not score
    1.0 (see the module docstring) are skipped, and so are rows whose program is in
    ``exclude`` (see :func:`source_key`: collect passes the held-out programs when
    building train)."""
    _check_template(prompt_template)
    limits = executor.limits_from(dict(timeout_s=timeout_s, cpu_s=cpu_s, memory_mb=memory_mb,
                                       max_output_bytes=max_output_bytes, python=python,
                                       hash_seed=hash_seed))
    rows = corpus.load_source(source, corpus_size=corpus_size, corpus_seed=corpus_seed)
    order = corpus.sample_order(len(rows), rng)
    # the reference is checked as a model answer would be scored: in another process the
    # random hash seed differs, so here a second seed stands for it
    check = limits if hash_seed is not None else dict(limits, hash_seed=executor.CHECK_HASH_SEED)
    out: list[dict] = []
    pos = 0
    while len(out) < n and pos < len(order):
        need = n - len(out)
        batch = order[pos:pos + need + max(4, need // 8)]
        pos += len(batch)
        cands = []
        for i in batch:
            where = f"abd source {source!r}: row {i}"
            row = rows[i]
            program = corpus.field(row, "program", where)
            inputs = corpus.field(row, "inputs", where)
            output = corpus.field(row, "output", where, required=False)
            if not program.strip() or program.strip() in exclude:
                continue
            answer = answer_for(inputs)
            reference = parse(answer)
            if not input_ok(program, reference):
                continue
            cands.append((program, inputs, output, answer, reference))
        firsts = executor.execute_many(
            [(p, executor.stdin_text(i)) for p, i, *_ in cands], limits, workers)
        refs = executor.execute_many(
            [(p, executor.stdin_text(r)) for p, _i, _o, _a, r in cands], check, workers)
        for (program, _inputs, output, answer, _ref), (stdout, stderr), (ref_out, ref_err) \
                in zip(cands, firsts, refs):
            # the validators' rule: a run "fails" when it writes to stderr
            expected = stdout if not stderr and stdout.strip() else output
            if not expected.strip() or ref_err or not outputs_match(expected, ref_out):
                continue
            out.append(_row(program, expected, answer, prompt_template, limits))
            if len(out) == n:
                break
    if len(out) < n:
        raise corpus.too_few_rows(NAME, n, source, len(out), bool(exclude))
    return out


def source_key(row: dict) -> str:
    """The source program of a row: what train and test must not share."""
    return row["spec"]["program"].strip()


def generate(rng: random.Random, **params) -> dict:
    """One row (registry interface); see :func:`build`."""
    return build(1, rng, **params)[0]


def _row(program: str, expected: str, answer: str, template: str, limits: dict) -> dict:
    return {
        "task": NAME,
        "prompt": [{"role": "user", "content": template.format(
            program=program.strip("\n"), output=expected.rstrip("\n"))}],
        "answer": answer,
        "spec": {"program": program, "expected_output": expected, **limits},
    }


def _check_template(template) -> None:
    try:
        template.format(program="p", output="o")
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise TunepipeError(f"abd prompt_template: invalid str.format template ({type(e).__name__}: "
                            f"{e}); available fields: {{program}}, {{output}}") from None



# ---------------------------------------------------------------- the task protocol

from dataclasses import asdict  # noqa: E402

from tunepipe.tasks.protocol import BuildRequest, Family  # noqa: E402


def _build(n: int, rng: random.Random, cfg, req: BuildRequest) -> list[dict]:
    return build(n, rng, **asdict(cfg), exclude=req.exclude)


def to_service(row: dict) -> dict:
    """The training service's ``env.abd``: ``{"program", "expected_output"}``."""
    return {"program": row["spec"]["program"], "expected_output": row["spec"]["expected_output"]}


def from_service(info) -> dict | None:
    """A spec from the service's ``env.abd`` (None when it is not that shape)."""
    if not isinstance(info, dict) or not isinstance(info.get("program"), str) \
            or not isinstance(info.get("expected_output"), str):
        return None
    return {"program": info["program"], "expected_output": info["expected_output"], **DEFAULT_LIMITS}


FAMILY = Family(
    name=NAME, config=corpus.CodeConfig, build=_build, parse=parse, score=score, check_spec=check_spec,
    score_many=score_many, split_group=SPLIT_GROUP, source_key=source_key,
    to_service=to_service, from_service=from_service,
    budget=4096,   # tracing a program backwards from its output, then the stdin lines
)
