"""The validators' executor, shared by ABD and DED (:func:`execute`;
docs/reference/validators.md, "How the validators run a program"), reproduced rule by
rule inside :mod:`tunepipe.sandbox`, and the text helpers of their rules:

- fences stripped from the program (:func:`strip_fences`);
- the ``solve()`` rule: run once; only if that printed nothing on stdout and stderr, the
  text has ``def solve`` and no ``if __name__ == "__main__"`` guard (a mention of
  ``__name__`` elsewhere is no guard), run again with :data:`SOLVE_RUNNER` appended;
- output read as strict UTF-8 with universal newlines (invalid bytes fail the run);
  each stream capped at ``max_output_bytes``: past it the run is killed and the text so
  far kept, cut to that many characters plus :data:`TRUNCATION_MARK`, and compared like
  any output; a timeout appends :data:`TIMEOUT_MARK` to stderr (:func:`streams`);
- the run settings of a spec (:func:`run_limits`): the validators' limits (30 s wall,
  10 s CPU, 512 MiB, 1 MB), ``python`` (None = this venv's interpreter, with its
  site-packages; the validators run CPython 3.12 with numpy and pandas: point it at one,
  e.g. ``make validator-python``'s ``.venv-validator/bin/python``) and ``hash_seed``
  (None = randomised like the validators'; an int pins PYTHONHASHSEED: reproducible runs
  of programs whose output follows set/dict order of strings, which validators fail in
  practice -- a deliberate difference, off by default).

What stays different, and why: the interpreter version and packages unless ``python``
points at a validator-grade one (on an older interpreter the sandbox prints 3.12's
SyntaxWarning for invalid escape sequences, the most common version effect); runs in
one process share one random hash seed (see :mod:`tunepipe.sandbox`); containment (no
network, read-only files, private /tmp, process and memory limits) -- a program that
needs those fails with us and may pass with them.
"""
from __future__ import annotations

import ast
import json
import re

#: validators' execution limits (ABD and DED)
DEFAULT_LIMITS = {"timeout_s": 30.0, "cpu_s": 10.0, "memory_mb": 512, "max_output_bytes": 1_000_000}
#: the other run settings of a spec: ``python`` (None = this venv's interpreter; the
#: validators': CPython 3.12 with numpy and pandas) and ``hash_seed`` (None = hash
#: randomisation on, as the validators' interpreter; an int pins PYTHONHASHSEED)
RUN_DEFAULTS = {"python": None, "hash_seed": None}

#: what the validators' executor appends when a stream passes the cap / a run times out
TRUNCATION_MARK = "\n…<truncated>"
TIMEOUT_MARK = "[TIMEOUT]"
#: appended by the ``solve()`` rule (see :func:`execute`)
SOLVE_RUNNER = ('\n\nif __name__ == "__main__":\n'
                "    res = solve()\n"
                "    if res is not None:\n"
                "        import sys\n"
                "        if isinstance(res, (list, tuple)):\n"
                "            print(*res)\n"
                "        else:\n"
                "            print(res)\n")
#: a main guard: ``if __name__ == "__main__":`` at the start of a line (not in a comment)
_MAIN_GUARD = re.compile(r"""^[ \t]*if[ \t(]+(?:__name__\s*==\s*['"]__main__['"]|['"]__main__['"]\s*==\s*__name__)""",
                         re.MULTILINE)
#: the hash seed of the builders' second reference run when specs leave the seed random
CHECK_HASH_SEED = 1


def strip_fences(text: str) -> str:
    """The validators' code extraction: the last ```python block, else the last fenced
    block of any kind, else the first (possibly unterminated-language) fence pair, else
    the whole text; stripped."""
    py_blocks = re.findall(r"```python\s*\n([\s\S]*?)```", text, re.DOTALL)
    if py_blocks:
        return py_blocks[-1].strip()
    code_blocks = re.findall(r"```(?:\w*)\s*\n([\s\S]*?)```", text, re.DOTALL)
    if code_blocks:
        return code_blocks[-1].strip()
    m = re.search(r"```(?:python)?\s*([\s\S]*?)```", text, re.IGNORECASE)
    return (m.group(1) if m else text).strip()


