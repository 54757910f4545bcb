"""Table 3 and its companions: nDCG@10 per query group, and per query how each model fares against BM25.

All three read the per-query frame (``per_query.csv``). A group's nDCG@10 is the mean over its
queries, per seed, then the mean over seeds. E>B / E<B / E=B are the shares of a group's queries
where the model's nDCG@10 is above, below or equal to the baseline's (compared at the frame's six
decimals), per seed, then averaged. Untyped queries are their own group, never dropped.
"""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.metrics import measure_label
from capflow.report.perquery import read_frame
from capflow.report.querygroups import SHORT, ordered_groups
from capflow.report.table import Cell, Column, Row, Table, mean_std
from capflow.vocabulary import benchmark_label

ALL = "All"
OUTCOMES = (("better", "E>B"), ("worse", "E<B"), ("equal", "E=B"))


def add_arguments(parser) -> None:
    parser.add_argument("--per-query", required=True, type=Path, help="per_query.csv")
    parser.add_argument("--benchmark", required=True, help="benchmark name, e.g. CapRetrieval")
    parser.add_argument("--view", default="full", help="benchmark view (default full)")
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--baseline", default="bm25", help="the model others are compared with per query")
    parser.add_argument("--featured", help="query-types: the model shown beside the baseline (required there)")
    parser.add_argument("--models", nargs="*", help="rows shown, in order (default: every model in the frame)")


def select(args):
    frame = read_frame(args.per_query)
    frame = frame[(frame.benchmark == args.benchmark) & (frame.view == args.view) & (frame.metric == args.metric)]
    if frame.empty:
        raise UserError(f"no {args.metric} rows for {args.benchmark} ({args.view})", args.per_query)
    return frame


def model_order(frame, args) -> list[str]:
    present = list(dict.fromkeys(frame.model))
    for model in args.models or []:
        if model not in present:
            raise UserError(f"model '{model}' is not in the frame", args.per_query)
    return list(args.models) if args.models else present


def group_sizes(frame) -> dict[str, int]:
    sizes = frame.groupby("query_group").query_id.nunique().to_dict()
    sizes = {g: int(sizes[g]) for g in ordered_groups(sizes)}
    sizes[ALL] = int(frame.query_id.nunique())
    return sizes


def group_scores(frame) -> dict[tuple[str, str], Cell]:
    """(model, group) -> mean over seeds (± std) of the group's mean value; ``All`` over every query."""
    import pandas as pd

    per_seed = frame.assign(seed=frame.seed.fillna(-1))
    by_group = per_seed.groupby(["model", "seed", "query_group"]).value.mean().reset_index()
    overall = per_seed.groupby(["model", "seed"]).value.mean().reset_index().assign(query_group=ALL)
    both = pd.concat([by_group, overall], ignore_index=True)
    cells = {}
    for (model, group), values in both.groupby(["model", "query_group"]).value:
        cells[(model, group)] = mean_std(list(values))
    return cells


def win_shares(frame, baseline: str) -> dict[tuple[str, str], dict[str, float]]:
    """(model, group) -> {better, worse, equal}: shares of the group's queries against ``baseline``."""
    base = frame[frame.model == baseline]
    if base.empty:
        raise UserError(f"baseline '{baseline}' is not in the frame")
    base = base.groupby("query_id").value.first().round(6).rename("base")
    others = frame[frame.model != baseline].assign(seed=lambda f: f.seed.fillna(-1))
    joined = others.join(base, on="query_id")
    joined = joined.assign(better=joined.value.round(6) > joined.base, worse=joined.value.round(6) < joined.base,
                           equal=joined.value.round(6) == joined.base)
    outcome = [name for name, _ in OUTCOMES]
    per_group = joined.groupby(["model", "seed", "query_group"])[outcome].mean()
    per_all = joined.groupby(["model", "seed"])[outcome].mean().assign(query_group=ALL)
    per_all = per_all.reset_index().set_index(["model", "seed", "query_group"])
    shares = {}
    for frame_part in (per_group, per_all):
        for (model, group), part in frame_part.groupby(level=["model", "query_group"]):
            shares[(model, group)] = {name: float(part[name].mean()) for name in outcome}
    return shares


