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


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (no race with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The file gets the mode a plain ``open`` would give it (0666 less the umask), not mkstemp's 0600.
    """
    target = Path(path)
    if target.is_dir():
        raise UserError("is a directory, not a file", target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UserError(f"cannot write: {exc.strerror}", target) from None
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
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


def open_binary(path: Path, missing: str = "file not found"):
    """``open(path, "rb")`` with a one-line error for a missing file, a directory or a permission problem."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UserError(missing, path) from None
    except IsADirectoryError:
        raise UserError("is a directory, not a file", path) from None
    except PermissionError:
        raise UserError("permission denied: cannot read", path) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", path) from None


def decode_utf8(data: bytes, path: Path, line: int | None = None) -> str:
    """``data`` as text; invalid UTF-8 is an error naming the line (counted in ``data`` when not given)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = line if line is not None else data.count(b"\n", 0, exc.start) + 1
        raise UserError("not valid UTF-8", path, where) from None


def read_text(path, missing: str = "file not found") -> str:
    path = Path(path)
    with open_binary(path, missing) as handle:
        data = handle.read()
    return decode_utf8(data, path)


def read_json(path) -> Any:
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON: {exc.msg}", path, exc.lineno) from None
    except RecursionError:
        raise UserError("malformed JSON: nested too deeply", path) from None


def iter_jsonl(path, required: dict[str, type | tuple[type, ...]] | None = None) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line, checking ``required`` field types."""
    path = Path(path)
    with open_binary(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = decode_utf8(raw, path, lineno)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"malformed JSON: {exc.msg}", path, lineno) from None
            except RecursionError:
                raise UserError("malformed JSON: nested too deeply", path, lineno) from None
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
