"""Inversion cases (the paper's Tables 7–8): a caption judged irrelevant (label 0, i.e. not listed)
scoring above a label-2 positive for the same query.

``capflow inversions`` reads every query–candidate cosine of each dense run from the embedding
cache (positives beyond the run's depth included) and writes one row per (model, query with a
label-2 positive): how many (negative, label-2 positive) pairs are inverted, the highest-scoring
negative, the lowest-scoring label-2 positive, both cosines and the margin between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from capflow.benchmark import load_benchmark
from capflow.errors import UserError
from capflow.report.cachedscores import recipe_of, score_matrix
from capflow.report.csvframes import read_frame_csv, write_frame_csv
from capflow.report.labels import add_labels_option, read_labelled, record_columns
from capflow.report.perquery import load_benchmark_queries
from capflow.report.querygroups import group_of
from capflow.runrecord import RunRecord
from capflow.settingflags import add_options

COLUMNS = ["benchmark", "view", "model", "display", "query_id", "query", "query_group", "label2_positives",
           "inverted_pairs", "negative_id", "negative_text", "negative_cosine", "positive_id", "positive_text",
           "positive_cosine", "margin"]


def query_inversions(cosine: np.ndarray, qrels: dict[str, int], candidate_ids: list[str]) -> dict | None:
    """The inversion summary of one query's cosine row; None when it has no label-2 positive."""
    column = {cid: j for j, cid in enumerate(candidate_ids)}
    label2 = np.array([column[c] for c, g in qrels.items() if g == 2], dtype=int)
    if not len(label2):
        return None
    negative = np.ones(len(candidate_ids), dtype=bool)
    negative[[column[c] for c in qrels]] = False
    neg_index = np.flatnonzero(negative)
    neg_sorted = np.sort(cosine[neg_index])
    inverted = int(sum(len(neg_sorted) - np.searchsorted(neg_sorted, s, side="right") for s in cosine[label2]))
    top_neg = int(neg_index[np.argmax(cosine[neg_index], axis=0)])
    low_pos = int(label2[np.argmin(cosine[label2])])
    return {"label2_positives": int(len(label2)), "inverted_pairs": inverted,
            "negative": top_neg, "positive": low_pos,
            "margin": float(cosine[top_neg] - cosine[low_pos])}


def inversion_rows(record: RunRecord, benchmark_dir: Path, types_path: Path | None, cache_root: Path) -> list[dict]:
    """The inversion rows of one dense run (its record, labelled), scored from the embedding cache."""
    benchmark = load_benchmark(benchmark_dir)
    types = load_benchmark_queries(benchmark_dir, types_path).types
    matrix = score_matrix(recipe_of(record), benchmark, cache_root)
    rows = []
    for i, q in enumerate(benchmark.queries):
        found = query_inversions(matrix.cosine[i], q.qrels, matrix.candidate_ids)
        if found is None:
            continue
        neg, pos = found["negative"], found["positive"]
        rows.append({**record_columns(record), "query_id": q.id, "query": q.text,
                     "query_group": group_of(types.get(q.id)), "label2_positives": found["label2_positives"],
                     "inverted_pairs": found["inverted_pairs"], "negative_id": benchmark.candidate_ids[neg],
                     "negative_text": benchmark.candidate_texts[neg], "negative_cosine": float(matrix.cosine[i, neg]),
                     "positive_id": benchmark.candidate_ids[pos], "positive_text": benchmark.candidate_texts[pos],
                     "positive_cosine": float(matrix.cosine[i, pos]), "margin": found["margin"]})
    return rows


def read_inversions(path: Path):
    return read_frame_csv(path, COLUMNS, "inversions CSV", dtype={"query_id": str, "query": str})


def configure_parser(parser) -> None:
    parser.add_argument("--metrics", nargs="+", required=True, type=Path, help="metrics JSON of dense runs")
    parser.add_argument("--benchmark", nargs=2, action="append", required=True, metavar=("LABEL", "DIR"),
                        help="the validated benchmark dir of a benchmark label in the metrics JSON; repeatable")
    parser.add_argument("--query-types", nargs=2, action="append", default=[], metavar=("LABEL", "FILE"),
                        help="query_types.json used for a label instead of its dir's own; repeatable")
    parser.add_argument("--cache", required=True, type=Path, help="the embedding cache the runs were encoded into")
    add_labels_option(parser)
    parser.add_argument("--out", required=True, type=Path, help="output inversions CSV")


