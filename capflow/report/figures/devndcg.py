"""Retrieval on the dev view during finetuning: nDCG@10 per evaluation step for each setting that
evaluated it (finetune.eval), the kept (best) step marked."""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.report.figures import legend_below, new_figure
from capflow.report.figures.loss import read_curves
from capflow.train.losslog import DEV_COLUMN


def add_arguments(parser) -> None:
    parser.add_argument("--dev", nargs=2, action="append", required=True, metavar=("LABEL", "LOSS_CSV"),
                        help=f"a setting's label and its loss.csv with a {DEV_COLUMN} column; repeatable")


def read_dev(path: Path) -> list[tuple[int, float]]:
    """(step, dev nDCG@10) of each evaluation in a loss file."""
    points = read_curves(path, (DEV_COLUMN,), DEV_COLUMN)[DEV_COLUMN]
    if not points:
        raise UserError(f"no {DEV_COLUMN} value: the run evaluated nothing during training", path)
    return points


def draw(args):
    fig, (ax,) = new_figure(6.4, 4.0)
    colours = iter(__import__("matplotlib").colormaps["tab10"].colors * 3)
    for label, path in args.dev:
        points, colour = read_dev(Path(path)), next(colours)
        steps, values = zip(*points)
        ax.plot(steps, [100 * v for v in values], color=colour, marker="o", markersize=3, label=label)
        best = max(points, key=lambda p: p[1])  # the first of equal bests, as the trainer keeps it
        ax.plot([best[0]], [100 * best[1]], color=colour, marker="*", markersize=11, linestyle="none")
    ax.set_xlabel("step")
    ax.set_ylabel("dev nDCG@10 (x100)")
    ax.set_title(args.title or "Dev-view retrieval during finetuning (star: best)")
    legend_below(ax)
    return fig
