"""The atomic writers and the readers every step shares: file modes, undecodable and unreadable files."""

import builtins
import errno
import os
import signal
import stat
import subprocess
import sys

import pytest

from capflow import cli, io
from capflow.errors import UserError


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)],
                         ids=["umask-022", "umask-002"])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    io.write_json(tmp_path / "new" / "deeper" / "out.json", {"a": 1})
    io.write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
    with io.atomic_open(tmp_path / "raw.bin", "wb") as handle:
        handle.write(b"x")
    for name in ("new/deeper/out.json", "rows.jsonl", "raw.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == file_mode, name
    for name in ("new", "new/deeper"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == dir_mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "raw.bin", "rows.jsonl"]  # no temporary left


def test_invalid_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_bytes(b'{"id": "q1"}\n\n{"id": "q\xff"}\n')
    with pytest.raises(UserError) as caught:
        list(io.iter_jsonl(path))
    assert str(caught.value) == f"{path}:3: not valid UTF-8"
    types = tmp_path / "types.json"
    types.write_bytes(b'{\n  "object": ["\xe7\x8c"]\n}\n')
    with pytest.raises(UserError) as caught:
        io.read_json(types)
    assert str(caught.value) == f"{types}:2: not valid UTF-8"


def test_a_directory_or_an_unreadable_file_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(UserError) as caught:
        list(io.iter_jsonl(tmp_path))
    assert str(caught.value) == f"{tmp_path}: is a directory, not a file"
    with pytest.raises(UserError) as caught:
        io.read_json(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a directory, not a file"
    with pytest.raises(UserError) as caught:
        io.write_json(tmp_path, {})
    assert str(caught.value) == f"{tmp_path}: is a directory, not a file"

    locked = tmp_path / "locked.jsonl"
    locked.write_text("{}\n")
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(UserError) as caught:
        list(io.iter_jsonl(locked))
    assert str(caught.value) == f"{locked}: permission denied: cannot read"


class FullDisk:
    """A file that takes ``room`` bytes and then fails as a full disk does."""

    def __init__(self, handle, room: int):
        self.handle, self.room = handle, room

    def write(self, data):
        if len(data) > self.room:
            self.handle.write(data[:self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def __getattr__(self, name):
        return getattr(self.handle, name)


def full_disk_for(monkeypatch, name: str, room: int = 10) -> None:
    """Writes to the temporary file of output ``name`` fail once ``room`` bytes are written."""
    real_open = builtins.open

    def patched(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if "w" in mode and os.path.basename(str(file)).startswith(f".{name}."):
            return FullDisk(handle, room)
        return handle

    monkeypatch.setattr(builtins, "open", patched)


def test_a_full_disk_is_one_line_and_leaves_the_old_output(tmp_path, monkeypatch):
    target = tmp_path / "rows.jsonl"
    target.write_text("old\n")
    full_disk_for(monkeypatch, "rows.jsonl")
    with pytest.raises(UserError) as caught:
        io.write_jsonl(target, [{"text": "x" * 100}])
    assert str(caught.value) == f"{target}: cannot write: No space left on device (nothing written)"
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]  # no partial temporary


def test_dev_full_is_one_line(tmp_path, monkeypatch):
    """The kernel's own full disk: /dev/full fails every write (here at the flush when the file closes)."""
    real_open = builtins.open

    def patched(file, mode="r", *args, **kwargs):
        if "w" in mode and os.path.basename(str(file)).startswith(".out.json."):
            return real_open("/dev/full", mode, *args, **kwargs)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", patched)
    with pytest.raises(UserError) as caught:
        io.write_json(tmp_path / "out.json", {"a": 1})
    assert str(caught.value) == f"{tmp_path / 'out.json'}: cannot write: No space left on device (nothing written)"
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_in_capflow_data_writes_none_of_its_outputs(tmp_path, monkeypatch, capsys):
    src = tmp_path / "src" / "Tiny"
    src.mkdir(parents=True)
    (src / "candidates.jsonl").write_text('{"id": "c1", "text": "a cat"}\n{"id": "c2", "text": "a dog"}\n')
    (src / "queries.jsonl").write_text('{"id": "q1", "query": "cat", "positives": [{"id": "c1", "score": 2}]}\n')
    out = tmp_path / "out"
    full_disk_for(monkeypatch, "queries.jsonl")
    monkeypatch.delenv("CAPFLOW_DATA_DIR", raising=False)
    code = cli.main(["data", "--name", "Tiny", "--local-dirs", str(tmp_path / "src"), "--candidates",
                     str(out / "candidates.jsonl"), "--queries", str(out / "queries.jsonl"), "--types",
                     str(out / "types.json")])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"capflow data: error: {out / 'queries.jsonl'}: cannot write: No space left on device (nothing written)")
    assert list(out.iterdir()) == []  # candidates.jsonl, written first, is taken back


def test_temporaries_of_a_killed_writer_are_cleaned_by_the_next_write(tmp_path):
    target = tmp_path / "figure.png"
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sys\n"
        "from capflow.io import atomic_open\n"
        "with atomic_open(sys.argv[1], 'wb') as handle:\n"
        "    handle.write(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"), str(target)])
    assert killed.returncode == -signal.SIGKILL
    [left] = tmp_path.iterdir()
    assert left.name.startswith(".figure.png.") and left.name.endswith(".tmp")
    unrelated = tmp_path / ".figure.png.notes.tmp"  # not a name the writer makes
    unrelated.write_text("keep")
    io.write_text(target, "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".figure.png.notes.tmp", "figure.png"]
    assert target.read_text() == "whole"


def test_a_live_writer_s_temporary_is_left_alone(tmp_path):
    target = tmp_path / "out.json"
    with io.atomic_open(target) as handle:
        handle.write("{}")
        io.write_text(target, "other")  # the same output written meanwhile, by this (live) process
        assert len(list(tmp_path.glob(".out.json.*.tmp"))) == 1
    assert target.read_text() == "{}"


@pytest.mark.parametrize("text", ['{"id": "q1", "query": "x\\ud800y"}', '{"id": "q1", "\\uDC00": 1}',
                                  '{"id": "q1", "query": ["a", {"b": "\\ud83d"}]}'])
def test_a_lone_surrogate_names_the_file_and_line(tmp_path, text):
    path = tmp_path / "queries.jsonl"
    path.write_text('{"id": "q0", "query": "\\ud83d\\ude00 a pair is fine"}\n' + text + "\n")
    with pytest.raises(UserError) as caught:
        list(io.iter_jsonl(path))
    assert str(caught.value).startswith(f"{path}:2: a string holds a lone UTF-16 surrogate, which is not text")
    single = tmp_path / "types.json"
    single.write_text(text)
    with pytest.raises(UserError, match=r"types\.json: a string holds a lone UTF-16 surrogate"):
        io.read_json(single)


def test_a_surrogate_pair_is_one_character(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text('{"id": "q0", "query": "\\ud83d\\ude00"}\n')
    assert io.read_jsonl(path) == [{"id": "q0", "query": "\U0001f600"}]
