"""Table 6: generated training data, one row per pool × mix, from trainset stats.json files.

The paper's columns first, in its units: the pool's passages and total tokens, queries per pool
passage and the mean query length, in BERT WordPiece tokens (capflow.report.wordpiece, counted here
from the pool's passages and the set's queries beside its stats); then capflow's: queries, passages
with a query, the held-out queries, and the pool tokens and query length in the trainset step's own
unit (jieba words, or whitespace words)."""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.io import iter_jsonl, read_json
from capflow.report.table import Cell, Column, Row, Table
from capflow.report.wordpiece import UNIT, wordpiece_lengths
from capflow.vocabulary import MIX_DISPLAY, POOL_DISPLAY


def add_arguments(parser) -> None:
    parser.add_argument("--inputs", nargs="+", type=Path, required=True,
                        help="trainset stats.json files (train.jsonl and heldout.jsonl beside each)")
    parser.add_argument("--pool", nargs=2, action="append", required=True, metavar=("POOL", "PASSAGES"),
                        help="each pool's passages.jsonl, for the WordPiece counts; repeatable")


def set_queries(stats_path: Path) -> list[str]:
    """The queries of the training set whose stats are ``stats_path``: its training and held-out pairs."""
    return [row["query"] for name in ("train.jsonl", "heldout.jsonl")
            for _, row in iter_jsonl(stats_path.parent / name, {"query": str})]


def pool_tokens(path: Path) -> int:
    return sum(wordpiece_lengths([row["text"] for _, row in iter_jsonl(path, {"text": str})]))


def _count(value: int) -> str:
    return f"{value:,}"


def _decimal(value: float) -> str:
    return f"{value:.2f}"


def build(args) -> Table:
    runs = []
    pools = {pool: Path(path) for pool, path in args.pool}
    tokens: dict[str, int] = {}  # per pool, counted once for all its mixes
    for path in args.inputs:
        stats = read_json(path)
        missing = [k for k in ("pool", "mix", "generator", "pool_passages", "pool_tokens", "queries_per_pool_passage",
                               "query_tokens_mean", "token_unit", "queries", "passages", "heldout_queries")
                   if not isinstance(stats, dict) or k not in stats]
        if missing:
            raise UserError(f"trainset stats lack {', '.join(missing)}", path)
        if stats["pool"] not in pools:
            raise UserError(f"no --pool {stats['pool']} PASSAGES for its WordPiece counts", path)
        lengths = wordpiece_lengths(set_queries(Path(path)))
        if stats["pool"] not in tokens:
            tokens[stats["pool"]] = pool_tokens(pools[stats["pool"]])
        stats = {**stats, "wordpiece_pool": tokens[stats["pool"]],
                 "wordpiece_query": sum(lengths) / len(lengths) if lengths else 0.0}
        runs.append(stats)
    columns = [
        Column("pool", "Passages", best="none"),
        Column("tokens", "Tokens", best="none"),
        Column("qpp", "Queries/passage", best="none"),
        Column("qlen", "Query length", best="none"),
        Column("queries", "Queries", best="none"),
        Column("used", "Passages with queries", best="none"),
        Column("heldout", "Held out", best="none"),
        Column("words", "Tokens (words)", best="none"),
        Column("qwords", "Query length (words)", best="none"),
    ]
    groups: dict[str, list] = {}
    for r in runs:
        cells = {
            "pool": Cell(_count(r["pool_passages"])),
            "tokens": Cell(_count(r["wordpiece_pool"])),
            "qpp": Cell(_decimal(r["queries_per_pool_passage"])),
            "qlen": Cell(_decimal(r["wordpiece_query"])),
            "queries": Cell(_count(r["queries"])),
            "used": Cell(_count(r["passages"])),
            "heldout": Cell(_count(r["heldout_queries"])),
            "words": Cell(_count(r["pool_tokens"])),
            "qwords": Cell(_decimal(r["query_tokens_mean"])),
        }
        row = Row(r["generator"], cells, {"Mix": MIX_DISPLAY.get(r["mix"], r["mix"])})
        groups.setdefault(POOL_DISPLAY.get(r["pool"], r["pool"]), []).append(row)
    token_units = sorted({f"{r['language']}: {r['token_unit']}" for r in runs})
    notes = [f"The paper's columns: the pool after the leakage filter (passages, total tokens), queries per pool "
             f"passage and the mean query length, in {UNIT}. Then capflow's: the queries, the passages with at "
             "least one query, the queries held out for the eval loss, and the pool tokens and query length in "
             f"words ({', '.join(token_units)})."]
    if any(r["generator"].startswith("heuristic") for r in runs):
        notes.append("heuristic (no LLM): queries made by keyword extraction (KW) and sentence compression (SM), "
                     "not by the paper's LLM; the generator column names who made each row's queries.")
    notes += list(args.note or [])
    caption = args.caption or "Generated training data (the paper's Table 6)"
    return Table(caption=caption, label="tab:trainsets", columns=columns, groups=list(groups.items()),
                 row_header="Generator",
                 text_columns=["Mix"], notes=notes, scale=1.0)
