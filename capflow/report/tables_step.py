"""``capflow tables <name>``: build one table and write it to the files given (``--tex``, ``--md``, ``--csv``).

Each table is a builder ``build(args) -> Table`` in a module whose ``add_arguments(parser)`` declares its inputs.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from capflow.report.table import write_table

# table name -> ("module:builder", one-line help)
TABLES: dict[str, tuple[str, str]] = {
    "datasets": ("capflow.report.datasets:build", "Table 1: dataset statistics per benchmark"),
    "zeroshot": ("capflow.report.zeroshot:build", "Table 2: zero-shot nDCG@k from metrics JSON"),
    "query-types": ("capflow.report.querytypes:build_paper",
                    "Table 3: per query group, BM25 and a featured model's nDCG@10 and E>B/E<B/E=B shares"),
    "query-groups": ("capflow.report.querytypes:build_ndcg", "nDCG@10 per query group for every model"),
    "query-wins": ("capflow.report.querytypes:build_wins", "E>B/E<B/E=B per query group for every model vs BM25"),
    "generated": ("capflow.report.generated:build", "Table 5: SM and KW queries generated for one passage per pool"),
    "finetune": ("capflow.report.finetune:build", "Table 4: finetuned models from metrics JSON and trainset stats"),
    "trainsets": ("capflow.report.trainsets:build", "Table 6: generated training data from trainset stats"),
    "classification": ("capflow.report.classification:build", "the classification setting at one threshold"),
    "inversions": ("capflow.report.inversions:build_cases", "Table 7: label-0 captions above label-2 positives"),
    "inversions-paired": ("capflow.report.inversions:build_paired",
                          "Table 8: the same inversion cases on two benchmarks side by side"),
    "inversion-counts": ("capflow.report.inversions:build_counts", "inverted pairs per model and query group"),
    "error-analysis": ("capflow.report.erroranalysis:build_counts", "errors by category and query group per model"),
    "error-examples": ("capflow.report.erroranalysis:build_examples", "a few errors of each category per model"),
    "error-annotations": ("capflow.report.erroranalysis:build_annotations",
                          "counts of the categories filled into an annotation sheet"),
}


def _builder(name: str):
    module_name, _, func = TABLES[name][0].partition(":")
    module = importlib.import_module(module_name)
    return module, getattr(module, func)


def configure_parser(parser) -> None:
    sub = parser.add_subparsers(dest="table", required=True, metavar="TABLE")
    for name, (_, help_text) in TABLES.items():
        table_parser = sub.add_parser(name, help=help_text, description=help_text)
        _builder(name)[0].add_arguments(table_parser)
        table_parser.add_argument("--tex", type=Path, help="output LaTeX table")
        table_parser.add_argument("--md", type=Path, help="output Markdown table")
        table_parser.add_argument("--csv", type=Path, help="output CSV table")
        table_parser.add_argument("--caption", help="replaces the default caption")
        table_parser.add_argument("--note", action="append", help="a footnote line (repeatable)")


def main(args) -> None:
    table = _builder(args.table)[1](args)
    write_table(table, tex=args.tex, md=args.md, csv=args.csv)
