"""Dense ranking: embed texts with a recipe's encoder (through the embedding cache), rank by cosine."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from capflow import worklog
from capflow.recipes import Recipe

log = logging.getLogger(__name__)

# Recipe fields that change what an encoder outputs for an already-prepared text.
_EMBEDDING_FIELDS = ("pooling", "padding_side", "max_length", "dtype", "trust_remote_code")


def cosine_top_k(queries: np.ndarray, passages: np.ndarray, depth: int,
                 chunk: int = 256) -> list[list[tuple[int, float]]]:
    """Exact top-``depth`` by inner product of normalised vectors; ties keep candidate order."""
    depth = min(depth, passages.shape[0])
    results: list[list[tuple[int, float]]] = []
    for start in range(0, queries.shape[0], chunk):
        scores = queries[start:start + chunk] @ passages.T
        if depth < scores.shape[1]:
            top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        else:
            top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        for row, cols in zip(scores, top):
            cols = np.sort(cols)
            ordered = cols[np.argsort(-row[cols], kind="stable")]
            results.append([(int(c), float(row[c])) for c in ordered])
    return results


def cache_key(recipe: Recipe, weights) -> str:
    """A model's folder in the embedding cache: its weights' fingerprint and the recipe fields that
    change what it outputs for a prepared text."""
    from capflow import embcache, encoders

    relevant = {k: getattr(recipe, k) for k in _EMBEDDING_FIELDS}
    return embcache.model_key(encoders.fingerprint(weights), json.dumps(relevant, sort_keys=True))


def eos_token(recipe: Recipe, weights) -> str | None:
    """The EOS token the recipe appends to every text, if it asks for one."""
    if not recipe.append_eos:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(weights).eos_token


def embed(recipe: Recipe, texts: Sequence[str], role: str, cache_root: Path | None,
          device: str | None = None, state: dict | None = None) -> np.ndarray:
    """Embeddings for ``texts`` as ``role``, served from the cache where possible.

    ``state`` carries the loaded model between calls so queries and passages share one load; the
    model is loaded only if some text is missing from the cache.
    """
    from capflow import embcache, encoders

    state = state if state is not None else {}
    if "weights" not in state:
        state["weights"] = encoders.resolve_weights(recipe)
        state["key"] = cache_key(recipe, state["weights"])
        state["eos"] = eos_token(recipe, state["weights"])
    eos = state["eos"]
    prepared = encoders.prepared_texts(recipe, texts, role, eos)
    keys = [embcache.text_key(t) for t in prepared]
    cache = embcache.EmbeddingCache(cache_root, state["key"]) if cache_root else None
    found = cache.lookup(keys) if cache else {}
    missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
    log.info("%s, %s texts: %d, cached %d, to encode %d", recipe.name, role, len(texts),
             len(texts) - len(missing), len(missing))
    if missing:
        if "model" not in state:
            with worklog.timed() as loading:
                state["model"] = encoders.load_encoder(recipe, device=device, weights=state["weights"])
            state["setup_seconds"] = state.get("setup_seconds", 0.0) + loading()
        with worklog.timed() as encoding:
            fresh = encoders.encode(state["model"], [prepared[i] for i in missing], recipe.batch_size)
        state["encode_seconds"] = state.get("encode_seconds", 0.0) + encoding()
        new = {keys[i]: fresh[j] for j, i in enumerate(missing)}
        if cache:
            cache.store(list(new), np.stack(list(new.values())))
        found.update(new)
    state["encoded"] = state.get("encoded", 0) + len(missing)
    return np.stack([found[k] for k in keys]).astype(np.float32)


def search(recipe: Recipe, candidate_texts: Sequence[str], query_texts: Sequence[str], depth: int, *,
           cache_root: Path | None = None, device: str | None = None,
           state: dict | None = None) -> list[list[tuple[int, float]]]:
    """Per query, the ``depth`` best candidates as (candidate index, cosine), best first; ``state`` keeps
    the loaded model and counts the texts encoded and the seconds spent loading and encoding."""
    state = state if state is not None else {}
    passages = embed(recipe, candidate_texts, "passage", cache_root, device, state)
    queries = embed(recipe, query_texts, "query", cache_root, device, state)
    return cosine_top_k(queries, passages, depth)
