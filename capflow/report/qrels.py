"""``capflow qrels``: a benchmark's judgements as TREC qrels (``qid 0 docid label``), for trec_eval and
pytrec_eval."""

from __future__ import annotations

from pathlib import Path

from capflow.benchmark import load_benchmark
from capflow.io import atomic_open


def write_qrels(benchmark_dir: Path, out: Path) -> int:
    """``qid 0 docid label`` per positive, queries and positives in file order; returns the line count."""
    benchmark = load_benchmark(benchmark_dir)
    count = 0
    with atomic_open(out) as handle:
        for q in benchmark.queries:
            for cid, label in q.qrels.items():
                handle.write(f"{q.id} 0 {cid} {label}\n")
                count += 1
    return count


def configure_parser(parser) -> None:
    parser.add_argument("--benchmark", required=True, type=Path, help="validated benchmark dir")
    parser.add_argument("--out", required=True, type=Path, help="output qrels.trec")


def main(args) -> None:
    write_qrels(args.benchmark, args.out)
