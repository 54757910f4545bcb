"""Hard negatives for finetuning: for each training pair, passages of the pool that rank high for its
query but are not its positive.

Two miners rank the pool. ``dense`` is sentence-transformers' ``mine_hard_negatives`` with the base
model, its embeddings cached under the embedding cache in a folder named by the model's weights.
``bm25`` ranks with capflow's BM25 (the tokenisation of the benchmark's language) and applies the
same rules, since ``mine_hard_negatives`` ranks with embeddings only. The rules, for both:

- candidates are the ranks ``range_min`` to ``range_max`` (0-based; the first ``range_min`` are
  skipped as likely unlabelled positives);
- a candidate must score at most ``positive - |positive| * relative_margin``;
- never a positive of the same query text (several passages may have generated the same query), nor
  a passage with the same text as a positive, nor a test caption (the test view's, or the whole
  benchmark's): the exclusions are checked again on the result;
- the ``count`` best remaining candidates, ties in pool order. A pair with fewer is left out of
  training and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from capflow.benchmark import normalise_whitespace
from capflow.errors import UserError
from capflow.io import iter_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

MINERS = ("bm25", "dense")
NEGATIVE_FIELDS = {"query": str, "passage_id": str, "negative_ids": list}


@dataclass(frozen=True)
class MiningSettings:
    miner: str = field(default="bm25", metadata={"help": "bm25 over the pool, or dense with the base model"})
    count: int = field(default=1, metadata={"help": "hard negatives per training pair"})
    range_min: int = field(default=0, metadata={"help": "ranks skipped before the candidates (0-based)"})
    range_max: int = field(default=50, metadata={"help": "the last rank a candidate may have (exclusive)"})
    relative_margin: float = field(
        default=0.05, metadata={"help": "a candidate scores at most positive - |positive| * margin"})

    def check(self) -> None:
        if self.miner not in MINERS:
            raise UserError(f"hard-negative miner must be one of {', '.join(MINERS)}, got {self.miner!r}")
        if self.count < 1:
            raise UserError(f"hard negatives per pair must be positive, got {self.count}")
        if not 0 <= self.range_min < self.range_max:
            raise UserError(f"hard-negative ranks must satisfy 0 <= range_min < range_max, got "
                            f"{self.range_min} and {self.range_max}")
        if self.count > self.range_max - self.range_min:
            raise UserError(f"{self.count} hard negatives per pair cannot come from ranks {self.range_min} to "
                            f"{self.range_max}")
        if not 0 <= self.relative_margin < 1:
            raise UserError(f"hard-negative relative_margin must be in [0, 1), got {self.relative_margin}")


def text_key(text: str) -> str:
    """Texts that are the same caption for the exclusions: equal after collapsing whitespace."""
    return normalise_whitespace(text)


def select(scores: np.ndarray, positive_score: float, excluded: set[int], settings: MiningSettings) -> list[int]:
    """The BM25 miner's choice for one query: ``scores`` over the pool, the positive's score, the
    pool indices never to take."""
    order = np.argsort(-scores, kind="stable")  # ties in pool order
    limit = positive_score - abs(positive_score) * settings.relative_margin
    chosen = []
    for index in order[settings.range_min:settings.range_max]:
        index = int(index)
        if index in excluded or scores[index] > limit:
            continue
        chosen.append(index)
        if len(chosen) == settings.count:
            break
    return chosen


def mine_bm25(queries: Sequence[str], positives: Sequence[set[int]], texts: Sequence[str], language: str,
              excluded: set[int], settings: MiningSettings) -> list[list[int]]:
    """Per unique query, its negatives as pool indices."""
    from rank_bm25 import BM25Okapi

    from capflow.bm25 import tokenizers

    tokenize_candidate, tokenize_query = tokenizers(language)
    index = BM25Okapi([tokenize_candidate(t) for t in texts])
    out = []
    for query, positive in zip(queries, positives, strict=True):
        scores = np.asarray(index.get_scores(tokenize_query(query)), dtype=np.float64)
        # the hardest positive sets the margin, as mine_hard_negatives does
        out.append(select(scores, min(scores[i] for i in positive), excluded | positive, settings))
    return out


def mine_dense(queries: Sequence[str], positives: Sequence[set[int]], texts: Sequence[str], excluded: set[int],
               settings: MiningSettings, recipe, cache_root: Path | None, device: str | None) -> list[list[int]]:
    """Per unique query, its negatives as pool indices, by ``mine_hard_negatives`` with ``recipe``'s model."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from capflow import dense, encoders

    weights = encoders.resolve_weights(recipe)
    model = encoders.load_encoder(recipe, device=device, weights=weights)
    eos = dense.eos_token(recipe, weights)
    # Excluded passages leave the corpus; a positive stays, and the miner never returns it.
    kept = [i for i in range(len(texts)) if i not in excluded or any(i in p for p in positives)]
    prepared_corpus = encoders.prepared_texts(recipe, [texts[i] for i in kept], "passage", eos)
    prepared_of = dict(zip(kept, prepared_corpus, strict=True))
    index_of = {}
    for i, text in zip(kept, prepared_corpus, strict=True):
        index_of.setdefault(text, i)  # duplicates: the first in pool order
    anchors, positive_texts = [], []
    prepared_queries = encoders.prepared_texts(recipe, queries, "query", eos)
    for query, positive in zip(prepared_queries, positives, strict=True):
        for i in sorted(positive):
            anchors.append(query)
            positive_texts.append(prepared_of[i])
    cache = Path(cache_root) / "mining" / dense.cache_key(recipe, weights) if cache_root else None
    mined = mine_hard_negatives(
        Dataset.from_dict({"anchor": anchors, "positive": positive_texts}), model, corpus=prepared_corpus,
        range_min=settings.range_min, range_max=settings.range_max, relative_margin=settings.relative_margin,
        num_negatives=settings.count, sampling_strategy="top", output_format="n-tuple",
        batch_size=recipe.batch_size, verbose=False, cache_folder=str(cache) if cache else None)
    # n-tuple rows: anchor, positive, negative_1..count; a query short of negatives has no row
    found: dict[str, list[int]] = {}
    for row in mined:
        found.setdefault(row["anchor"], [index_of[row[f"negative_{k + 1}"]] for k in range(settings.count)])
    return [[i for i in found.get(query, []) if i not in excluded and i not in positive]
            for query, positive in zip(prepared_queries, positives, strict=True)]