def main(args) -> None:
    import pandas as pd

    dirs = {k: Path(v) for k, v in args.benchmark}
    types = {k: Path(v) for k, v in args.query_types}
    rows = []
    for path in args.metrics:
        record = read_labelled(path, args.labels)
        label = record.benchmark_label
        if label not in dirs:
            raise UserError(f"benchmark '{label}' has no --benchmark LABEL DIR", path)
        rows += inversion_rows(record, dirs[label], types.get(label), args.cache)
    write_frame_csv(pd.DataFrame(rows, columns=COLUMNS), args.out)


# --- Tables 7 and 8 and the counts (`capflow tables inversions | inversions-paired | inversion-counts`) ---

PAPER_QUERIES = ("炸鸡", "紫色的花", "西瓜")


@dataclass(frozen=True)
class InversionSettings:
    """What Tables 7 and 8 show (config report.inversions)."""

    top: int = field(default=5, metadata={"help": "queries with the widest margin per model"})
    always: tuple[str, ...] = field(default=PAPER_QUERIES,
                                    metadata={"help": "query texts or ids always shown (the paper's cases)"})

CAPTION_CHARS = 40


def add_arguments(parser) -> None:
    parser.add_argument("--inversions", required=True, nargs="+", type=Path,
                        help="inversions CSV(s); inversions-paired reads both benchmarks' rows from them")
    parser.add_argument("--benchmark", required=True, help="benchmark name (inversions-paired: the left one)")
    parser.add_argument("--other", help="inversions-paired: the right benchmark (same query ids)")
    parser.add_argument("--view", default="full")
    parser.add_argument("--models", nargs="*", help="models shown, in order (default: every model)")
    add_options(parser, InversionSettings)
    parser.add_argument("--always-from", type=Path,
                        help="a validated benchmark with the same query ids whose queries matching --always by text "
                             "are shown too (the Chinese named queries on CapRetrievalEn)")


def _cells(r, prefix: str = "") -> dict:
    from capflow.report.table import Cell

    return {f"{prefix}neg": Cell(f"{r.negative_cosine:.2f}"), f"{prefix}pos": Cell(f"{r.positive_cosine:.2f}"),
            f"{prefix}pairs": Cell(f"{int(r.inverted_pairs):,}")}


def _short(text: str) -> str:
    return text if len(text) <= CAPTION_CHARS else text[:CAPTION_CHARS - 1] + "…"


def _select(args, benchmark: str):
    import pandas as pd

    frame = pd.concat([read_inversions(path) for path in args.inversions], ignore_index=True)
    frame = frame[(frame.benchmark == benchmark) & (frame.view == args.view)]
    where = ", ".join(map(str, args.inversions))
    if frame.empty:
        raise UserError(f"{where}: no rows for {benchmark} ({args.view})")
    models = args.models or list(dict.fromkeys(frame.model))
    missing = [m for m in models if m not in set(frame.model)]
    if missing:
        raise UserError(f"{where}: model '{missing[0]}' is not in the inversions of {benchmark}")
    return frame, models


def shown_queries(part, top: int, always) -> list[str]:
    """Query ids: the always-shown ones (by text or id) that have a label-2 positive, then the widest margins."""
    always_ids = list(part[part["query"].isin(always) | part.query_id.isin(always)].query_id)
    ranked = part[part.inverted_pairs > 0].sort_values(["margin", "query_id"], ascending=[False, True]).query_id
    return list(dict.fromkeys(always_ids + list(ranked[:top])))


def always_shown(args) -> list[str]:
    """The query texts or ids always shown, with the ids of --always-from's queries whose text is one of them."""
    always = list(args.always)
    if args.always_from:
        named = set(always)
        always += [q.id for q in load_benchmark_queries(args.always_from).queries if q.text in named]
    return always


