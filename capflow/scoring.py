"""Scoring a run against a benchmark's qrels: TREC run files, the metrics summary and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

from capflow import metrics
from capflow.benchmark import Benchmark
from capflow.errors import UserError
from capflow.io import atomic_open, read_json, read_text, write_json
from capflow.recipes import Recipe

Run = dict[str, list[tuple[str, float]]]  # query id -> [(candidate id, score)], best first
REPORT_KS = (1, 5, 10, 20, 100)


def write_trec(path: Path, run: Run, tag: str) -> None:
    with atomic_open(path) as handle:
        for qid, hits in run.items():
            for rank, (cid, score) in enumerate(hits, start=1):
                handle.write(f"{qid} Q0 {cid} {rank} {score:.6f} {tag}\n")


def read_trec(path: Path) -> Run:
    run: Run = {}
    for lineno, line in enumerate(read_text(path, missing="run file not found").splitlines(), start=1):
        parts = line.split()
        if len(parts) != 6:
            raise UserError("expected 'qid Q0 docid rank score tag'", path, lineno)
        try:
            run.setdefault(parts[0], []).append((parts[2], float(parts[4])))
        except ValueError:
            raise UserError(f"score '{parts[4]}' is not a number", path, lineno) from None
    return run


def require_judged(benchmark: Benchmark, name: str) -> None:
    """A benchmark without a single judged query has no score at all (not 0.00): an error naming it."""
    if not any(q.qrels for q in benchmark.queries):
        raise UserError(f"benchmark '{name}' has no judged query (no positive with label 1 or 2): nothing to score")


def score_run(benchmark: Benchmark, run: Run, query_types: dict[str, str],
              threshold: float | None = None, name: str = "the benchmark") -> tuple[dict, dict[str, dict[str, float]]]:
    """The summary (means over judged queries, per type) and per-query metrics of ``run``."""
    require_judged(benchmark, name)
    rankings = {qid: [cid for cid, _ in hits] for qid, hits in run.items()}
    mean, per_query = metrics.evaluate(rankings, benchmark.qrels, REPORT_KS)
    by_type: dict[str, list[float]] = {}
    for qid, values in per_query.items():
        by_type.setdefault(query_types.get(qid, "untyped"), []).append(values["ndcg@10"])
    summary = {
        "queries": len(benchmark.queries),
        "queries_evaluated": len(per_query),
        "candidates": len(benchmark.candidate_ids),
        "metrics": {k: round(v, 6) for k, v in mean.items()},
        "ndcg@10_by_type": {t: round(sum(v) / len(v), 6) for t, v in sorted(by_type.items())} if query_types else {},
    }
    if threshold is not None:
        scores = metrics.macro_prf_within_run(run, benchmark.qrels, threshold)
        summary["macro_prf_within_run"] = {"score": threshold, **{k: round(v, 6) for k, v in scores.items()}}
    return summary, per_query


def write_metrics(path: Path, summary: dict, *, benchmark: str, label: str, recipe: Recipe,
                  base_model: str | None = None) -> None:
    """The run's scores and the recipe fields that made its vectors; table labels (display name, group,
    parameters) are not written: the report takes them from the registry (capflow.report.labels)."""
    head = {"benchmark": benchmark, "model": label, **({"base_model": base_model} if base_model else {})}
    write_json(path, {**head, "recipe": json.loads(recipe.vector_json()), **summary})


def read_metrics_summary(path: Path) -> dict:
    """A run's metrics JSON as write_metrics (or a hybrid job) wrote it: benchmark, model and metrics."""
    summary = read_json(path)
    if not isinstance(summary, dict) or not {"benchmark", "model", "metrics"} <= set(summary):
        raise UserError("not a metrics JSON (benchmark, model, metrics)", path)
    return summary
