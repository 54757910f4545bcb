import pytest

from capflow import bm25
from capflow.benchmark import load_benchmark
from capflow.recipes import Recipe
from capflow.retrieve import retrieve
from capflow.scoring import score_run

BM25 = Recipe(name="bm25", kind="bm25")


def ndcg(benchmark, language):
    run = retrieve(benchmark, BM25, language=language, depth=100)
    summary, _ = score_run(benchmark, run, {})
    return [round(100 * summary["metrics"][f"ndcg@{k}"], 2) for k in (1, 5, 10)], run


def test_chinese_tokenisation_differs_for_candidates_and_queries():
    candidate, query = bm25.chinese_tokenizers()
    assert candidate("中华人民共和国") != query("中华人民共和国")
    assert query("  WeChat   功能 ") == query("wechat 功能")
    assert "Apple" in candidate("Apple手机")  # candidates keep case


def test_english_tokens_are_stemmed_lowercase_words():
    tokenize, _ = bm25.english_tokenizers()
    assert tokenize("Running DOGS, running!") == ["run", "dog", "run"]


def test_scores_below_threshold_dropped_and_ties_keep_file_order():
    texts = ["apple pie", "banana bread", "apple tart", "cherry jam", "plum cake"]
    results = bm25.search(texts, ["apple", "kiwi"], "en", depth=10)
    assert [i for i, _ in results[0]] == [0, 2]
    assert results[0][0][1] == results[0][1][1]
    assert results[1] == []


@pytest.mark.integration
def test_chinese_bm25_parity_with_the_paper(benchmark_root):
    scores, run = ndcg(load_benchmark(benchmark_root / "CapRetrieval"), "zh")
    assert scores == [74.40, 69.30, 66.54]
    assert any(len(hits) < 10 for hits in run.values())  # low scores are dropped, not padded


@pytest.mark.integration
def test_english_bm25_on_capretrieval_en(benchmark_root):
    scores, _ = ndcg(load_benchmark(benchmark_root / "CapRetrievalEn"), "en")
    assert scores == [73.34, 71.35, 70.44]
