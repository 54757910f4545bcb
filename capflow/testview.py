"""``capflow testview``: a benchmark minus a seeded hold-out of its captions.

Offline there are no in-domain captions beyond the test set, so the embedded configuration holds
part of a benchmark's captions out as its in-domain pool and evaluates on the rest. The view keeps
every query, each with only the positives that remain in the view; a query left without positives
stays in the file and, as for any benchmark, is left out of ranking metrics. The held-out
captions are written as a JSONL {id, text, source}: the source of a ``holdout`` pool.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

from capflow import benchmark as bm
from capflow.errors import UserError
from capflow.io import read_json, write_json
from capflow.pools import Passage, write_pool

log = logging.getLogger(__name__)


@dataclass
class TestView:
    benchmark: bm.Benchmark
    held_out_ids: list[str]
    query_types: dict | None
    stats: dict


def split_holdout(benchmark_dir: str | Path, holdout: int, seed: int,
                  key: str = "holdout") -> tuple[list[Passage], TestView]:
    """Hold ``holdout`` captions out of the benchmark (seeded); return them and the remaining view."""
    benchmark_dir = Path(benchmark_dir)
    full = bm.load_benchmark(benchmark_dir)
    total = len(full.candidate_ids)
    if not 0 < holdout < total:
        raise UserError(f"{key} must be between 1 and {total - 1} (the benchmark has {total} captions), "
                        f"got {holdout}")
    held = set(random.Random(seed).sample(range(total), holdout))
    source = f"holdout:{benchmark_dir.name}"
    held_out = [Passage(cid, text, source) for i, (cid, text)
                in enumerate(zip(full.candidate_ids, full.candidate_texts)) if i in held]
    held_ids = {p.id for p in held_out}
    view_ids = [cid for i, cid in enumerate(full.candidate_ids) if i not in held]
    view_texts = [text for i, text in enumerate(full.candidate_texts) if i not in held]

    queries = []
    dropped_positives = 0
    for q in full.queries:
        kept = {cid: label for cid, label in q.qrels.items() if cid not in held_ids}
        dropped_positives += len(q.qrels) - len(kept)
        queries.append(bm.Query(q.id, q.text, kept))

    types_path = benchmark_dir / bm.QUERY_TYPES
    query_types = read_json(types_path) if types_path.exists() else None
    stats = {
        "benchmark": benchmark_dir.name, "seed": seed, "held_out": holdout,
        "candidates": len(view_ids), "queries": len(queries),
        "queries_with_positives": sum(1 for q in queries if q.qrels),
        "queries_with_positives_before": sum(1 for q in full.queries if q.qrels),
        "positives": sum(len(q.qrels) for q in queries),
        "positives_dropped": dropped_positives,
    }
    view = TestView(bm.Benchmark(view_ids, view_texts, queries, full.types), sorted(held_ids), query_types, stats)
    return held_out, view


def configure_parser(parser) -> None:
    parser.add_argument("--benchmark-dir", required=True, type=Path, help="the validated benchmark")
    parser.add_argument("--holdout", required=True, type=int, help="how many captions to hold out")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hold-out")
    parser.add_argument("--key", default="holdout", help="config key of the hold-out size, named in errors")
    parser.add_argument("--candidates", required=True, type=Path, help="output: the view's candidates JSONL")
    parser.add_argument("--queries", required=True, type=Path, help="output: the view's queries JSONL")
    parser.add_argument("--types", required=True, type=Path, help="output: the view's query-type map JSON")
    parser.add_argument("--stats", required=True, type=Path, help="output: the hold-out's stats and held-out ids")
    parser.add_argument("--heldout", required=True, type=Path, help="output: the held-out captions JSONL")


def main(args) -> None:
    held_out, view = split_holdout(args.benchmark_dir, args.holdout, args.seed, key=args.key)
    bm.write_benchmark(view.benchmark, args.candidates, args.queries)
    write_json(args.types, view.query_types or {})
    write_json(args.stats, {**view.stats, "held_out_ids": view.held_out_ids})
    write_pool(held_out, args.heldout)
    log.info("test view of %s: %d candidates, %d of %d queries keep a positive; %d captions held out",
             args.benchmark_dir.name, view.stats["candidates"], view.stats["queries_with_positives"],
             view.stats["queries"], len(held_out))
