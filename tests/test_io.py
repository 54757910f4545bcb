"""The atomic writers and the readers every step shares: file modes, undecodable and unreadable files."""

import builtins
import os
import stat

import pytest

from capflow import io
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