def build_cases(args):
    """Table 7: per model, the inverted queries with the widest margins and the paper's three."""
    from capflow.report.table import Column, Row, Table

    frame, models = _select(args, args.benchmark)
    always = always_shown(args)
    columns = [Column("neg", "cos 0", best="none"), Column("pos", "cos 2", best="none"),
               Column("pairs", "inverted", best="none")]
    groups = []
    for model in models:
        part = frame[frame.model == model].set_index("query_id")
        rows = []
        for qid in shown_queries(part.reset_index(), args.top, always):
            r = part.loc[qid]
            captions = {"Label-0 caption": _short(r.negative_text), "Label-2 caption": _short(r.positive_text)}
            rows.append(Row(r["query"], _cells(r), captions))
        groups.append((part.display.iloc[0], rows))
    notes = ["cos 0: the highest-scoring caption not judged relevant; cos 2: the lowest-scoring label-2 positive; "
             "inverted: (label-0, label-2) pairs in the wrong order."] + list(args.note or [])
    caption = args.caption or f"Inversion cases on {args.benchmark} (the paper's Table 7)"
    return Table(caption=caption, label="tab:inversions", columns=columns, groups=groups,
                 text_columns=["Label-0 caption", "Label-2 caption"], notes=notes, scale=1.0, row_header="Query",
                 text_width="7cm")


def build_paired(args):
    """Table 8: the same queries on two benchmarks with shared ids, side by side, per model."""
    from capflow.report.table import Column, Row, Table

    if not args.other:
        raise UserError("inversions-paired needs --other BENCHMARK")
    left, models = _select(args, args.benchmark)
    right, _ = _select(args, args.other)
    columns = [Column(f"{side}/{key}", header, group=bench, best="none")
               for side, bench in (("l", args.benchmark), ("r", args.other))
               for key, header in (("neg", "cos 0"), ("pos", "cos 2"), ("pairs", "inverted"))]
    groups = []
    for model in models:
        lpart = left[left.model == model].set_index("query_id")
        rpart = right[right.model == model].set_index("query_id")
        rows = []
        for qid in shown_queries(lpart.reset_index(), args.top, args.always):
            other_query = f"Query ({args.other})"
            cells, extra = {}, {other_query: ""}
            for side, part in (("l", lpart), ("r", rpart)):
                if qid not in part.index:
                    continue
                r = part.loc[qid]
                cells.update(_cells(r, f"{side}/"))
                if side == "r":
                    extra[other_query] = r["query"]
            rows.append(Row(lpart.loc[qid, "query"], cells, extra))
        groups.append((lpart.display.iloc[0], rows))
    caption = args.caption or f"Inversions on {args.benchmark} and {args.other}, same queries (the paper's Table 8)"
    return Table(caption=caption, label="tab:inversions-paired", columns=columns, groups=groups,
                 text_columns=[f"Query ({args.other})"], notes=list(args.note or []), scale=1.0,
                 row_header=f"Query ({args.benchmark})")


def build_counts(args):
    """Inverted pairs per model and query group (queries with at least one inversion in brackets)."""
    from capflow.report.querygroups import SHORT, ordered_groups
    from capflow.report.table import Cell, Column, Row, Table

    frame, models = _select(args, args.benchmark)
    groups = ordered_groups(set(frame.query_group))
    sizes = frame[frame.model == models[0]].groupby("query_group").query_id.nunique()
    columns = [Column(g, f"{SHORT.get(g, g)} ({sizes.get(g, 0)})", best="none") for g in groups]
    columns.append(Column("all", f"All ({int(sizes.sum())})", best="none"))
    rows = []
    for model in models:
        part = frame[frame.model == model]
        cells = {}
        for key, sub in [(g, part[part.query_group == g]) for g in groups] + [("all", part)]:
            cells[key] = Cell(f"{int(sub.inverted_pairs.sum()):,} ({int((sub.inverted_pairs > 0).sum())})")
        rows.append(Row(part.display.iloc[0], cells))
    notes = ["A cell: inverted (label-0 above label-2) pairs, and in brackets the queries with at least one; "
             "columns count the queries with a label-2 positive."] + list(args.note or [])
    caption = args.caption or f"Inverted pairs per query group on {args.benchmark}"
    return Table(caption=caption, label="tab:inversion-counts", columns=columns, groups=[("", rows)], notes=notes,
                 scale=1.0)
