"""Model labels for tables and figures: display name, group and parameter count, by model name.

Retrieval and evaluation jobs depend only on what changes vectors (``Recipe.vector_json``), so their
``metrics.json`` carries no labels. Report steps are given the registry's labels (``--labels``, a
JSON object) and put them on each summary they read: a renamed model reruns only the report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from capflow.io import read_json

LABEL_KEYS = ("display", "group", "params")


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


def fusion_text(fusion: dict) -> str:
    """How a hybrid row fused its runs, as its label says it: 'RRF k=60', 'min-max, w=0.5'."""
    if fusion.get("method") == "rrf":
        return f"RRF k={fusion.get('k')}"
    return f"min-max, w={fusion.get('weight'):g}"


def hybrid_labels(summary: dict, labels: dict[str, dict[str, str]]) -> dict[str, str]:
    """A hybrid row's labels, from its two runs' models: 'BM25 + MiniLM (RRF k=60)', the dense model's
    parameters (its group, "hybrid", is in the file)."""
    lexical, dense = summary["runs"]
    names = [labels.get(model, {}).get("display") or model for model in (lexical, dense)]
    return {"display": f"{names[0]} + {names[1]} ({fusion_text(summary['fusion'])})",
            "params": labels.get(dense, {}).get("params", "")}


def labelled(summary: dict, labels: dict[str, dict[str, str]]) -> dict:
    """The summary with its model's labels; a finetuned model's are its base model's, a hybrid row's
    come from its two runs' models."""
    runs, fusion = summary.get("runs"), summary.get("fusion")
    if isinstance(fusion, dict) and isinstance(runs, list) and len(runs) == 2 and all(map(_is_text, runs)):
        return {**summary, **hybrid_labels(summary, labels)}
    model = summary.get("base_model") or summary.get("model")
    return {**summary, **labels.get(model, {})} if isinstance(model, str) else summary


def read_metrics(path: Path, labels: dict[str, dict[str, str]]):
    """A metrics.json summary with its model's labels (anything else is returned as read)."""
    summary = read_json(path)
    return labelled(summary, labels) if isinstance(summary, dict) else summary
