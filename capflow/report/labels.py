"""Model labels for tables and figures: display name, group and parameter count, by model name.

Retrieval and evaluation jobs depend only on what changes vectors (``Recipe.vector_json``), so their
``metrics.json`` carries no labels. Report steps are given the registry's labels (``--labels``, a
JSON object) and put them on each summary they read: a renamed model reruns only the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

from capflow.runrecord import RunRecord, read_run_record
from capflow.vocabulary import FULL_VIEW

LABEL_KEYS = ("display", "group", "params")
Labels = Mapping[str, Mapping[str, str]]  # model name -> {display, group, params}


def _is_text(value) -> bool:
    return isinstance(value, str)


def parse_labels(text: str) -> dict[str, dict[str, str]]:
    """A --labels value: {model name: {display, group, params}}."""
    try:
        labels = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None

    def is_label(entry) -> bool:
        return isinstance(entry, dict) and set(entry) <= set(LABEL_KEYS) and all(map(_is_text, entry.values()))

    if not isinstance(labels, dict) or not all(is_label(entry) for entry in labels.values()):
        raise argparse.ArgumentTypeError("expected {model: {display, group, params}} with string values")
    return labels


def add_labels_option(parser) -> None:
    parser.add_argument("--labels", type=parse_labels, default={},
                        help="model labels as JSON, {name: {display, group, params}} (default: model names)")


def add_run_table_arguments(parser, inputs_help: str) -> None:
    """The options of a table of runs (Tables 2 and 4): its inputs, its columns' order and cut-offs, the labels."""
    parser.add_argument("--inputs", nargs="+", type=Path, required=True, help=inputs_help)
    parser.add_argument("--benchmarks", nargs="*", help="column order (default: order of inputs)")
    parser.add_argument("--ks", nargs="*", type=int, help="cut-offs shown (default 1 5 10)")
    add_labels_option(parser)


def display_of(model: str, labels: Labels) -> str:
    """A registry model's display name, else its name."""
    return labels.get(model, {}).get("display") or model


def fusion_text(fusion: dict) -> str:
    """How a hybrid row fused its runs, as its label says it: 'RRF k=60', 'min-max, w=0.5'."""
    if fusion["method"] == "rrf":
        return f"RRF k={fusion['k']}"
    return f"min-max, w={fusion['weight']:g}"


def hybrid_labels(record: RunRecord, labels: Labels) -> dict[str, str]:
    """A hybrid row's labels, from its two runs' models: 'BM25 + MiniLM (RRF k=60)', the dense model's
    parameters (its group, "hybrid", is in the file)."""
    lexical, dense = record.runs
    return {"display": f"{display_of(lexical, labels)} + {display_of(dense, labels)} ({fusion_text(record.fusion)})",
            "params": labels.get(dense, {}).get("params", "")}


def labelled(record: RunRecord, labels: Labels) -> RunRecord:
    """The record with its model's labels; a finetuned model's are its base model's, a hybrid row's
    come from its two runs' models."""
    if record.is_hybrid:
        return dataclasses.replace(record, **hybrid_labels(record, labels))
    return dataclasses.replace(record, **labels.get(record.registry_model, {}))


def read_labelled(path: Path, labels: Labels) -> RunRecord:
    """A run's record (metrics.json, validated) with its model's labels."""
    return labelled(read_run_record(path), labels)


def record_columns(record: RunRecord) -> dict[str, str]:
    """The columns that name a run in the analyses' frames: benchmark, view, model and display name."""
    return {"benchmark": record.benchmark, "view": record.view or FULL_VIEW, "model": record.model,
            "display": record.display_name}
