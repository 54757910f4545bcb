"""The report's registry: every table and figure, with its inputs, its step's arguments and its batch.

Tables and figures build in well under a second each, so each batch is one job (`capflow each`). The
"zeroshot" batch needs only the zero-shot stages, so Table 2 never waits for finetuning; the
"finetune" batch holds what reads a pool, a generated query, a finetuned model or the per-query
frame (which holds every run). Each entry declares its batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from capflow.plan.options import cli_options, words
from capflow.plan.plan import Plan
from capflow.vocabulary import KINDS

BATCHES = ("zeroshot", "finetune")


@dataclass(frozen=True)
class ReportEntry:
    """One table or figure: the files it reads, the arguments of its `capflow tables|figures` step, and
    the batch that builds it."""

    name: str
    inputs: tuple[str, ...]
    arguments: str
    batch: str

    @property
    def caption_name(self) -> str:
        """The caption file's stem under workflow/report/figures: the name without its benchmark."""
        return self.name.split("-")[0]


class Report:
    """The tables and figures of a plan, and the files of each batch."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.layout = plan.layout
        self.labels = plan.model_labels()
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

    def batch_spec(self, kind: str, batch: str) -> str:
        """`capflow each` items: every entry's arguments, then its output files."""
        return json.dumps(
            [
                f"{entry.arguments} {cli_options(self.paths(kind, entry.name).files)}"
                for entry in self.in_batch(kind, batch)
            ],
            ensure_ascii=False,
        )

    def targets(self, kind: str) -> list[str]:
        return [file for name in self.registry(kind) for file in self.paths(kind, name).files.values()]

    # --- registry ---------------------------------------------------------------------------------
    def _finetune_selection(self) -> tuple[list[str], str]:
        """Table 4's inputs (metrics of every evaluation, the training sets' stats) and its selection."""
        plan = self.plan
        inputs = plan.evaluation_metrics() + plan.trainset_stats_files()
        labels = [plan.evaluation_label(b) for b in plan.evaluation_views]
        return inputs, (
            f"--inputs {words(*inputs)} --benchmarks {words(*labels)} --ks {words(*plan.evaluate['table_ks'])}"
            f" --labels {words(self.labels)}"
        )

    def _tables(self) -> list[ReportEntry]:
        plan, layout = self.plan, self.layout
        zeroshot = plan.zeroshot_config
        report = plan.report
        per_query = layout.per_query.files["csv"]
        entries = []

        def add(name, inputs, arguments, batch):
            entries.append(ReportEntry(name, tuple(inputs), arguments, batch))

        zeroshot_inputs = plan.zeroshot_metrics() + [layout.hybrid(*r).files["metrics"] for r in plan.hybrid_runs()]
        add(
            "zeroshot",
            zeroshot_inputs,
            f"zeroshot --inputs {words(*zeroshot_inputs)} --benchmarks {words(*zeroshot['benchmarks'])}"
            f" --labels {words(self.labels)}",
            "zeroshot",
        )
        stats = plan.trainset_stats_files()
        add("trainsets", stats, f"trainsets --inputs {words(*stats)}", "finetune")
        finetune_inputs, finetune_selection = self._finetune_selection()
        add(
            "finetune",
            finetune_inputs,
            f"finetune {finetune_selection} {cli_options({'note': plan.testview_note()})}",
            "finetune",
        )
        add(
            "datasets",
            [f for b in zeroshot["benchmarks"] for f in layout.data(b).files.values()],
            "datasets "
            + " ".join(
                f"--benchmark {words(b, benchmark_dir(layout.data(b).files), plan.benchmark_language(b))}"
                for b in zeroshot["benchmarks"]
            ),
            "zeroshot",
        )
        pools = plan.trainset_pools
        shards = [
            (pool, layout.generation(pool, kind, shard).files)
            for pool in pools
            for kind in KINDS
            for shard in range(plan.generate["shards"])
        ]
        add(
            "generated",
            [layout.leakage(pool).files["passages"] for pool in pools]
            + [files[name] for _, files in shards for name in ("queries", "stats")],
            "generated "
            + " ".join(
                [f"--pool {words(pool, layout.leakage(pool).files['passages'])}" for pool in pools]
                + [
                    f"--queries {words(pool, files['queries'])} --stats {words(pool, files['stats'])}"
                    for pool, files in shards
                ]
            ),
            "finetune",
        )
        featured = plan.featured_model()
        views = [(b, "full", b) for b in zeroshot["benchmarks"]]
        views += [(b, "test view", f"{b}-testview") for b, view in plan.evaluation_views.items() if view == "testview"]
        for benchmark, view, name in views:
            selection = f"--per-query {words(per_query)} --benchmark {words(benchmark)} --view {words(view)}"
            add(f"query_groups-{name}", [per_query], f"query-groups {selection}", "finetune")
            if plan.has_bm25:
                add(f"query_wins-{name}", [per_query], f"query-wins {selection}", "finetune")
                if featured and view == "full":
                    add(
                        f"query_types-{name}",
                        [per_query],
                        f"query-types {selection} --featured {words(featured)}",
                        "finetune",
                    )
        inversions_options = f"--top {report['inversions']['top']} --always {words(*report['inversions']['always'])}"
        for benchmark in zeroshot["benchmarks"] if plan.dense_zeroshot_models else []:
            sweep = layout.analysis("classification", benchmark).files["csv"]
            add(
                f"classification-{benchmark}",
                [sweep],
                f"classification --sweep {words(sweep)} --benchmark {words(benchmark)}"
                f" --threshold {report['classification']['threshold']}",
                "zeroshot",
            )
            inversions = layout.analysis("inversions", benchmark).files["csv"]
            selection = f"--inversions {words(inversions)} --benchmark {words(benchmark)} {inversions_options}"
            add(f"inversions-{benchmark}", [inversions], f"inversions {selection}", "zeroshot")
            add(f"inversion_counts-{benchmark}", [inversions], f"inversion-counts {selection}", "zeroshot")
            source = plan.types_source(benchmark)
            if source != benchmark and source in zeroshot["benchmarks"]:
                both = layout.analysis("inversions", source).files["csv"]
                add(
                    f"inversions_paired-{source}-{benchmark}",
                    [both, inversions],
                    f"inversions-paired --inversions {words(both, inversions)} --benchmark {words(source)}"
                    f" --other {words(benchmark)} {inversions_options}",
                    "zeroshot",
                )
        if plan.has_bm25 and plan.dense_zeroshot_models:
            for benchmark in zeroshot["benchmarks"]:
                errors = layout.analysis("errors", benchmark, ("sheet",)).files["csv"]
                selection = f"--errors {words(errors)} --benchmark {words(benchmark)}"
                add(f"error_analysis-{benchmark}", [errors], f"error-analysis {selection}", "zeroshot")
                add(
                    f"error_examples-{benchmark}",
                    [errors],
                    f"error-examples {selection} --examples {report['errors']['examples']}",
                    "zeroshot",
                )
        if report["errors"]["annotations"]:
            sheet = report["errors"]["annotations"]
            add("error_annotations", [sheet], f"error-annotations --sheet {words(sheet)}", "zeroshot")
        return entries

    def _figures(self) -> list[ReportEntry]:
        plan, layout = self.plan, self.layout
        per_query = layout.per_query.files["csv"]
        entries = []

        def add(name, inputs, arguments, batch):
            entries.append(ReportEntry(name, tuple(inputs), arguments, batch))

        for b in plan.zeroshot_config["benchmarks"]:
            data = layout.data(b).files
            types = plan.types_file(b)
            add(
                f"query_types-{b}",
                [*data.values(), types],
                f"query-types --benchmark {words(benchmark_dir(data))} --query-types {words(types)}",
                "zeroshot",
            )
            add(
                f"positives-{b}", list(data.values()), f"positives --benchmark {words(benchmark_dir(data))}", "zeroshot"
            )
            add(
                f"query_groups-{b}",
                [per_query],
                f"query-groups --per-query {words(per_query)} --benchmark {words(b)}",
                "finetune",
            )
            if plan.dense_zeroshot_models:
                sweep = layout.analysis("classification", b).files["csv"]
                add(
                    f"classification-{b}",
                    [sweep],
                    f"classification --sweep {words(sweep)} --benchmark {words(b)}",
                    "zeroshot",
                )
        settings = plan.finetuned_settings()
        losses = [layout.finetune(*s.words).files["loss"] for s in settings]
        add(
            "loss",
            losses,
            "loss "
            + " ".join(f"--loss {words(s.label, loss)}" for s, loss in zip(settings, losses, strict=True)),
            "finetune",
        )
        histograms = [(pool, layout.leakage(pool).files["histogram"]) for pool in plan.trainset_pools]
        add(
            "leakage",
            [h for _, h in histograms],
            "leakage "
            + " ".join(f"--histogram {words(pool, h)}" for pool, h in histograms)
            + f" --threshold {plan.leakage_threshold()}",
            "finetune",
        )
        finetune_inputs, finetune_selection = self._finetune_selection()
        add("finetune", finetune_inputs, f"finetune {finetune_selection}", "finetune")
        return entries


def benchmark_dir(files: dict[str, str]) -> str:
    """The folder of a benchmark's files, for steps that read a whole benchmark."""
    return str(Path(files["candidates"]).parent)


def all_targets(plan: Plan, report: Report) -> dict[str, list[str]]:
    """What `snakemake tables`, `figures` and `all` build: every table (and the per-query frame), every
    figure, and the results other tools load (qrels, an MTEB-shaped JSON beside every metrics JSON)."""
    layout = plan.layout
    tables = report.targets("tables") + [layout.per_query.files["csv"]]
    figures = report.targets("figures")
    extra = [layout.qrels(b).files["qrels"] for b in plan.zeroshot_config["benchmarks"]]
    extra += [layout.mteb_json(layout.scored_folder(run.metrics)).files["json"] for run in plan.scored_runs()]
    return {
        "tables": tables,
        "figures": figures,
        "prefetch": [layout.prefetch(key).files["manifest"] for key in plan.prefetch_items],
        "all": tables + figures + extra + [layout.latex.files["tex"]],
    }
