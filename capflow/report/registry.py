"""Every table and figure builder of the report, in one registry.

A :class:`Builder` names its function (``build(args) -> Table`` or ``draw(args) -> Figure``), the
options it reads (its module's ``add_arguments``), its one-line help and the caption file the
Snakemake report shows beside it. ``capflow tables NAME`` and ``capflow figures NAME`` run one
builder from the command line; a report batch (:mod:`capflow.report.batch`) calls them directly.
The workflow's plan (:mod:`capflow.plan.report`) says which builders run, on which inputs, in which
batch. Adding a table or figure touches its module, its entry here, its entry in the plan and its
caption file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from capflow.report import (
    classification,
    datasets,
    erroranalysis,
    finetune,
    generated,
    inversions,
    querytypes,
    trainsets,
    zeroshot,
)
from capflow.report.figures import finetune as finetune_figure
from capflow.report.figures import groups, leakage, loss, positives, sweep
from capflow.report.figures import querytypes as querytypes_figure


@dataclass(frozen=True)
class Builder:
    kind: str  # "tables" or "figures"
    name: str  # the command-line name: capflow tables|figures NAME
    build: Callable  # build(args) -> Table, or draw(args) -> a matplotlib figure
    add_arguments: Callable  # the options it reads
    help: str
    caption: str  # its caption file under workflow/report/

    def add_options(self, parser) -> None:
        """Its own options, then the output files and the caption or title that replaces its own."""
        self.add_arguments(parser)
        if self.kind == "tables":
            parser.add_argument("--tex", type=Path, help="output LaTeX table")
            parser.add_argument("--md", type=Path, help="output Markdown table")
            parser.add_argument("--csv", type=Path, help="output CSV table")
            parser.add_argument("--html", type=Path, help="output HTML page")
            parser.add_argument("--caption", help="replaces the default caption")
            parser.add_argument("--label", help="the LaTeX label (default tab:<the table's kind>)")
            parser.add_argument("--note", action="append", help="a footnote line (repeatable)")
        else:
            parser.add_argument("--png", type=Path, help="output PNG")
            parser.add_argument("--pdf", type=Path, help="output PDF")
            parser.add_argument("--title", help="replaces the default title")

    def run(self, args) -> None:
        """Build it from parsed options and write its files."""
        if self.kind == "tables":
            from capflow.report.table import write_table

            table = self.build(args)
            if args.label:
                table.label = args.label
            write_table(table, tex=args.tex, md=args.md, csv=args.csv, html=args.html)
        else:
            from capflow.report.figures import save

            save(self.build(args), png=args.png, pdf=args.pdf)


def _table(name: str, module, build: Callable, help_text: str) -> Builder:
    return Builder("tables", name, build, module.add_arguments, help_text, f"tables/{name}.rst")


def _figure(name: str, module, help_text: str, caption: str) -> Builder:
    return Builder("figures", name, module.draw, module.add_arguments, help_text, f"figures/{caption}.rst")


TABLES: dict[str, Builder] = {b.name: b for b in (
    _table("datasets", datasets, datasets.build, "Table 1: dataset statistics per benchmark"),
    _table("zeroshot", zeroshot, zeroshot.build, "Table 2: zero-shot nDCG@k from metrics JSON"),
    _table("query-types", querytypes, querytypes.build_paper,
           "Table 3: per query group, BM25 and a featured model's nDCG@10 and E>B/E<B/E=B shares"),
    _table("query-groups", querytypes, querytypes.build_ndcg, "nDCG@10 per query group for every model"),
    _table("query-wins", querytypes, querytypes.build_wins, "E>B/E<B/E=B per query group for every model vs BM25"),
    _table("generated", generated, generated.build, "Table 5: SM and KW queries generated for one passage per pool"),
    _table("finetune", finetune, finetune.build, "Table 4: finetuned models from metrics JSON and trainset stats"),
    _table("trainsets", trainsets, trainsets.build, "Table 6: generated training data from trainset stats"),
    _table("classification", classification, classification.build, "the classification setting at one threshold"),
    _table("inversions", inversions, inversions.build_cases, "Table 7: label-0 captions above label-2 positives"),
    _table("inversions-paired", inversions, inversions.build_paired,
           "Table 8: the same inversion cases on two benchmarks side by side"),
    _table("inversion-counts", inversions, inversions.build_counts, "inverted pairs per model and query group"),
    _table("error-analysis", erroranalysis, erroranalysis.build_counts,
           "errors by category and query group per model"),
    _table("error-examples", erroranalysis, erroranalysis.build_examples, "a few errors of each category per model"),
    _table("error-annotations", erroranalysis, erroranalysis.build_annotations,
           "counts of the categories filled into an annotation sheet"),
)}

FIGURES: dict[str, Builder] = {b.name: b for b in (
    _figure("query-types", querytypes_figure, "Figure 1: queries per type and per group", "query_types"),
    _figure("positives", positives, "Figure 2: histogram of positives per query", "positives"),
    _figure("query-groups", groups, "nDCG@10 per query group, bars per model", "query_groups"),
    _figure("loss", loss, "training and held-out loss per setting", "loss"),
    _figure("leakage", leakage, "nearest-caption ROUGE-L histograms per pool", "leakage"),
    _figure("finetune", finetune_figure, "Table 4 as bars with seed error bars", "finetune"),
    _figure("classification", sweep, "classification setting: P/R/F1 against the threshold", "classification"),
)}

BUILDERS = {"tables": TABLES, "figures": FIGURES}


def configure_step(parser, kind: str) -> None:
    """``capflow tables`` or ``capflow figures``: one subcommand per builder of the kind."""
    sub = parser.add_subparsers(dest=kind, required=True, metavar=kind[:-1].upper())
    for name, builder in BUILDERS[kind].items():
        builder.add_options(sub.add_parser(name, help=builder.help, description=builder.help))


def run_step(args, kind: str) -> None:
    BUILDERS[kind][getattr(args, kind)].run(args)
