"""Figure 2: histogram of positives per query, by label."""

from __future__ import annotations

from pathlib import Path

from capflow.report.figures import new_figure
from capflow.report.perquery import load_benchmark_queries


def add_arguments(parser) -> None:
    parser.add_argument("--benchmark", required=True, type=Path, help="validated benchmark dir")


def draw(args):
    bench = load_benchmark_queries(args.benchmark)
    series = {"all positives": [len(q.qrels) for q in bench.queries],
              "label 2": [sum(1 for g in q.qrels.values() if g == 2) for q in bench.queries],
              "label 1": [sum(1 for g in q.qrels.values() if g == 1) for q in bench.queries]}
    top = max(max(v) for v in series.values())
    fig, (ax,) = new_figure()
    bins = [b - 0.5 for b in range(top + 2)]
    ax.hist(list(series.values()), bins=bins, label=list(series), color=["#4C72B0", "#55A868", "#C44E52"])
    ax.set_xlabel("positives per query")
    ax.set_ylabel("queries")
    ax.legend(frameon=False)
    ax.set_title(args.title or f"Positives per query in {args.benchmark.name} ({len(bench.queries)} queries)")
    return fig
