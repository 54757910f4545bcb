"""Every job of a plan, as Snakemake plans them for the `all` target from an empty results folder.

The list answers "what will this config run?" without Snakemake (``capflow plan``), and a test holds
it against ``snakemake -n`` for the embedded default and the paper configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from capflow.plan.plan import Plan
from capflow.plan.report import BATCHES, Report
from capflow.report import mtebjson
from capflow.vocabulary import KINDS

# Rules that build the report (and the finetuned models' cards) from finished results: they load no model.
REPORT_RULES = frozenset(
    {
        "qrels",
        "mteb_json",
        "hybrid",
        "per_query",
        "classification_sweep",
        "inversions",
        "error_analysis",
        "tables_zeroshot",
        "tables_finetune",
        "figures_zeroshot",
        "figures_finetune",
        "latex",
        "model_card",
        "all",
    }
)
# Rules that run where Snakemake runs (the Snakefile's localrules): downloads, and the report's rules
# but the analyses that read the embedding cache.
LOCAL_RULES = frozenset({"prefetch_item", "benchmark_data", "mteb_data"}) | (
    REPORT_RULES - {"classification_sweep", "inversions", "error_analysis"}
)


@dataclass(frozen=True)
class PlannedJob:
    rule: str
    outputs: tuple[str, ...]
    log: str | None = None
    timing: str | None = None
    wildcards: tuple[tuple[str, str], ...] = ()

    def wildcard(self, name: str) -> str:
        return dict(self.wildcards)[name]

    @property
    def local(self) -> bool:
        return self.rule in LOCAL_RULES

    @property
    def part(self) -> str:
        """ "prefetch" (hub downloads), "report" (built from finished results) or "compute" (the rest)."""
        if self.rule == "prefetch_item":
            return "prefetch"
        return "report" if self.rule in REPORT_RULES else "compute"


def planned_jobs(plan: Plan, report: Report) -> list[PlannedJob]:
    """The jobs of `snakemake all` on a fresh results folder, in pipeline order."""
    layout = plan.layout
    jobs: list[PlannedJob] = []

    def add(rule, paths, **wildcards):
        values = tuple((name, str(value)) for name, value in wildcards.items())
        jobs.append(PlannedJob(rule, tuple(paths.files.values()), paths.log, paths.timing, values))

    for key in plan.prefetch_items:
        add("prefetch_item", layout.prefetch(key), item=key)
    for benchmark in data_benchmarks(plan):
        add("benchmark_data", layout.data(benchmark), benchmark=benchmark)
    for benchmark in plan.mteb_benchmarks:
        add("mteb_data", layout.mteb(benchmark), benchmark=benchmark)
    for root, benchmark in plan.qrels_views():
        add("qrels", layout.qrels(benchmark, root), root=root, benchmark=benchmark)
    for benchmark in plan.zeroshot_config["benchmarks"]:
        for model in plan.zeroshot_models(benchmark):
            add("zeroshot", layout.zeroshot(benchmark, model), benchmark=benchmark, model=model)
    for benchmark in testview_benchmarks(plan):
        add("testview", layout.testview(benchmark), benchmark=benchmark)
    for pool in plan.trainset_pools:
        add("pool", layout.pool_source(pool), pool=pool)
        add("leakage", layout.leakage(pool), pool=pool)
        for kind in KINDS:
            for shard in range(plan.generate["shards"]):
                add("generate", layout.generation(pool, kind, shard), pool=pool, kind=kind, shard=shard)
        for mix in plan.config["trainsets"]["mixes"]:
            add("trainset", layout.trainset(pool, mix), pool=pool, mix=mix)
    for pool, mix in plan.mined_trainsets():
        add("negatives", layout.negatives(pool, mix), pool=pool, mix=mix)
    for s in plan.finetuned_settings():
        parts = dict(zip(("pool", "mix", "seed"), s.words, strict=True))
        if s.variant:
            add("finetune_knobs", plan.finetune_job(s), **parts, variant=s.variant)
        else:
            add("finetune", plan.finetune_job(s), **parts)
    for benchmark in plan.evaluation_views:
        for run in plan.evaluation_runs:
            add("evaluate", layout.evaluation(benchmark, run), benchmark=benchmark, run=run)
    for run in plan.finetuned_runs:
        add("model_card", layout.model_card(run), run=run)
    for run in plan.hybrid_runs():
        add("hybrid", layout.hybrid(*run), **dict(zip(("benchmark", "method", "model"), run, strict=True)))
    for result in plan.mteb_results.values():
        folder = mtebjson.model_folder(result.model)
        add("mteb_json", layout.mteb_result(folder, result.revision, result.task), mteb_model=folder,
            revision=result.revision, task=result.task)
    add("per_query", layout.per_query)
    for benchmark in analysis_benchmarks(plan):
        if plan.dense_models(benchmark):
            add("classification_sweep", layout.analysis("classification", benchmark))
            add("inversions", layout.analysis("inversions", benchmark))
        if plan.has_bm25_on(benchmark) and plan.dense_models(benchmark):
            add("error_analysis", layout.analysis("errors", benchmark, ("sheet",)))
    for kind in ("tables", "figures"):
        for batch in BATCHES:
            if report.in_batch(kind, batch):
                outputs = report.batch_outputs(kind, batch)
                jobs.append(PlannedJob(f"{kind}_{batch}", tuple(outputs), layout.batch_log(kind, batch)))
    add("latex", layout.latex)
    jobs.append(PlannedJob("all", ()))
    return jobs


def data_benchmarks(plan: Plan) -> list[str]:
    """Benchmarks some job reads through the data step: zero-shot, evaluation, leakage, a hold-out and
    the benchmarks whose query types others borrow."""
    names = list(plan.zeroshot_config["benchmarks"])
    names += [b for b, view in plan.evaluation_views.items() if view != "mteb"]
    if "id" in plan.trainset_pools or "ood" in plan.trainset_pools:
        names.append(plan.leakage["benchmark"])
    held = plan.holdout_benchmark()
    if held and "id" in plan.trainset_pools:
        names.append(held)
    names += [plan.types_source(b) for b in list(names)]
    return list(dict.fromkeys(names))


def testview_benchmarks(plan: Plan) -> list[str]:
    names = [b for b, view in plan.evaluation_views.items() if view == "testview"]
    held = plan.holdout_benchmark()
    if held and (plan.trainset_pools and (held == plan.leakage["benchmark"] or "id" in plan.trainset_pools)):
        names.append(held)
    return list(dict.fromkeys(names))


def analysis_benchmarks(plan: Plan) -> list[str]:
    """Benchmarks with an analysis CSV: every zero-shot benchmark, and those whose types others borrow."""
    names = list(plan.zeroshot_config["benchmarks"])
    return list(dict.fromkeys(names))


def job_parts(jobs: list[PlannedJob]) -> dict[str, int]:
    """Jobs per part: compute, prefetch, report."""
    return {part: sum(job.part == part for job in jobs) for part in ("compute", "prefetch", "report")}


def job_counts(jobs: list[PlannedJob]) -> dict[str, int]:
    """Jobs per rule, as Snakemake's job stats count them, plus the total."""
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    return {**dict(sorted(counts.items())), "total": len(jobs)}


__all__ = ["PlannedJob", "job_counts", "job_parts", "planned_jobs"]
