"""Code-task sources shared by ABD and DED: the rl-python schema, its loaders, our built-in
corpus, and the validators' executor and text helpers.

The validators' executor (:func:`execute`; TASKS.md "How the validators run a program"),
reproduced rule by rule inside :mod:`tunepipe.sandbox`:

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

Schema of a source row (``satpalsr/rl-python``, ``AffineFoundation/rl-python``)::

    {"program": str,            # Python reading stdin (ABD's program, DED's reference)
     "inputs": str,             # an example stdin (ABD's reference answer)
     "output": str,             # what the program prints on it
     "prompt": str,             # problem statement (DED)
     "verification_info": str}  # JSON or Python literal: {"test_cases": [...]}

The built-in corpus (``source: builtin``) ships as code, not data: 75 templates of 3-12
line stdin/stdout programs written for this project (sums, extremes, sorting, counting,
string ops, series, grids, matrices, stacks, clocks...) with random parameters, so one
seed gives the same rows on every machine (1,000 rows by default, about 300 distinct
programs). Each row has a reference program, a reference input and 2-4 test cases whose
outputs come from running the program (our own code, run in-process); the reward stage
and tests/test_abd_ded.py check that every reference scores 1.0 in the sandbox.
"""
from __future__ import annotations

import ast
import builtins
import functools
import io
import json
import os
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass

from tunepipe import TunepipeError

#: validators' execution limits (ABD and DED)
DEFAULT_LIMITS = {"timeout_s": 30.0, "cpu_s": 10.0, "memory_mb": 512, "max_output_bytes": 1_000_000}
#: the other run settings of a spec: ``python`` (None = this venv's interpreter; the
#: validators': CPython 3.12 with numpy and pandas) and ``hash_seed`` (None = hash
#: randomisation on, as the validators' interpreter; an int pins PYTHONHASHSEED)
RUN_DEFAULTS = {"python": None, "hash_seed": None}
RL_PYTHON_FIELDS = ("program", "inputs", "output", "prompt", "verification_info")
BUILTIN_SIZE = 1000

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


# ----------------------------------------------------------------- validators' helpers


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


# ----------------------------------------------------------------------------- loaders


def load_rl_python(path_or_id: str, *, param: str = "source") -> Iterator[dict]:
    """Raw rows of the rl-python schema from a local ``.jsonl``/``.json`` file or a
    Hugging Face dataset id (train split, through ``datasets``). Errors are one line
    naming ``param``, the file and the row."""
    path = os.path.expanduser(str(path_or_id))
    if os.path.isfile(path):
        yield from _load_file(path, param)
        return
    if os.path.exists(path) or path.startswith((".", "/", "~")) or path.endswith((".json", ".jsonl")):
        raise TunepipeError(f"{param}: {path_or_id!r} is not a JSON/JSONL file")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", str(path_or_id)):
        raise TunepipeError(f"{param}: {path_or_id!r} is neither 'builtin', a local "
                            "JSON/JSONL file, nor a Hugging Face dataset id (owner/name)")
    try:
        import datasets

        ds = datasets.load_dataset(str(path_or_id), split="train")
    except Exception as e:   # offline, unknown id, no datasets installed...
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise TunepipeError(
            f"{param}: cannot load Hugging Face dataset {path_or_id!r} ({type(e).__name__}"
            f"{': ' + msg if msg else ''}); is the hub reachable? Otherwise pass a local "
            "JSONL file or 'builtin'") from None
    for row in ds:
        yield dict(row)


def _load_file(path: str, param: str) -> Iterator[dict]:
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TunepipeError(f"{param}: {path}:{lineno}: invalid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise TunepipeError(f"{param}: {path}:{lineno}: expected a JSON object")
                yield row
        return
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise TunepipeError(f"{param}: {path}: invalid JSON ({e.msg}, line {e.lineno})") from None
    if isinstance(data, dict):
        data = data.get("rows", data.get("data"))
    if not isinstance(data, list):
        raise TunepipeError(f"{param}: {path}: expected a JSON array of rows")
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise TunepipeError(f"{param}: {path}: row {i}: expected a JSON object")
        yield row


def load_source(source: str, *, corpus_size: int = BUILTIN_SIZE, corpus_seed: int = 0,
                param: str = "source") -> list[dict]:
    """Rows of ``source``: ``"builtin"`` (our generated corpus), a local file, or an HF id."""
    if not isinstance(source, str) or not source:
        raise TunepipeError(f"{param}: expected 'builtin', a file path or a dataset id, got {source!r}")
    if source == "builtin":
        return builtin_rows(corpus_seed, corpus_size)
    return list(load_rl_python(source, param=param))


def field(row: dict, name: str, where: str, *, required: bool = True):
    """``row[name]`` as text (lists/numbers via :func:`to_str`); a one-line error naming
    the row and field when missing."""
    if name not in row or row[name] is None:
        if required:
            raise TunepipeError(f"{where}: field {name!r} is missing")
        return ""
    value = row[name]
    if name == "verification_info":
        return value
    return value if isinstance(value, str) else to_str(value)


def sample_order(n_rows: int, rng: random.Random) -> list[int]:
    order = list(range(n_rows))
    rng.shuffle(order)
    return order


# ------------------------------------------------------------------- built-in corpus


def _ints(r, k, lo, hi):
    return " ".join(str(r.randint(lo, hi)) for _ in range(k))


def _word(r, alphabet, lo, hi):
    return "".join(r.choice(alphabet) for _ in range(r.randint(lo, hi)))


_WORDS = ("apple", "pear", "plum", "fig", "kiwi", "lime", "date", "melon", "grape",
          "cherry", "lemon", "mango", "peach", "berry", "nut", "oak", "pine", "elm")


def _list_input(lo, hi, nlo=3, nhi=8):
    def gen(r):
        n = r.randint(nlo, nhi)
        return f"{n}\n{_ints(r, n, lo, hi)}"
    return gen


def t_sum_divisible(r):
    k = r.choice([2, 3, 4, 5, 6, 7])
    agg, what = r.choice([("sum(", "the sum of"), ("sum(1 for _ in (", "how many there are of")])
    close = ")" if agg == "sum(" else "))"
    prog = ("n = int(input())\n"
            "nums = list(map(int, input().split()))\n"
            f"print({agg}x for x in nums if x % {k} == 0{close})")
    st = (f"The first line holds an integer n, the second n integers. Print {what} the "
          f"integers that are divisible by {k} (0 if there are none).")
    return st, prog, _list_input(-20, 60)


def t_range_stat(r):
    op, what = r.choice([("max(a) - min(a)", "the largest minus the smallest"),
                         ("max(a)", "the largest"), ("min(a)", "the smallest"),
                         ("max(a) + min(a)", "the largest plus the smallest")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print({op})")
    st = f"The first line holds n, the second n integers. Print {what} of them."
    return st, prog, _list_input(-50, 99)


def t_sort_words(r):
    key, desc = r.choice([("w", "alphabetically"), ("(len(w), w)", "by length, ties alphabetically"),
                          ("(-len(w), w)", "by decreasing length, ties alphabetically")])
    rev = r.random() < 0.3 and key == "w"
    prog = ("words = input().split()\n"
            f"words.sort(key=lambda w: {key}{', reverse=True' if rev else ''})\n"
            "print(' '.join(words))")
    st = (f"Read one line of words separated by spaces and print them sorted "
          f"{'in reverse alphabetical order' if rev else desc}, separated by single spaces.")
    return st, prog, lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(3, 7)))


def t_count_char(r):
    c = r.choice("abcde")
    if r.random() < 0.5:
        prog = ("s = input().strip()\n"
                f"count = s.count('{c}')\n"
                "print(count)")
        st = f"Read a string and print how many times the letter '{c}' occurs in it."
    else:
        prog = ("s = input().strip()\n"
                f"pos = s.find('{c}')\n"
                "print(pos)")
        st = (f"Read a string and print the 0-based position of the first '{c}' in it, or -1 "
              f"if there is none.")
    return st, prog, lambda r: _word(r, "abcdef", 4, 14)


def t_reverse(r):
    mode = r.choice(["words", "chars", "each"])
    body = {"words": "print(' '.join(reversed(s.split())))",
            "chars": "print(s[::-1])",
            "each": "print(' '.join(w[::-1] for w in s.split()))"}[mode]
    what = {"words": "the words in reverse order", "chars": "the whole line reversed",
            "each": "every word reversed, keeping the word order"}[mode]
    prog = "line = input()\ns = line.strip()\n" + body
    st = f"Read a line of lowercase words separated by single spaces and print {what}."
    return st, prog, lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(2, 5)))


