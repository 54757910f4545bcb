"""``capflow trainset``: one training set (a pool × a mix of query kinds) and its statistics.

Pairs {query, passage_id, kind} come from the generation shards of the mix's kinds (SM, KW, or
both), in shard order with SM before KW; a query repeated for the same passage is kept once. Of
each kind, round(heldout_fraction × n) pairs are held out: those ranked lowest by a seeded hash of
(passage id, query). The choice depends on the pair, not the mix, so SM+KW holds out SM's
held-out pairs plus KW's (but for a query made as both SM and KW for one passage, kept once as SM).

The stats hold the paper's Table 6 in its units: the pool's size and total tokens (jieba words for
Chinese, whitespace-separated words for English; punctuation-only tokens not counted), queries per
pool passage and the mean query length in the same tokens. Beside them: the passages with at least
one query and their tokens, the query count, the mean query length in characters (Chinese) or words
(English), per-kind counts, and the generator's label.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from capflow.errors import UserError
from capflow.io import iter_jsonl, read_json, write_json, write_jsonl
from capflow.prompts import LANGUAGES
from capflow.vocabulary import KINDS, MIXES

log = logging.getLogger(__name__)

TOKEN_UNIT = {"zh": "jieba words", "en": "whitespace words"}
QUERY_LENGTH_UNIT = {"zh": "chars", "en": "words"}
QUERY_FIELDS = {"passage_id": str, "kind": str, "query": str}


def passage_tokens(text: str, language: str) -> int:
    if language == "zh":
        import jieba

        return sum(1 for token in jieba.lcut(text) if any(ch.isalnum() for ch in token))
    return sum(1 for token in text.split() if any(ch.isalnum() for ch in token))


def query_length(query: str, language: str) -> int:
    return len("".join(query.split())) if language == "zh" else len(query.split())


def _heldout_rank(passage_id: str, query: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}\0{passage_id}\0{query}".encode()).digest()


def heldout_mask(pairs: Sequence[dict], fraction: float, seed: int) -> list[bool]:
    """Hold out round(fraction × n) pairs of each kind: those with the lowest seeded hash."""
    mask = [False] * len(pairs)
    for kind in KINDS:
        of_kind = [i for i, p in enumerate(pairs) if p["kind"] == kind]
        ranked = sorted(of_kind, key=lambda i: _heldout_rank(pairs[i]["passage_id"], pairs[i]["query"], seed))
        for i in ranked[:round(fraction * len(of_kind))]:
            mask[i] = True
    return mask


def read_pairs(paths: Sequence[Path], kinds: Sequence[str], pool_ids: set[str]) -> list[dict]:
    """Query rows of ``kinds`` from generation shards, in kind order then file order, deduplicated."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for path in paths:
        for lineno, row in iter_jsonl(path, QUERY_FIELDS):
            if row["kind"] not in kinds:
                raise UserError(f"query of kind '{row['kind']}' in a {'+'.join(kinds)} training set", path, lineno)
            if row["passage_id"] not in pool_ids:
                raise UserError(f"passage '{row['passage_id']}' is not in the pool", path, lineno)
            by_kind[row["kind"]].append({"query": row["query"], "passage_id": row["passage_id"], "kind": row["kind"]})
    pairs: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for kind in kinds:
        for pair in by_kind[kind]:
            key = (pair["passage_id"], pair["query"])
            if key not in seen:
                seen.add(key)
                pairs.append(pair)
    return pairs


def generator_label(stats_paths: Iterable[Path]) -> str:
    labels = []
    for path in stats_paths:
        stats = read_json(path)
        if not isinstance(stats, dict) or not isinstance(stats.get("generator"), str):
            raise UserError("generation stats lack a 'generator' label", path)
        labels.append(stats["generator"])
    return " + ".join(sorted(set(labels))) or "unknown"


def _shard_count(stats_paths: Sequence[Path], key: str) -> int | None:
    """The sum of ``key`` over the shard stats, or None when some shard does not record it."""
    values = [read_json(path) for path in stats_paths]
    if not all(isinstance(v, dict) and isinstance(v.get(key), int) for v in values):
        return None
    return sum(v[key] for v in values)


def why_no_queries(passages_path: Path, pool_size: int, stats_paths: Sequence[Path],
                   leakage_report: Path | None = None) -> str:
    """Why a mix has no query at all: an empty pool (the leakage filter kept nothing) or only rejects."""
    if pool_size == 0:
        try:
            counts = read_json(leakage_report)["counts"] if leakage_report else None
            if counts:
                return (f"the leakage filter kept no passage of the pool ({counts['in']} in, "
                        f"{counts['dropped']} dropped, {counts['kept']} kept; see {leakage_report})")
        except (UserError, KeyError, TypeError):
            pass
        return f"the pool {passages_path} holds no passage (did the leakage filter keep none?)"
    passages, rejects = _shard_count(stats_paths, "passages"), _shard_count(stats_paths, "rejects")
    if passages is None or rejects is None:
        return "every answer was rejected (see the rejects files)"
    return (f"every answer was rejected ({rejects} rejects for {passages} of the pool's {pool_size} passages; "
            "see the rejects files)")


def _mean(total: float, count: int) -> float:
    return round(total / count, 4) if count else 0.0


