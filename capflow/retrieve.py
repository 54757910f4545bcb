"""The retrieve step: rank a benchmark's candidates for every query, then score the ranking.

One code path serves zero-shot models, BM25 and finetuned models alike. Ranking lives in
:mod:`capflow.bm25` and :mod:`capflow.dense`, scoring in :mod:`capflow.scoring` and the error
report in :mod:`capflow.error_report`; this step composes them and writes a TREC run, a metrics
JSON and an error report (missed positives, top-ranked negatives) per (benchmark, model).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from capflow import bm25, scoring, worklog
from capflow.benchmark import Benchmark, benchmark_query_types, load_benchmark
from capflow.error_report import error_report
from capflow.errors import UserError
from capflow.io import write_jsonl
from capflow.recipes import Recipe, load_recipes
from capflow.runrecord import RunFile, add_run_outputs
from capflow.runtime import hardware
from capflow.settingflags import add_options
from capflow.trec import shown
from capflow.vocabulary import KNOBS, MIXES, TESTVIEW, Setting, benchmark_label

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalSettings:
    """How deep a run file ranks (config zeroshot.depth and evaluate.depth; hybrid runs keep the same)."""

    depth: int = field(default=100, metadata={"help": "ranked candidates kept per query"})


def retrieve(benchmark: Benchmark, recipe: Recipe, *, language: str, depth: int,
             cache_root: Path | None = None, device: str | None = None,
             ignore_identical_ids: bool = False) -> scoring.Run:
    """Rank every query's candidates; with ``ignore_identical_ids`` a candidate whose id equals the
    query's id is never ranked for it (as MTEB scores its retrieval tasks)."""
    query_texts = [q.text for q in benchmark.queries]
    search_depth = depth + 1 if ignore_identical_ids else depth
    if recipe.kind == "bm25":
        with worklog.timed() as seconds:
            ranked = bm25.search(benchmark.candidate_texts, query_texts, language, search_depth, recipe.tokenizer)
        texts = len(benchmark.candidate_texts) + len(query_texts)
        worklog.write(worklog.WorkRecord("retrieve", {"texts": texts}, seconds(), device=hardware.device_name()))
    else:
        from capflow import dense

        state: dict = {}
        ranked = dense.search(recipe, benchmark.candidate_texts, query_texts, search_depth,
                              cache_root=cache_root, device=device, state=state)
        worklog.write(worklog.WorkRecord("retrieve", {"texts": state.get("encoded", 0)},
                                         state.get("encode_seconds", 0.0), state.get("setup_seconds", 0.0),
                                         device=hardware.device_name()))
    ids = benchmark.candidate_ids
    return {q.id: [(ids[i], s) for i, s in hits if not (ignore_identical_ids and ids[i] == q.id)][:depth]
            for q, hits in zip(benchmark.queries, ranked, strict=True)}


def select_recipe(args) -> Recipe:
    if args.recipe_json:
        recipe = Recipe.from_json(args.recipe_json)
    else:
        recipes = load_recipes(args.models)
        if args.model not in recipes:
            raise UserError(f"model '{args.model}' is not in the registry", args.models)
        recipe = recipes[args.model]
    return recipe


def parse_setting(words: list[str] | None, variant: str = "") -> Setting | None:
    """``--setting POOL MIX SEED`` (and ``--variant``) as a setting; a mix or seed that is none is one line."""
    if words is None:
        if variant:
            raise UserError("--variant names the knobs of a finetuned --setting; give --setting too")
        return None
    pool, mix, seed = words
    if mix not in MIXES:
        raise UserError(f"--setting: unknown mix '{shown(mix)}' (mixes: {', '.join(MIXES)})")
    if not seed.isdigit():
        raise UserError(f"--setting: the seed must be a whole number, got '{shown(seed)}'")
    if variant and not all(part in KNOBS for part in variant.split("+")):
        raise UserError(f"--variant: unknown knobs '{shown(variant)}' (knobs: {', '.join(KNOBS)}, joined by +)")
    return Setting(pool, mix, int(seed), variant)


def configure_parser(parser) -> None:
    parser.add_argument("--benchmark", required=True, type=Path, help="benchmark directory (data stage output)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--recipe-json", help="the model's recipe as JSON")
    which.add_argument("--model", help="a model name from --models")
    parser.add_argument("--models", type=Path, default=Path("config/models.yaml"), help="recipe registry")
    parser.add_argument("--weights", help="use these weights (e.g. a finetuned model directory) with the recipe")
    parser.add_argument("--benchmark-name",
                        help="benchmark name written into the outputs (default: the directory name)")
    parser.add_argument("--view", choices=[TESTVIEW],
                        help="the evaluation view the directory holds (default: the full benchmark)")
    parser.add_argument("--setting", nargs=3, metavar=("POOL", "MIX", "SEED"),
                        help="the finetuned setting --weights come from, written into the outputs")
    parser.add_argument("--variant", default="",
                        help="the setting's training knobs beyond the paper (e.g. hn+best), written into the outputs")
    parser.add_argument("--label", help="model label written into the outputs (default: the setting's label, "
                                        "else the recipe name)")
    parser.add_argument("--batch-size", type=int, help="texts encoded per batch (default: the recipe's batch_size)")
    parser.add_argument("--language", required=True, help="benchmark language (BM25 tokenizer): zh or en")
    add_options(parser, RetrievalSettings)
    parser.add_argument("--cache", type=Path, help="embedding cache directory")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--ignore-identical-ids", action="store_true",
                        help="never rank a candidate whose id equals the query's id (MTEB's convention)")
    parser.add_argument("--score-threshold", type=float,
                        help="also report macro precision/recall/F1 of the run's documents scoring at least this "
                             "(metrics.json: macro_prf_within_run; not the classification setting)")
    add_run_outputs(parser)
    parser.add_argument("--errors", required=True, type=Path, help="output error report (JSONL)")


def main(args) -> None:
    if args.depth < 1:
        raise UserError(f"--depth must be positive, got {args.depth}")
    base = select_recipe(args)
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise UserError(f"--batch-size must be positive, got {args.batch_size}")
        base = dataclasses.replace(base, batch_size=args.batch_size)
    setting = parse_setting(args.setting, args.variant)
    label = args.label or (setting.label if setting else base.name)
    recipe = base.with_path(args.weights, label) if args.weights else base
    benchmark = load_benchmark(args.benchmark)
    name = args.benchmark_name or args.benchmark.name
    shown_name = benchmark_label(name, args.view)
    scoring.require_judged(benchmark, shown_name)  # before any model is loaded
    query_types = benchmark_query_types(args.benchmark)
    with worklog.timed() as seconds:
        run = retrieve(benchmark, recipe, language=args.language, depth=args.depth, cache_root=args.cache,
                       device=args.device, ignore_identical_ids=args.ignore_identical_ids)
        summary, per_query = scoring.score_run(benchmark, run, query_types, args.score_threshold, shown_name)
    sha256 = scoring.write_trec(args.run, run, label)
    write_jsonl(args.errors, error_report(benchmark, run, per_query, query_types))
    scoring.write_metrics(args.metrics, summary, benchmark=name, view=args.view, label=label, setting=setting,
                          recipe=recipe, run_file=RunFile.of(run, sha256, args.depth),
                          base_model=base.name if args.weights else None, evaluation_seconds=round(seconds(), 3))
    m = summary["metrics"]
    log.info("%s on %s: nDCG@1 %.2f  @5 %.2f  @10 %.2f  (%d queries)", label, shown_name,
             100 * m["ndcg@1"], 100 * m["ndcg@5"], 100 * m["ndcg@10"], summary["queries_evaluated"])
