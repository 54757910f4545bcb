"""An on-disk embedding cache: one folder per (model weights, recipe), one entry per exact text.

Entries are appended as immutable chunk files written atomically, so concurrent jobs sharing a
model never corrupt each other, and a rerun encodes nothing it has seen.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np

from capflow.io import atomic_path


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, root: str | Path, model_key: str):
        self.dir = Path(root) / model_key

    def _chunks(self):
        return sorted(self.dir.glob("chunk-*.npz")) if self.dir.is_dir() else []

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        wanted = set(keys)
        found: dict[bytes, np.ndarray] = {}
        for chunk in self._chunks():
            with np.load(chunk) as data:
                chunk_keys = [row.tobytes() for row in data["keys"]]
                hits = [i for i, k in enumerate(chunk_keys) if k in wanted]
                if hits:
                    vectors = data["vectors"]
                    for i in hits:
                        found[chunk_keys[i]] = vectors[i]
        return found

    def store(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.dir / f"chunk-{uuid.uuid4().hex}.npz") as tmp:
            with open(tmp, "wb") as handle:
                keys_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
                np.savez(handle, keys=keys_array, vectors=vectors.astype(np.float32))


def model_key(weights_fingerprint: str, recipe_json: str) -> str:
    return hashlib.sha256(f"{weights_fingerprint}\0{recipe_json}".encode()).hexdigest()[:24]