def t_arith_series(r):
    if r.random() < 0.5:
        prog = ("a, d, n = map(int, input().split())\n"
                "term = a + (n - 1) * d\n"
                "print(term)")
        st = ("Read three integers a, d and n. Print the n-th term of the arithmetic series "
              "that starts at a with difference d.")
    else:
        prog = ("a, d, n = map(int, input().split())\n"
                "total = 0\n"
                "for i in range(n):\n"
                "    total += a + i * d\n"
                "print(total)")
        st = ("Read three integers a, d and n. Print the sum of the first n terms of the "
              "arithmetic series that starts at a with difference d.")
    return st, prog, lambda r: f"{r.randint(-10, 20)} {r.randint(-5, 9)} {r.randint(1, 12)}"


def t_geometric(r):
    m = r.choice([7, 10, 11, 13, 100, 1000])
    prog = ("a, q, n = map(int, input().split())\n"
            "terms = []\n"
            "for i in range(n):\n"
            f"    terms.append(a * q ** i % {m})\n"
            "print(*terms)")
    st = (f"Read integers a, q and n. Print the first n terms a, a*q, a*q^2, ... of the "
          f"geometric series, each taken modulo {m}, separated by spaces.")
    return st, prog, lambda r: f"{r.randint(1, 9)} {r.randint(2, 6)} {r.randint(2, 8)}"


def t_fizzbuzz(r):
    p, q = r.sample([2, 3, 4, 5, 7], 2)
    w1, w2 = r.sample(["Fizz", "Buzz", "Ping", "Pong", "Zap", "Bop"], 2)
    prog = ("n = int(input())\n"
            "for i in range(1, n + 1):\n"
            f"    if i % {p} == 0 and i % {q} == 0:\n"
            f"        print('{w1}{w2}')\n"
            f"    elif i % {p} == 0:\n"
            f"        print('{w1}')\n"
            f"    elif i % {q} == 0:\n"
            f"        print('{w2}')\n"
            "    else:\n"
            "        print(i)")
    st = (f"Read n and print the numbers 1 to n, one per line, but print '{w1}' instead of "
          f"multiples of {p}, '{w2}' instead of multiples of {q}, and '{w1}{w2}' instead of "
          f"multiples of both.")
    return st, prog, lambda r: str(r.randint(3, 16))


def _grid(r, chars=".#"):
    rows, cols = r.randint(2, 5), r.randint(2, 6)
    return f"{rows} {cols}\n" + "\n".join(_word(r, chars, cols, cols) for _ in range(rows))


def t_grid_total(r):
    ch = r.choice("#*o@")
    prog = ("r, c = map(int, input().split())\n"
            "total = 0\n"
            "for _ in range(r):\n"
            f"    total += input().count('{ch}')\n"
            "print(total)")
    st = (f"The first line holds r and c, then r lines of c characters ('.' or '{ch}'). "
          f"Print how many '{ch}' the grid contains.")
    return st, prog, lambda r: _grid(r, "." + ch)


def t_grid_rows(r):
    ch = r.choice("#*o@")
    prog = ("r, c = map(int, input().split())\n"
            "for _ in range(r):\n"
            "    row = input()\n"
            f"    print(row.count('{ch}'))")
    st = (f"The first line holds r and c, then r lines of c characters ('.' or '{ch}'). For "
          f"each row print the number of '{ch}' in it, one per line.")
    return st, prog, lambda r: _grid(r, "." + ch)


def t_grid_cols(r):
    ch = r.choice("#*o@")
    prog = ("r, c = map(int, input().split())\n"
            "grid = [input() for _ in range(r)]\n"
            "for j in range(c):\n"
            f"    print(sum(1 for row in grid if row[j] == '{ch}'))")
    st = (f"The first line holds r and c, then r lines of c characters ('.' or '{ch}'). For "
          f"each column, left to right, print the number of '{ch}' in it, one per line.")
    return st, prog, lambda r: _grid(r, "." + ch)


def t_digits(r):
    op, what = r.choice([("sum(int(d) for d in n)", "the sum of its digits"),
                         ("max(n)", "its largest digit"),
                         ("len(set(n))", "how many different digits it has"),
                         ("n.count('7')", "how many of its digits are 7"),
                         ("int(n[::-1])", "the number its digits form when reversed (without leading zeros)"),
                         ("sum(1 for d in n if int(d) % 2 == 0)", "how many of its digits are even"),
                         ("min(n)", "its smallest digit")])
    prog = ("n = input().strip()\n"
            f"result = {op}\n"
            "print(result)")
    st = f"Read a positive integer and print {what}."
    return st, prog, lambda r: str(r.randint(1, 10 ** r.randint(2, 9)))


def t_digital_root(r):
    mode = r.choice(["root", "steps"])
    prog = ("n = int(input())\n"
            "steps = 0\n"
            "while n >= 10:\n"
            "    n = sum(int(d) for d in str(n))\n"
            "    steps += 1\n"
            f"print({'n' if mode == 'root' else 'steps'})")
    what = "that digit" if mode == "root" else "how many replacements it takes"
    st = ("Read a positive integer and repeatedly replace it by the sum of its digits until a "
          f"single digit remains; print {what}.")
    return st, prog, lambda r: str(r.randint(1, 10 ** r.randint(2, 12)))


