"""The classification setting of the dataset authors' ``run.py --threshold t``, and a threshold sweep.

A candidate is retrieved for a query when the squared L2 distance between their normalised
embeddings, 2 − 2·cos, is at most t (faiss ``IndexFlatL2`` over every candidate, not a run's top k).
Per query, precision = hits / retrieved and recall = hits / positives, each left out of its mean
when its denominator is 0; pair precision and recall pool hits over all queries (micro). F1 and F2
come from the averaged precision and recall, not from per-query F scores. Queries without
positives take part (in precision and the pooled counts), so the share of them that retrieve
nothing is reported as well.

This differs from :func:`capflow.metrics.macro_prf_within_run` (the retrieve step's
``--score-threshold``), which thresholds the cosine within the run's depth, gives an empty result
precision 0, leaves out queries without positives and averages per-query F1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from capflow.benchmark import load_benchmark
from capflow.errors import UserError
from capflow.report.cachedscores import ScoreMatrix, recipe_of, score_matrix
from capflow.report.csvframes import read_frame_csv, write_frame_csv
from capflow.report.labels import add_labels_option, read_labelled, record_columns
from capflow.settingflags import add_options

DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(4, 25))  # 0.20 .. 1.20


@dataclass(frozen=True)
class SweepSettings:
    """The sweep's thresholds (config report.classification.thresholds)."""

    thresholds: tuple[float, ...] = field(default=DEFAULT_THRESHOLDS,
                                          metadata={"help": "squared L2 distances (2 - 2 cos)", "nargs": "+"})

SWEEP_COLUMNS = ["benchmark", "view", "model", "display", "threshold", "query_precision", "query_recall", "f1", "f2",
                 "pair_precision", "pair_recall", "pair_f1", "pair_f2", "queries_with_retrieved", "queries",
                 "retrieved_per_query", "no_positive_queries", "no_positive_retrieving_nothing"]


def _f(beta: float, precision: float, recall: float) -> float:
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall) if precision + recall else 0.0


def positives_matrix(matrix: ScoreMatrix, qrels: dict[str, dict[str, int]]) -> np.ndarray:
    column = {cid: j for j, cid in enumerate(matrix.candidate_ids)}
    positives = np.zeros(matrix.cosine.shape, dtype=bool)
    for i, qid in enumerate(matrix.query_ids):
        for cid, label in qrels.get(qid, {}).items():
            if label > 0:
                positives[i, column[cid]] = True
    return positives


def classification_scores(cosine: np.ndarray, positives: np.ndarray, threshold: float) -> dict[str, float]:
    """The authors' scores at squared-L2 threshold ``threshold`` over queries × candidates."""
    retrieved = (2.0 - 2.0 * cosine.astype(np.float64)) <= threshold
    n_retrieved = retrieved.sum(axis=1)
    n_positive = positives.sum(axis=1)
    hits = (retrieved & positives).sum(axis=1)
    precision = [h / r for h, r in zip(hits, n_retrieved) if r]
    recall = [h / p for h, p in zip(hits, n_positive) if p]
    p = float(np.mean(precision)) if precision else 0.0
    r = float(np.mean(recall)) if recall else 0.0
    unjudged = n_positive == 0
    pair_p = float(hits.sum() / n_retrieved.sum()) if n_retrieved.sum() else 0.0
    pair_r = float(hits.sum() / n_positive.sum()) if n_positive.sum() else 0.0
    return {
        "query_precision": p, "query_recall": r, "f1": _f(1, p, r), "f2": _f(2, p, r),
        # as the authors' run.py prints them: F-scores of the pooled pair precision and recall
        "pair_precision": pair_p, "pair_recall": pair_r, "pair_f1": _f(1, pair_p, pair_r),
        "pair_f2": _f(2, pair_p, pair_r),
        "queries_with_retrieved": int((n_retrieved > 0).sum()), "queries": int(len(hits)),
        "retrieved_per_query": float(n_retrieved.mean()),
        "no_positive_queries": int(unjudged.sum()),
        "no_positive_retrieving_nothing": float((n_retrieved[unjudged] == 0).mean()) if unjudged.any() else 0.0,
    }


