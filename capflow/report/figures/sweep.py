"""The classification setting against its threshold: P, R and F1 per model, and how many of the
queries without positives retrieve nothing."""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.report.classification import read_sweep
from capflow.report.figures import legend_below, new_figure


def add_arguments(parser) -> None:
    parser.add_argument("--sweep", required=True, type=Path, help="classification sweep CSV")
    parser.add_argument("--benchmark", required=True, help="benchmark name")
    parser.add_argument("--view", default="full")
    parser.add_argument("--threshold", type=float, help="the table's threshold, marked on the curves")


def draw(args):
    frame = read_sweep(args.sweep)
    frame = frame[(frame.benchmark == args.benchmark) & (frame.view == args.view)]
    if frame.empty:
        raise UserError(f"no rows for {args.benchmark} ({args.view})", args.sweep)
    from matplotlib.lines import Line2D

    fig, (ax, ax_empty) = new_figure(10.0, 4.2, ncols=2)
    styles = {"query_precision": "--", "query_recall": ":", "f1": "-"}
    models: dict[str, str] = {}  # display -> colour; the legends name each model once, and each line style once
    for (_model, display), part in frame.groupby(["model", "display"], sort=False):
        part = part.sort_values("threshold")
        colour = None
        # where no query retrieves anything, precision (and so F1) is undefined: a gap, not a 0
        defined = part.queries_with_retrieved > 0
        for key, style in styles.items():
            values = (100 * part[key]).where(defined | (key == "query_recall"))
            line, = ax.plot(part.threshold, values, linestyle=style, color=colour)
            colour = line.get_color()
        ax_empty.plot(part.threshold, 100 * part.no_positive_retrieving_nothing, color=colour, label=display)
        models[display] = colour
    if args.threshold is not None:
        for axis in (ax, ax_empty):
            axis.axvline(args.threshold, color="grey", linewidth=0.8, linestyle="-.", zorder=0)
        ax.annotate(f"table: {args.threshold:g}", (args.threshold, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -10), textcoords="offset points", fontsize=7, color="grey")
    ax.set_xlabel("threshold: squared L2 distance (2 - 2 cos)")
    ax.set_ylabel("x100")
    ax.set_title("precision, recall, F1")
    ax_empty.set_xlabel("threshold")
    ax_empty.set_ylabel("% retrieving nothing")
    ax_empty.set_title("queries without positives")
    handles = [Line2D([], [], color=colour, linewidth=4) for colour in models.values()]
    handles += [Line2D([], [], color="black", linestyle=style) for style in styles.values()]
    legend_below(ax, handles, [*models, "precision", "recall", "F1"], ncols=3)
    legend_below(ax_empty, ncols=3)
    fig.suptitle(args.title or f"Classification setting on {args.benchmark}")
    return fig