def has_main_guard(src: str) -> bool:
    return _MAIN_GUARD.search(src) is not None


def validator_source(program: str, *, runner: bool = False) -> str:
    """What the validators' executor runs: ``program`` with fences stripped; with
    ``runner``, the ``solve()`` runner appended (its second run, see :func:`execute`)."""
    src = strip_fences(program)
    return src + SOLVE_RUNNER if runner else src


def needs_runner(src: str, stdout: str, stderr: str) -> bool:
    """The ``solve()`` rule: a second run with the runner only when the first printed
    nothing (blank) on stdout and on stderr, the text defines ``solve`` and has no main
    guard. A program that defines ``solve_case``, calls ``solve()`` itself, or calls
    ``solve(n)`` with arguments prints something on its first run and is left alone."""
    return (not stdout.strip() and not stderr.strip() and "def solve" in src
            and not has_main_guard(src))


def streams(res, max_chars: int = DEFAULT_LIMITS["max_output_bytes"]) -> tuple[str, str]:
    """(stdout, stderr) of a :class:`tunepipe.sandbox.Result` as the validators' executor
    reads them: UTF-8 in strict mode with universal newlines -- invalid bytes fail the run
    (reported here as a ``UnicodeDecodeError`` line on stderr, stdout empty); a stream past
    the cap keeps its text so far, cut to ``max_chars`` characters plus
    :data:`TRUNCATION_MARK`; a timeout appends :data:`TIMEOUT_MARK` to stderr. A run
    killed for CPU or memory keeps whatever it wrote, as a killed subprocess does."""
    try:
        out = _text(res.raw_stdout, res.stdout_truncated, max_chars)
        err = _text(res.raw_stderr, res.stderr_truncated, max_chars)
    except UnicodeDecodeError as e:
        return "", f"UnicodeDecodeError: {e}\n"
    if res.killed_reason == "timeout":
        err += TIMEOUT_MARK
    return out, err


def _text(raw: bytes, truncated: bool, max_chars: int) -> str:
    import codecs

    # a multi-byte character cut by the cap is incomplete, not invalid: dropped
    text = codecs.getincrementaldecoder("utf-8")("strict").decode(raw, final=not truncated)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text[:max_chars] + TRUNCATION_MARK if truncated else text


def execute(program: str, stdin: str, spec: dict) -> tuple[str, str]:
    """The validators' executor in our sandbox: (stdout, stderr) of ``program`` (fences
    stripped) fed ``stdin``, with the run settings of ``spec`` (:func:`run_limits`), and
    the ``solve()`` rule (:func:`needs_runner`): a second run with the runner appended.
    Raises ValueError for invalid settings, SandboxError when the sandbox cannot work."""
    return execute_many([(program, stdin)], spec, workers=1)[0]


def execute_many(jobs: list[tuple[str, str]], spec: dict, workers: int | None = None
                 ) -> list[tuple[str, str]]:
    """:func:`execute` for a batch of (program, stdin) pairs sharing the run settings of
    ``spec``, in parallel (second runs of the solve() rule in a second batch)."""
    from tunepipe import sandbox

    kw = run_limits(spec)
    srcs = [validator_source(p) for p, _ in jobs]

    def run(codes: list[str], stdins: list[str]) -> list[tuple[str, str]]:
        batch = [dict(code=c, stdin=i, **kw) for c, i in zip(codes, stdins)]
        results = [sandbox.run(**batch[0])] if len(batch) == 1 else sandbox.run_many(batch, workers=workers)
        return [streams(r, kw["max_output_bytes"]) for r in results]

    out = run(srcs, [i for _, i in jobs])
    again = [k for k, (src, (o, e)) in enumerate(zip(srcs, out)) if needs_runner(src, o, e)]
    if again:
        for k, res in zip(again, run([srcs[k] + SOLVE_RUNNER for k in again], [jobs[k][1] for k in again])):
            out[k] = res
    return out


