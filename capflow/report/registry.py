"""Every table and figure of the report, in one registry.

An entry is one function decorated with :func:`table` or :func:`figure`. The decorator names the
builder (``build(args) -> Table`` or ``draw(args) -> Figure``, a Python callable) and the options it
reads (its module's ``add_arguments``), its one-line help, the batch that builds it and the caption
the Snakemake report shows beside each of its files; the function yields, from the workflow's plan,
each table or figure the builder makes: its name in the report, the files it reads and its options.

The batch is declared, not inferred: ``zeroshot`` for what reads only the zero-shot stages (data,
zero-shot runs, hybrids and the analyses of zero-shot runs), so Table 2 never waits for finetuning;
``finetune`` for what reads a pool, a generated query, a training set, a finetuned model or the
per-query frame (which holds every run). The plan (:mod:`capflow.plan.report`) loops over the
entries; a batch job (:mod:`capflow.report.batch`) calls the builders in one process and writes each
builder's caption beside the results. ``capflow tables NAME`` and ``capflow figures NAME`` run one
builder from the command line.

Adding a table or figure touches its module and one entry here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from capflow.benchmark import benchmark_dir
from capflow.report import (
    classification,
    datasets,
    erroranalysis,
    finetune,
    generated,
    inversions,
    querytypes,
    trainsets,
    zeroshot,
)
from capflow.report.figures import devndcg, groups, leakage, loss, positives, sweep
from capflow.report.figures import finetune as finetune_figure
from capflow.report.figures import querytypes as querytypes_figure
from capflow.vocabulary import KINDS

if TYPE_CHECKING:
    from capflow.plan.plan import Plan

ZEROSHOT = "zeroshot"  # reads only the zero-shot stages
FINETUNE = "finetune"  # reads a pool, generated queries, a finetuned model or the per-query frame
BATCHES = (ZEROSHOT, FINETUNE)


@dataclass(frozen=True)
class Item:
    """One table or figure a builder makes in a plan: its name in the report (its files' stem), the
    files it reads and its options (option name -> value, as the builder's options hold them)."""

    name: str
    inputs: Sequence[str]
    options: dict


@dataclass(frozen=True)
class Builder:
    """One registry entry: a builder, what it reads, the batch that calls it, its caption, its items."""

    kind: str  # "tables" or "figures"
    name: str  # the command-line name: capflow tables|figures NAME
    build: Callable  # build(args) -> Table, or draw(args) -> a matplotlib figure
    add_arguments: Callable  # the options it reads
    help: str
    batch: str  # ZEROSHOT or FINETUNE
    caption: str  # reStructuredText the Snakemake report shows beside each of its files
    items: Callable[[Plan], Iterator[Item]]  # what it makes in a plan
    paper_table: int | None = None  # the paper's number for this table; None for an analysis beyond it

    def add_options(self, parser) -> None:
        """Its own options, then the output files and the caption or title that replaces its own."""
        self.add_arguments(parser)
        if self.kind == "tables":
            parser.add_argument("--tex", type=Path, help="output LaTeX table")
            parser.add_argument("--md", type=Path, help="output Markdown table")
            parser.add_argument("--csv", type=Path, help="output CSV table")
            parser.add_argument("--html", type=Path, help="output HTML page")
            parser.add_argument("--caption", help="replaces the default caption")
            parser.add_argument("--label", help="the LaTeX label (default tab:<the table's kind>)")
            parser.add_argument("--note", action="append", help="a footnote line (repeatable)")
        else:
            parser.add_argument("--png", type=Path, help="output PNG")
            parser.add_argument("--pdf", type=Path, help="output PDF")
            parser.add_argument("--title", help="replaces the default title")

    def run(self, args) -> None:
        """Build it from parsed options and write its files."""
        if self.kind == "tables":
            from capflow.report.table import write_table

            table = self.build(args)
            if args.label:
                table.label = args.label
            write_table(table, tex=args.tex, md=args.md, csv=args.csv, html=args.html)
        else:
            from capflow.report.figures import save

            save(self.build(args), png=args.png, pdf=args.pdf)


TABLES: dict[str, Builder] = {}
FIGURES: dict[str, Builder] = {}
BUILDERS = {"tables": TABLES, "figures": FIGURES}


def _entry(kind: str, name: str, build: Callable, add_arguments: Callable, batch: str, help: str, caption: str,
           paper_table: int | None = None):
    """The decorator of one entry: registers the builder with the decorated function as its items."""
    if batch not in BATCHES:
        raise ValueError(f"{kind} {name}: batch {batch!r} is not one of {', '.join(BATCHES)}")
    numbered_help = f"Table {paper_table}: {help}" if paper_table is not None else help

    def register(items: Callable[[Plan], Iterator[Item]]):
        if name in BUILDERS[kind]:
            raise ValueError(f"{kind} {name} is registered twice")
        BUILDERS[kind][name] = Builder(kind, name, build, add_arguments, numbered_help, batch,
                                       " ".join(caption.split()), items, paper_table)
        return items

    return register


def table(name: str, module, build: Callable, batch: str, *, help: str, caption: str, paper_table: int | None = None):
    """A table entry: ``build`` one of ``module``'s table functions, its options ``module.add_arguments``;
    ``paper_table`` the paper's number for it, which all.tex prints."""
    return _entry("tables", name, build, module.add_arguments, batch, help, caption, paper_table)


def figure(name: str, module, batch: str, *, help: str, caption: str):
    """A figure entry: ``module.draw``, its options ``module.add_arguments``."""
    return _entry("figures", name, module.draw, module.add_arguments, batch, help, caption)


# --- what several entries read ---------------------------------------------------------------------
def _labels(plan: Plan) -> dict:
    return json.loads(plan.model_labels())


def _benchmarks(plan: Plan) -> list[str]:
    return plan.zeroshot_config["benchmarks"]


def _per_query(plan: Plan) -> str:
    return plan.layout.per_query.files["csv"]


def _finetune_selection(plan: Plan) -> dict:
    """Table 4's options: the metrics of every evaluation and the training sets' stats, its benchmarks."""
    inputs = plan.evaluation_metrics() + plan.trainset_stats_files()
    labels = [plan.evaluation_label(b) for b in plan.evaluation_views]
    return {"inputs": inputs, "benchmarks": labels, "ks": list(plan.evaluate["table_ks"]), "labels": _labels(plan)}


def _views(plan: Plan) -> Iterator[tuple[dict, str, str]]:
    """Each benchmark view the per-query tables cover: (selection, view, name suffix)."""
    for benchmark in _benchmarks(plan):
        yield {"per_query": _per_query(plan), "benchmark": benchmark, "view": "full"}, "full", benchmark
    for benchmark, view in plan.evaluation_views.items():
        if view == "testview":
            selection = {"per_query": _per_query(plan), "benchmark": benchmark, "view": "test view"}
            yield selection, "test view", f"{benchmark}-testview"


def _dense_benchmarks(plan: Plan) -> list[str]:
    """The benchmarks with the analyses of dense zero-shot runs (none without a dense model)."""
    return [b for b in _benchmarks(plan) if plan.dense_models(b)]


def _inversions_csv(plan: Plan, benchmark: str) -> str:
    return plan.layout.analysis("inversions", benchmark).files["csv"]


def _inversion_options(plan: Plan) -> dict:
    return {"top": plan.report["inversions"]["top"], "always": list(plan.report["inversions"]["always"])}


def _inversion_selection(plan: Plan, benchmark: str) -> dict:
    return {"inversions": [_inversions_csv(plan, benchmark)], "benchmark": benchmark, **_inversion_options(plan)}


def _error_benchmarks(plan: Plan) -> list[str]:
    """The benchmarks with an error analysis: BM25 against a dense model."""
    return [b for b in _benchmarks(plan) if plan.has_bm25_on(b) and plan.dense_models(b)]


def _classification(plan: Plan, benchmark: str) -> Item:
    sweep_csv = plan.layout.analysis("classification", benchmark).files["csv"]
    options = {"sweep": sweep_csv, "benchmark": benchmark, "threshold": plan.report["classification"]["threshold"]}
    return Item(f"classification-{benchmark}", [sweep_csv], options)


# --- tables, in the order all.tex shows them: the paper's tables in its order, then the analyses ----
@table("datasets", datasets, datasets.build, ZEROSHOT, paper_table=1,
       help="dataset statistics per benchmark",
       caption="""Dataset statistics per benchmark (the paper's Table 1): passages, queries, positive
       pairs, per-label counts and lengths, from the validated benchmark files.""")
def _datasets(plan: Plan) -> Iterator[Item]:
    files = [plan.layout.data(b).files for b in _benchmarks(plan)]
    yield Item("datasets", [f for data in files for f in data.values()],
               {"benchmark": [[b, benchmark_dir(data), plan.benchmark_language(b)]
                              for b, data in zip(_benchmarks(plan), files, strict=True)]})


@table("zeroshot", zeroshot, zeroshot.build, ZEROSHOT, paper_table=2,
       help="zero-shot nDCG@k from metrics JSON",
       caption="""Zero-shot retrieval (the paper's Table 2): nDCG@1/5/10 of BM25 and every encoder on
       each benchmark, grouped by model size, with BM25 + dense hybrid rows (reciprocal rank fusion
       and min-max interpolation). The best value per column is bold.""")
def _zeroshot(plan: Plan) -> Iterator[Item]:
    inputs = plan.zeroshot_metrics() + [plan.layout.hybrid(*r).files["metrics"] for r in plan.hybrid_runs()]
    yield Item("zeroshot", inputs, {"inputs": inputs, "benchmarks": list(_benchmarks(plan)), "labels": _labels(plan)})


@table("query-types", querytypes, querytypes.build_paper, FINETUNE,
       paper_table=3, help="per query group, BM25 and a featured model's nDCG@10 and E>B/E<B/E=B shares",
       caption="""The paper's Table 3: nDCG@10 per query group for BM25 and the featured dense model,
       and the share of queries where the dense model beats (E>B), loses to (E<B) or ties (E=B) BM25.""")
def _query_types(plan: Plan) -> Iterator[Item]:
    for selection, view, name in _views(plan):
        featured = plan.featured_model(selection["benchmark"])
        if view == "full" and plan.has_bm25_on(selection["benchmark"]) and featured:
            yield Item(f"query_types-{name}", [_per_query(plan)], {**selection, "featured": featured})


@table("finetune", finetune, finetune.build, FINETUNE,
       paper_table=4, help="finetuned models from metrics JSON and trainset stats",
       caption="""Finetuning on generated queries (the paper's Table 4): nDCG@k of the zero-shot
       models (the base model marked) and of each pool and mix, the mean over seeds with its standard
       deviation where several seeds ran.""")
def _finetune(plan: Plan) -> Iterator[Item]:
    selection = _finetune_selection(plan)
    note = plan.testview_note()
    yield Item("finetune", selection["inputs"], {**selection, **({"note": [note]} if note else {})})


@table("generated", generated, generated.build, FINETUNE,
       paper_table=5, help="SM and KW queries generated for one passage per pool",
       caption="""The SM (summary) and KW (keyword) queries generated for one passage of each pool
       (the paper's Table 5), the passage chosen by a seeded rule.""")
def _generated(plan: Plan) -> Iterator[Item]:
    layout, pools = plan.layout, plan.trainset_pools
    shards = [(pool, layout.generation(pool, kind, shard).files)
              for pool in pools for kind in KINDS for shard in range(plan.generate["shards"])]
    passages = [(pool, layout.leakage(pool).files["passages"]) for pool in pools]
    yield Item("generated", [p for _, p in passages] + [files[name] for _, files in shards
                                                        for name in ("queries", "stats")],
               {"pool": [[pool, p] for pool, p in passages],
                "queries": [[pool, files["queries"]] for pool, files in shards],
                "stats": [[pool, files["stats"]] for pool, files in shards]})


@table("trainsets", trainsets, trainsets.build, FINETUNE,
       paper_table=6, help="generated training data from trainset stats",
       caption="""The generated training data (the paper's Table 6): per pool and mix, the pool after
       the leakage filter, its tokens, queries per pool passage and query length, then the queries,
       the passages that got one, and those held out for the loss.""")
def _trainsets(plan: Plan) -> Iterator[Item]:
    layout = plan.layout
    stats = plan.trainset_stats_files()
    passages = [(pool, layout.leakage(pool).files["passages"]) for pool in plan.trainset_pools]
    sets = [f for pool in plan.trainset_pools for mix in plan.config["trainsets"]["mixes"]
            for name, f in layout.trainset(pool, mix).files.items() if name in ("train", "heldout")]
    yield Item("trainsets", [*stats, *sets, *(p for _, p in passages)],
               {"inputs": stats, "pool": [[pool, p] for pool, p in passages]})


@table("inversions", inversions, inversions.build_cases, ZEROSHOT,
       paper_table=7, help="label-0 captions above label-2 positives",
       caption="""Inversion cases (the paper's Table 7): a caption judged irrelevant ranked above a
       label-2 positive by the dense model, for the paper's named queries and the queries with the
       widest margin.""")
def _inversions(plan: Plan) -> Iterator[Item]:
    for benchmark in _dense_benchmarks(plan):
        selection = _inversion_selection(plan, benchmark)
        source = plan.types_source(benchmark)
        # a benchmark that shares its query ids (and types) with another shows the other's named queries
        named = plan.layout.data(source).files if source != benchmark else {}
        yield Item(f"inversions-{benchmark}", [*selection["inversions"], *named.values()],
                   {**selection, **({"always_from": benchmark_dir(named)} if named else {})})


@table("inversions-paired", inversions, inversions.build_paired, ZEROSHOT,
       paper_table=8, help="the same inversion cases on two benchmarks side by side",
       caption="""The same inversion cases on the two benchmarks side by side (the paper's Table 8):
       the Chinese query and its English counterpart, by query id.""")
def _inversions_paired(plan: Plan) -> Iterator[Item]:
    for benchmark in _dense_benchmarks(plan):
        source = plan.types_source(benchmark)
        if source != benchmark and source in _benchmarks(plan):
            both = [_inversions_csv(plan, source), _inversions_csv(plan, benchmark)]
            yield Item(f"inversions_paired-{source}-{benchmark}", both,
                       {"inversions": both, "benchmark": source, "other": benchmark, **_inversion_options(plan)})


@table("query-groups", querytypes, querytypes.build_ndcg, FINETUNE,
       help="nDCG@10 per query group for every model",
       caption="""nDCG@10 per query group (Singleton Entity, Singleton Event, Conjunction, Simple and
       Complex Condition; untyped queries their own row) for every model; the number of queries per
       group in brackets.""")
def _query_groups_table(plan: Plan) -> Iterator[Item]:
    for selection, _, name in _views(plan):
        yield Item(f"query_groups-{name}", [_per_query(plan)], selection)


@table("query-wins", querytypes, querytypes.build_wins, FINETUNE,
       help="E>B/E<B/E=B per query group for every model vs BM25",
       caption="""Per query group, the share of queries on which each other model's nDCG@10 (the dense
       models', and another BM25's where a benchmark lists one) is above, below or equal to BM25's.""")
def _query_wins(plan: Plan) -> Iterator[Item]:
    for selection, _, name in _views(plan):
        if plan.has_bm25_on(selection["benchmark"]):
            yield Item(f"query_wins-{name}", [_per_query(plan)], selection)


@table("classification", classification, classification.build, ZEROSHOT,
       help="the classification setting at one threshold",
       caption="""The dataset authors' classification setting at the configured threshold: a candidate
       is retrieved when its squared L2 distance to the query (2 - 2 cos) is at most the threshold;
       per-query precision and recall averaged where defined, pair precision and recall pooled, and
       their F1 and F2.""")
def _classification_table(plan: Plan) -> Iterator[Item]:
    for benchmark in _dense_benchmarks(plan):
        yield _classification(plan, benchmark)


@table("inversion-counts", inversions, inversions.build_counts, ZEROSHOT,
       help="inverted pairs per model and query group",
       caption="""Inverted pairs (an irrelevant caption above a label-2 positive) per model and query
       group.""")
def _inversion_counts(plan: Plan) -> Iterator[Item]:
    for benchmark in _dense_benchmarks(plan):
        selection = _inversion_selection(plan, benchmark)
        yield Item(f"inversion_counts-{benchmark}", selection["inversions"], selection)


@table("error-analysis", erroranalysis, erroranalysis.build_counts, ZEROSHOT,
       help="errors by category and query group per model",
       caption="""Errors by category and query group per dense model, against BM25: literal misses (a
       positive sharing a query word that BM25 finds), semantic misses and false positives.""")
def _error_analysis(plan: Plan) -> Iterator[Item]:
    for benchmark in _error_benchmarks(plan):
        errors = plan.layout.analysis("errors", benchmark, ("sheet",)).files["csv"]
        yield Item(f"error_analysis-{benchmark}", [errors], {"errors": errors, "benchmark": benchmark})


@table("error-examples", erroranalysis, erroranalysis.build_examples, ZEROSHOT,
       help="a few errors of each category per model",
       caption="""A few errors of each category per dense model, with the query and the caption
       involved.""")
def _error_examples(plan: Plan) -> Iterator[Item]:
    for benchmark in _error_benchmarks(plan):
        errors = plan.layout.analysis("errors", benchmark, ("sheet",)).files["csv"]
        yield Item(f"error_examples-{benchmark}", [errors],
                   {"errors": errors, "benchmark": benchmark, "examples": plan.report["errors"]["examples"]})


@table("error-annotations", erroranalysis, erroranalysis.build_annotations, ZEROSHOT,
       help="counts of the categories filled into an annotation sheet",
       caption="Counts of the error categories filled into an annotation sheet by a reader.")
def _error_annotations(plan: Plan) -> Iterator[Item]:
    sheet = plan.report["errors"]["annotations"]
    if sheet:
        yield Item("error_annotations", [sheet], {"sheet": sheet})


# --- figures ----------------------------------------------------------------------------------------
@figure("query-types", querytypes_figure, ZEROSHOT, help="Figure 1: queries per type and per group",
        caption="""Queries of the benchmark per type (left, the 8 types of ``types.json``) and per group
        (right, the paper's 5 groups: Singleton Entity = object + person + place + concept, Singleton
        Event, Conjunction, Simple Condition, Complex Condition). Untyped queries are their own bar; the
        top part of a bar counts the queries without positives, which ranking metrics leave out.""")
def _query_types_figure(plan: Plan) -> Iterator[Item]:
    for benchmark in _benchmarks(plan):
        data, types = plan.layout.data(benchmark).files, plan.types_file(benchmark)
        yield Item(f"query_types-{benchmark}", [*data.values(), types],
                   {"benchmark": benchmark_dir(data), "query_types": types})


@figure("positives", positives, ZEROSHOT, help="Figure 2: histogram of positives per query",
        caption="""Positives per query of the benchmark, all labels and by label (2: relevant, 1: partly
        relevant), in widening bins.""")
def _positives(plan: Plan) -> Iterator[Item]:
    for benchmark in _benchmarks(plan):
        data = plan.layout.data(benchmark).files
        yield Item(f"positives-{benchmark}", list(data.values()), {"benchmark": benchmark_dir(data)})


@figure("query-groups", groups, FINETUNE, help="nDCG@10 per query group, bars per model",
        caption="""nDCG@10 per query group for every model (mean over seeds, seed standard deviation as
        error bars), the number of judged queries of each group under its name. The numbers are in the
        query-groups table; the per-query values behind them are in ``per_query.csv``.""")
def _query_groups_figure(plan: Plan) -> Iterator[Item]:
    for benchmark in _benchmarks(plan):
        yield Item(f"query_groups-{benchmark}", [_per_query(plan)],
                   {"per_query": _per_query(plan), "benchmark": benchmark})


@figure("loss", loss, FINETUNE, help="training and held-out loss per setting",
        caption="""Finetuning loss (InfoNCE over in-batch negatives) per step for each setting, solid;
        the loss on the 5% of generated queries held out, dashed with markers.""")
def _loss(plan: Plan) -> Iterator[Item]:
    settings = plan.finetuned_settings()
    losses = [plan.finetune_job(s).files["loss"] for s in settings]
    yield Item("loss", losses, {"loss": [[s.label, f] for s, f in zip(settings, losses, strict=True)]})


@figure("dev-ndcg", devndcg, FINETUNE, help="dev nDCG@10 per evaluation step of the settings that scored it",
        caption="""Retrieval during finetuning (``finetune.eval``): nDCG@10 of the held-out generated
        queries over their own pool at each evaluation step, per knobbed setting; the star marks the
        best step, the checkpoint kept as the final model when ``keep_best`` is on. The test view
        takes no part in it.""")
def _dev_ndcg(plan: Plan) -> Iterator[Item]:
    settings = plan.dev_evaluated_settings()
    if settings:
        files = [plan.finetune_job(s).files["loss"] for s in settings]
        yield Item("dev_ndcg", files, {"dev": [[s.label, f] for s, f in zip(settings, files, strict=True)]})


@figure("leakage", leakage, FINETUNE, help="nearest-caption ROUGE-L histograms per pool",
        caption="""For each pool, the share of its passages by the ROUGE-L F1 (character tokens) of their
        nearest test caption, beside the same histogram of the test captions among themselves; the
        dotted line is the leakage threshold at and above which passages are dropped.""")
def _leakage(plan: Plan) -> Iterator[Item]:
    histograms = [(pool, plan.layout.leakage(pool).files["histogram"]) for pool in plan.trainset_pools]
    yield Item("leakage", [h for _, h in histograms],
               {"histogram": [[pool, h] for pool, h in histograms], "threshold": plan.leakage_threshold()})


@figure("finetune", finetune_figure, FINETUNE, help="Table 4 as bars with seed error bars",
        caption="""Table 4 as bars: nDCG@k of the zero-shot models and of every finetuned setting per
        benchmark; a finetuned bar is the mean over seeds with the sample standard deviation as its
        error bar.""")
def _finetune_figure(plan: Plan) -> Iterator[Item]:
    selection = _finetune_selection(plan)
    yield Item("finetune", selection["inputs"], selection)


@figure("classification", sweep, ZEROSHOT, help="classification setting: P/R/F1 against the threshold",
        caption="""The dataset authors' classification setting: a caption is retrieved when the squared
        L2 distance of the normalised embeddings (2 - 2 cos) is at most the threshold. Left: mean
        per-query precision (dashed), recall (dotted) and the F1 of the two (solid) per model; right:
        the share of the queries without positives that retrieve nothing.""")
def _classification_figure(plan: Plan) -> Iterator[Item]:
    for benchmark in _dense_benchmarks(plan):
        yield _classification(plan, benchmark)


def configure_step(parser, kind: str) -> None:
    """``capflow tables`` or ``capflow figures``: one subcommand per builder of the kind."""
    sub = parser.add_subparsers(dest=kind, required=True, metavar=kind[:-1].upper())
    for name, builder in BUILDERS[kind].items():
        builder.add_options(sub.add_parser(name, help=builder.help, description=builder.help))


def run_step(args, kind: str) -> None:
    BUILDERS[kind][getattr(args, kind)].run(args)
