"""The error report of a run: per judged query, the positives it missed and the negatives ranked highest."""

from __future__ import annotations

from collections.abc import Iterator

from capflow.benchmark import Benchmark

ERROR_REPORT_NEGATIVES = 5
MISSED_BELOW_RANK = 10
_UNRANKED = 10**9


def error_report(benchmark: Benchmark, run: dict[str, list[tuple[str, float]]],
                 per_query: dict[str, dict[str, float]], query_types: dict[str, str]) -> Iterator[dict]:
    """Per judged query: positives missing from the top 10 and the negatives ranked highest."""
    text_of = dict(zip(benchmark.candidate_ids, benchmark.candidate_texts))
    for q in benchmark.queries:
        if q.id not in per_query:
            continue
        hits = run.get(q.id, [])
        rank_of = {cid: r for r, (cid, _) in enumerate(hits, start=1)}
        missed = [{"id": cid, "label": label, "rank": rank_of.get(cid), "text": text_of[cid]}
                  for cid, label in sorted(q.qrels.items(), key=lambda kv: (-kv[1], rank_of.get(kv[0], _UNRANKED)))
                  if rank_of.get(cid, _UNRANKED) > MISSED_BELOW_RANK]
        negatives = [{"id": cid, "rank": r, "score": round(s, 6), "text": text_of[cid]}
                     for r, (cid, s) in enumerate(hits, start=1) if cid not in q.qrels][:ERROR_REPORT_NEGATIVES]
        yield {"id": q.id, "query": q.text, "type": query_types.get(q.id),
               "ndcg@10": round(per_query[q.id]["ndcg@10"], 6), "positives": len(q.qrels),
               "missed_positives": missed, "top_negatives": negatives}