def display_names(frame) -> dict[str, str]:
    return frame.groupby("model", sort=False).display.first().to_dict()


def _group_header(group: str, sizes: dict[str, int]) -> str:
    return f"{SHORT.get(group, group)} ({sizes[group]})"


def build_paper(args) -> Table:
    """Rows = query groups; columns: the baseline's and the featured model's nDCG@10 and E>B/E<B/E=B (%)."""
    if not args.featured:
        raise UserError("query-types needs --featured MODEL")
    frame = select(args)
    names = display_names(frame)
    for model in (args.baseline, args.featured):
        if model not in names:
            raise UserError(f"model '{model}' is not in the frame", args.per_query)
    sizes = group_sizes(frame)
    scores = group_scores(frame)
    shares = win_shares(frame[frame.model.isin([args.baseline, args.featured])], args.baseline)
    metric = measure_label(args.metric)
    columns = [Column("base", metric, group=names[args.baseline], best="none"),
               Column("feat", metric, group=names[args.featured], best="none")]
    columns += [Column(name, header, group=f"{names[args.featured]} vs {names[args.baseline]} (%)", best="none",
                       decimals=0) for name, header in OUTCOMES]
    rows = []
    for group in sizes:
        cells = {"base": scores[(args.baseline, group)], "feat": scores[(args.featured, group)]}
        cells.update({name: Cell(shares[(args.featured, group)][name]) for name, _ in OUTCOMES})
        rows.append(Row(group, cells, {"Queries": str(sizes[group])}))
    caption = args.caption or (f"{metric} by query type on {benchmark_label(args.benchmark, args.view)} "
                               "(the paper's Table 3)")
    return Table(caption=caption, label="tab:querytypes", columns=columns, groups=[("", rows)],
                 text_columns=["Queries"], notes=list(args.note or []), row_header="Query type")


def build_ndcg(args) -> Table:
    """Rows = models; columns = query groups (with their sizes) and all queries."""
    frame = select(args)
    names, sizes, scores = display_names(frame), group_sizes(frame), group_scores(frame)
    columns = [Column(group, _group_header(group, sizes)) for group in sizes]
    rows = [Row(names[m], {g: scores.get((m, g), Cell(None)) for g in sizes}) for m in model_order(frame, args)]
    metric = measure_label(args.metric)
    caption = args.caption or (f"{metric} per query group on {benchmark_label(args.benchmark, args.view)} "
                               "(queries per group in brackets)")
    return Table(caption=caption, label="tab:querygroups", columns=columns, groups=[("", rows)],
                 notes=list(args.note or []))


def build_wins(args) -> Table:
    """Rows = models other than the baseline; a cell per group reads E>B/E<B/E=B in whole percent."""
    frame = select(args)
    names, sizes = display_names(frame), group_sizes(frame)
    shares = win_shares(frame, args.baseline)
    columns = [Column(group, _group_header(group, sizes), best="none") for group in sizes]
    rows = []
    for model in model_order(frame, args):
        if model == args.baseline:
            continue
        cells = {g: Cell("/".join(f"{100 * shares[(model, g)][name]:.0f}" for name, _ in OUTCOMES))
                 for g in sizes if (model, g) in shares}
        rows.append(Row(names[model], cells))
    baseline = names.get(args.baseline, args.baseline)
    caption = args.caption or (f"Per query {measure_label(args.metric)} against {baseline} on "
                               f"{benchmark_label(args.benchmark, args.view)}: "
                               "E>B/E<B/E=B (% of the group's queries)")
    return Table(caption=caption, label="tab:querywins", columns=columns, groups=[("", rows)],
                 notes=list(args.note or []))
