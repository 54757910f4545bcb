"""The loss file: one row per logged step, training and held-out loss."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence

from capflow.train.deveval import DEV_METRIC

log = logging.getLogger(__name__)


LOSS_COLUMNS = ("step", "train_loss", "eval_loss")
DEV_COLUMN = "dev_ndcg@10"  # only in the files of runs that evaluate retrieval during training
LOGGED = (("loss", "train_loss"), ("eval_loss", "eval_loss"), (DEV_METRIC, DEV_COLUMN))


def loss_rows(log_history: Sequence[dict]) -> list[dict]:
    """One row per step with a train loss, an eval loss and/or a dev nDCG@10, from the trainer's log history."""
    rows: dict[int, dict] = {}
    for entry in log_history:
        step = entry.get("step")
        for key, column in LOGGED:
            if step is not None and key in entry:
                rows.setdefault(step, {"step": step})[column] = entry[key]
    return [rows[s] for s in sorted(rows)]


def loss_csv(rows: Sequence[dict]) -> str:
    columns = LOSS_COLUMNS + ((DEV_COLUMN,) if any(DEV_COLUMN in row for row in rows) else ())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row["step"]] + [f"{row[c]:.6f}" if c in row else "" for c in columns[1:]])
    return out.getvalue()


