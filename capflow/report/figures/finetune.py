"""Table 4 as grouped bars: one group per benchmark column, one bar per row, seed std as error bars."""

from __future__ import annotations

from capflow.report import finetune
from capflow.report.figures import bar_positions, legend_below, new_figure


def add_arguments(parser) -> None:
    finetune.add_arguments(parser)


def draw(args):
    args.caption, args.note = None, None
    table = finetune.build(args)
    rows = [(f"{title}: {row.label}" if title.startswith("Finetuned") else row.label, row)
            for title, rows in table.groups for row in rows]
    fig, (ax,) = new_figure(max(6.4, 1.6 * len(table.columns)), 4.0)
    xs, width = bar_positions(len(table.columns), len(rows))
    lows, highs = [], []
    for x, (label, row) in zip(xs, rows):
        cells = [row.cells.get(col.key) for col in table.columns]
        values = [100 * c.value if c and c.value is not None else 0 for c in cells]
        errors = [100 * c.std if c and c.std else 0 for c in cells]
        ax.bar(x, values, width, yerr=errors if any(errors) else None, capsize=2,
               label=label.replace("Finetuned on the ", ""))
        lows += [v - e for v, e in zip(values, errors)]
        highs += [v + e for v, e in zip(values, errors)]
    # the settings differ by a few points: an axis from 0 would hide that, so it starts below the lowest bar
    spread = max(highs) - min(lows)
    ax.set_ylim(max(0.0, min(lows) - max(spread, 2.0)), max(highs) + 0.25 * max(spread, 2.0))
    ax.set_xticks(range(len(table.columns)), [f"{c.group}\n{c.header}" for c in table.columns])
    ax.set_ylabel("nDCG (x100)")
    ax.set_title(args.title or "Finetuning on generated queries")
    legend_below(ax)
    return fig
