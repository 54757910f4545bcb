"""Histograms of each pool passage's nearest test-caption ROUGE-L F1, beside the test captions' own."""

from __future__ import annotations

import csv
from pathlib import Path

from capflow.errors import UserError
from capflow.report.figures import legend_below, new_figure


def add_arguments(parser) -> None:
    parser.add_argument("--histogram", nargs=2, action="append", required=True, metavar=("POOL", "CSV"),
                        help="a pool's name and its leakage_histogram.csv; repeatable")
    parser.add_argument("--threshold", type=float, help="the leakage threshold, drawn as a line")


def read_histogram(path: Path) -> list[dict]:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise UserError("file not found", path) from None
    out = []
    for lineno, row in enumerate(rows, start=2):
        try:
            out.append({"from": float(row["from"]), "to": float(row["to"]),
                        "pool": int(row["pool_passages"]), "test": int(row["test_captions"])})
        except (KeyError, TypeError, ValueError):
            raise UserError("expected from,to,pool_passages,test_captions numbers", path, lineno) from None
    return out


def draw(args):
    fig, axes = new_figure(4.0 * len(args.histogram), 3.4, ncols=len(args.histogram))
    for ax, (pool, path) in zip(axes, args.histogram):
        bins = read_histogram(Path(path))
        lefts = [b["from"] for b in bins]
        widths = [b["to"] - b["from"] for b in bins]
        pool_total = sum(b["pool"] for b in bins) or 1
        test_total = sum(b["test"] for b in bins) or 1
        ax.bar(lefts, [b["pool"] / pool_total for b in bins], widths, align="edge", alpha=0.7,
               label=f"pool passages ({pool_total})")
        ax.step(lefts + [bins[-1]["to"]], [b["test"] / test_total for b in bins] + [bins[-1]["test"] / test_total],
                where="post", color="black", label=f"test captions ({test_total})")
        if args.threshold is not None:
            ax.axvline(args.threshold, color="red", linestyle=":", label=f"threshold {args.threshold}")
        ax.set_xlabel("nearest test caption, ROUGE-L F1")
        ax.set_ylabel("share")
        ax.set_title(pool)
        legend_below(ax, ncols=1)
    fig.suptitle(args.title or "Leakage: nearest test caption per passage")
    return fig
