"""Table 2: zero-shot nDCG@k, rows = models grouped by size, columns = benchmark × cut-off."""

from __future__ import annotations

from pathlib import Path

from capflow.report.labels import add_run_table_arguments, read_labelled
from capflow.report.table import Cell, Column, Row, Table

GROUP_TITLES = {"lexical": "Lexical", "small": "Embedding models (< 1B)", "large": "Embedding models (> 1B)",
                "finetuned": "Finetuned", "hybrid": "Hybrid (BM25 + embedding model)"}


def add_arguments(parser) -> None:
    add_run_table_arguments(parser, "metrics JSON files")


def build(args) -> Table:
    ks = args.ks or [1, 5, 10]
    runs = [read_labelled(Path(path), args.labels) for path in args.inputs]
    benchmarks = args.benchmarks or list(dict.fromkeys(r.benchmark_label for r in runs))
    columns = [Column(f"{b}/ndcg@{k}", f"nDCG@{k}", group=b) for b in benchmarks for k in ks]
    rows: dict[str, Row] = {}
    group_of: dict[str, str] = {}
    for r in runs:
        row = rows.setdefault(r.model, Row(r.display_name, {}, {"Params": r.params or ""}))
        group_of[r.model] = "small" if r.group is None else r.group
        for k in ks:
            row.cells[f"{r.benchmark_label}/ndcg@{k}"] = Cell(r.metric(f"ndcg@{k}"))
    order = list(dict.fromkeys(r.model for r in runs))
    groups = [(GROUP_TITLES.get(g, g), [rows[m] for m in order if group_of[m] == g])
              for g in dict.fromkeys(group_of[m] for m in order)]
    caption = args.caption or "Zero-shot retrieval (the paper's Table 2), nDCG@k (x100)"
    return Table(caption=caption, label="tab:zeroshot", columns=columns, groups=groups, text_columns=["Params"],
                 notes=list(args.note or []))
