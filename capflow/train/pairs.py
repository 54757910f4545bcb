"""Training pairs: read, checked for in-batch negatives, prepared as the recipe prepares texts, and
the passage length sized from the pool."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from capflow.benchmark import has_visible_text
from capflow.errors import UserError
from capflow.io import iter_jsonl
from capflow.recipes import Recipe
from capflow.train.settings import AUTO_LENGTH_COVERAGE, AUTO_LENGTH_START

log = logging.getLogger(__name__)

PAIR_FIELDS = {"query": str, "passage_id": str}



def load_pairs(path: Path, passages: dict[str, str]) -> list[tuple[str, str]]:
    """(query, passage id) pairs of a training file; every passage must be in the pool."""
    pairs = []
    for lineno, row in iter_jsonl(path, PAIR_FIELDS):
        if not has_visible_text(row["query"]):
            raise UserError("empty query", path, lineno)
        if row["passage_id"] not in passages:
            raise UserError(f"passage '{row['passage_id']}' is not in the pool", path, lineno)
        pairs.append((row["query"], row["passage_id"]))
    return pairs


def load_pool_texts(path: Path) -> dict[str, str]:
    from capflow.generate.shards import load_pool

    return {p.id: p.text for p in load_pool(path)}


def check_in_batch_negatives(pairs: Sequence[tuple[str, str]], batch_size: int, path: Path) -> list[str]:
    """Refuse a training set whose batches cannot hold two distinct passages; return warnings.

    With in-batch negatives each query's only negatives are the other passages of its batch: with
    one distinct passage there are none, and the loss is exactly 0 at every step.
    """
    distinct = len({pid for _, pid in pairs})
    if distinct < 2:
        raise UserError(f"{len(pairs)} training pair(s) over {distinct} distinct passage(s): in-batch negatives need "
                        "at least 2 distinct passages (the loss would be 0 at every step)", path)
    warnings = []
    if len(pairs) < batch_size:
        warnings.append(f"the training set ({len(pairs)} pairs, {distinct} distinct passages) is smaller than one "
                        f"batch ({batch_size}): every step sees the same few in-batch negatives")
    return warnings


def pair_columns(recipe: Recipe, pairs: Sequence[tuple[str, str]], passages: dict[str, str],
                 eos: str | None, negatives: dict[tuple[str, str], list[str]] | None = None) -> dict[str, list[str]]:
    """The text columns the loss reads, each text prepared as the encoder sees it at evaluation: query and
    passage, then ``negative_1``, ... when the pairs have hard negatives (the same number for each)."""
    from capflow.encoders import prepared_texts

    columns = {"query": prepared_texts(recipe, [q for q, _ in pairs], "query", eos),
               "passage": prepared_texts(recipe, [passages[pid] for _, pid in pairs], "passage", eos)}
    for k in range(len(negatives[pairs[0]]) if negatives and pairs else 0):
        columns[f"negative_{k + 1}"] = prepared_texts(recipe, [passages[negatives[pair][k]] for pair in pairs],
                                                      "passage", eos)
    return columns


def passage_length(setting: int | str, lengths: Sequence[int], model_max: int) -> int:
    """The passage truncation length: ``setting`` within the model's limit, or for "auto" the
    smallest of AUTO_LENGTH_START·2^k (then the model's limit) covering AUTO_LENGTH_COVERAGE of
    ``lengths`` (the pool's passages in tokens)."""
    if setting != "auto":
        return min(int(setting), model_max)
    candidate = AUTO_LENGTH_START
    while candidate < model_max:
        if sum(n <= candidate for n in lengths) >= AUTO_LENGTH_COVERAGE * len(lengths):
            return candidate
        candidate *= 2
    return model_max


def passage_token_lengths(model, texts: Sequence[str]) -> list[int]:
    """Each prepared passage's length in the model's tokens, special tokens included, untruncated."""
    return [len(ids) for ids in model.tokenizer(list(texts), verbose=False)["input_ids"]]


def truncation_report(setting: int | str, length: int, pool_lengths: Sequence[int],
                      train_lengths: Sequence[int]) -> dict:
    """What train.json records about passage truncation."""
    def share_longer(lengths: Sequence[int]) -> float:
        return round(sum(n > length for n in lengths) / len(lengths), 4) if lengths else 0.0

    return {"passage_max_length": length, "passage_max_length_setting": setting,
            "pool_passages_truncated": share_longer(pool_lengths),
            "train_passages_truncated": share_longer(train_lengths)}