def mine(pairs: Sequence[tuple[str, str]], pool: dict[str, str], test_captions: Sequence[str],
         settings: MiningSettings, *, language: str, recipe=None, cache_root: Path | None = None,
         device: str | None = None) -> tuple[list[dict], dict]:
    """Each training pair with its negatives (pairs with too few are left out), and the mining stats."""
    settings.check()
    ids = list(pool)
    texts = [pool[i] for i in ids]
    by_text: dict[str, list[int]] = {}
    for n, text in enumerate(texts):
        by_text.setdefault(text_key(text), []).append(n)
    test = {text_key(t) for t in test_captions}
    excluded = {n for n, text in enumerate(texts) if text_key(text) in test}
    # every passage a query text was generated from is its positive, and so is each passage of the same text
    positives_of: dict[str, set[int]] = {}
    for query, pid in pairs:
        positives_of.setdefault(query, set()).update(by_text[text_key(pool[pid])])
    queries = list(positives_of)
    positives = [positives_of[q] for q in queries]
    if settings.miner == "bm25":
        negatives = mine_bm25(queries, positives, texts, language, excluded, settings)
    else:
        if recipe is None:
            raise UserError("the dense miner needs the base model's recipe")
        negatives = mine_dense(queries, positives, texts, excluded, settings, recipe, cache_root, device)
    negatives_of = dict(zip(queries, negatives, strict=True))
    rows, short = [], 0
    for query, pid in pairs:
        chosen = negatives_of[query]
        assert not set(chosen) & (positives_of[query] | excluded)  # the rules above, held on the result
        if len(chosen) < settings.count:
            short += 1
            continue
        rows.append({"query": query, "passage_id": pid, "negative_ids": [ids[i] for i in chosen]})
    stats = {"miner": settings.miner, "pairs": len(pairs), "pairs_with_negatives": len(rows),
             "pairs_left_out": short, "negatives_per_pair": settings.count,
             "range": [settings.range_min, settings.range_max], "relative_margin": settings.relative_margin,
             "pool_passages": len(ids), "test_captions_in_pool": len(excluded)}
    return rows, stats


def load_negatives(path: Path, pool: dict[str, str]) -> dict[tuple[str, str], list[str]]:
    """A mined file's negatives by (query, passage id); every id must be in the pool."""
    out = {}
    for lineno, row in iter_jsonl(path, NEGATIVE_FIELDS):
        negatives = row["negative_ids"]
        if not negatives or not all(isinstance(n, str) and n in pool for n in negatives):
            raise UserError("negative_ids must be a non-empty list of passage ids of the pool", path, lineno)
        if out and len(negatives) != len(next(iter(out.values()))):
            raise UserError(f"{len(negatives)} negative_ids where the first line has "
                            f"{len(next(iter(out.values())))}: every pair needs the same number", path, lineno)
        out[(row["query"], row["passage_id"])] = negatives
    return out


# --- CLI ----------------------------------------------------------------------------------------------

def configure_parser(parser) -> None:
    from capflow.settingflags import add_options

    parser.add_argument("--train", required=True, type=Path, help="training pairs {query, passage_id} (JSONL)")
    parser.add_argument("--passages", required=True, type=Path, help="the pool's passages.jsonl {id, text}")
    parser.add_argument("--test-captions", required=True, type=Path, nargs="+",
                        help="candidates.jsonl of each evaluation view: their captions are never negatives")
    parser.add_argument("--language", required=True, choices=("zh", "en"), help="BM25's tokenisation")
    parser.add_argument("--recipe-json", help="the base model's recipe as JSON (the dense miner)")
    parser.add_argument("--cache", type=Path, help="embedding cache directory (the dense miner)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--out", required=True, type=Path, help="pairs with negatives (JSONL)")
    parser.add_argument("--stats", required=True, type=Path, help="mining statistics (JSON)")
    add_options(parser, MiningSettings)


def main(args) -> None:
    from capflow.recipes import Recipe
    from capflow.settingflags import from_args
    from capflow.train.pairs import load_pairs, load_pool_texts

    settings = from_args(MiningSettings, args)
    settings.check()
    pool = load_pool_texts(args.passages)
    pairs = load_pairs(args.train, pool)
    test = [row["text"] for path in args.test_captions for _, row in iter_jsonl(path, {"text": str})]
    recipe = Recipe.from_json(args.recipe_json) if args.recipe_json else None
    rows, stats = mine(pairs, pool, test, settings, language=args.language, recipe=recipe, cache_root=args.cache,
                       device=args.device)
    if not rows:
        raise UserError(f"no training pair kept {settings.count} hard negative(s): widen the ranks or lower the "
                        "margin", args.train)
    if stats["pairs_left_out"]:
        log.warning("WARNING: %d of %d pairs found fewer than %d negative(s) and are left out of training",
                    stats["pairs_left_out"], stats["pairs"], settings.count)
    write_jsonl(args.out, rows)
    write_json(args.stats, stats)
    log.info("mined %d pair(s) with %d negative(s) each (%s); %d left out", len(rows), settings.count,
             settings.miner, stats["pairs_left_out"])
