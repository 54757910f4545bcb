"""Reading and writing the files that flow between rules.

Every writer is atomic: it writes a temporary file beside the target and renames it, so a failed or
killed job never leaves a half-written output for Snakemake (or a user) to trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from capflow.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[Any]:
    with atomic_path(path) as tmp:
        encoding = None if "b" in mode else "utf-8"
        with open(tmp, mode, encoding=encoding) as handle:
            yield handle


def write_text(path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def write_json(path, obj: Any) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def write_jsonl(path, rows: Iterable[dict]) -> int:
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_json(path) -> Any:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise UserError("file not found", path) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON: {exc.msg}", path, exc.lineno) from None


def iter_jsonl(path, required: dict[str, type | tuple[type, ...]] | None = None) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line, checking ``required`` field types."""
    path = Path(path)
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", path) from None
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"malformed JSON: {exc.msg}", path, lineno) from None
            if not isinstance(obj, dict):
                raise UserError("expected a JSON object", path, lineno)
            for field, kind in (required or {}).items():
                if field not in obj:
                    raise UserError(f"missing field '{field}'", path, lineno)
                if not isinstance(obj[field], kind) or isinstance(obj[field], bool):
                    expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
                    raise UserError(f"field '{field}' must be {expected}", path, lineno)
            yield lineno, obj


def read_jsonl(path, required=None) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path, required)]
