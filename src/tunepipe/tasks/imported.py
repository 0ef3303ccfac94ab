"""Import of real evaluation logs: the SFT source of the Affine workflow.

A JSON array (or JSONL, or a directory of such files) of past evaluations, one record
per sample, with at least::

    {"prompt": str | [chat messages], "response": str, "score": float, "env": ENV}

``ENV`` is the environment's name (``"SAT"``, ``"abd"``, ``"DED"``...) or the
training-service shape ``{"sat": {"cls": [[int]], "sol": {...}} | false, "abd":
{"program": str, "expected_output": str} | false}`` (docs/reference/validators.md). Nested exports are
accepted too: ``challenge.prompt`` / ``challenge.env``, ``response.response``,
``evaluation.score``.

Rows with ``score >= min_score`` are kept (the best ``max_results`` of them, ties in file
order), as SFT rows: ``prompt`` -> chat messages, ``response`` -> ``answer``. The
training-service shape carries a verification spec (SAT clauses, ABD program and output),
so those rows get a ``spec`` and can be rewarded by GRPO; rows of a bare env name get
``spec: null`` (SFT only; grpo skips them, reward keeps their logged score instead of
re-verifying them).

>>> rows = from_records([{"prompt": "p", "response": "x1=True", "score": 1, "env": "SAT"},
...                      {"prompt": "q", "response": "no", "score": 0, "env": "SAT"}],
...                     min_score=1.0, max_results=None, envs=None, where="log")
>>> [(r["task"], r["answer"], r["spec"]) for r in rows]
[('sat', 'x1=True', None)]
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from tunepipe import TunepipeError, io, tasks
from tunepipe.tasks.protocol import field_error


@dataclass
class ImportArgs:
    """The ``collect.import`` params section."""
    path: str | None            # a JSON/JSONL export or a directory of them; null: nothing imported
    min_score: float            # keep rows scored at least this
    max_results: int | None     # keep at most this many (best first); null: all
    envs: list[str] | None      # only these tasks, e.g. [sat, abd]; null: every known task


def _get(rec: dict, *paths: str):
    """The first present value among dotted ``paths`` (``challenge.prompt``)."""
    for path in paths:
        cur = rec
        for part in path.split("."):
            if not isinstance(cur, dict) or part not in cur:
                break
            cur = cur[part]
        else:
            return cur
    return None


def _messages(prompt, where: str) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, list) and prompt and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in prompt):
        return [{"role": m["role"], "content": m["content"]} for m in prompt]
    raise TunepipeError(f"{where}: field 'prompt': expected a string or a list of "
                        "{role, content} messages")


def _task_and_spec(env, where: str) -> tuple[str, dict | None]:
    """(task name, spec or None) from an env name or a training-service env dict; the
    family's ``from_service`` turns the env's value into a spec."""
    if isinstance(env, str) and env.strip():
        return env.strip().lower(), None
    if isinstance(env, dict):
        live = {k.lower(): v for k, v in env.items() if v not in (False, None)}
        if len(live) == 1:
            (name, info), = live.items()
            family = tasks.get(name) if name in tasks.names() else None
            if family is not None and family.from_service is not None:
                try:
                    return name, family.from_service(info)
                except ValueError as e:
                    raise TunepipeError(f"{where}: {field_error(f'env.{name}', e)}") from None
            return name, None
    raise TunepipeError(f"{where}: field 'env': expected an environment name or "
                        "{\"sat\": {...} | false, \"abd\": {...} | false}")


def from_records(records: list, *, min_score: float, max_results: int | None,
                 envs: list[str] | None, where: str) -> list[dict]:
    """Kept rows (``task``, ``prompt``, ``answer``, ``spec``, ``score``, ``source``) of
    ``records``, best first. Records of envs outside ``envs`` (default: every registered
    task) are skipped; malformed records are a one-line error naming the record."""
    allowed = set(tasks.names()) if envs is None else {e.lower() for e in envs}
    unknown = allowed - set(tasks.names())
    if unknown:
        raise TunepipeError(f"collect.import.envs: unknown task(s) {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(tasks.names())}")
    kept = []
    for i, rec in enumerate(records):
        at = f"{where}: record {i}"
        if not isinstance(rec, dict):
            raise TunepipeError(f"{at}: expected a JSON object")
        score = _get(rec, "score", "evaluation.score", "result.score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(score):
            raise TunepipeError(f"{at}: field 'score': expected a number, got {score!r}")
        if score < min_score:
            continue
        env = _get(rec, "env", "challenge.env", "env_name")
        task, spec = _task_and_spec(env, at)
        if task not in allowed:
            continue
        response = _get(rec, "response.response", "response", "completion")
        if not isinstance(response, str):
            raise TunepipeError(f"{at}: field 'response': expected a string, got {type(response).__name__}")
        prompt = _get(rec, "challenge.prompt", "prompt")
        kept.append({"task": task, "prompt": _messages(prompt, at), "answer": response,
                     "spec": spec, "score": float(score), "source": "import"})
    kept.sort(key=lambda r: -r["score"])   # stable: ties keep file order
    return kept if max_results is None else kept[:max_results]


def read_records(path: str | Path) -> list:
    """Records of a JSON array, a JSONL file, or every ``*.json``/``*.jsonl`` file of a
    directory (sorted by name)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".json", ".jsonl") and f.is_file())
        return [rec for f in files for rec in read_records(f)]
    if not p.is_file():
        raise TunepipeError(f"collect.import.path: {p}: no such file or directory")
    if p.suffix == ".jsonl":
        return [rec for _, rec in io.iter_jsonl(p)]
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TunepipeError(f"{p}: not valid JSON ({e.msg}, line {e.lineno})") from None
    if isinstance(data, dict):   # {"results": [...]} / {"data": [...]} wrappers
        data = next((data[k] for k in ("results", "data", "rows", "samples") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        raise TunepipeError(f"{p}: expected a JSON array of evaluation records")
    return data


def load(path: str | Path, *, min_score: float, max_results: int | None,
         envs: list[str] | None) -> list[dict]:
    """:func:`read_records` + :func:`from_records`; errors name the file and record."""
    if max_results is not None and (isinstance(max_results, bool) or not isinstance(max_results, int)
                                    or max_results < 0):
        raise TunepipeError(f"collect.import.max_results: expected null or an int >= 0, got {max_results!r}")
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)):
        raise TunepipeError(f"collect.import.min_score: expected a number, got {min_score!r}")
    p = Path(path)
    if p.is_dir():
        rows = []
        for f in sorted(f for f in p.iterdir() if f.suffix in (".json", ".jsonl") and f.is_file()):
            rows += from_records(read_records(f), min_score=float(min_score), max_results=None,
                                 envs=envs, where=str(f))
        rows.sort(key=lambda r: -r["score"])
        return rows if max_results is None else rows[:max_results]
    return from_records(read_records(p), min_score=float(min_score), max_results=max_results,
                        envs=envs, where=str(p))
