"""nDCG@10 per query group, one bar per model (the figure beside Table 3)."""

from __future__ import annotations

from capflow.metrics import measure_label
from capflow.report.figures import bar_positions, legend_below, new_figure
from capflow.report.querygroups import SHORT
from capflow.report.querytypes import add_arguments as add_selection_arguments
from capflow.report.querytypes import display_names, group_scores, group_sizes, model_order, select


def add_arguments(parser) -> None:
    add_selection_arguments(parser)


def draw(args):
    frame = select(args)
    names, sizes, scores = display_names(frame), group_sizes(frame), group_scores(frame)
    models = model_order(frame, args)
    fig, (ax,) = new_figure(max(6.4, 1.1 * len(sizes) + 0.3 * len(models)), 3.8 + 0.2 * len(models))
    xs, width = bar_positions(len(sizes), len(models))
    for x, model in zip(xs, models):
        cells = [scores.get((model, g)) for g in sizes]
        errors = [100 * c.std if c and c.std else 0 for c in cells]
        ax.bar(x, [100 * c.value if c else 0 for c in cells], width, yerr=errors if any(errors) else None,
               label=names[model], capsize=2)
    ax.set_xticks(range(len(sizes)), [f"{SHORT.get(g, g)}\n({n})" for g, n in sizes.items()])
    ax.set_ylabel(f"{measure_label(args.metric)} (x100)")
    ax.set_title(args.title or f"{measure_label(args.metric)} per query group on {args.benchmark}")
    legend_below(ax)
    return fig
