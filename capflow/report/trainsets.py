"""Table 6: generated training data, one row per pool × mix, from trainset stats.json files.

The paper's columns first, in its units: the pool's passages and total tokens, queries per pool
passage and the mean query length in tokens; then capflow's: queries, passages with a query, and the
held-out queries."""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.io import read_json
from capflow.report.table import Cell, Column, Row, Table
from capflow.vocabulary import MIX_DISPLAY, POOL_DISPLAY


def add_arguments(parser) -> None:
    parser.add_argument("--inputs", nargs="+", type=Path, required=True, help="trainset stats.json files")


def _count(value: int) -> str:
    return f"{value:,}"


def _decimal(value: float) -> str:
    return f"{value:.2f}"


def build(args) -> Table:
    runs = []
    for path in args.inputs:
        stats = read_json(path)
        missing = [k for k in ("pool", "mix", "generator", "pool_passages", "pool_tokens", "queries_per_pool_passage",
                               "query_tokens_mean", "token_unit", "queries", "passages", "heldout_queries")
                   if not isinstance(stats, dict) or k not in stats]
        if missing:
            raise UserError(f"trainset stats lack {', '.join(missing)}", path)
        runs.append(stats)
    columns = [
        Column("pool", "Passages", best="none"),
        Column("tokens", "Tokens", best="none"),
        Column("qpp", "Queries/passage", best="none"),
        Column("qlen", "Query length", best="none"),
        Column("queries", "Queries", best="none"),
        Column("used", "Passages with queries", best="none"),
        Column("heldout", "Held out", best="none"),
    ]
    groups: dict[str, list] = {}
    for r in runs:
        cells = {
            "pool": Cell(_count(r["pool_passages"])),
            "tokens": Cell(_count(r["pool_tokens"])),
            "qpp": Cell(_decimal(r["queries_per_pool_passage"])),
            "qlen": Cell(_decimal(r["query_tokens_mean"])),
            "queries": Cell(_count(r["queries"])),
            "used": Cell(_count(r["passages"])),
            "heldout": Cell(_count(r["heldout_queries"])),
        }
        row = Row(r["generator"], cells, {"Mix": MIX_DISPLAY.get(r["mix"], r["mix"])})
        groups.setdefault(POOL_DISPLAY.get(r["pool"], r["pool"]), []).append(row)
    token_units = sorted({f"{r['language']}: {r['token_unit']}" for r in runs})
    notes = [f"The paper's columns: the pool after the leakage filter (passages, total tokens), queries per pool "
             f"passage and the mean query length, in tokens ({', '.join(token_units)}). Then capflow's: the "
             "queries, the passages with at least one query, and the queries held out for the eval loss."]
    if any(r["generator"].startswith("heuristic") for r in runs):
        notes.append("heuristic (no LLM): queries made by keyword extraction (KW) and sentence compression (SM), "
                     "not by the paper's LLM; the generator column names who made each row's queries.")
    notes += list(args.note or [])
    caption = args.caption or "Generated training data (the paper's Table 6)"
    return Table(caption=caption, label="tab:trainsets", columns=columns, groups=list(groups.items()),
                 row_header="Generator",
                 text_columns=["Mix"], notes=notes, scale=1.0)