def sweep(metrics_paths: Sequence[Path], benchmark_dirs: dict[str, Path], cache_root: Path,
          thresholds: Sequence[float], labels: dict | None = None):
    import pandas as pd

    rows = []
    for path in metrics_paths:
        record = read_labelled(path, labels or {})
        label = record.benchmark_label
        if label not in benchmark_dirs:
            raise UserError(f"benchmark '{label}' has no --benchmark LABEL DIR", path)
        benchmark = load_benchmark(benchmark_dirs[label])
        matrix = score_matrix(recipe_of(record), benchmark, cache_root)
        positives = positives_matrix(matrix, benchmark.qrels)
        for t in thresholds:
            rows.append({**record_columns(record), "threshold": t,
                         **classification_scores(matrix.cosine, positives, t)})
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def read_sweep(path: Path):
    return read_frame_csv(path, SWEEP_COLUMNS, "classification sweep")


def configure_parser(parser) -> None:
    parser.add_argument("--metrics", nargs="+", required=True, type=Path, help="metrics JSON of dense runs")
    parser.add_argument("--benchmark", nargs=2, action="append", required=True, metavar=("LABEL", "DIR"),
                        help="the validated benchmark dir of a benchmark label in the metrics JSON; repeatable")
    parser.add_argument("--cache", required=True, type=Path, help="the embedding cache the runs were encoded into")
    add_options(parser, SweepSettings)
    add_labels_option(parser)
    parser.add_argument("--out", required=True, type=Path, help="output sweep CSV")


def main(args) -> None:
    frame = sweep(args.metrics, {k: Path(v) for k, v in args.benchmark}, args.cache, args.thresholds, args.labels)
    write_frame_csv(frame, args.out)


# --- the table at one threshold (`capflow tables classification`) ---------------------------------------

TABLE_COLUMNS = [("query_precision", "P"), ("query_recall", "R"), ("f1", "F1"), ("f2", "F2"),
                 ("pair_precision", "pair P"), ("pair_recall", "pair R"), ("pair_f1", "pair F1"),
                 ("pair_f2", "pair F2"), ("no_positive_retrieving_nothing", "empty (no pos.)")]


def add_arguments(parser) -> None:
    parser.add_argument("--sweep", required=True, type=Path, help="classification sweep CSV")
    parser.add_argument("--benchmark", required=True, help="benchmark name")
    parser.add_argument("--view", default="full")
    parser.add_argument("--threshold", required=True, type=float, help="one of the sweep's thresholds")


def build(args):
    from capflow.report.table import Cell, Column, Row, Table

    frame = read_sweep(args.sweep)
    frame = frame[(frame.benchmark == args.benchmark) & (frame.view == args.view)
                  & ((frame.threshold - args.threshold).abs() < 1e-9)]
    if frame.empty:
        raise UserError(f"no rows for {args.benchmark} ({args.view}) at threshold {args.threshold}", args.sweep)
    columns = [Column(key, header, best="none" if key.startswith("no_") else "max") for key, header in TABLE_COLUMNS]
    rows = [Row(r.display, {key: Cell(float(getattr(r, key))) for key, _ in TABLE_COLUMNS})
            for r in frame.itertuples()]
    n_unjudged = int(frame.no_positive_queries.iloc[0])
    notes = [f"Retrieved: squared L2 distance (2 - 2 cos) <= {args.threshold:g} over all candidates. P, R: "
             "per-query means (a query without retrieved results or positives is left out of that mean); "
             "F1, F2 from the mean P and R; pair P/R pooled over queries, pair F1/F2 from them; empty (no pos.): "
             f"share of the {n_unjudged} queries without positives that retrieve nothing."] + list(args.note or [])
    caption = args.caption or f"Classification setting on {args.benchmark} at threshold {args.threshold:g} (x100)"
    return Table(caption=caption, label="tab:classification", columns=columns, groups=[("", rows)], notes=notes)
