"""An on-disk embedding cache: one folder per (model weights, recipe), one entry per exact text.

Entries are appended as immutable chunk files written atomically, so concurrent jobs sharing a
model never corrupt each other, and a rerun encodes nothing it has seen.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from capflow.io import atomic_path, remove_stale_temporaries

log = logging.getLogger(__name__)

# What np.load raises for a truncated, emptied or bit-flipped chunk (the zip's CRC catches a flip).
CORRUPT_CHUNK_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError, OSError, NotImplementedError,
                        RuntimeError)


CHUNK_NAME = r"chunk-[0-9a-f]{32}\.npz"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, root: str | Path, model_key: str):
        self.dir = Path(root) / model_key

    def _chunks(self):
        return sorted(self.dir.glob("chunk-*.npz")) if self.dir.is_dir() else []

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors of ``keys``; a corrupt chunk is reported, removed and its texts encoded anew."""
        wanted = set(keys)
        found: dict[bytes, np.ndarray] = {}
        for chunk in self._chunks():
            try:
                found.update(self._read_chunk(chunk, wanted))
            except CORRUPT_CHUNK_ERRORS as exc:
                log.warning("embedding cache: %s is corrupt (%s: %.100s); removing it, its texts are encoded again",
                            chunk, type(exc).__name__, exc)
                chunk.unlink(missing_ok=True)
        return found

    @staticmethod
    def _read_chunk(chunk: Path, wanted: set[bytes]) -> dict[bytes, np.ndarray]:
        with np.load(chunk) as data:
            keys = data["keys"]
            if keys.ndim != 2 or keys.shape[1] != 32 or keys.dtype != np.uint8:
                raise ValueError(f"keys of shape {keys.shape} and type {keys.dtype}")
            chunk_keys = [row.tobytes() for row in keys]
            hits = [i for i, k in enumerate(chunk_keys) if k in wanted]
            if not hits:
                return {}
            vectors = data["vectors"]
            if vectors.ndim != 2 or len(vectors) != len(chunk_keys):
                raise ValueError(f"{len(chunk_keys)} keys but vectors of shape {vectors.shape}")
            return {chunk_keys[i]: vectors[i] for i in hits}

    def store(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        # each chunk has a new name, so no later write of the same name would clean up after a killed one
        remove_stale_temporaries(self.dir, CHUNK_NAME)
        with atomic_path(self.dir / f"chunk-{uuid.uuid4().hex}.npz") as tmp:
            with open(tmp, "wb") as handle:
                keys_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
                np.savez(handle, keys=keys_array, vectors=vectors.astype(np.float32))


def model_key(weights_fingerprint: str, recipe_json: str) -> str:
    return hashlib.sha256(f"{weights_fingerprint}\0{recipe_json}".encode()).hexdigest()[:24]
