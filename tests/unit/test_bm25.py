import pytest

from capflow import bm25, nltkdata
from capflow.benchmark import load_benchmark
from capflow.errors import UserError
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


# --- the dataset authors' English BM25 (recipe tokenizer nltk-porter) -------------------------------
AUTHORS_BM25 = Recipe(name="bm25-nltk", kind="bm25", tokenizer="nltk-porter")


def test_the_authors_english_tokenizer_splits_sentences_with_punkt_and_stems_with_porter():
    candidate, query = bm25.english_nltk_tokenizers()
    # Punkt's English model knows "Mr." is no sentence end; NLTK 3.9 keeps a word-initial apostrophe
    assert candidate("Welcome Mr. Lei. Flowers bloom.") == ["welcom", "mr.", "lei", ".", "flower", "bloom", "."]
    assert candidate("the 'Ditto' sign") == ["the", "'ditto", "'", "sign"]
    assert query("  Running  DOGS ") == candidate("running dogs") == ["run", "dog"]


def test_the_authors_tokenizer_is_for_english_only():
    with pytest.raises(UserError) as error:
        bm25.tokenizers("zh", "nltk-porter")
    assert str(error.value) == "BM25 tokenizer 'nltk-porter' is for English, not language 'zh'"


def test_without_the_punkt_model_the_authors_tokenizer_names_the_command(monkeypatch):
    monkeypatch.setattr(nltkdata, "installed", lambda: None)
    bm25.english_nltk_tokenizers.cache_clear()
    try:
        with pytest.raises(UserError) as error:
            bm25.english_nltk_tokenizers()
    finally:
        bm25.english_nltk_tokenizers.cache_clear()
    assert str(error.value) == ("NLTK's English Punkt model (tokenizers/punkt_tab/english/) is not installed: "
                                "run `capflow nltk-data` (the README's install commands do)")


@pytest.mark.integration
def test_the_authors_english_bm25_gives_their_number(benchmark_root):
    """Their README's CapRetrievalEn BM25: 69.56 nDCG@10; capflow's Snowball BM25 gives 70.44."""
    benchmark = load_benchmark(benchmark_root / "CapRetrievalEn")
    summary, _ = score_run(benchmark, retrieve(benchmark, AUTHORS_BM25, language="en", depth=100), {})
    assert [round(100 * summary["metrics"][f"ndcg@{k}"], 2) for k in (1, 5, 10)] == [72.68, 70.30, 69.56]
