"""A damaged embedding-cache chunk (truncated, emptied, a bit flipped) is reported in the log, removed,
and its texts are encoded again: the vectors come out as if the cache had been whole."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

import numpy as np
import pytest

from capflow import dense
from capflow.benchmark import load_benchmark
from capflow.embcache import EmbeddingCache, text_key
from capflow.recipes import Recipe

from conftest import build_tiny_bert

KEYS = [text_key(f"caption {i}") for i in range(3)]
VECTORS = np.arange(12, dtype=np.float32).reshape(3, 4)


def damage(kind: str):
    def truncate(data: bytes) -> bytes:
        return data[: len(data) // 2]

    def empty(data: bytes) -> bytes:
        return b""

    def flip_in_vectors(data: bytes) -> bytes:
        flipped = bytearray(data)
        flipped[data.index(VECTORS.tobytes()) + 5] ^= 0x10  # caught by the zip's CRC
        return bytes(flipped)

    def flip_in_header(data: bytes) -> bytes:
        flipped = bytearray(data)
        flipped[data.index(b"'descr'") + 9] ^= 0x01  # '|u1' becomes '}u1': no dtype
        return bytes(flipped)

    return {"truncated": truncate, "empty": empty, "flipped-vector-bit": flip_in_vectors,
            "flipped-header-bit": flip_in_header}[kind]


@pytest.mark.parametrize("kind", ["truncated", "empty", "flipped-vector-bit", "flipped-header-bit"])
def test_a_damaged_chunk_is_logged_removed_and_missed(tmp_path, caplog, kind):
    cache = EmbeddingCache(tmp_path, "model")
    cache.store(KEYS, VECTORS)
    cache.store([text_key("other")], np.ones((1, 4), dtype=np.float32))
    damaged = next(chunk for chunk in cache._chunks() if VECTORS.tobytes() in chunk.read_bytes())
    damaged.write_bytes(damage(kind)(damaged.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="capflow.embcache"):
        found = cache.lookup([*KEYS, text_key("other")])
    assert list(found) == [text_key("other")]  # the whole chunk's entries are dropped, the other kept
    assert not damaged.exists() and len(cache._chunks()) == 1
    [record] = caplog.records
    assert record.getMessage().startswith(f"embedding cache: {damaged} is corrupt (")
    assert record.getMessage().endswith("); removing it, its texts are encoded again")


def test_every_flipped_bit_is_caught_or_harmless(tmp_path):
    """Flip each bit of a small chunk in turn: a lookup never raises, and what it returns is right."""
    cache = EmbeddingCache(tmp_path, "model")
    cache.store(KEYS, VECTORS)
    [chunk] = cache._chunks()
    whole = chunk.read_bytes()
    logging.getLogger("capflow.embcache").disabled = True
    try:
        for position in range(0, len(whole), 3):
            flipped = bytearray(whole)
            flipped[position] ^= 1 << (position % 8)
            chunk.write_bytes(bytes(flipped))
            found = cache.lookup(KEYS)
            assert found == {} or all(np.array_equal(found[k], VECTORS[i]) for i, k in enumerate(KEYS)), position
    finally:
        logging.getLogger("capflow.embcache").disabled = False


def test_dense_embedding_recomputes_what_a_damaged_chunk_held(tmp_path, tiny_benchmark):
    bench = load_benchmark(tiny_benchmark)
    weights = build_tiny_bert(tmp_path / "bert", list("abcdefghijklmnopqrstuvwxyz0123456789.,"), 0)
    recipe = Recipe(name="tiny", path=str(weights), pooling="mean", max_length=64)
    cache = tmp_path / "cache"
    vectors = dense.embed(recipe, bench.candidate_texts, "passage", cache, "cpu", {})
    [chunk] = cache.rglob("chunk-*.npz")
    chunk.write_bytes(chunk.read_bytes()[:100])
    state = {}
    again = dense.embed(recipe, bench.candidate_texts, "passage", cache, "cpu", state)
    assert state["encoded"] == len(bench.candidate_texts)
    assert np.allclose(again, vectors, atol=1e-6)
    assert len(list(cache.rglob("chunk-*.npz"))) == 1  # the damaged chunk gone, the new one in its place


def test_a_killed_writer_s_temporary_chunk_is_removed_by_the_next_store(tmp_path):
    """A chunk's name is new on every write: the next store cleans up after a killed one, not a rewrite."""
    cache = EmbeddingCache(tmp_path, "model")
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sys, uuid\n"
        "from pathlib import Path\n"
        "from capflow.io import atomic_open\n"
        "with atomic_open(Path(sys.argv[1]) / f'chunk-{uuid.uuid4().hex}.npz', 'wb') as handle:\n"
        "    handle.write(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"), str(cache.dir)])
    assert killed.returncode == -signal.SIGKILL
    [left] = cache.dir.iterdir()
    assert left.name.startswith(".chunk-") and left.name.endswith(".tmp")
    unrelated = cache.dir / ".notes.tmp"
    unrelated.write_text("keep")
    cache.store(KEYS, VECTORS)
    assert sorted(p.name for p in cache.dir.iterdir() if p.name.startswith(".")) == [".notes.tmp"]
    assert list(cache.lookup(KEYS)) == KEYS
