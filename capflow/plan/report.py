"""The report of a plan: every table and figure it builds, with its builder, inputs, options and batch.

A generic loop over the registry (:mod:`capflow.report.registry`): each entry yields the tables or
figures its builder makes in this plan, and declares its batch. Tables and figures build in well under
a second each, so each batch is one job that calls its builders in one process
(:mod:`capflow.report.batch`) and writes each builder's caption for the Snakemake report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from string import ascii_lowercase

from capflow.plan.plan import Plan
from capflow.report.batch import BatchItem
from capflow.report.registry import BATCHES, BUILDERS, Builder

__all__ = ["BATCHES", "Report", "ReportEntry", "all_targets"]


@dataclass(frozen=True)
class ReportEntry:
    """One table or figure: its name in the report, its registry builder, the files it reads and its
    options (as the builder's options hold them)."""

    kind: str  # "tables" or "figures"
    name: str
    builder: Builder
    inputs: tuple[str, ...]
    options: dict = field(hash=False)

    @property
    def batch(self) -> str:
        return self.builder.batch


class Report:
    """The tables and figures of a plan, and the files of each batch."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.layout = plan.layout
        self.tables = self._entries("tables")
        self.figures = self._entries("figures")

    def _entries(self, kind: str) -> dict[str, ReportEntry]:
        """Every item of every builder of the kind, in the registry's order; each table its own LaTeX
        label, so that all.tex refers to each once."""
        entries: dict[str, ReportEntry] = {}
        for builder in BUILDERS[kind].values():
            for item in builder.items(self.plan):
                if item.name in entries:
                    raise ValueError(f"{kind} {item.name} is made by both {entries[item.name].builder.name} "
                                     f"and {builder.name}")
                options = {**item.options, "label": f"tab:{item.name}"} if kind == "tables" else dict(item.options)
                entries[item.name] = ReportEntry(kind, item.name, builder, tuple(item.inputs), options)
        return entries

    def table_numbers(self) -> dict[str, str]:
        """The number all.tex prints for each table: the paper's for its tables, so that "the paper's Table 4"
        is printed as Table 4 (a letter after it where a builder makes several, one per benchmark: 3a,
        3b), then A1, A2, ... for the analyses beyond the paper."""
        per_builder = Counter(entry.builder.name for entry in self.tables.values())
        seen: Counter = Counter()
        numbers, analyses = {}, 0
        for name, entry in self.tables.items():
            builder = entry.builder
            if builder.paper_table is None:
                analyses += 1
                numbers[name] = f"A{analyses}"
                continue
            seen[builder.name] += 1
            letter = ascii_lowercase[seen[builder.name] - 1] if per_builder[builder.name] > 1 else ""
            numbers[name] = f"{builder.paper_table}{letter}"
        return numbers

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
            BatchItem(entry.builder.name, entry.name,
                      tuple({**entry.options, **self.paths(kind, entry.name).files}.items()))
            for entry in self.in_batch(kind, batch)
        )

    def batch_captions(self, kind: str, batch: str) -> tuple[tuple[str, str], ...]:
        """(file, text) of the caption of each builder with an item in the batch: the batch job writes
        them, and the Snakemake report shows each beside the builder's files."""
        builders = dict.fromkeys(entry.builder for entry in self.in_batch(kind, batch))
        return tuple((self.layout.caption(kind, builder.name), builder.caption) for builder in builders)

    def batch_outputs(self, kind: str, batch: str) -> list[str]:
        """Every file of the batch's items, then its captions."""
        files = [file for entry in self.in_batch(kind, batch) for file in self.paths(kind, entry.name).files.values()]
        return files + [path for path, _ in self.batch_captions(kind, batch)]

    def targets(self, kind: str) -> list[str]:
        """Every file of every table or figure, then the captions the report shows beside them (targets
        themselves, so that results from before a caption existed get it)."""
        files = [file for name in self.registry(kind) for file in self.paths(kind, name).files.values()]
        return files + [path for batch in BATCHES for path, _ in self.batch_captions(kind, batch)]


def all_targets(plan: Plan, report: Report) -> dict[str, list[str]]:
    """What `snakemake tables`, `figures` and `all` build: every table (and the per-query frame), every
    figure, and the results other tools load (qrels, each model's mteb results below results/mteb/, each
    finetuned model's card with its scores)."""
    layout = plan.layout
    tables = report.targets("tables") + [layout.per_query.files["csv"]]
    figures = report.targets("figures")
    extra = [layout.qrels(b, root).files["qrels"] for root, b in plan.qrels_views()]
    extra += list(plan.mteb_results) + plan.model_cards()
    return {
        "tables": tables,
        "figures": figures,
        "prefetch": [layout.prefetch(key).files["manifest"] for key in plan.prefetch_items],
        "all": tables + figures + extra + [layout.latex.files["tex"]],
    }
