"""The pool sources of the ``reference`` family (:mod:`tunepipe.tasks.reference`): local
``.jsonl`` / ``.json`` / ``.parquet`` files or a directory of them, a Hugging Face dataset
id, or the built-in pool of :mod:`tunepipe.tasks.reference_pool`; read into
``{source_id, prompt, references}`` entries. ``cfg`` is the family's ``Config`` (params
``collect.reference``)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tunepipe import TunepipeError

FILE_TYPES = (".jsonl", ".json", ".parquet")


def pool_files(source: str) -> list[Path] | None:
    """The local files of a source (None: an HF id; [] : a directory holding none, the
    built-in pool)."""
    p = Path(source).expanduser()
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and f.suffix in FILE_TYPES)
    if p.is_file():
        if p.suffix not in FILE_TYPES:
            raise TunepipeError(f"collect.reference.source: {source}: expected a {', '.join(FILE_TYPES)} file")
        return [p]
    if source.startswith((".", "/", "~")) or p.suffix in FILE_TYPES or source.count("/") != 1 \
            or not re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        raise TunepipeError(f"collect.reference.source: {source}: no such file or directory "
                            "(nor a Hugging Face dataset id owner/name)")
    return None


def _read_file(path: Path) -> tuple[list[str], list[dict]]:
    """(columns, rows) of one pool file."""
    where = f"collect.reference.source: {path}"
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:
            raise TunepipeError(f"{where}: not a readable parquet file ({str(e).splitlines()[0][:200]})") from None
        return list(table.column_names), table.to_pylist()
    rows = []
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise TunepipeError(f"{where}:{line_no}: not valid JSON ({e.msg})") from None
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise TunepipeError(f"{where}: not valid JSON ({e.msg}, line {e.lineno})") from None
        rows = data if isinstance(data, list) else None
        if rows is None:
            raise TunepipeError(f"{where}: expected a JSON array of rows")
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict):
            raise TunepipeError(f"{where}: row {i}: expected a JSON object")
    return list(dict.fromkeys(k for r in rows for k in r)), rows


def _read_hub(source: str) -> tuple[list[str], list[dict]]:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise TunepipeError(f"collect.reference.source: {source!r} is a Hugging Face dataset id but HF_HUB_OFFLINE "
                            "is set: run with HF_HUB_OFFLINE=0 (and the network), or use a local .jsonl/.parquet copy")
    try:
        import datasets

        ds = datasets.load_dataset(source, split="train")
    except Exception as e:
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise TunepipeError(f"collect.reference.source: cannot load Hugging Face dataset {source!r}: {msg}") from None
    return list(ds.column_names), [dict(r) for r in ds]


def _prompt_of(row: dict, where: str) -> list[dict]:
    """The prompt messages of a pool row: ``messages`` before the first assistant turn, or
    a ``prompt`` string as one user message."""
    msgs = row.get("messages")
    if msgs is not None:
        if not isinstance(msgs, list) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in msgs):
            raise TunepipeError(f"{where}: field 'messages': expected a list of {{role, content}} messages")
        prompt = []
        for m in msgs:
            if m["role"] == "assistant":
                break
            prompt.append({"role": m["role"], "content": m["content"]})
    elif isinstance(row.get("prompt"), str):
        prompt = [{"role": "user", "content": row["prompt"]}]
    else:
        raise TunepipeError(f"{where}: field 'messages': missing (and no 'prompt' string)")
    if not any(m["role"] == "user" and m["content"].strip() for m in prompt):
        raise TunepipeError(f"{where}: field 'messages': no user message before the first assistant turn")
    return prompt


def _entries(columns: list[str], rows: list[dict], ref_models: list[str], where: str) -> tuple[list[dict], int]:
    """Pool rows -> ``{source_id, prompt, references}``; (entries, rows dropped for a
    missing reference)."""
    if not ref_models:
        raise TunepipeError("collect.reference.ref_models: name at least one reference column (e.g. [gold])")
    for m in ref_models:
        if f"ref_output_{m}" not in columns:
            have = [c for c in columns if c.startswith("ref_output_")]
            raise TunepipeError(f"{where}: missing column 'ref_output_{m}' (collect.reference.ref_models: {m}); "
                                f"reference columns there: {', '.join(have) or 'none'}")
    if "messages" not in columns and "prompt" not in columns:
        raise TunepipeError(f"{where}: missing column 'messages' (or 'prompt')")
    out, dropped = [], 0
    for i, row in enumerate(rows, 1):
        here = f"{where}: row {i}"
        refs = []
        for m in ref_models:
            v = row.get(f"ref_output_{m}")
            if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
                break
            if not isinstance(v, str):
                raise TunepipeError(f"{here}: field 'ref_output_{m}': expected a string, got {type(v).__name__}")
            refs.append(v)
        if len(refs) < len(ref_models):
            dropped += 1
            continue
        sid = row.get("id")
        out.append({"source_id": str(sid) if sid is not None else f"row-{i}", "prompt": _prompt_of(row, here),
                    "references": refs})
    return out, dropped


_POOL_CACHE: dict = {}


def load_pool(cfg: Config) -> list[dict]:
    """Every usable pool row of ``cfg.source`` (cached per process: collect asks once per
    split). Errors: a missing reference column, a pool left empty after dropping rows
    without every reference."""
    files = pool_files(cfg.source)
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files or [])
    key = (cfg.source, tuple(cfg.ref_models), cfg.pool_size, cfg.pool_seed, stamp)
    if key in _POOL_CACHE:
        return _POOL_CACHE[key]
    if files is None:
        parts = [(f"collect.reference.source: {cfg.source}", *_read_hub(cfg.source))]
    elif not files:
        from tunepipe.tasks import reference_pool

        rows = reference_pool.pool(cfg.pool_size, cfg.pool_seed)
        parts = [(f"collect.reference: built-in pool ({cfg.source} holds no pool file)",
                  ["id", "source", "messages", "ref_output_gold", "ref_output_alt"], rows)]
    else:
        parts = [(f"collect.reference.source: {f}", *_read_file(f)) for f in files]
    entries, read, dropped = [], 0, 0
    for where, columns, rows in parts:
        e, d = _entries(columns, rows, cfg.ref_models, where)
        entries += e
        read += len(rows)
        dropped += d
    if not entries:
        raise TunepipeError(f"collect.reference.source: {cfg.source}: no rows left ({read} read, {dropped} dropped "
                            f"for a null or blank reference among ref_models {cfg.ref_models})")
    if dropped:
        print(f"collect.reference: dropped {dropped} of {read} pool rows without every reference of {cfg.ref_models}")
    _POOL_CACHE.clear()
    _POOL_CACHE[key] = entries
    return entries


def prompt_text(prompt: list[dict]) -> str:
    return "\n".join(m["content"] for m in prompt)