def trainset_stats(pairs: Sequence[dict], heldout: int, texts: dict[str, str], language: str) -> dict:
    """Table 6's statistics of a training set drawn from the pool ``texts`` (id -> passage)."""
    tokens_of = {pid: passage_tokens(text, language) for pid, text in texts.items()}
    passages = list(dict.fromkeys(p["passage_id"] for p in pairs))
    tokens = sum(tokens_of[pid] for pid in passages)
    by_kind = {}
    for kind in KINDS:
        of_kind = [p for p in pairs if p["kind"] == kind]
        if of_kind:
            with_queries = len({p["passage_id"] for p in of_kind})
            by_kind[kind] = {
                "queries": len(of_kind), "passages": with_queries,
                "queries_per_passage": _mean(len(of_kind), with_queries),
                "query_length_mean": _mean(sum(query_length(p["query"], language) for p in of_kind), len(of_kind)),
            }
    return {
        "pool_tokens": sum(tokens_of.values()),
        "queries_per_pool_passage": _mean(len(pairs), len(texts)),
        "query_tokens_mean": _mean(sum(passage_tokens(p["query"], language) for p in pairs), len(pairs)),
        "passages": len(passages),
        "passage_tokens": tokens,
        "passage_tokens_mean": _mean(tokens, len(passages)),
        "token_unit": TOKEN_UNIT[language],
        "queries": len(pairs),
        "train_queries": len(pairs) - heldout,
        "heldout_queries": heldout,
        "queries_per_passage": _mean(len(pairs), len(passages)),
        "query_length_mean": _mean(sum(query_length(p["query"], language) for p in pairs), len(pairs)),
        "query_length_unit": QUERY_LENGTH_UNIT[language],
        "by_kind": by_kind,
    }


class TrainsetFiles(NamedTuple):
    train: Path
    heldout: Path
    stats: Path


def build_trainset(pool: str, mix: str, passages_path: Path, query_paths: Sequence[Path],
                   stats_paths: Sequence[Path], language: str, heldout_fraction: float, seed: int,
                   out: TrainsetFiles, leakage_report: Path | None = None) -> dict:
    from capflow.generate.shards import load_pool

    if mix not in MIXES:
        raise UserError(f"unknown mix '{mix}' (choose from {', '.join(MIXES)})")
    if language not in LANGUAGES:
        raise UserError(f"unknown language '{language}' (choose from {', '.join(LANGUAGES)})")
    if not 0 <= heldout_fraction < 1:
        raise UserError(f"heldout fraction must be in [0, 1), got {heldout_fraction}")
    texts = {p.id: p.text for p in load_pool(passages_path)}
    pairs = read_pairs(query_paths, MIXES[mix], set(texts))
    if not pairs:
        reason = why_no_queries(passages_path, len(texts), stats_paths, leakage_report)
        raise UserError(f"no generated queries for {pool}-{mix}: {reason}")
    heldout_flags = heldout_mask(pairs, heldout_fraction, seed)
    train = [p for p, held in zip(pairs, heldout_flags) if not held]
    heldout = [p for p, held in zip(pairs, heldout_flags) if held]
    stats = {
        "pool": pool, "mix": mix, "kinds": list(MIXES[mix]), "language": language,
        "generator": generator_label(stats_paths), "pool_passages": len(texts),
        "heldout_fraction": heldout_fraction, "seed": seed,
        **trainset_stats(pairs, len(heldout), texts, language),
    }
    write_jsonl(out.train, train)
    write_jsonl(out.heldout, heldout)
    write_json(out.stats, stats)
    return stats


def configure_parser(parser) -> None:
    parser.add_argument("--pool", required=True, help="pool name, e.g. ood or id")
    parser.add_argument("--mix", required=True, choices=sorted(MIXES), help="which query kinds: sm, kw or smkw")
    parser.add_argument("--passages", required=True, type=Path, help="the pool's passages.jsonl")
    parser.add_argument("--queries", required=True, nargs="+", type=Path, help="generation shards of the mix's kinds")
    parser.add_argument("--stats", required=True, nargs="+", type=Path,
                        help="their stats JSON (for the generator label)")
    parser.add_argument("--language", required=True, choices=LANGUAGES, help="passage language (token/length units)")
    parser.add_argument("--heldout-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--leakage-report", type=Path,
                        help="the pool's leakage report, quoted when the filter kept no passage")
    parser.add_argument("--train", required=True, type=Path, help="output: training pairs JSONL")
    parser.add_argument("--heldout", required=True, type=Path, help="output: held-out pairs JSONL")
    parser.add_argument("--out-stats", required=True, type=Path, help="output: the training set's stats JSON")


def main(args) -> None:
    stats = build_trainset(args.pool, args.mix, args.passages, args.queries, args.stats, args.language,
                           args.heldout_fraction, args.seed,
                           TrainsetFiles(args.train, args.heldout, args.out_stats), args.leakage_report)
    log.info("%s-%s: %d queries (%d held out) for %d passages, %.2f per passage, generator %s", args.pool, args.mix,
             stats["queries"], stats["heldout_queries"], stats["passages"], stats["queries_per_passage"],
             stats["generator"])
