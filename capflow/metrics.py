"""Ranking metrics, defined as trec_eval's cut measures (and MTEB through pytrec_eval) define them.

* nDCG@k: gain = the graded label (linear, not 2^rel - 1), discount log2(rank + 1), ideal DCG from
  the k best gold labels, the ranking cut at k.
* MAP@k: the sum of precision@i over relevant hits at rank i <= k, divided by all relevant docs.
* MRR@k, hit@k, recall@k, precision@k: over relevant = label > 0.

Queries without positives are excluded from every average; a query that retrieved nothing scores 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

Ranking = Sequence[str]  # candidate ids, best first
Qrels = Mapping[str, int]  # candidate id -> label

DEFAULT_KS = (1, 5, 10, 20, 100)
MEASURES = ("ndcg", "mrr", "map", "hit", "recall", "precision")
# how tables and figures spell each measure
MEASURE_LABELS = {"ndcg": "nDCG", "mrr": "MRR", "map": "MAP", "hit": "Hit", "recall": "Recall", "precision": "P"}


def measure_label(measure: str) -> str:
    """A measure as the tables spell it: ``ndcg@10`` -> ``nDCG@10``."""
    name, at, k = measure.partition("@")
    return f"{MEASURE_LABELS.get(name, name)}{at}{k}"


def dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(gains, start=1))


def ndcg_at(ranking: Ranking, qrels: Qrels, k: int) -> float:
    ideal = dcg(sorted((g for g in qrels.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg(qrels.get(doc, 0) for doc in ranking[:k]) / ideal


def mrr_at(ranking: Ranking, qrels: Qrels, k: int) -> float:
    for rank, doc in enumerate(ranking[:k], start=1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def map_at(ranking: Ranking, qrels: Qrels, k: int) -> float:
    n_relevant = sum(1 for g in qrels.values() if g > 0)
    if n_relevant == 0:
        return 0.0
    hits, total = 0, 0.0
    for rank, doc in enumerate(ranking[:k], start=1):
        if qrels.get(doc, 0) > 0:
            hits += 1
            total += hits / rank
    return total / n_relevant


def hit_at(ranking: Ranking, qrels: Qrels, k: int) -> float:
    return float(any(qrels.get(doc, 0) > 0 for doc in ranking[:k]))


def recall_at(ranking: Ranking, qrels: Qrels, k: int) -> float:
    n_relevant = sum(1 for g in qrels.values() if g > 0)
    if n_relevant == 0:
        return 0.0
    return sum(1 for doc in ranking[:k] if qrels.get(doc, 0) > 0) / n_relevant


def precision_at(ranking: Ranking, qrels: Qrels, k: int) -> float:
    return sum(1 for doc in ranking[:k] if qrels.get(doc, 0) > 0) / k


_AT_K = {"ndcg": ndcg_at, "mrr": mrr_at, "map": map_at, "hit": hit_at, "recall": recall_at,
         "precision": precision_at}


def per_query(ranking: Ranking, qrels: Qrels, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    ranking = list(ranking)
    return {f"{name}@{k}": fn(ranking, qrels, k) for name, fn in _AT_K.items() for k in ks}


def evaluate(run: Mapping[str, Ranking], qrels: Mapping[str, Qrels],
             ks: Sequence[int] = DEFAULT_KS) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Return (mean metrics, per-query metrics) over the queries of ``qrels`` that have positives.

    A query with positives that is missing from ``run`` counts as an empty ranking.
    """
    judged = [qid for qid, rels in qrels.items() if any(g > 0 for g in rels.values())]
    per = {qid: per_query(run.get(qid, ()), qrels[qid], ks) for qid in judged}
    names = [f"{name}@{k}" for name in _AT_K for k in ks]
    mean = {n: (sum(p[n] for p in per.values()) / len(per) if per else 0.0) for n in names}
    return mean, per


def macro_prf_within_run(scored: Mapping[str, Sequence[tuple[str, float]]], qrels: Mapping[str, Qrels],
                         threshold: float) -> dict[str, float]:
    """Per judged query, precision/recall/F1 of the run's documents scoring at least ``threshold``,
    averaged over the judged queries (macro).

    Not the dataset authors' classification setting (capflow.report.classification): the retrieved
    set is read from the run, so it is bounded by the run's depth; an empty one has precision 0;
    queries without positives are left out; F1 is averaged per query.
    """
    judged = [qid for qid, rels in qrels.items() if any(g > 0 for g in rels.values())]
    if not judged:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    p_sum = r_sum = f_sum = 0.0
    for qid in judged:
        relevant = {d for d, g in qrels[qid].items() if g > 0}
        retrieved = {d for d, s in scored.get(qid, ()) if s >= threshold}
        tp = len(relevant & retrieved)
        p = tp / len(retrieved) if retrieved else 0.0
        r = tp / len(relevant)
        p_sum += p
        r_sum += r
        f_sum += 2 * p * r / (p + r) if p + r else 0.0
    n = len(judged)
    return {"precision": p_sum / n, "recall": r_sum / n, "f1": f_sum / n}
