"""``capflow each STEP --spec JSON``: run ``capflow STEP ARGS`` for every ARGS of a JSON list, in one process.

The report's tables and figures are a few dozen steps of well under a second each. As one process
apiece they spent most of their time starting Python, pandas and matplotlib: on the embedded
default, 36 processes took 22 s where the same builds in one process take under 5 s.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import shlex

from capflow.errors import UserError

log = logging.getLogger(__name__)

BATCHED_STEPS = ("tables", "figures")


def argument_lists(text: str) -> list[str]:
    """A --spec value: a JSON list of argument strings, each as a shell would split it."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(spec, list) or not all(isinstance(item, str) and item.strip() for item in spec):
        raise argparse.ArgumentTypeError("expected a JSON list of non-empty argument strings")
    return spec


def configure_parser(parser) -> None:
    # not "step": the top-level parser's dest for the step that runs (each)
    parser.add_argument("batched", choices=BATCHED_STEPS, metavar="STEP", help="the step to run for every item")
    parser.add_argument("--spec", required=True, type=argument_lists,
                        help='the items: a JSON list of argument strings, e.g. ["zeroshot --inputs a.json --md t.md"]')


def main(args) -> None:
    from capflow.cli import STEPS, build_parser

    parser = build_parser(args.batched)
    step = importlib.import_module(STEPS[args.batched][0])
    kind = args.batched[:-1]  # "table", "figure"
    for item in args.spec:
        words = shlex.split(item)
        log.info("%s %s", kind, words[0])
        try:
            step.main(parser.parse_args([args.batched, *words]))
        except UserError as exc:
            raise UserError(f"{kind} {words[0]}: {exc}") from None
