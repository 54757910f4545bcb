"""Table 1: dataset statistics per benchmark, from validated benchmark directories.

Lengths are in BERT WordPiece tokens, the paper's unit (capflow.report.wordpiece).
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean

from capflow.benchmark import Benchmark, load_benchmark
from capflow.errors import UserError
from capflow.report.table import Cell, Column, Row, Table
from capflow.report.wordpiece import UNIT, wordpiece_lengths

LANGUAGES = ("zh", "en")


def _summary(values: list[int]) -> dict[str, float]:
    return {"min": min(values), "max": max(values), "avg": mean(values)} if values else {}


def dataset_stats(benchmark: Benchmark) -> dict:
    positives = [len(q.qrels) for q in benchmark.queries]
    stats = {
        "passages": len(benchmark.candidate_ids),
        "passage_length": _summary(wordpiece_lengths(list(benchmark.candidate_texts))),
        "queries": len(benchmark.queries),
        "query_length": _summary(wordpiece_lengths([q.text for q in benchmark.queries])),
        "positives": _summary(positives),
        "queries_without_positives": sum(1 for n in positives if n == 0),
    }
    for label in (2, 1):
        stats[f"positives_label{label}"] = _summary([sum(1 for g in q.qrels.values() if g == label)
                                                     for q in benchmark.queries])
    return stats


def _fmt(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.2f}"


# (row label, stats key, summary field or None for a plain count)
ROWS = [
    ("Passages", "passages", None),
    ("Passage length, min", "passage_length", "min"),
    ("Passage length, max", "passage_length", "max"),
    ("Passage length, avg", "passage_length", "avg"),
    ("Queries", "queries", None),
    ("Query length, min", "query_length", "min"),
    ("Query length, max", "query_length", "max"),
    ("Query length, avg", "query_length", "avg"),
    ("Positives per query, min", "positives", "min"),
    ("Positives per query, max", "positives", "max"),
    ("Positives per query, avg", "positives", "avg"),
    *((f"Label-{label} positives per query, {field}", f"positives_label{label}", field)
      for label in (2, 1) for field in ("min", "max", "avg")),
    ("Queries without positives", "queries_without_positives", None),
]


def add_arguments(parser) -> None:
    parser.add_argument("--benchmark", nargs=3, action="append", required=True, metavar=("NAME", "DIR", "LANGUAGE"),
                        help="a validated benchmark directory and its language (zh or en); repeatable")


def build(args) -> Table:
    columns, stats = [], {}
    for name, directory, language in args.benchmark:
        if language not in LANGUAGES:
            raise UserError(f"benchmark '{name}': language '{language}' is not one of zh, en")
        stats[name] = dataset_stats(load_benchmark(Path(directory)))
        columns.append(Column(name, name, best="none"))
    rows = [Row(label, {name: Cell(_fmt(s[key] if field is None else s[key][field])) for name, s in stats.items()})
            for label, key, field in ROWS]
    notes = [f"Lengths in {UNIT}, the paper's unit; a Chinese character is one token."]
    notes += list(args.note or [])
    return Table(caption=args.caption or "Dataset statistics (the paper's Table 1)", label="tab:datasets",
                 columns=columns, groups=[("", rows)], notes=notes, scale=1.0, row_header="Statistic")
