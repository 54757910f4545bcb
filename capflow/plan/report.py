"""The report of a plan: every table and figure it builds, with its builder, inputs, options and batch.

The builders are the registry's (capflow.report.registry). Tables and figures build in well under a
second each, so each batch is one job that calls its builders in one process (capflow.report.batch).
The "zeroshot" batch needs only the zero-shot stages, so Table 2 never waits for finetuning; the
"finetune" batch holds what reads a pool, a generated query, a finetuned model or the per-query
frame (which holds every run). Each entry declares its batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from capflow.plan.plan import Plan
from capflow.report.batch import BatchItem
from capflow.report.registry import BUILDERS
from capflow.vocabulary import KINDS

BATCHES = ("zeroshot", "finetune")


@dataclass(frozen=True)
class ReportEntry:
    """One table or figure: its name in the report, its registry builder, the files it reads, its
    options (as the builder's options hold them) and the batch that builds it."""

    kind: str  # "tables" or "figures"
    name: str
    builder: str
    inputs: tuple[str, ...]
    options: dict = field(hash=False)
    batch: str

    @property
    def caption(self) -> str:
        """The caption file the Snakemake report shows beside it, under workflow/report/."""
        return BUILDERS[self.kind][self.builder].caption


class Report:
    """The tables and figures of a plan, and the files of each batch."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.layout = plan.layout
        self.labels = json.loads(plan.model_labels())
        self.tables = {entry.name: entry for entry in self._tables()}
        self.figures = {entry.name: entry for entry in self._figures()}

    # --- batches ----------------------------------------------------------------------------------
    def registry(self, kind: str) -> dict[str, ReportEntry]:
        return self.tables if kind == "tables" else self.figures

    def paths(self, kind: str, name: str):
        return self.layout.table(name) if kind == "tables" else self.layout.figure(name)

    def in_batch(self, kind: str, batch: str) -> list[ReportEntry]:
        return [entry for entry in self.registry(kind).values() if entry.batch == batch]

    def batch_inputs(self, kind: str, batch: str) -> list[str]:
        return list(dict.fromkeys(file for entry in self.in_batch(kind, batch) for file in entry.inputs))

    def batch_items(self, kind: str, batch: str) -> tuple[BatchItem, ...]:
        """The batch job's items: every entry's options, then its output files."""
        return tuple(
            BatchItem(entry.builder, entry.name, tuple({**entry.options, **self.paths(kind, entry.name).files}.items()))
            for entry in self.in_batch(kind, batch)
        )

    def targets(self, kind: str) -> list[str]:
        return [file for name in self.registry(kind) for file in self.paths(kind, name).files.values()]

    # --- registry ---------------------------------------------------------------------------------
    def _finetune_selection(self) -> tuple[list[str], dict]:
        """Table 4's inputs (metrics of every evaluation, the training sets' stats) and its selection."""
        plan = self.plan
        inputs = plan.evaluation_metrics() + plan.trainset_stats_files()
        labels = [plan.evaluation_label(b) for b in plan.evaluation_views]
        return inputs, {"inputs": inputs, "benchmarks": labels, "ks": list(plan.evaluate["table_ks"]),
                        "labels": self.labels}

    def _tables(self) -> list[ReportEntry]:
        plan, layout = self.plan, self.layout
        zeroshot = plan.zeroshot_config
        report = plan.report
        per_query = layout.per_query.files["csv"]
        entries = []

        def add(name, builder, inputs, options, batch):
            # each table its own LaTeX label, so that all.tex refers to each once
            entries.append(ReportEntry("tables", name, builder, tuple(inputs), {**options, "label": f"tab:{name}"},
                                       batch))

        zeroshot_inputs = plan.zeroshot_metrics() + [layout.hybrid(*r).files["metrics"] for r in plan.hybrid_runs()]
        add("zeroshot", "zeroshot", zeroshot_inputs,
            {"inputs": zeroshot_inputs, "benchmarks": list(zeroshot["benchmarks"]), "labels": self.labels}, "zeroshot")
        stats = plan.trainset_stats_files()
        pool_passages = [(pool, layout.leakage(pool).files["passages"]) for pool in plan.trainset_pools]
        sets = [f for pool in plan.trainset_pools for mix in plan.config["trainsets"]["mixes"]
                for name, f in layout.trainset(pool, mix).files.items() if name in ("train", "heldout")]
        add("trainsets", "trainsets", [*stats, *sets, *(p for _, p in pool_passages)],
            {"inputs": stats, "pool": [[pool, p] for pool, p in pool_passages]}, "finetune")
        finetune_inputs, finetune_selection = self._finetune_selection()
        note = plan.testview_note()
        add("finetune", "finetune", finetune_inputs, {**finetune_selection, **({"note": [note]} if note else {})},
            "finetune")
        add("datasets", "datasets", [f for b in zeroshot["benchmarks"] for f in layout.data(b).files.values()],
            {"benchmark": [[b, benchmark_dir(layout.data(b).files), plan.benchmark_language(b)]
                           for b in zeroshot["benchmarks"]]},
            "zeroshot")
        pools = plan.trainset_pools
        shards = [
            (pool, layout.generation(pool, kind, shard).files)
            for pool in pools
            for kind in KINDS
            for shard in range(plan.generate["shards"])
        ]
        add("generated", "generated",
            [layout.leakage(pool).files["passages"] for pool in pools]
            + [files[name] for _, files in shards for name in ("queries", "stats")],
            {"pool": [[pool, layout.leakage(pool).files["passages"]] for pool in pools],
             "queries": [[pool, files["queries"]] for pool, files in shards],
             "stats": [[pool, files["stats"]] for pool, files in shards]},
            "finetune")
        featured = plan.featured_model()
        views = [(b, "full", b) for b in zeroshot["benchmarks"]]
        views += [(b, "test view", f"{b}-testview") for b, view in plan.evaluation_views.items() if view == "testview"]
        for benchmark, view, name in views:
            selection = {"per_query": per_query, "benchmark": benchmark, "view": view}
            add(f"query_groups-{name}", "query-groups", [per_query], selection, "finetune")
            if plan.has_bm25:
                add(f"query_wins-{name}", "query-wins", [per_query], selection, "finetune")
                if featured and view == "full":
                    add(f"query_types-{name}", "query-types", [per_query], {**selection, "featured": featured},
                        "finetune")
        inversions_options = {"top": report["inversions"]["top"], "always": list(report["inversions"]["always"])}
        for benchmark in zeroshot["benchmarks"] if plan.dense_zeroshot_models else []:
            sweep = layout.analysis("classification", benchmark).files["csv"]
            add(f"classification-{benchmark}", "classification", [sweep],
                {"sweep": sweep, "benchmark": benchmark, "threshold": report["classification"]["threshold"]},
                "zeroshot")
            inversions = layout.analysis("inversions", benchmark).files["csv"]
            selection = {"inversions": [inversions], "benchmark": benchmark, **inversions_options}
            source = plan.types_source(benchmark)
            # a benchmark that shares its query ids (and types) with another shows the other's named queries
            named = layout.data(source).files if source != benchmark else {}
            add(f"inversions-{benchmark}", "inversions", [inversions, *named.values()],
                {**selection, **({"always_from": benchmark_dir(named)} if named else {})}, "zeroshot")
            add(f"inversion_counts-{benchmark}", "inversion-counts", [inversions], selection, "zeroshot")
            if source != benchmark and source in zeroshot["benchmarks"]:
                both = layout.analysis("inversions", source).files["csv"]
                add(f"inversions_paired-{source}-{benchmark}", "inversions-paired", [both, inversions],
                    {"inversions": [both, inversions], "benchmark": source, "other": benchmark, **inversions_options},
                    "zeroshot")
        if plan.has_bm25 and plan.dense_zeroshot_models:
            for benchmark in zeroshot["benchmarks"]:
                errors = layout.analysis("errors", benchmark, ("sheet",)).files["csv"]
                selection = {"errors": errors, "benchmark": benchmark}
                add(f"error_analysis-{benchmark}", "error-analysis", [errors], selection, "zeroshot")
                add(f"error_examples-{benchmark}", "error-examples", [errors],
                    {**selection, "examples": report["errors"]["examples"]}, "zeroshot")
        if report["errors"]["annotations"]:
            sheet = report["errors"]["annotations"]
            add("error_annotations", "error-annotations", [sheet], {"sheet": sheet}, "zeroshot")
        return entries

    def _figures(self) -> list[ReportEntry]:
        plan, layout = self.plan, self.layout
        per_query = layout.per_query.files["csv"]
        entries = []

        def add(name, builder, inputs, options, batch):
            entries.append(ReportEntry("figures", name, builder, tuple(inputs), options, batch))

        for b in plan.zeroshot_config["benchmarks"]:
            data = layout.data(b).files
            types = plan.types_file(b)
            add(f"query_types-{b}", "query-types", [*data.values(), types],
                {"benchmark": benchmark_dir(data), "query_types": types}, "zeroshot")
            add(f"positives-{b}", "positives", list(data.values()), {"benchmark": benchmark_dir(data)}, "zeroshot")
            add(f"query_groups-{b}", "query-groups", [per_query], {"per_query": per_query, "benchmark": b}, "finetune")
            if plan.dense_zeroshot_models:
                sweep = layout.analysis("classification", b).files["csv"]
                add(f"classification-{b}", "classification", [sweep],
                    {"sweep": sweep, "benchmark": b, "threshold": plan.report["classification"]["threshold"]},
                    "zeroshot")
        settings = plan.finetuned_settings()
        losses = [plan.finetune_job(s).files["loss"] for s in settings]
        add("loss", "loss", losses, {"loss": [[s.label, loss] for s, loss in zip(settings, losses, strict=True)]},
            "finetune")
        histograms = [(pool, layout.leakage(pool).files["histogram"]) for pool in plan.trainset_pools]
        add("leakage", "leakage", [h for _, h in histograms],
            {"histogram": [[pool, h] for pool, h in histograms], "threshold": plan.leakage_threshold()}, "finetune")
        finetune_inputs, finetune_selection = self._finetune_selection()
        add("finetune", "finetune", finetune_inputs, finetune_selection, "finetune")
        return entries


def benchmark_dir(files: dict[str, str]) -> str:
    """The folder of a benchmark's files, for steps that read a whole benchmark."""
    return str(Path(files["candidates"]).parent)


def all_targets(plan: Plan, report: Report) -> dict[str, list[str]]:
    """What `snakemake tables`, `figures` and `all` build: every table (and the per-query frame), every
    figure, and the results other tools load (qrels, each model's mteb results below results/mteb/)."""
    layout = plan.layout
    tables = report.targets("tables") + [layout.per_query.files["csv"]]
    figures = report.targets("figures")
    extra = [layout.qrels(b, root).files["qrels"] for root, b in plan.qrels_views()]
    extra += list(plan.mteb_results)
    return {
        "tables": tables,
        "figures": figures,
        "prefetch": [layout.prefetch(key).files["manifest"] for key in plan.prefetch_items],
        "all": tables + figures + extra + [layout.latex.files["tex"]],
    }