def t_gcd_lcm(r):
    if r.random() < 0.5:
        prog = ("import math\n"
                "a, b = map(int, input().split())\n"
                "print(math.gcd(a, b))")
        st = "Read two positive integers and print their greatest common divisor."
    else:
        prog = ("import math\n"
                "a, b = map(int, input().split())\n"
                "print(a * b // math.gcd(a, b))")
        st = "Read two positive integers and print their least common multiple."
    return st, prog, lambda r: f"{r.randint(1, 60) * r.choice([1, 2, 3, 6])} {r.randint(1, 60)}"


def t_count_primes(r):
    upd, init, what = r.choice([("count += 1", "count = 0", "how many prime numbers are at most n"),
                                ("count += x", "count = 0", "the sum of the primes at most n"),
                                ("count = x", "count = -1", "the largest prime at most n (-1 if none)")])
    prog = ("n = int(input())\n"
            f"{init}\n"
            "for x in range(2, n + 1):\n"
            "    if all(x % d for d in range(2, int(x ** 0.5) + 1)):\n"
            f"        {upd}\n"
            "print(count)")
    st = f"Read an integer n and print {what}."
    return st, prog, lambda r: str(r.randint(1, 200))


def t_is_prime(r):
    yes, no = r.choice([("YES", "NO"), ("prime", "composite"), ("True", "False")])
    prog = ("n = int(input())\n"
            "ok = n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n"
            f"print('{yes}' if ok else '{no}')")
    st = f"Read an integer n and print '{yes}' if it is prime, otherwise '{no}'."
    return st, prog, lambda r: str(r.randint(1, 400))


def t_factorial_mod(r):
    m = r.choice([7, 11, 13, 97, 1000, 10007])
    prog = ("n = int(input())\n"
            "f = 1\n"
            "for i in range(2, n + 1):\n"
            f"    f = f * i % {m}\n"
            "print(f)")
    st = f"Read n and print n! (n factorial) modulo {m}."
    return st, prog, lambda r: str(r.randint(0, 30))


def t_fibonacci(r):
    f0, f1 = r.choice([(0, 1), (1, 1), (2, 1), (1, 3)])
    m = r.choice([10, 100, 1000, 1000000007])
    prog = ("n = int(input())\n"
            f"a, b = {f0}, {f1}\n"
            "for _ in range(n):\n"
            f"    a, b = b, (a + b) % {m}\n"
            "print(a)")
    st = (f"A sequence starts with F(0) = {f0} and F(1) = {f1}, and F(i) = F(i-1) + F(i-2) "
          f"modulo {m}. Read n and print F(n).")
    return st, prog, lambda r: str(r.randint(0, 40))


def t_palindrome(r):
    yes, no = r.choice([("YES", "NO"), ("palindrome", "not palindrome"), ("1", "0")])
    prog = ("s = input().strip().lower()\n"
            "rev = s[::-1]\n"
            f"print('{yes}' if s == rev else '{no}')")
    st = (f"Read a word and print '{yes}' if it reads the same backwards (ignoring case), "
          f"otherwise '{no}'.")

    def gen(r):
        half = _word(r, "abcr", 1, 4)
        return r.choice([half + half[::-1], half + r.choice("xyz") + half[::-1], half + "q"])
    return st, prog, gen


def t_vowels(r):
    vowels = r.choice(["aeiou", "aeiouy"])
    cons = r.random() < 0.4
    prog = ("s = input().lower()\n"
            "letters = [ch for ch in s if ch.isalpha()]\n"
            f"print(sum(1 for ch in letters if ch {'not in' if cons else 'in'} '{vowels}'))")
    st = (f"Read a line and print how many of its letters are "
          f"{'not ' if cons else ''}among '{vowels}' (case-insensitive).")
    return st, prog, lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(1, 4)))


def t_caesar(r):
    k = r.randint(1, 25)
    prog = ("s = input().strip()\n"
            "out = ''\n"
            "for ch in s:\n"
            f"    out += chr((ord(ch) - 97 + {k}) % 26 + 97)\n"
            "print(out)")
    st = (f"Read a word of lowercase letters and shift every letter {k} places forward in "
          f"the alphabet (wrapping from z to a); print the result.")
    return st, prog, lambda r: _word(r, string.ascii_lowercase, 3, 9)


