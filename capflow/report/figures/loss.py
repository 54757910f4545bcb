"""Training loss per step for each setting, with the held-out loss where it was measured."""

from __future__ import annotations

import csv
from pathlib import Path

from capflow.errors import UserError
from capflow.report.figures import legend_below, new_figure


def add_arguments(parser) -> None:
    parser.add_argument("--loss", nargs=2, action="append", required=True, metavar=("LABEL", "LOSS_CSV"),
                        help="a setting's label and its loss.csv (step, train_loss, eval_loss); repeatable")


def read_curves(path: Path, columns: tuple[str, ...], what: str) -> dict[str, list[tuple[int, float]]]:
    """(step, value) of each of ``columns`` (``what`` they hold, for errors) of a loss file, where the row
    has one."""
    curves: dict[str, list[tuple[int, float]]] = {column: [] for column in columns}
    try:
        handle = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise UserError("file not found", path) from None
    with handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"step", *columns} <= set(reader.fieldnames):
            raise UserError(f"expected the columns step, {', '.join(columns)}", path, 1)
        for lineno, row in enumerate(reader, start=2):
            try:
                for column, points in curves.items():
                    if row[column]:
                        points.append((int(row["step"]), float(row[column])))
            except ValueError:
                raise UserError(f"step and {what} must be numbers", path, lineno) from None
    return curves


def read_loss(path: Path) -> dict[str, list[tuple[int, float]]]:
    return read_curves(path, ("train_loss", "eval_loss"), "losses")


def draw(args):
    from matplotlib.lines import Line2D

    fig, (ax,) = new_figure(6.4, 4.4)
    colours = iter(__import__("matplotlib").colormaps["tab10"].colors * 3)
    # the legend: one colour per setting, then what the solid and the dashed lines are
    handles, labels = [], []
    for label, path in args.loss:
        curves, colour = read_loss(Path(path)), next(colours)
        if curves["train_loss"]:
            ax.plot(*zip(*curves["train_loss"]), color=colour)
        if curves["eval_loss"]:
            ax.plot(*zip(*curves["eval_loss"]), color=colour, linestyle="--", marker="o", markersize=3)
        handles.append(Line2D([], [], color=colour, linewidth=4))
        labels.append(label)
    handles += [Line2D([], [], color="black"), Line2D([], [], color="black", linestyle="--", marker="o", markersize=3)]
    labels += ["train", "held out"]
    ax.set_xlabel("step")
    ax.set_ylabel("InfoNCE loss")
    ax.set_title(args.title or "Finetuning loss")
    legend_below(ax, handles, labels, ncols=4)
    return fig
