"""A benchmark cut to a rehearsal's size: a few queries and the candidates that keep them judged."""

from __future__ import annotations

from dataclasses import dataclass

from capflow import benchmark as bm


@dataclass(frozen=True)
class BenchmarkSlice:
    """The first `queries` queries in file order, and `candidates` candidates: every positive of the kept
    queries, then the other candidates in file order (more than `candidates` when the positives need it).
    None keeps all."""

    queries: int | None = None
    candidates: int | None = None

    @property
    def cuts(self) -> bool:
        return self.queries is not None or self.candidates is not None

    def apply(self, benchmark: bm.Benchmark) -> bm.Benchmark:
        if not self.cuts:
            return benchmark
        queries = benchmark.queries[: self.queries] if self.queries is not None else list(benchmark.queries)
        positives = {cid for query in queries for cid in query.qrels}
        budget = max(0, (self.candidates or len(benchmark.candidate_ids)) - len(positives))
        kept = []
        for cid, text in zip(benchmark.candidate_ids, benchmark.candidate_texts, strict=True):
            if cid in positives:
                kept.append((cid, text))
            elif budget:
                kept.append((cid, text))
                budget -= 1
        return bm.Benchmark([c for c, _ in kept], [t for _, t in kept], queries, benchmark.types)

    def options(self) -> list[str]:
        """The command-line words that pass this slice to `capflow data` and `capflow mteb-data`."""
        words = []
        if self.queries is not None:
            words += ["--slice-queries", str(self.queries)]
        if self.candidates is not None:
            words += ["--slice-candidates", str(self.candidates)]
        return words


def add_arguments(parser) -> None:
    parser.add_argument("--slice-queries", type=int, metavar="N", help="keep the first N queries (a rehearsal)")
    parser.add_argument("--slice-candidates", type=int, metavar="N",
                        help="keep N candidates: the kept queries' positives, then the first others")


def from_args(args) -> BenchmarkSlice:
    return BenchmarkSlice(args.slice_queries, args.slice_candidates)


def sizes(benchmark: bm.Benchmark) -> dict[str, int]:
    return {"candidates": len(benchmark.candidate_ids), "queries": len(benchmark.queries)}