def t_prefix_sums(r):
    init, upd, what = r.choice([("0", "s + x", "the running totals (prefix sums)"),
                                ("a[0]", "max(s, x)", "the running maximum"),
                                ("a[0]", "min(s, x)", "the running minimum")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"s = {init}\n"
            "res = []\n"
            "for x in a:\n"
            f"    s = {upd}\n"
            "    res.append(s)\n"
            "print(*res)")
    st = f"Read n, then n integers. Print {what} after each of them, separated by spaces."
    return st, prog, _list_input(-9, 20, 2, 7)


def t_pair_sums(r):
    rel = r.choice(["==", "<", ">", "<=", ">="])
    prog = ("n, t = map(int, input().split())\n"
            "a = list(map(int, input().split()))\n"
            "cnt = 0\n"
            "for i in range(n):\n"
            "    for j in range(i + 1, n):\n"
            f"        if a[i] + a[j] {rel} t:\n"
            "            cnt += 1\n"
            "print(cnt)")
    st = ("The first line holds n and t, the second n integers. Print how many pairs of "
          f"positions i < j have a[i] + a[j] {rel.replace('==', '=')} t.")

    def gen(r):
        n = r.randint(3, 8)
        return f"{n} {r.randint(2, 12)}\n{_ints(r, n, 0, 10)}"
    return st, prog, gen


def t_second_largest(r):
    idx, what = r.choice([("-2", "second largest"), ("1", "second smallest")])
    prog = ("n = int(input())\n"
            "a = sorted(set(map(int, input().split())))\n"
            f"print(a[{idx}] if len(a) > 1 else -1)")
    st = (f"Read n, then n integers. Print the {what} distinct value, or -1 if all "
          "values are equal.")
    return st, prog, _list_input(0, 12, 2, 7)


def t_col_sums(r):
    op, what = r.choice([("sum", "sum"), ("max", "maximum"), ("min", "minimum")])
    prog = ("r, c = map(int, input().split())\n"
            "rows = [list(map(int, input().split())) for _ in range(r)]\n"
            "for j in range(c):\n"
            f"    print({op}(row[j] for row in rows))")
    st = (f"Read r and c, then an r x c table of integers (one row per line). Print the "
          f"{what} of each column, one per line.")

    def gen(r):
        rr, cc = r.randint(2, 4), r.randint(2, 4)
        return f"{rr} {cc}\n" + "\n".join(_ints(r, cc, -9, 30) for _ in range(rr))
    return st, prog, gen


def t_row_sums(r):
    op, what = r.choice([("sum", "sum"), ("max", "maximum"), ("min", "minimum")])
    prog = ("r, c = map(int, input().split())\n"
            "for _ in range(r):\n"
            f"    print({op}(map(int, input().split())))")
    st = f"Read r and c, then an r x c table of integers. Print the {what} of each row, one per line."

    def gen(r):
        rr, cc = r.randint(1, 4), r.randint(2, 5)
        return f"{rr} {cc}\n" + "\n".join(_ints(r, cc, -9, 30) for _ in range(rr))
    return st, prog, gen


def t_binary(r):
    op, what = r.choice([("bin(n).count('1')", "the number of 1 bits in its binary form"),
                         ("bin(n)[2:]", "its binary representation (no prefix)"),
                         ("len(bin(n)) - 2", "the number of digits of its binary form"),
                         ("oct(n)[2:]", "its octal representation (no prefix)")])
    prog = ("n = int(input())\n"
            f"answer = {op}\n"
            "print(answer)")
    st = f"Read a non-negative integer and print {what}."
    return st, prog, lambda r: str(r.randint(0, 5000))


def t_rle(r):
    letter_first = r.random() < 0.5
    prog = ("s = input().strip()\n"
            "out = []\n"
            "i = 0\n"
            "while i < len(s):\n"
            "    j = i\n"
            "    while j < len(s) and s[j] == s[i]:\n"
            "        j += 1\n"
            f"    out.append({'s[i] + str(j - i)' if letter_first else 'str(j - i) + s[i]'})\n"
            "    i = j\n"
            "print(''.join(out))")
    st = ("Read a word and print its run-length encoding: each maximal run of equal letters "
          + ("becomes the letter followed by the run length (e.g. aaab -> a3b1)." if letter_first
             else "becomes the run length followed by the letter (e.g. aaab -> 3a1b)."))
    return st, prog, lambda r: "".join(r.choice("abc") * r.randint(1, 4) for _ in range(r.randint(2, 5)))


def t_even_odd(r):
    first = r.choice(["even", "odd"])
    a, b = ("x % 2 == 0", "x % 2") if first == "even" else ("x % 2", "x % 2 == 0")
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print(*[x for x in a if {a}], *[x for x in a if {b}])")
    st = (f"Read n, then n integers. Print the {first} numbers first, then the others, each "
          f"group in input order, separated by spaces.")
    return st, prog, _list_input(0, 40, 3, 8)


def t_collatz(r):
    mode = r.choice(["steps", "peak"])
    track = "    steps += 1\n" if mode == "steps" else "    peak = max(peak, n)\n"
    prog = ("n = int(input())\n"
            + ("steps = 0\n" if mode == "steps" else "peak = n\n")
            + "while n != 1:\n"
            "    n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
            + track
            + f"print({mode})")
    what = ("how many steps it takes to reach 1" if mode == "steps"
            else "the largest value reached (including n)")
    st = (f"Start from a positive integer n and repeatedly halve it when even or replace it by "
          f"3n + 1 when odd, until it is 1. Read n and print {what}.")
    return st, prog, lambda r: str(r.randint(1, 60))


def t_leap_years(r):
    julian = r.random() < 0.3
    cond = "y % 4 == 0" if julian else "y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)"
    prog = ("a, b = map(int, input().split())\n"
            "cnt = 0\n"
            "for y in range(a, b + 1):\n"
            f"    if {cond}:\n"
            "        cnt += 1\n"
            "print(cnt)")
    rule = "every year divisible by 4 is a leap year" if julian else "Gregorian leap years"
    st = f"Read two years a <= b and print how many leap years ({rule}) lie between them, inclusive."

    def gen(r):
        a = r.randint(1890, 2030)
        return f"{a} {a + r.randint(0, 60)}"
    return st, prog, gen


def t_kadane(r):
    f, what = r.choice([("max", "largest"), ("min", "smallest")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            "best = cur = a[0]\n"
            "for x in a[1:]:\n"
            f"    cur = {f}(x, cur + x)\n"
            f"    best = {f}(best, cur)\n"
            "print(best)")
    st = f"Read n, then n integers. Print the {what} sum of a non-empty contiguous block of them."
    return st, prog, _list_input(-9, 9, 3, 8)


def t_distinct(r):
    if r.random() < 0.5:
        prog = ("n = int(input())\n"
                "a = input().split()\n"
                "print(len(set(a)))")
        st = "Read n, then n values on one line. Print how many different values there are."
    else:
        prog = ("n = int(input())\n"
                "a = input().split()\n"
                "seen = set()\n"
                "for x in a:\n"
                "    if x in seen:\n"
                "        print(x)\n"
                "        break\n"
                "    seen.add(x)\n"
                "else:\n"
                "    print('none')")
        st = ("Read n, then n values on one line. Print the first value that appears for the "
              "second time, or 'none' if all values are different.")
    return st, prog, _list_input(1, 9, 3, 8)


def t_most_common(r):
    f, what = r.choice([("max", "most"), ("min", "least")])
    g, tie = r.choice([("min", "smallest"), ("max", "largest")])
    prog = ("from collections import Counter\n"
            "words = input().split()\n"
            "c = Counter(words)\n"
            f"best = {f}(c.values())\n"
            f"print({g}(w for w in c if c[w] == best), best)")
    st = (f"Read a line of words. Print the {what} frequent word and its count; on a tie print "
          f"the alphabetically {tie} of those words.")
    return st, prog, lambda r: " ".join(r.choice(_WORDS[:5]) for _ in range(r.randint(3, 8)))


def t_triangle(r):
    names = r.choice([("none", "equilateral", "isosceles", "scalene"),
                      ("NO", "EQ", "ISO", "SC")])
    prog = ("a, b, c = sorted(map(int, input().split()))\n"
            "if a + b <= c:\n"
            f"    print('{names[0]}')\n"
            "elif a == c:\n"
            f"    print('{names[1]}')\n"
            "elif a == b or b == c:\n"
            f"    print('{names[2]}')\n"
            "else:\n"
            f"    print('{names[3]}')")
    st = (f"Read three side lengths. Print '{names[0]}' if they cannot form a triangle, "
          f"otherwise '{names[1]}', '{names[2]}' or '{names[3]}' (all equal, exactly two "
          f"equal, all different).")
    return st, prog, lambda r: _ints(r, 3, 1, 8)


def t_times_table(r):
    k = r.randint(3, 7)
    sep = r.choice([" x ", "*", " times "])
    prog = ("n = int(input())\n"
            f"for i in range(1, {k + 1}):\n"
            f"    print(str(n) + '{sep}' + str(i) + ' = ' + str(n * i))")
    st = (f"Read n and print its multiplication table from 1 to {k}, one line each, in the "
          f"form 'n{sep}i = product'.")
    return st, prog, lambda r: str(r.randint(1, 15))


def t_brackets(r):
    yes, no = r.choice([("YES", "NO"), ("balanced", "unbalanced")])
    prog = ("s = input().strip()\n"
            "depth = 0\n"
            "ok = True\n"
            "for ch in s:\n"
            "    depth += 1 if ch == '(' else -1\n"
            "    if depth < 0:\n"
            "        ok = False\n"
            f"print('{yes}' if ok and depth == 0 else '{no}')")
    st = (f"Read a string of '(' and ')' and print '{yes}' if the brackets are balanced, "
          f"otherwise '{no}'.")

    def gen(r):
        if r.random() < 0.5:
            s = ""
            for _ in range(r.randint(1, 4)):
                s = r.choice(["(" + s + ")", s + "()", "()" + s])
            return s
        return _word(r, "()", 2, 8)
    return st, prog, gen


def t_test_cases(r):
    op, what = r.choice([("a * b", "their product"), ("a + b", "their sum"),
                         ("max(a, b)", "the larger one"), ("abs(a - b)", "their distance")])
    prog = ("for _ in range(int(input())):\n"
            "    a, b = map(int, input().split())\n"
            f"    print({op})")
    st = (f"The first line holds the number of test cases t. Each of the next t lines holds "
          f"two integers a and b; for each, print {what} on its own line.")

    def gen(r):
        t = r.randint(1, 4)
        return f"{t}\n" + "\n".join(_ints(r, 2, -9, 20) for _ in range(t))
    return st, prog, gen


def t_anagram(r):
    yes, no = r.choice([("YES", "NO"), ("anagram", "different"), ("1", "0")])
    prog = ("a = input().strip()\n"
            "b = input().strip()\n"
            f"print('{yes}' if sorted(a) == sorted(b) else '{no}')")
    st = (f"Read two words, one per line, and print '{yes}' if they are anagrams of each other, "
          f"otherwise '{no}'.")

    def gen(r):
        a = _word(r, "abcde", 3, 7)
        b = list(a)
        r.shuffle(b)
        if r.random() < 0.4:
            b[0] = r.choice("xyz")
        return a + "\n" + "".join(b)
    return st, prog, gen


def t_records(r):
    rel, what = r.choice([(">", "larger"), ("<", "smaller")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            "best = None\n"
            "cnt = 0\n"
            "for x in a:\n"
            f"    if best is None or x {rel} best:\n"
            "        best = x\n"
            "        cnt += 1\n"
            "print(cnt)")
    st = f"Read n, then n integers. Print how many of them are {what} than every integer before them."
    return st, prog, _list_input(0, 30, 3, 8)


def t_power_sum(r):
    p = r.randint(1, 3)
    prog = ("n = int(input())\n"
            f"total = sum(i ** {p} for i in range(1, n + 1))\n"
            "print(total)")
    st = f"Read n and print 1^{p} + 2^{p} + ... + n^{p}."
    return st, prog, lambda r: str(r.randint(1, 30))


def t_staircase(r):
    ch = r.choice("*#+")
    right = r.random() < 0.4
    line = f"' ' * (n - i) + '{ch}' * i" if right else f"'{ch}' * i"
    prog = ("n = int(input())\n"
            "for i in range(1, n + 1):\n"
            f"    print({line})")
    st = (f"Read n and print a staircase of n lines: line i holds i '{ch}' characters"
          f"{', right-aligned to width n' if right else ''}.")
    return st, prog, lambda r: str(r.randint(1, 7))


def t_average(r):
    mode = r.choice(["floor", "round2"])
    expr = "sum(a) // n" if mode == "floor" else "f'{sum(a) / n:.2f}'"
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print({expr})")
    what = "rounded down to an integer" if mode == "floor" else "with exactly two decimals"
    st = f"Read n, then n integers. Print their average, {what}."
    return st, prog, _list_input(0, 100, 2, 6)


def t_case(r):
    op, what = r.choice([("s.swapcase()", "with the case of every letter swapped"),
                         ("s.title()", "with every word capitalised"),
                         ("s.upper()", "in upper case"),
                         ("' '.join(w[0].upper() for w in s.split())", "as the initials of its words, in upper case, separated by spaces")])
    prog = ("s = input().strip()\n"
            f"result = {op}\n"
            "print(result)")
    st = f"Read a line of words and print it {what}."

    def gen(r):
        return " ".join(w.capitalize() if r.random() < 0.3 else w
                        for w in (r.choice(_WORDS) for _ in range(r.randint(1, 4))))
    return st, prog, gen


def t_count_above(r):
    rel, what = r.choice([(">", "greater than"), ("<", "less than"), (">=", "at least")])
    prog = ("n, k = map(int, input().split())\n"
            "a = list(map(int, input().split()))\n"
            f"print(sum(1 for x in a if x {rel} k))")
    st = (f"The first line holds n and k, the second n integers. Print how many of them are "
          f"{what} k.")

    def gen(r):
        n = r.randint(3, 8)
        return f"{n} {r.randint(0, 20)}\n{_ints(r, n, 0, 25)}"
    return st, prog, gen


def t_diagonal(r):
    expr, what = r.choice([("sum(m[i][i] for i in range(n))", "the sum of its main diagonal"),
                           ("sum(m[i][n - 1 - i] for i in range(n))", "the sum of its anti-diagonal"),
                           ("max(m[i][i] for i in range(n))", "the largest value on its main diagonal"),
                           ("sum(map(sum, m)) - sum(m[i][i] for i in range(n))",
                            "the sum of the values off its main diagonal")])
    prog = ("n = int(input())\n"
            "m = [list(map(int, input().split())) for _ in range(n)]\n"
            f"print({expr})")
    st = f"Read n, then an n x n matrix of integers (one row per line). Print {what}."

    def gen(r):
        n = r.randint(2, 4)
        return f"{n}\n" + "\n".join(_ints(r, n, -5, 20) for _ in range(n))
    return st, prog, gen


def t_transpose(r):
    mode = r.choice(["transpose", "rotate", "mirror", "flip"])
    body = {"transpose": "for j in range(c):\n    print(' '.join(row[j] for row in m))",
            "rotate": "for j in range(c):\n    print(' '.join(row[j] for row in reversed(m)))",
            "mirror": "for row in m:\n    print(' '.join(reversed(row)))",
            "flip": "for row in reversed(m):\n    print(' '.join(row))"}[mode]
    what = {"transpose": "its transpose", "rotate": "it rotated 90 degrees clockwise",
            "mirror": "it with every row reversed", "flip": "it with the rows in reverse order"}[mode]
    prog = ("r, c = map(int, input().split())\n"
            "m = [input().split() for _ in range(r)]\n" + body)
    st = f"Read r and c, then an r x c table of integers. Print {what}, values separated by spaces."

    def gen(r):
        rr, cc = r.randint(2, 3), r.randint(2, 4)
        return f"{rr} {cc}\n" + "\n".join(_ints(r, cc, 0, 9) for _ in range(rr))
    return st, prog, gen


def t_word_lengths(r):
    k = r.randint(3, 6)
    expr, what = r.choice([("' '.join(str(len(w)) for w in words)", "the length of every word, separated by spaces"),
                           ("max(words, key=len)", "the first longest word"),
                           ("min(words, key=len)", "the first shortest word"),
                           (f"sum(1 for w in words if len(w) > {k})", f"how many words have more than {k} letters"),
                           (f"' '.join(w for w in words if len(w) <= {k}) or '-'",
                            f"the words with at most {k} letters, separated by spaces ('-' if none)")])
    prog = ("words = input().split()\n"
            f"result = {expr}\n"
            "print(result)")
    st = f"Read a line of words separated by spaces and print {what}."
    return st, prog, lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(2, 6)))


def t_letter_counts(r):
    mode = r.choice(["table", "unique", "first_single"])
    if mode == "table":
        prog = ("s = input().strip()\n"
                "for ch in sorted(set(s)):\n"
                "    print(ch, s.count(ch))")
        what = "every distinct letter in alphabetical order with its count, one per line"
    elif mode == "unique":
        prog = ("s = input().strip()\n"
                "seen = []\n"
                "for ch in s:\n"
                "    if ch not in seen:\n"
                "        seen.append(ch)\n"
                "print(''.join(seen))")
        what = "its letters without repetitions, in order of first appearance"
    else:
        prog = ("s = input().strip()\n"
                "single = [ch for ch in s if s.count(ch) == 1]\n"
                "print(single[0] if single else '_')")
        what = "its first letter that occurs only once ('_' if there is none)"
    st = f"Read a word and print {what}."
    return st, prog, lambda r: _word(r, "abcde", 3, 10)


def t_base_convert(r):
    b = r.randint(2, 9)
    prog = ("n = int(input())\n"
            "digits = ''\n"
            "while n > 0:\n"
            f"    digits = str(n % {b}) + digits\n"
            f"    n //= {b}\n"
            "print(digits or '0')")
    st = f"Read a non-negative integer n and print it written in base {b}."
    return st, prog, lambda r: str(r.randint(0, 3000))


def t_multiples_below(r):
    a, b = sorted(r.sample([2, 3, 4, 5, 6, 7, 9, 11], 2))
    agg, what = r.choice([("sum(", "the sum of"), ("len(", "how many")])
    prog = ("n = int(input())\n"
            f"xs = [x for x in range(1, n) if x % {a} == 0 or x % {b} == 0]\n"
            f"print({agg}xs))")
    st = f"Read n and print {what} the positive integers below n that are multiples of {a} or {b}."
    return st, prog, lambda r: str(r.randint(1, 120))


def t_coins(r):
    coins = r.choice([(25, 10, 5, 1), (50, 20, 10, 5, 2, 1), (10, 5, 1), (100, 25, 10, 1), (7, 3, 1)])
    prog = ("n = int(input())\n"
            "count = 0\n"
            f"for c in {list(coins)}:\n"
            "    count += n // c\n"
            "    n %= c\n"
            "print(count)")
    st = (f"Coins have values {', '.join(map(str, coins))}. Read an amount n and print how many "
          f"coins a greedy cashier uses (always the largest coin that fits).")
    return st, prog, lambda r: str(r.randint(0, 300))


def t_intervals(r):
    mode = r.choice(["length", "yesno", "union"])
    expr = {"length": "max(0, min(b, d) - max(a, c))",
            "yesno": "'YES' if max(a, c) <= min(b, d) else 'NO'",
            "union": "(b - a) + (d - c) - max(0, min(b, d) - max(a, c))"}[mode]
    what = {"length": "the length of their overlap (0 if none)",
            "yesno": "'YES' if they share at least one point, otherwise 'NO'",
            "union": "the total length they cover together"}[mode]
    prog = ("a, b = map(int, input().split())\n"
            "c, d = map(int, input().split())\n"
            f"print({expr})")
    st = f"Read two intervals [a, b] and [c, d] (a <= b, c <= d), one per line. Print {what}."

    def gen(r):
        a, c = r.randint(0, 20), r.randint(0, 20)
        return f"{a} {a + r.randint(0, 10)}\n{c} {c + r.randint(0, 10)}"
    return st, prog, gen


def t_clock(r):
    k = r.choice([0, 15, 45, 90, 125, 600])
    prog = ("h, m = map(int, input().split(':'))\n"
            f"t = (h * 60 + m + {k}) % (24 * 60)\n"
            "print(f'{t // 60:02d}:{t % 60:02d}')")
    st = (f"Read a time of day as HH:MM and print, in the same format, the time {k} minutes "
          f"later (24-hour clock)." if k else
          "Read a time of day as H:M (hours and minutes, maybe without leading zeros) and print "
          "it as HH:MM.")
    return st, prog, lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}"


