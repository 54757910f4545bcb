"""Figure 1: how many queries each of the 8 types and the paper's 5 groups holds (judged and not)."""

from __future__ import annotations

from pathlib import Path

from capflow.report.figures import legend_below, new_figure
from capflow.report.perquery import load_benchmark_queries
from capflow.report.querygroups import SHORT, TYPES, UNTYPED, group_of, ordered_groups


def add_arguments(parser) -> None:
    parser.add_argument("--benchmark", required=True, type=Path, help="validated benchmark dir")
    parser.add_argument("--query-types", type=Path, help="query_types.json instead of the dir's own")


def type_counts(bench) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Per type and per group: [queries with positives, queries without]."""
    by_type: dict[str, list[int]] = {}
    by_group: dict[str, list[int]] = {}
    for q in bench.queries:
        qtype = bench.types.get(q.id) or UNTYPED
        slot = 0 if q.qrels else 1
        by_type.setdefault(qtype, [0, 0])[slot] += 1
        by_group.setdefault(group_of(bench.types.get(q.id)), [0, 0])[slot] += 1
    types = [t for t in TYPES if t in by_type] + sorted(set(by_type) - set(TYPES) - {UNTYPED})
    types += [UNTYPED] if UNTYPED in by_type else []
    return {t: by_type[t] for t in types}, {g: by_group[g] for g in ordered_groups(by_group)}


def draw(args):
    by_type, by_group = type_counts(load_benchmark_queries(args.benchmark, args.query_types))
    fig, axes = new_figure(9.0, 4.0, ncols=2)
    for ax, counts, labels in ((axes[0], by_type, [t.replace("_", " ") for t in by_type]),
                               (axes[1], by_group, [SHORT.get(g, g) for g in by_group])):
        judged = [c[0] for c in counts.values()]
        unjudged = [c[1] for c in counts.values()]
        x = range(len(counts))
        ax.bar(x, judged, color="#4C72B0", label="with positives")
        ax.bar(x, unjudged, bottom=judged, color="#DD8452", label="without positives")
        for i, (a, b) in enumerate(zip(judged, unjudged)):
            ax.text(i, a + b, str(a + b), ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, 1.12 * max(a + b for a, b in zip(judged, unjudged)))  # the count labels inside the frame
        ax.set_xticks(list(x), labels, rotation=35, ha="right")
        ax.set_ylabel("queries")
    axes[0].set_title("query types")
    axes[1].set_title("the paper's groups")
    fig.suptitle(args.title or f"Query types of {args.benchmark.name}")
    legend_below(axes[1], fontsize=8)
    return fig
