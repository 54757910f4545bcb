"""``capflow figures <name>``: draw one figure of the registry (:mod:`capflow.report.registry`) and write it
to the files given (``--png``, ``--pdf``)."""

from __future__ import annotations

from capflow.report.registry import configure_step, run_step


def configure_parser(parser) -> None:
    configure_step(parser, "figures")


def main(args) -> None:
    run_step(args, "figures")