def t_temperature(r):
    mode = r.choice(["c2f", "f2c"])
    expr = "c * 9 // 5 + 32" if mode == "c2f" else "(c - 32) * 5 // 9"
    a, b = ("Celsius", "Fahrenheit") if mode == "c2f" else ("Fahrenheit", "Celsius")
    prog = ("c = int(input())\n"
            f"result = {expr}\n"
            "print(result)")
    st = f"Read an integer temperature in degrees {a} and print it in degrees {b}, rounded down."
    return st, prog, lambda r: str(r.randint(-40, 110))


def t_balance(r):
    expr, what = r.choice([("bal", "the final balance"), ("low", "the lowest balance reached"),
                           ("neg", "how many operations left the balance negative")])
    prog = ("n = int(input())\n"
            "bal = low = neg = 0\n"
            "for _ in range(n):\n"
            "    bal += int(input())\n"
            "    low = min(low, bal)\n"
            "    neg += bal < 0\n"
            f"print({expr})")
    st = (f"An account starts at 0. Read n, then n lines each with a deposit (positive) or a "
          f"withdrawal (negative). Print {what}.")

    def gen(r):
        n = r.randint(2, 6)
        return f"{n}\n" + "\n".join(str(r.randint(-30, 30)) for _ in range(n))
    return st, prog, gen


