"""``capflow tables <name>``: build one table and write it to the files given (``--tex``, ``--md``, ``--csv``).

The tables are the registry's (:mod:`capflow.report.registry`).
"""

from __future__ import annotations

from capflow.report.registry import TABLES


def configure_parser(parser) -> None:
    sub = parser.add_subparsers(dest="table", required=True, metavar="TABLE")
    for name, builder in TABLES.items():
        builder.add_options(sub.add_parser(name, help=builder.help, description=builder.help))


def main(args) -> None:
    TABLES[args.table].run(args)
