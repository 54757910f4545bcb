"""A report batch: many tables or figures built in one process, each builder called directly.

Tables and figures take well under a second each; as one process apiece they spent most of their
time starting Python, pandas and matplotlib (36 processes took 22 s on the embedded default, one
process under 5 s). The plan hands a batch's items to the job as Python values (Snakemake's
``script:`` passes the rule's params to :func:`main`); each item's options are the values the
builder's own options would hold, so nothing is rendered as command-line text and parsed back.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from capflow.errors import UserError
from capflow.report.registry import BUILDERS, Builder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchItem:
    """One table or figure of a batch: its registry builder, its name in the report, and its options
    (option name -> value, outputs included). Its repr is its content, so a changed item reruns the
    batch (Snakemake compares params by repr)."""

    builder: str
    name: str
    options: tuple[tuple[str, object], ...]


def _converted(action: argparse.Action, value):
    """A value as the option's own type would have made it from text: strings in it are converted, the
    rest (numbers, the labels' dict) are taken as they are."""
    if isinstance(value, str):
        return action.type(value) if callable(action.type) else value
    if isinstance(value, (list, tuple)):
        return [_converted(action, v) for v in value]
    return value


def options_namespace(builder: Builder, options: Mapping[str, object]) -> argparse.Namespace:
    """The namespace the builder reads: its options' defaults, then ``options``. An option the builder
    does not declare, or a required one left out, is a planning mistake and raises ValueError."""
    parser = argparse.ArgumentParser(add_help=False)
    builder.add_options(parser)
    actions = {action.dest: action for action in parser._actions}  # the declared options, by name
    unknown = sorted(set(options) - set(actions))
    if unknown:
        raise ValueError(f"{builder.kind} {builder.name}: no option {', '.join(unknown)}")
    missing = sorted(dest for dest, action in actions.items() if action.required and dest not in options)
    if missing:
        raise ValueError(f"{builder.kind} {builder.name}: option {', '.join(missing)} is required")
    values = {dest: action.default for dest, action in actions.items()}
    values |= {dest: _converted(actions[dest], value) for dest, value in options.items()}
    return argparse.Namespace(**values)


def build_batch(kind: str, items: Sequence[BatchItem]) -> None:
    """Build every item; a mistake in one is one line naming the item."""
    what = kind[:-1]  # "table", "figure"
    for item in items:
        builder = BUILDERS[kind][item.builder]
        log.info("%s %s", what, item.name)
        try:
            builder.run(options_namespace(builder, dict(item.options)))
        except UserError as exc:
            raise UserError(f"{what} {item.name}: {exc}") from None


def main(smk) -> int:
    """The ``script:`` of the report rules: the batch of ``smk.params.kind`` with ``smk.params.batch``,
    logged to the rule's log, a failure one line on the console."""
    from capflow.cli import run_step

    return run_step(f"{smk.params.kind} batch", lambda: build_batch(smk.params.kind, smk.params.batch), smk.log[0])