def t_stack(r):
    peek = r.choice(["top", "size"])
    prog = ("out = []\n"
            "st = []\n"
            "for _ in range(int(input())):\n"
            "    cmd = input().split()\n"
            "    if cmd[0] == 'push':\n"
            "        st.append(cmd[1])\n"
            "    elif cmd[0] == 'pop' and st:\n"
            "        st.pop()\n"
            + ("print(st[-1] if st else 'empty')" if peek == "top" else "print(len(st))"))
    what = "the value on top of the stack at the end ('empty' if none)" if peek == "top" \
        else "how many values are on the stack at the end"
    st_ = ("Read n, then n commands: 'push x' pushes x on a stack, 'pop' removes the top value "
           f"(if any). Print {what}.")

    def gen(r):
        n = r.randint(2, 6)
        return f"{n}\n" + "\n".join(r.choice([f"push {r.randint(1, 9)}", f"push {r.randint(1, 9)}", "pop"])
                                    for _ in range(n))
    return st_, prog, gen


def t_inversions(r):
    rel, what = r.choice([(">", "a[i] > a[j]"), ("<", "a[i] < a[j]"), ("==", "a[i] = a[j]")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print(sum(1 for i in range(n) for j in range(i + 1, n) if a[i] {rel} a[j]))")
    st = f"Read n, then n integers a[0..n-1]. Print how many pairs i < j have {what}."
    return st, prog, _list_input(0, 9, 2, 8)


def t_window(r):
    k = r.randint(2, 4)
    f, what = r.choice([("max", "largest"), ("min", "smallest")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print({f}(sum(a[i:i + {k}]) for i in range(n - {k - 1})))")
    st = f"Read n (at least {k}), then n integers. Print the {what} sum of {k} consecutive values."
    return st, prog, _list_input(-9, 20, k, k + 5)


def t_scale(r):
    k = r.randint(2, 6)
    op, what = r.choice([("*", f"multiplied by {k}"), ("%", f"modulo {k}"), ("//", f"divided by {k}, rounded down")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print(*[x {op} {k} for x in a])")
    st = f"Read n, then n integers. Print each of them {what}, separated by spaces."
    return st, prog, _list_input(0, 50, 2, 7)


def t_filter_chars(r):
    expr, what = r.choice([("''.join(ch for ch in s if ch not in 'aeiou')", "with every vowel (a, e, i, o, u) removed"),
                           ("''.join(ch for ch in s if ch.isdigit()) or 'none'", "keeping only its digits ('none' if there are none)"),
                           ("''.join(ch for i, ch in enumerate(s) if i == 0 or ch != s[i - 1])", "with runs of equal characters collapsed to one"),
                           ("''.join(ch for ch in s if ch.isalpha())", "keeping only its letters")])
    prog = ("s = input().strip()\n"
            f"result = {expr}\n"
            "print(result)")
    st = f"Read a string and print it {what}."
    return st, prog, lambda r: _word(r, "aabeio1237xyz", 4, 12)


def t_substring_count(r):
    pat = r.choice(["ab", "aa", "ba", "aba", "bb"])
    prog = ("s = input().strip()\n"
            f"pat = '{pat}'\n"
            "print(sum(1 for i in range(len(s)) if s.startswith(pat, i)))")
    st = f"Read a string of a's and b's and print how many times '{pat}' occurs in it (overlaps count)."
    return st, prog, lambda r: _word(r, "ab", 3, 14)


def t_divisors(r):
    expr, what = r.choice([("len(ds)", "how many divisors it has"), ("sum(ds)", "the sum of its divisors"),
                           ("' '.join(map(str, ds))", "all its divisors in increasing order, separated by spaces"),
                           ("sum(ds) - n", "the sum of its proper divisors (all divisors but n)")])
    prog = ("n = int(input())\n"
            "ds = [d for d in range(1, n + 1) if n % d == 0]\n"
            f"print({expr})")
    st = f"Read a positive integer n and print {what}."
    return st, prog, lambda r: str(r.randint(1, 150))


def t_figurate(r):
    expr, what = r.choice([("n * (n + 1) // 2", "the n-th triangular number 1 + 2 + ... + n"),
                           ("n * n", "the n-th square number"),
                           ("n * (3 * n - 1) // 2", "the n-th pentagonal number n(3n - 1)/2"),
                           ("n * (n + 1) * (2 * n + 1) // 6", "the sum of the first n squares")])
    prog = ("n = int(input())\n"
            f"value = {expr}\n"
            "print(value)")
    st = f"Read n and print {what}."
    return st, prog, lambda r: str(r.randint(0, 60))


def t_rotate_list(r):
    k = r.randint(1, 3)
    left = r.random() < 0.5
    expr = f"a[{k} % n:] + a[:{k} % n]" if left else f"a[-({k} % n):] + a[:-({k} % n)] if {k} % n else a"
    prog = ("n = int(input())\n"
            "a = input().split()\n"
            f"b = {expr}\n"
            "print(' '.join(b))")
    st = (f"Read n, then n values on one line. Print them rotated {k} place{'s' if k > 1 else ''} "
          f"to the {'left' if left else 'right'} (cyclically), separated by spaces.")
    return st, prog, _list_input(0, 30, 2, 7)


def t_set_ops(r):
    op, what = r.choice([("&", "in both lists"), ("|", "in at least one list"),
                         ("-", "in the first list but not the second"), ("^", "in exactly one list")])
    prog = ("a = set(map(int, input().split()))\n"
            "b = set(map(int, input().split()))\n"
            f"res = sorted(a {op} b)\n"
            "print(*res if res else ['none'])")
    st = (f"Read two lines of integers. Print, in increasing order and separated by spaces, "
          f"the distinct values that are {what} ('none' if there are none).")
    return st, prog, lambda r: _ints(r, r.randint(2, 6), 0, 9) + "\n" + _ints(r, r.randint(2, 6), 0, 9)


def t_checkerboard(r):
    a, b = r.choice([("#", "."), ("X", "O"), ("*", " "), ("1", "0")])
    prog = ("r, c = map(int, input().split())\n"
            "for i in range(r):\n"
            f"    print(''.join('{a}' if (i + j) % 2 == 0 else '{b}' for j in range(c)))")
    st = (f"Read r and c and print an r x c checkerboard: the cell in row i, column j (from 0) "
          f"is '{a}' when i + j is even, otherwise '{b}'.")
    return st, prog, lambda r: f"{r.randint(1, 5)} {r.randint(1, 6)}"


def t_digit_words(r):
    sep = r.choice([" ", "-", ","])
    prog = ("names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']\n"
            "s = input().strip()\n"
            f"print('{sep}'.join(names[int(d)] for d in s))")
    st = f"Read a non-negative integer and print its digits as English words, separated by '{sep}'."
    return st, prog, lambda r: str(r.randint(0, 10 ** r.randint(1, 5)))


def t_bitwise(r):
    op, what = r.choice([("&", "bitwise AND"), ("|", "bitwise OR"), ("^", "bitwise XOR")])
    prog = ("a, b = map(int, input().split())\n"
            f"result = a {op} b\n"
            "print(result)")
    st = f"Read two non-negative integers a and b and print their {what}."
    return st, prog, lambda r: f"{r.randint(0, 255)} {r.randint(0, 255)}"


def t_gaps(r):
    f, what = r.choice([("max", "largest"), ("min", "smallest")])
    prog = ("n = int(input())\n"
            "a = sorted(map(int, input().split()))\n"
            f"print({f}(a[i + 1] - a[i] for i in range(n - 1)))")
    st = (f"Read n (at least 2), then n integers. Print the {what} difference between two "
          f"neighbours once the integers are sorted.")
    return st, prog, _list_input(0, 60, 2, 7)


def t_initial_count(r):
    c = r.choice("abcdlmp")
    prog = ("words = input().split()\n"
            f"hits = [w for w in words if w.startswith('{c}')]\n"
            "print(len(hits))")
    st = f"Read a line of words and print how many of them start with the letter '{c}'."
    words = ("apple", "banana", "cherry", "date", "lime", "lemon", "mango", "plum", "peach", "apricot",
             "blueberry", "cranberry", "damson", "melon", "papaya")
    return st, prog, lambda r: " ".join(r.choice(words) for _ in range(r.randint(2, 7)))


def t_bars(r):
    ch = r.choice("*#=")
    label = r.random() < 0.5
    line = f"str(x) + ' ' + '{ch}' * x" if label else f"'{ch}' * x"
    prog = ("n = int(input())\n"
            "for x in map(int, input().split()):\n"
            f"    print({line})")
    st = (f"Read n, then n non-negative integers. For each value x print a bar of x '{ch}' "
          f"characters{', preceded by x and a space' if label else ''}, one per line.")
    return st, prog, _list_input(1, 8, 2, 5)


def t_alternating(r):
    mode = r.choice(["even_minus_odd", "even", "odd"])
    expr = {"even_minus_odd": "sum(a[0::2]) - sum(a[1::2])", "even": "sum(a[0::2])",
            "odd": "sum(a[1::2])"}[mode]
    what = {"even_minus_odd": "the sum of the values at even positions minus the sum at odd positions",
            "even": "the sum of the values at even positions", "odd": "the sum of the values at odd positions"}[mode]
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print({expr})")
    st = f"Read n, then n integers (positions counted from 0). Print {what}."
    return st, prog, _list_input(-9, 20, 2, 8)


def t_seconds(r):
    mode = r.choice(["hms", "ms", "total"])
    if mode == "total":
        prog = ("h, m, s = map(int, input().split())\n"
                "total = h * 3600 + m * 60 + s\n"
                "print(total)")
        st = "Read hours, minutes and seconds and print the total number of seconds."
        return st, prog, lambda r: f"{r.randint(0, 30)} {r.randint(0, 59)} {r.randint(0, 59)}"
    prog = ("t = int(input())\n"
            + ("print(t // 3600, t % 3600 // 60, t % 60)" if mode == "hms" else "print(t // 60, t % 60)"))
    prog = "# convert a number of seconds\n" + prog
    what = "hours, minutes and seconds" if mode == "hms" else "minutes and seconds"
    st = f"Read a number of seconds and print it as {what}, separated by spaces."
    return st, prog, lambda r: str(r.randint(0, 100000))


def t_matrix_sum(r):
    op, what = r.choice([("+", "sum"), ("-", "difference (first minus second)"), ("*", "element-wise product")])
    prog = ("r, c = map(int, input().split())\n"
            "a = [list(map(int, input().split())) for _ in range(r)]\n"
            "b = [list(map(int, input().split())) for _ in range(r)]\n"
            "for i in range(r):\n"
            f"    print(*[a[i][j] {op} b[i][j] for j in range(c)])")
    st = (f"Read r and c, then two r x c integer matrices (r lines each). Print their {what}, "
          f"one row per line.")

    def gen(r):
        rr, cc = r.randint(1, 3), r.randint(1, 3)
        return f"{rr} {cc}\n" + "\n".join(_ints(r, cc, -5, 9) for _ in range(2 * rr))
    return st, prog, gen


TEMPLATES = [t_sum_divisible, t_range_stat, t_sort_words, t_count_char, t_reverse,
             t_arith_series, t_geometric, t_fizzbuzz, t_grid_total, t_grid_rows, t_grid_cols,
             t_digits, t_digital_root, t_gcd_lcm, t_count_primes, t_is_prime, t_factorial_mod,
             t_fibonacci, t_palindrome, t_vowels, t_caesar, t_prefix_sums, t_pair_sums,
             t_second_largest, t_col_sums, t_row_sums, t_binary, t_rle, t_even_odd,
             t_collatz, t_leap_years, t_kadane, t_distinct, t_most_common, t_triangle,
             t_times_table, t_brackets, t_test_cases, t_anagram, t_records, t_power_sum,
             t_staircase, t_average, t_case, t_count_above, t_diagonal, t_transpose,
             t_word_lengths, t_letter_counts, t_base_convert, t_multiples_below, t_coins,
             t_intervals, t_clock, t_temperature, t_balance, t_stack, t_inversions, t_window,
             t_scale, t_filter_chars, t_substring_count, t_divisors, t_figurate, t_rotate_list,
             t_set_ops, t_checkerboard, t_digit_words, t_bitwise, t_gaps, t_initial_count,
             t_bars, t_alternating, t_seconds, t_matrix_sum]


def run_trusted(program: str, stdin: str) -> str:
    """Run one of OUR corpus programs in-process (never model output: that goes through
    :mod:`tunepipe.sandbox`). Only ``input()`` and ``print()`` are redirected, so this
    is thread-safe; corpus programs use nothing else for I/O."""
    lines = io.StringIO(stdin)
    out = io.StringIO()

    def fake_input(prompt=""):
        line = lines.readline()
        if not line:
            raise EOFError("EOF when reading a line")
        return line[:-1] if line.endswith("\n") else line

    def fake_print(*args, **kwargs):
        kwargs.pop("file", None)
        builtins.print(*args, file=out, **kwargs)

    exec(compile(program, "<corpus>", "exec"),
         {"__name__": "__main__", "input": fake_input, "print": fake_print})
    return out.getvalue()


def _example(statement: str, inp: str, out: str) -> str:
    return f"{statement}\n\nExample input:\n{inp}\n\nExample output:\n{out.rstrip()}"


@functools.lru_cache(maxsize=8)
def _builtin(seed: int, size: int) -> tuple:
    rows, seen = [], set()
    attempts = 0
    while len(rows) < size and attempts < size * 20:
        i = attempts
        attempts += 1
        r = random.Random(f"tunepipe-corpus:{seed}:{i}")
        tmpl = TEMPLATES[i % len(TEMPLATES)]
        statement, program, gen = tmpl(r)
        inputs = gen(r)
        if (program, inputs) in seen:
            continue
        output = run_trusted(program, stdin_text(inputs))
        if not output.strip():
            continue
        tests, tries = [], 0
        want = r.randint(2, 4)
        while len(tests) < want and tries < 20:
            tries += 1
            t_in = gen(r)
            if t_in == inputs or any(t["input"] == stdin_text(t_in) for t in tests):
                continue
            tests.append({"type": "stdin_stdout", "input": stdin_text(t_in),
                          "output": run_trusted(program, stdin_text(t_in))})
        if len(tests) < 2:
            continue
        seen.add((program, inputs))
        rows.append({
            "id": f"tunepipe-{seed}-{len(rows):04d}",
            "template": tmpl.__name__[2:],
            "program": program,
            "inputs": inputs,
            "output": output,
            "prompt": _example(statement, inputs, output),
            "verification_info": json.dumps({"test_cases": tests}),
        })
    return tuple(rows)


def builtin_rows(seed: int = 0, size: int = BUILTIN_SIZE) -> list[dict]:
    """The built-in corpus: ``size`` rows in the rl-python schema, identical for a seed."""
    if int(size) < 1:
        raise TunepipeError(f"corpus_size must be >= 1, got {size}")
    return [dict(row) for row in _builtin(int(seed), int(size))]


@dataclass
class CodeConfig:
    """params ``collect.abd`` / ``collect.ded`` (one source in the rl-python schema)."""
    source: str
    corpus_size: int
    corpus_seed: int
    prompt_template: str
    timeout_s: float
    cpu_s: float
    memory_mb: int
    max_output_bytes: int
    python: str | None        # interpreter running the programs (null: this venv's)
    hash_seed: int | None     # null: randomised as the validators'; an int pins PYTHONHASHSEED
