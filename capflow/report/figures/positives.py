"""Figure 2: how many positives the queries have, by label, in widening bins (a few queries have hundreds)."""

from __future__ import annotations

from pathlib import Path

from capflow.report.figures import bar_positions, legend_below, new_figure
from capflow.report.perquery import load_benchmark_queries

# (lowest, highest) positives per bin; None = no upper bound
BINS = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, None)]


def bin_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else str(low) if low == high else f"{low}-{high}"


def binned(counts: list[int]) -> list[int]:
    return [sum(1 for c in counts if c >= low and (high is None or c <= high)) for low, high in BINS]


def draw(args):
    bench = load_benchmark_queries(args.benchmark)
    series = {"all positives": [len(q.qrels) for q in bench.queries],
              "label 2": [sum(1 for g in q.qrels.values() if g == 2) for q in bench.queries],
              "label 1": [sum(1 for g in q.qrels.values() if g == 1) for q in bench.queries]}
    fig, (ax,) = new_figure(6.4, 4.0)
    xs, width = bar_positions(len(BINS), len(series))
    for x, (label, counts), colour in zip(xs, series.items(), ("#4C72B0", "#55A868", "#C44E52")):
        ax.bar(x, binned(counts), width, label=label, color=colour)
    ax.set_xticks(range(len(BINS)), [bin_label(*b) for b in BINS])
    ax.set_xlabel("positives per query")
    ax.set_ylabel("queries")
    ax.set_title(args.title or f"Positives per query in {args.benchmark.name} ({len(bench.queries)} queries)")
    legend_below(ax, ncols=3, fontsize=8)
    return fig


def add_arguments(parser) -> None:
    parser.add_argument("--benchmark", required=True, type=Path, help="validated benchmark dir")
