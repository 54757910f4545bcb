"""Table 2: zero-shot nDCG@k, rows = models grouped by size, columns = benchmark × cut-off."""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.report.labels import add_labels_option, read_metrics
from capflow.report.table import Cell, Column, Row, Table

GROUP_TITLES = {"lexical": "Lexical", "small": "Embedding models (< 1B)", "large": "Embedding models (> 1B)",
                "finetuned": "Finetuned", "hybrid": "Hybrid (BM25 + embedding model)"}


def add_arguments(parser) -> None:
    parser.add_argument("--inputs", nargs="+", type=Path, required=True, help="metrics JSON files")
    parser.add_argument("--benchmarks", nargs="*", help="column order (default: order of inputs)")
    parser.add_argument("--ks", nargs="*", type=int, help="cut-offs shown (default 1 5 10)")
    add_labels_option(parser)


def build(args) -> Table:
    ks = args.ks or [1, 5, 10]
    runs = []
    for path in args.inputs:
        run = read_metrics(path, args.labels)
        for key in ("benchmark", "model", "metrics"):
            if not isinstance(run, dict) or key not in run:
                raise UserError(f"metrics JSON lacks '{key}'", path)
        runs.append(run)
    benchmarks = args.benchmarks or list(dict.fromkeys(r["benchmark"] for r in runs))
    columns = [Column(f"{b}/ndcg@{k}", f"nDCG@{k}", group=b) for b in benchmarks for k in ks]
    rows: dict[str, Row] = {}
    group_of: dict[str, str] = {}
    for r in runs:
        row = rows.setdefault(r["model"], Row(r.get("display") or r["model"], {}, {"Params": r.get("params", "")}))
        group_of[r["model"]] = r.get("group", "small")
        for k in ks:
            row.cells[f"{r['benchmark']}/ndcg@{k}"] = Cell(r["metrics"][f"ndcg@{k}"])
    order = list(dict.fromkeys(r["model"] for r in runs))
    groups = [(GROUP_TITLES.get(g, g), [rows[m] for m in order if group_of[m] == g])
              for g in dict.fromkeys(group_of[m] for m in order)]
    return Table(caption=args.caption or "Zero-shot retrieval, nDCG@k (x100)", label="tab:zeroshot",
                 columns=columns, groups=groups, text_columns=["Params"], notes=list(args.note or []))
