"""Table 6: generated training data, one row per pool × mix, from trainset stats.json files."""

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
        missing = [k for k in ("pool", "mix", "generator", "passages", "passage_tokens_mean", "queries",
                               "queries_per_passage", "query_length_mean", "query_length_unit", "token_unit",
                               "heldout_queries") if not isinstance(stats, dict) or k not in stats]
        if missing:
            raise UserError(f"trainset stats lack {', '.join(missing)}", path)
        runs.append(stats)
    units = {(r["token_unit"], r["query_length_unit"]) for r in runs}
    token_unit, length_unit = units.pop() if len(units) == 1 else ("", "")
    columns = [
        Column("passages", "Passages", best="none"),
        Column("tokens", f"Tokens/passage ({token_unit})" if token_unit else "Tokens/passage", best="none"),
        Column("queries", "Queries", best="none"),
        Column("qpp", "Queries/passage", best="none"),
        Column("qlen", f"Query length ({length_unit})" if length_unit else "Query length", best="none"),
        Column("heldout", "Held out", best="none"),
    ]
    groups: dict[str, list] = {}
    for r in runs:
        unit_suffix = "" if token_unit else f" {r['query_length_unit']}"
        cells = {
            "passages": Cell(_count(r["passages"])),
            "tokens": Cell(_decimal(r["passage_tokens_mean"])),
            "queries": Cell(_count(r["queries"])),
            "qpp": Cell(_decimal(r["queries_per_passage"])),
            "qlen": Cell(_decimal(r["query_length_mean"]) + unit_suffix),
            "heldout": Cell(_count(r["heldout_queries"])),
        }
        row = Row(r["generator"], cells, {"Mix": MIX_DISPLAY.get(r["mix"], r["mix"])})
        groups.setdefault(POOL_DISPLAY.get(r["pool"], r["pool"]), []).append(row)
    token_units = sorted({f"{r['language']}: {r['token_unit']}" for r in runs})
    length_units = sorted({f"{r['language']}: {r['query_length_unit']}" for r in runs})
    notes = [f"Tokens: {', '.join(token_units)}; query length: {', '.join(length_units)}. "
             "Passages: pool passages with at least one query."]
    if any(r["generator"].startswith("heuristic") for r in runs):
        notes.append("heuristic (no LLM): queries made by keyword extraction (KW) and sentence compression (SM), "
                     "not by the paper's LLM; the generator column names who made each row's queries.")
    notes += list(args.note or [])
    caption = args.caption or "Generated training data (Table 6)"
    return Table(caption=caption, label="tab:trainsets", columns=columns, groups=list(groups.items()),
                 text_columns=["Mix"], notes=notes, scale=1.0)
