"""The classification setting against its threshold: P, R and F1 per model, and how many of the
queries without positives retrieve nothing."""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.report.classification import read_sweep
from capflow.report.figures import new_figure


def add_arguments(parser) -> None:
    parser.add_argument("--sweep", required=True, type=Path, help="classification sweep CSV")
    parser.add_argument("--benchmark", required=True, help="benchmark name")
    parser.add_argument("--view", default="full")


def draw(args):
    frame = read_sweep(args.sweep)
    frame = frame[(frame.benchmark == args.benchmark) & (frame.view == args.view)]
    if frame.empty:
        raise UserError(f"no rows for {args.benchmark} ({args.view})", args.sweep)
    fig, (ax, ax_empty) = new_figure(10.0, 3.8, ncols=2)
    styles = {"query_precision": "--", "query_recall": ":", "f1": "-"}
    for (_model, display), part in frame.groupby(["model", "display"], sort=False):
        part = part.sort_values("threshold")
        colour = None
        for key, style in styles.items():
            line, = ax.plot(part.threshold, 100 * part[key], linestyle=style, color=colour,
                            label=f"{display} {key.replace('query_', '')}")
            colour = line.get_color()
        ax_empty.plot(part.threshold, 100 * part.no_positive_retrieving_nothing, color=colour, label=display)
    ax.set_xlabel("threshold: squared L2 distance (2 - 2 cos)")
    ax.set_ylabel("x100")
    ax.legend(frameon=False, fontsize=6, ncols=2)
    ax.set_title("precision, recall, F1")
    ax_empty.set_xlabel("threshold")
    ax_empty.set_ylabel("% retrieving nothing")
    ax_empty.set_title("queries without positives")
    ax_empty.legend(frameon=False, fontsize=7)
    fig.suptitle(args.title or f"Classification setting on {args.benchmark}")
    return fig
