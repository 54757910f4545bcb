"""``capflow figures <name>``: draw one figure and write it to the files given (``--png``, ``--pdf``).

The figures are the registry's (:mod:`capflow.report.registry`).
"""

from __future__ import annotations

from capflow.report.registry import FIGURES


def configure_parser(parser) -> None:
    sub = parser.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    for name, builder in FIGURES.items():
        builder.add_options(sub.add_parser(name, help=builder.help, description=builder.help))


def main(args) -> None:
    FIGURES[args.figure].run(args)
