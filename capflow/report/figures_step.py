"""``capflow figures <name>``: draw one figure and write it to the files given (``--png``, ``--pdf``)."""

from __future__ import annotations

import importlib
from pathlib import Path

# figure name -> (module, one-line help)
FIGURES: dict[str, tuple[str, str]] = {
    "query-types": ("capflow.report.figures.querytypes", "Figure 1: queries per type and per group"),
    "positives": ("capflow.report.figures.positives", "Figure 2: histogram of positives per query"),
    "query-groups": ("capflow.report.figures.groups", "nDCG@10 per query group, bars per model"),
    "loss": ("capflow.report.figures.loss", "training and held-out loss per setting"),
    "leakage": ("capflow.report.figures.leakage", "nearest-caption ROUGE-L histograms per pool"),
    "finetune": ("capflow.report.figures.finetune", "Table 4 as bars with seed error bars"),
    "classification": ("capflow.report.figures.sweep", "classification setting: P/R/F1 against the threshold"),
}


def configure_parser(parser) -> None:
    sub = parser.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    for name, (module_name, help_text) in FIGURES.items():
        fig_parser = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(fig_parser)
        fig_parser.add_argument("--png", type=Path, help="output PNG")
        fig_parser.add_argument("--pdf", type=Path, help="output PDF")
        fig_parser.add_argument("--title", help="replaces the default title")


def main(args) -> None:
    from capflow.report.figures import save

    save(importlib.import_module(FIGURES[args.figure][0]).draw(args), png=args.png, pdf=args.pdf)
