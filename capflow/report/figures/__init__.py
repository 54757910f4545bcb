"""Figures of the report: one module per figure, each with ``add_arguments(parser)`` and ``draw(args)``
returning a matplotlib figure, and one entry in :mod:`capflow.report.registry`; :func:`save` writes it
as PNG and/or PDF, atomically and reproducibly."""

from __future__ import annotations

import logging
from pathlib import Path

from capflow.errors import UserError
from capflow.io import atomic_path

DPI = 150


def new_figure(width: float = 6.4, height: float = 3.6, ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # TrueType (Type 42) fonts in PDFs: conference PDF checks refuse Type 3
    plt.rcParams.update({"svg.hashsalt": "capflow", "font.size": 9, "pdf.fonttype": 42, "ps.fonttype": 42})
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return fig, list(axes[0])


def save(fig, png: Path | None = None, pdf: Path | None = None) -> list[Path]:
    """Write the figure to each path given; no timestamps, so the same figure gives the same bytes."""
    import matplotlib.pyplot as plt

    targets = [(p, fmt, meta) for p, fmt, meta in ((png, "png", {"Software": None}),
                                                    (pdf, "pdf", {"CreationDate": None, "Producer": None}))
               if p is not None]
    if not targets:
        raise UserError("no output file given (--png or --pdf)")
    fig.tight_layout()
    # embedding TrueType fonts in the PDF subsets them with fontTools, which logs every glyph at INFO
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    for path, fmt, meta in targets:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta)
    plt.close(fig)
    return [Path(p) for p, _, _ in targets]


def legend_below(ax, handles=None, labels=None, ncols: int = 2, fontsize: float = 7):
    """The axes' legend under its tick labels and x label, so that it never covers data; :func:`save`'s
    tight layout makes room for it. ``handles`` and ``labels`` default to the axes' labelled artists."""
    from matplotlib.transforms import offset_copy

    fig = ax.get_figure()
    renderer = fig.canvas.get_renderer()
    # how far the x axis' labels reach below the frame, in points: that does not change when the layout
    # resizes the axes, so the legend stays clear of them wherever the axes end up
    reach = (ax.get_window_extent(renderer).y0 - ax.xaxis.get_tightbbox(renderer).y0) * 72 / fig.dpi
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), frameon=False,
                     fontsize=fontsize, ncols=ncols,
                     bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-(reach + 4), units="points"))


def bar_positions(n_groups: int, n_series: int, width: float = 0.8):
    """x centres of each series' bars in grouped bars, and the bar width."""
    import numpy as np

    bar = width / max(n_series, 1)
    base = np.arange(n_groups)
    return [base - width / 2 + bar * (i + 0.5) for i in range(n_series)], bar
