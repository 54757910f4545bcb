"""Every query–candidate cosine of a dense run, read from the embedding cache: report steps never load
a model, so a text the retrieve step did not encode is an error, not a new encode."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capflow.benchmark import Benchmark
from capflow.errors import UserError
from capflow.recipes import Recipe
from capflow.runrecord import RunRecord


def recipe_of(record: RunRecord) -> Recipe:
    """The recipe a run was produced with."""
    if record.recipe is None:
        raise UserError("metrics JSON lacks the 'recipe' of its model", record.source)
    return Recipe.from_json(json.dumps(record.recipe))


def cached_embeddings(recipe: Recipe, texts: Sequence[str], role: str, cache_root: Path) -> np.ndarray:
    """The cached embeddings of ``texts`` as ``role``, keyed exactly as the retrieve step keys them."""
    from capflow import dense, embcache, encoders

    weights = encoders.resolve_weights(recipe)
    cache = embcache.EmbeddingCache(cache_root, dense.cache_key(recipe, weights))
    eos = dense.eos_token(recipe, weights)
    keys = [embcache.text_key(t) for t in encoders.prepared_texts(recipe, texts, role, eos)]
    found = cache.lookup(keys)
    missing = sum(1 for k in keys if k not in found)
    if missing:
        raise UserError(f"model '{recipe.name}': {missing} of {len(keys)} {role} texts are not in the embedding "
                        "cache (run `capflow retrieve --cache` with this cache first)", cache.dir)
    return np.stack([found[k] for k in keys]).astype(np.float32)


@dataclass
class ScoreMatrix:
    query_ids: list[str]
    candidate_ids: list[str]
    cosine: np.ndarray  # queries × candidates

    def row(self, query_id: str) -> np.ndarray:
        return self.cosine[self.query_ids.index(query_id)]


def score_matrix(recipe: Recipe, benchmark: Benchmark, cache_root: Path) -> ScoreMatrix:
    if recipe.kind == "bm25":
        raise UserError(f"model '{recipe.name}' is BM25: it has no embeddings")
    passages = cached_embeddings(recipe, benchmark.candidate_texts, "passage", cache_root)
    queries = cached_embeddings(recipe, [q.text for q in benchmark.queries], "query", cache_root)
    return ScoreMatrix([q.id for q in benchmark.queries], list(benchmark.candidate_ids), queries @ passages.T)
