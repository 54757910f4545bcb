"""``capflow tables <name>``: build one table of the registry (:mod:`capflow.report.registry`) and write it
to the files given (``--tex``, ``--md``, ``--csv``)."""

from __future__ import annotations

from capflow.report.registry import configure_step, run_step


def configure_parser(parser) -> None:
    configure_step(parser, "tables")


def main(args) -> None:
    run_step(args, "tables")
