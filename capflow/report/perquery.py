"""The long per-query frame every analysis groups: one row per (run, query, metric).

``metrics.json`` holds only means, so per-query values are recomputed from each run file (read only
if it is the run its ``metrics.json`` scored: capflow.runrecord.read_checked_run), the validated
``queries.jsonl`` and ``query_types.json`` through :mod:`capflow.metrics`: the same functions that
scored the run, so the means agree with its ``metrics.json``.

Columns: benchmark, view, model, display, group, seed, query_id, query_type, query_group, metric,
value. ``view`` is the record's evaluation view (``test view``), else ``full``; a finetuned run's model
is its setting (``ood-kw``) and its seed a column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from capflow import metrics
from capflow.benchmark import CANDIDATES, QUERIES, Query, benchmark_query_types, load_queries, load_query_types
from capflow.errors import UserError
from capflow.io import read_jsonl
from capflow.report.csvframes import read_frame_csv, write_frame_csv
from capflow.report.labels import add_labels_option, read_labelled
from capflow.report.querygroups import group_of
from capflow.runrecord import RunRecord, read_checked_run
from capflow.trec import Run, read_trec
from capflow.vocabulary import FULL_VIEW

COLUMNS = ["benchmark", "view", "model", "display", "group", "seed", "query_id", "query_type", "query_group",
           "metric", "value"]
DEFAULT_MEASURES = ("ndcg@1", "ndcg@5", "ndcg@10", "mrr@10", "recall@10", "recall@100")
TIE_ORDERS = ("file", "docid")


def read_run(path: Path) -> Run:
    """A run file read without its record (read_checked_run checks it against the record)."""
    return read_trec(path)


def rankings(run: Run, tie_order: str = "file") -> dict[str, list[str]]:
    """Candidate ids per query, best first. ``file`` keeps the run's order (capflow's, the authors');
    ``docid`` sorts by score descending, then doc id descending, as trec_eval and pytrec_eval do."""
    if tie_order == "file":
        return {qid: [cid for cid, _ in hits] for qid, hits in run.items()}
    if tie_order == "docid":
        return {qid: [cid for cid, _ in sorted(hits, key=lambda h: (h[1], h[0]), reverse=True)]
                for qid, hits in run.items()}
    raise ValueError(f"tie order must be one of {TIE_ORDERS}")


@dataclass
class BenchmarkQueries:
    queries: list[Query]
    types: dict[str, str]

    @property
    def qrels(self) -> dict[str, dict[str, int]]:
        return {q.id: q.qrels for q in self.queries}


def load_benchmark_queries(directory: Path, types_path: Path | None = None) -> BenchmarkQueries:
    """A validated benchmark's queries and query types (``types_path`` replaces its own query_types.json)."""
    directory = Path(directory)
    candidate_ids = {row["id"] for row in read_jsonl(directory / CANDIDATES, {"id": str})}
    queries = load_queries(directory / QUERIES, candidate_ids)
    types = load_query_types(types_path) if types_path else benchmark_query_types(directory)
    return BenchmarkQueries(queries, types)


def run_rows(record: RunRecord, run: Run, bench: BenchmarkQueries, measures: Sequence[str],
             tie_order: str = "file") -> list[dict]:
    """The frame's rows for one run; only judged queries (those with positives), as in every mean."""
    ks = sorted({int(m.split("@")[1]) for m in measures})
    _, per_query = metrics.evaluate(rankings(run, tie_order), bench.qrels, ks)
    setting = record.setting
    display = record.display_name
    if setting:
        model, seed, display = setting.name, setting.seed, f"{display} ({setting.display})"
    else:
        model, seed = record.model, None
    rows = []
    for q in bench.queries:
        if q.id not in per_query:
            continue
        qtype = bench.types.get(q.id, "")
        for measure in measures:
            rows.append({"benchmark": record.benchmark, "view": record.view or FULL_VIEW, "model": model,
                         "display": display, "group": record.group or "",
                         "seed": seed, "query_id": q.id, "query_type": qtype, "query_group": group_of(qtype),
                         "metric": measure, "value": per_query[q.id][measure]})
    return rows


def build_frame(metrics_paths: Sequence[Path], run_paths: Sequence[Path], benchmark_dirs: Mapping[str, Path],
                types_paths: Mapping[str, Path], measures: Sequence[str] = DEFAULT_MEASURES, tie_order: str = "file",
                labels: Mapping[str, dict] | None = None):
    """The long frame (a pandas DataFrame) over every run; benchmarks are keyed by their metrics label."""
    import pandas as pd

    if len(run_paths) != len(metrics_paths):
        raise UserError(f"{len(metrics_paths)} metrics files but {len(run_paths)} run files")
    for measure in measures:
        name, _, k = measure.partition("@")
        if name not in metrics.MEASURES or not k.isdigit() or int(k) < 1:
            raise UserError(f"unknown measure '{measure}' (e.g. ndcg@10; measures: {', '.join(metrics.MEASURES)})")
    loaded: dict[str, BenchmarkQueries] = {}
    rows: list[dict] = []
    for metrics_path, run_path in zip(metrics_paths, run_paths, strict=True):
        record = read_labelled(Path(metrics_path), labels or {})
        label = record.benchmark_label
        if label not in benchmark_dirs:
            raise UserError(f"benchmark '{label}' has no --benchmark LABEL DIR", metrics_path)
        if label not in loaded:
            loaded[label] = load_benchmark_queries(benchmark_dirs[label], types_paths.get(label))
        bench = loaded[label]
        run = read_checked_run(Path(run_path), record, [q.id for q in bench.queries])
        rows += run_rows(record, run, bench, measures, tie_order)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def read_frame(path: Path):
    return read_frame_csv(path, COLUMNS, "per-query frame", dtype={"query_id": str, "query_type": str, "seed": "Int64"},
                          na_values={"seed": [""]})


def configure_parser(parser) -> None:
    parser.add_argument("--metrics", nargs="+", required=True, type=Path, help="metrics JSON of every run")
    parser.add_argument("--runs", nargs="+", required=True, type=Path, help="their run.trec files, in the same order")
    parser.add_argument("--benchmark", nargs=2, action="append", required=True, metavar=("LABEL", "DIR"),
                        help="the validated benchmark dir of a benchmark label in the metrics JSON; repeatable")
    parser.add_argument("--query-types", nargs=2, action="append", default=[], metavar=("LABEL", "FILE"),
                        help="query_types.json used for a label instead of its dir's own (CapRetrievalEn takes "
                             "CapRetrieval's); repeatable")
    parser.add_argument("--measures", nargs="+", default=list(DEFAULT_MEASURES), help="metrics kept per query")
    parser.add_argument("--tie-order", choices=TIE_ORDERS, default="file",
                        help="file: the run's order (capflow); docid: trec_eval's order of equal scores")
    add_labels_option(parser)
    parser.add_argument("--out", required=True, type=Path, help="output per_query.csv")


def main(args) -> None:
    frame = build_frame(args.metrics, args.runs, {k: Path(v) for k, v in args.benchmark},
                        {k: Path(v) for k, v in args.query_types}, args.measures, args.tie_order, args.labels)
    write_frame_csv(frame, args.out)
