"""Files: JSONL with row-level validation, and atomic outputs (no partial outputs on failure)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from tunepipe import TunepipeError

ROW_FIELDS = ("id", "task", "prompt", "answer", "spec")


def iter_jsonl(path: str | Path):
    """``(line number, value)`` for each non-blank line of a JSONL file; a line that is not
    JSON is an error naming the file and line."""
    p = Path(path)
    with p.open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as e:
                raise TunepipeError(f"{p}:{i}: not valid JSON ({e.msg})") from None


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise TunepipeError(f"{p}: file not found")
    rows = []
    for i, row in iter_jsonl(p):
        if not isinstance(row, dict):
            raise TunepipeError(f"{p}:{i}: a row must be a JSON object")
        for field in required:
            if field not in row:
                raise TunepipeError(f"{p}:{i}: row {row.get('id', i)!r} has no field {field!r}")
        rows.append(row)
    return rows


def write_jsonl(path: str | Path, rows) -> None:
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(path: str | Path, obj) -> None:
    with atomic_file(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_file(path: str | Path):
    """Yield a temp path beside ``path``; it replaces ``path`` only if the block succeeds."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | Path):
    """Yield a fresh temp directory beside ``path``; on success it replaces ``path``
    (old contents removed), on failure it is deleted and ``path`` is left untouched."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent))
    try:
        yield tmp
        if p.exists():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def fingerprint(*parts) -> str:
    """A run's identity for resuming: its args, data and starting weights, and tunepipe's own
    code (a checkpoint trained by other code is not this run's: DVC reruns the stage because
    that code changed, so resuming it would hand back the old result)."""
    h = hashlib.sha256()
    code = sorted(Path(__file__).resolve().parent.rglob("*.py"))   # all of tunepipe
    for p in (*parts, *code):
        if isinstance(p, Path):
            h.update(p.read_bytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]
