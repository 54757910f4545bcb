import math

import pytest

from capflow import metrics


def test_ndcg_graded_labels_by_hand():
    qrels = {"a": 2, "b": 1, "c": 1}
    ranking = ["x", "b", "a", "y", "c"]
    dcg = 1 / math.log2(3) + 2 / math.log2(4) + 1 / math.log2(6)
    ideal = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at(ranking, qrels, 5) == pytest.approx(dcg / ideal)
    assert metrics.ndcg_at(ranking, qrels, 5) == pytest.approx(0.6445, abs=1e-4)
    # Cut at 1: only "x" is ranked, and the ideal is the single best label.
    assert metrics.ndcg_at(ranking, qrels, 1) == 0.0
    assert metrics.ndcg_at(["a"], qrels, 1) == 1.0
    assert metrics.ndcg_at(["b"], qrels, 1) == pytest.approx(0.5)


def test_gain_is_linear_not_exponential():
    # With 2^rel - 1 gains this would be 1/3; linear gains give 1/2.
    assert metrics.ndcg_at(["b"], {"a": 2, "b": 1}, 1) == pytest.approx(0.5)


def test_ideal_uses_top_k_labels_only():
    qrels = {f"d{i}": 1 for i in range(20)}
    ranking = [f"d{i}" for i in range(10)]
    assert metrics.ndcg_at(ranking, qrels, 10) == pytest.approx(1.0)


def test_fewer_than_k_results():
    qrels = {"a": 1, "b": 1}
    assert metrics.ndcg_at(["a"], qrels, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert metrics.recall_at(["a"], qrels, 10) == 0.5
    assert metrics.precision_at(["a"], qrels, 10) == 0.1
    assert metrics.map_at(["a"], qrels, 10) == 0.5


def test_empty_results_score_zero():
    qrels = {"a": 2}
    for name in metrics.MEASURES:
        assert metrics.per_query([], qrels, (1, 10))[f"{name}@10"] == 0.0


def test_mrr_map_hit_by_hand():
    qrels = {"a": 1, "c": 2}
    ranking = ["x", "a", "y", "c"]
    assert metrics.mrr_at(ranking, qrels, 10) == 0.5
    assert metrics.mrr_at(ranking, qrels, 1) == 0.0
    assert metrics.map_at(ranking, qrels, 10) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert metrics.hit_at(ranking, qrels, 1) == 0.0
    assert metrics.hit_at(ranking, qrels, 2) == 1.0


def test_queries_without_positives_are_excluded():
    run = {"q1": ["a"], "q2": ["b"], "q3": []}
    qrels = {"q1": {"a": 1}, "q2": {}, "q3": {"z": 0}}
    mean, per = metrics.evaluate(run, qrels, (1,))
    assert list(per) == ["q1"]
    assert mean["ndcg@1"] == 1.0


def test_missing_query_counts_as_empty_ranking():
    mean, _ = metrics.evaluate({"q1": ["a"]}, {"q1": {"a": 1}, "q2": {"b": 1}}, (10,))
    assert mean["ndcg@10"] == 0.5


def test_threshold_precision_recall_f1():
    scored = {"q1": [("a", 0.9), ("x", 0.8), ("b", 0.4)], "q2": [("y", 0.2)]}
    qrels = {"q1": {"a": 1, "b": 2}, "q2": {"c": 1}}
    result = metrics.macro_prf_within_run(scored, qrels, 0.5)
    # q1: retrieved {a, x}: P = 1/2, R = 1/2, F1 = 1/2; q2: nothing retrieved: all 0.
    assert result == {"precision": 0.25, "recall": 0.25, "f1": 0.25}


def test_measures_are_spelled_as_the_tables_spell_them():
    from capflow.metrics import measure_label

    assert [measure_label(m) for m in ("ndcg@10", "mrr@10", "recall@100", "map")] == [
        "nDCG@10", "MRR@10", "Recall@100", "MAP"]
