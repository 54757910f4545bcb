"""Reading and writing the files that flow between rules.

Every writer is atomic: it writes a temporary file beside the target and renames it, so a failed or
killed job never leaves a half-written output for Snakemake (or a user) to trust. A killed writer
cannot remove its temporary file; the next write of the same output does. A full disk is one line.
Readers refuse what is not text (invalid UTF-8, a lone UTF-16 surrogate spelt in JSON).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

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


# Errors of a write that the user can act on (free space, quota, a read-only or failing disk).
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def default_file_mode() -> int:
    """The mode a plain ``open`` gives a new file: 0666 less the umask."""
    return 0o666 & ~current_umask()


def give_default_modes(directory: str | os.PathLike) -> None:
    """Give every file under ``directory`` the default file mode (some writers create theirs 0600)."""
    mode = default_file_mode()
    for path in Path(directory).rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def _stale(tmp: Path, names: str) -> bool:
    """Whether ``tmp`` is a temporary file of an earlier write of a file named as the regex ``names`` says,
    whose writer is gone: named ``.<target>.<host>-<pid>.<random>.tmp`` by a process of this host that no
    longer runs (or, without host and pid, by an earlier version of this writer)."""
    match = re.fullmatch(rf"\.(?:{names})\.(?:(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.)?[a-z0-9_]{{8}}\.tmp", tmp.name)
    if match is None:
        return False
    if match["host"] is None:
        return True
    if match["host"] != _HOST:
        return False
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_temporaries(folder: Path, names: str) -> None:
    """Temporary files in ``folder`` of earlier writes of files named as the regex ``names`` says whose
    writer was killed (SIGKILL skips cleanup)."""
    for tmp in folder.glob(".*.tmp"):
        if _stale(tmp, names):
            with contextlib.suppress(OSError):
                tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The file gets the mode a plain ``open`` would give it (0666 less the umask), not mkstemp's 0600.
    A write that fails for want of space (or any error of the disk) is one line naming ``path``.
    """
    target = Path(path)
    if target.is_dir():
        raise UserError("is a directory, not a file", target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent, re.escape(target.name))
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{_HOST}-{os.getpid()}.", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise UserError(f"cannot write: {exc.strerror}", target) from None
    try:
        os.fchmod(fd, default_file_mode())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS:
            raise
        raise UserError(f"cannot write: {exc.strerror or exc} (nothing written)", target) from None
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


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def lone_surrogate(obj: Any) -> str | None:
    """The first string in ``obj`` (keys included) holding a lone UTF-16 surrogate, which JSON can spell
    (``"\\ud800"``) but no UTF-8 file can hold, or None."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def check_surrogates(text: str, obj: Any, path: Path, line: int | None = None) -> None:
    """Refuse ``obj``, parsed from ``text``, if a string of it holds a lone surrogate."""
    if _SURROGATE_ESCAPE.search(text):
        bad = lone_surrogate(obj)
        if bad is not None:
            raise UserError(f"a string holds a lone UTF-16 surrogate, which is not text: {json.dumps(bad[:40])}",
                            path, line)


def read_text(path, missing: str = "file not found") -> str:
    path = Path(path)
    with open_binary(path, missing) as handle:
        data = handle.read()
    return decode_utf8(data, path)


def read_json(path) -> Any:
    path = Path(path)
    text = read_text(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON: {exc.msg}", path, exc.lineno) from None
    except RecursionError:
        raise UserError("malformed JSON: nested too deeply", path) from None
    check_surrogates(text, obj, path)
    return obj


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
            check_surrogates(line, obj, path, lineno)
            for field, kind in (required or {}).items():
                if field not in obj:
                    raise UserError(f"missing field '{field}'", path, lineno)
                if not isinstance(obj[field], kind) or isinstance(obj[field], bool):
                    expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
                    raise UserError(f"field '{field}' must be {expected}", path, lineno)
            yield lineno, obj


def read_jsonl(path, required=None) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path, required)]
