"""Code-task sources shared by ABD and DED: the rl-python schema, its loaders, and our
built-in corpus (generated from :mod:`tunepipe.tasks.code.templates`).

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

import builtins
import functools
import io
import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from tunepipe import TunepipeError
from tunepipe.tasks.code.executor import stdin_text, to_str
from tunepipe.tasks.code.templates import TEMPLATES

RL_PYTHON_FIELDS = ("program", "inputs", "output", "prompt", "verification_info")
BUILTIN_SIZE = 1000


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


def too_few_rows(task: str, n: int, source: str, got: int, excluded: bool) -> TunepipeError:
    """The error of a build (ABD, DED) that found only ``got`` of the ``n`` rows it needs."""
    return TunepipeError(f"{task}: {n} rows requested but source {source!r} has only "
                         f"{got} usable rows"
                         f"{' outside the held-out programs' if excluded else ''} "
                         "(lower n or raise corpus_size)")


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
