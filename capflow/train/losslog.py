"""The loss file: one row per logged step, training and held-out loss."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)

LOSS_COLUMNS = ("step", "train_loss", "eval_loss")


def loss_rows(log_history: Sequence[dict]) -> list[dict]:
    """One row per step with a train loss and/or an eval loss, from the trainer's log history."""
    rows: dict[int, dict] = {}
    for entry in log_history:
        step = entry.get("step")
        for key, column in (("loss", "train_loss"), ("eval_loss", "eval_loss")):
            if step is not None and key in entry:
                rows.setdefault(step, {"step": step})[column] = entry[key]
    return [rows[s] for s in sorted(rows)]


def loss_csv(rows: Sequence[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LOSS_COLUMNS)
    for row in rows:
        writer.writerow([row["step"]] + [f"{row[c]:.6f}" if c in row else "" for c in LOSS_COLUMNS[1:]])
    return out.getvalue()