def stdin_text(text: str) -> str:
    """Stdin as the validators feed it: newline-terminated when not empty."""
    return text if not text or text.endswith("\n") else text + "\n"


def to_str(x) -> str:
    """A test-case payload as text (validators' ``_to_str``): lists joined by newlines,
    other non-strings as JSON (``str`` where JSON has no form for them)."""
    if isinstance(x, str):
        return x
    if isinstance(x, (bytes, bytearray)):
        return x.decode("utf-8", "replace")
    if isinstance(x, list):
        return "\n".join(to_str(e) for e in x)
    try:
        return json.dumps(x, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(x)


def parse_verification_info(raw):
    """``verification_info`` as a dict: JSON first, then a Python literal. Raises
    ValueError on anything else."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"expected a JSON string, got {type(raw).__name__}")
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
            raise ValueError(f"neither JSON nor a Python literal ({type(e).__name__})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    return value


def _positive(name: str, value, kind: type):
    ok = isinstance(value, int) or isinstance(value, float) and (kind is float or value.is_integer())
    if isinstance(value, bool) or not ok or not 0 < value < float("inf"):
        raise ValueError(f"{name}: expected a positive {'int' if kind is int else 'number'}, got {value!r}")
    return kind(value)


def _run_setting(name: str, value):
    if name == "python":
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"python: expected null or an interpreter path or command, got {value!r}")
            from tunepipe.sandbox import interpreter

            interpreter(value)   # ValueError "python: no executable interpreter ..."
        return value
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 0 <= value <= 4294967295):
        raise ValueError(f"hash_seed: expected null or an int in [0, 4294967295], got {value!r}")
    return value


def limits_from(params: dict) -> dict:
    """Run settings for a spec (limits, ``python``, ``hash_seed``): the validators'
    defaults, changed by the params that are not None. ValueError names a bad one."""
    out = {**DEFAULT_LIMITS, **RUN_DEFAULTS}
    for key, default in DEFAULT_LIMITS.items():
        if params.get(key) is not None:
            value = params[key]
            if isinstance(value, str):   # "30" from a CLI override
                try:
                    value = type(default)(value)
                except ValueError:
                    pass
            out[key] = _positive(key, value, type(default))
    for key in RUN_DEFAULTS:
        out[key] = _run_setting(key, params.get(key))
    return out


def check_run_spec(spec: dict) -> None:
    """ValueError ``"<field>: <what is wrong>"`` for a run setting of ``spec`` with a
    wrong type or value; absent settings take the defaults."""
    for key, default in DEFAULT_LIMITS.items():
        if spec.get(key) is not None:
            _positive(key, spec[key], type(default))
    for key in RUN_DEFAULTS:
        _run_setting(key, spec.get(key))


def run_limits(spec: dict) -> dict:
    """Keyword arguments for :func:`tunepipe.sandbox.run` from a spec: its limits,
    ``python`` and ``hash_seed`` (defaults where absent). ValueError for a bad value."""
    if not isinstance(spec, dict):
        raise ValueError(f"spec: expected an object, got {type(spec).__name__}")
    check_run_spec(spec)
    out = {key: default if spec.get(key) is None else type(default)(spec[key])
           for key, default in DEFAULT_LIMITS.items()}
    out.update({key: spec.get(key, default) for key, default in RUN_DEFAULTS.items()})
    return out


def score_many(score, completions: list[str], specs: list[dict], workers: int | None = None):
    """``[score(c, s) ...]`` on a thread pool (each score drives sandbox runs)."""
    from concurrent.futures import ThreadPoolExecutor

    if len(completions) != len(specs):
        raise ValueError("completions and specs differ in length")
    from tunepipe.sandbox import cores

    workers = max(1, min(workers or cores(), len(completions) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(score, completions, specs))

