"""A report batch: many tables or figures built in one process, each builder called directly.

Tables and figures take well under a second each; as one process apiece they spent most of their
time starting Python, pandas and matplotlib (36 processes took 22 s on the embedded default, one
process under 5 s). The plan hands a batch's items to the job as Python values (Snakemake's
``script:`` passes the rule's params to :func:`main`); each item's options are the values the
builder's own options would hold, so nothing is rendered as command-line text and parsed back. The
batch also writes the caption of each builder it calls, which the Snakemake report shows; the text
is a param, so an edited caption reruns the batch.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from capflow.errors import UserError
from capflow.io import write_text
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


def build_batch(kind: str, items: Sequence[BatchItem], captions: Sequence[tuple[str, str]] = ()) -> None:
    """Build every item, then write each (file, text) caption; a mistake in one item is one line naming it."""
    what = kind[:-1]  # "table", "figure"
    for item in items:
        builder = BUILDERS[kind][item.builder]
        log.info("%s %s", what, item.name)
        try:
            builder.run(options_namespace(builder, dict(item.options)))
        except UserError as exc:
            raise UserError(f"{what} {item.name}: {exc}") from None
    for path, text in captions:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_text(path, rst_caption(text) + "\n")


def rst_caption(text: str) -> str:
    """A caption as reStructuredText for the report: an ``@`` inside a word is escaped, since docutils
    would otherwise make ``nDCG@10`` a mailto link."""
    return re.sub(r"(?<=\w)@(?=\w)", r"\\@", text)


def main(smk) -> int:
    """The ``script:`` of the report rules: the batch of ``smk.params.kind`` with ``smk.params.batch`` and
    its ``smk.params.captions``, logged to the rule's log, a failure one line on the console."""
    from capflow.cli import run_step

    params = smk.params
    return run_step(f"{params.kind} batch", lambda: build_batch(params.kind, params.batch, params.captions), smk.log[0])
