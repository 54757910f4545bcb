"""Scoring a run against a benchmark's qrels: the metrics summary and the run's record (metrics.json)."""

from __future__ import annotations

import json
from pathlib import Path

from capflow import metrics
from capflow.benchmark import Benchmark
from capflow.errors import UserError
from capflow.recipes import Recipe
from capflow.runrecord import RunFile, RunRecord
from capflow.trec import Run, read_trec, write_trec
from capflow.vocabulary import Setting

__all__ = ["Run", "read_trec", "write_trec", "REPORT_KS", "require_judged", "score_run", "summary_record",
           "write_metrics"]

REPORT_KS = (1, 5, 10, 20, 100)


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


def summary_record(summary: dict, **fields) -> RunRecord:
    """A record of a :func:`score_run` summary and ``fields`` (benchmark, model, ...)."""
    return RunRecord(**fields, queries=summary["queries"], queries_evaluated=summary["queries_evaluated"],
                     candidates=summary["candidates"], metrics=summary["metrics"],
                     ndcg10_by_type=summary["ndcg@10_by_type"],
                     macro_prf_within_run=summary.get("macro_prf_within_run"))


def write_metrics(path: Path, summary: dict, *, benchmark: str, label: str, recipe: Recipe, run_file: RunFile,
                  view: str | None = None, setting: Setting | None = None, base_model: str | None = None,
                  evaluation_seconds: float | None = None) -> None:
    """The run's scores, its run file's digest and the recipe fields that made its vectors; table labels
    (display name, group, parameters) are not written: the report takes them from the registry
    (capflow.report.labels)."""
    summary_record(summary, benchmark=benchmark, view=view, model=label, setting=setting, base_model=base_model,
                   recipe=json.loads(recipe.vector_json()), run_file=run_file,
                   evaluation_seconds=evaluation_seconds).write(path)
