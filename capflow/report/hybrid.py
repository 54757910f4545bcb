"""Hybrid runs: a BM25 run and a dense run fused per query, then scored like any run.

* ``rrf``: reciprocal rank fusion, score = Σ 1 / (k + rank) over the runs that return the candidate
  (k = 60 by default).
* ``minmax``: each run's scores min-max normalised per query to [0, 1] (a run whose scores are all
  equal gives 1), fused as weight · dense + (1 − weight) · lexical; a candidate a run does not
  return gets 0 from it.

Equal fused scores keep the order in which candidates first appear, lexical run first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from capflow.errors import UserError
from capflow.retrieve import RetrievalSettings
from capflow.runrecord import add_run_outputs
from capflow.settingflags import add_options
from capflow.trec import Run
from capflow.vocabulary import HYBRID_METHODS

METHODS = HYBRID_METHODS  # the order the config schema documents them in


@dataclass(frozen=True)
class FusionSettings:
    """The fusions' parameters (config report.hybrid)."""

    rrf_k: int = field(default=60, metadata={"help": "RRF's rank offset"})
    weight: float = field(default=0.5, metadata={"help": "minmax: the dense run's weight"})


def _ranked(fused: dict[str, float], depth: int) -> list[tuple[str, float]]:
    return sorted(fused.items(), key=lambda item: -item[1])[:depth]  # sorted() is stable: first appearance wins


def rrf(lexical: Run, dense: Run, k: int = 60, depth: int = 100) -> Run:
    if k < 0:
        raise UserError(f"RRF's k must be at least 0, got {k}")
    fused_run: Run = {}
    for qid in dict.fromkeys([*lexical, *dense]):
        fused: dict[str, float] = {}
        for hits in (lexical.get(qid, []), dense.get(qid, [])):
            for rank, (cid, _) in enumerate(hits, start=1):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + rank)
        fused_run[qid] = _ranked(fused, depth)
    return fused_run


def _minmax(hits: list[tuple[str, float]]) -> dict[str, float]:
    if not hits:
        return {}
    low, high = min(s for _, s in hits), max(s for _, s in hits)
    return {cid: (s - low) / (high - low) if high > low else 1.0 for cid, s in hits}


def interpolate(lexical: Run, dense: Run, weight: float = 0.5, depth: int = 100) -> Run:
    if not 0.0 <= weight <= 1.0:
        raise UserError(f"interpolation weight {weight} is not between 0 and 1")
    fused_run: Run = {}
    for qid in dict.fromkeys([*lexical, *dense]):
        lex, den = _minmax(lexical.get(qid, [])), _minmax(dense.get(qid, []))
        fused = {cid: (1 - weight) * lex.get(cid, 0.0) + weight * den.get(cid, 0.0)
                 for cid in dict.fromkeys([*lex, *den])}
        fused_run[qid] = _ranked(fused, depth)
    return fused_run


def configure_parser(parser) -> None:
    parser.add_argument("--benchmark", required=True, type=Path, help="validated benchmark dir")
    parser.add_argument("--lexical", nargs=2, required=True, metavar=("RUN", "METRICS"),
                        help="the BM25 run.trec and its metrics.json")
    parser.add_argument("--dense", nargs=2, required=True, metavar=("RUN", "METRICS"),
                        help="the dense run.trec and its metrics.json")
    parser.add_argument("--method", choices=METHODS, required=True)
    add_options(parser, FusionSettings)
    add_options(parser, RetrievalSettings)
    parser.add_argument("--label", help="model label (default bm25+<dense>-<method>)")
    add_run_outputs(parser)


def main(args) -> None:
    from capflow.benchmark import benchmark_query_types, load_benchmark
    from capflow.runrecord import RunFile, read_checked_run, read_run_record
    from capflow.scoring import score_run, summary_record, write_trec
    from capflow.worklog import timed

    if args.rrf_k < 0:
        raise UserError(f"--rrf-k must be at least 0, got {args.rrf_k}")
    if args.depth < 1:
        raise UserError(f"--depth must be positive, got {args.depth}")
    if not 0.0 <= args.weight <= 1.0:
        raise UserError(f"--weight must be between 0 and 1, got {args.weight}")
    lexical, dense = read_run_record(Path(args.lexical[1])), read_run_record(Path(args.dense[1]))
    if lexical.benchmark_label != dense.benchmark_label:
        raise UserError(f"the runs are on different benchmarks: '{lexical.benchmark_label}' and "
                        f"'{dense.benchmark_label}'", args.dense[1])
    benchmark = load_benchmark(args.benchmark)
    query_ids = [q.id for q in benchmark.queries]
    lexical_run = read_checked_run(Path(args.lexical[0]), lexical, query_ids)
    dense_run = read_checked_run(Path(args.dense[0]), dense, query_ids)
    query_types = benchmark_query_types(args.benchmark)
    with timed() as seconds:
        if args.method == "rrf":
            run = rrf(lexical_run, dense_run, args.rrf_k, args.depth)
            fusion = {"method": "rrf", "k": args.rrf_k}
        else:
            run = interpolate(lexical_run, dense_run, args.weight, args.depth)
            fusion = {"method": "minmax", "weight": args.weight}
        summary, _ = score_run(benchmark, run, query_types)
    # the hybrid's evaluation: both rankings, then the fusion and its scoring
    parts = [lexical.evaluation_seconds, dense.evaluation_seconds, seconds()]
    label = args.label or f"{lexical.model}+{dense.model}-{args.method}"
    sha256 = write_trec(args.run, run, label)
    # no table labels: the report derives them from "runs" and "fusion" (capflow.report.labels), so a
    # renamed model does not rerun this job
    record = summary_record(summary, benchmark=dense.benchmark, view=dense.view, model=label, group="hybrid",
                            fusion=fusion, runs=(lexical.model, dense.model),
                            run_file=RunFile.of(run, sha256, args.depth),
                            evaluation_seconds=None if None in parts else round(sum(parts), 3))
    record.write(args.metrics)
