import json

import numpy as np
import pytest

from capflow import dense, scoring
from capflow import retrieve as rt
from capflow.benchmark import load_benchmark
from capflow.errors import UserError
from capflow.recipes import Recipe, load_recipes

from conftest import REPO, build_tiny_bert, run_capflow


def test_cosine_top_k_orders_by_score_and_keeps_ties_in_candidate_order():
    passages = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8]], dtype=np.float32)
    queries = np.array([[1, 0], [0, 1]], dtype=np.float32)
    top = dense.cosine_top_k(queries, passages, depth=3)
    assert [i for i, _ in top[0]] == [0, 2, 3]
    assert [i for i, _ in top[1]] == [1, 3, 0]
    assert top[0][2][1] == pytest.approx(0.6)
    assert len(dense.cosine_top_k(queries, passages, depth=10)[0]) == 4


def test_trec_round_trip_and_errors(tmp_path):
    run = {"q1": [("c2", 0.5), ("c1", 0.25)], "q2": [("c3", 1.0)]}
    path = tmp_path / "run.trec"
    scoring.write_trec(path, run, "m")
    assert path.read_text().splitlines()[0] == "q1 Q0 c2 1 0.500000 m"
    assert scoring.read_trec(path) == run
    path.write_text("q1 Q0 c2 1 high m\n")
    with pytest.raises(UserError, match=r"run.trec:1: score 'high' is not a number"):
        scoring.read_trec(path)
    path.write_text("q1 Q0 c2 1 0.5 m\nq1 Q0 c1 2 -inf m\n")
    with pytest.raises(UserError, match=r"run.trec:2: score '-inf' is not a finite number$"):
        scoring.read_trec(path)
    path.write_text("q1 Q0 c2 1 0.5 m\x0bq1 Q0 c1 2 0.25 m\n")  # a vertical tab does not end a line
    with pytest.raises(UserError, match=r"run.trec:1: expected 'qid Q0 docid rank score tag'$"):
        scoring.read_trec(path)


def test_retrieve_refuses_a_depth_below_one(tiny_benchmark, tmp_path):
    result = run_capflow("retrieve", "--benchmark", tiny_benchmark, "--model", "bm25", "--models",
                         REPO / "config/models.yaml", "--language", "en", "--depth", "0", "--run", tmp_path / "r",
                         "--metrics", tmp_path / "m", "--errors", tmp_path / "e")
    assert result.returncode == 2 and result.stderr == "capflow retrieve: error: --depth must be positive, got 0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Tiny"]  # no output written


def test_bm25_step_writes_run_metrics_and_error_report(tiny_benchmark, tmp_path):
    out = tmp_path / "out"
    result = run_capflow("retrieve", "--benchmark", tiny_benchmark, "--model", "bm25", "--models",
                         REPO / "config/models.yaml", "--language", "en", "--run", out / "run.trec",
                         "--metrics", out / "metrics.json", "--errors", out / "errors.jsonl",
                         "--score-threshold", "0.5")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["queries_evaluated"] == 2 and metrics["queries"] == 3
    # "cat" is in half of the candidates: its BM25 IDF is 0, so q1 retrieves nothing; q2 is perfect.
    assert metrics["metrics"]["ndcg@10"] == 0.5
    assert (out / "run.trec").read_text().splitlines() == ["q2 Q0 c4 1 1.755358 bm25"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == ["q1", "q2"]
    missed = [(m["id"], m["label"], m["rank"]) for m in errors[0]["missed_positives"]]
    assert missed == [("c1", 2, None), ("c3", 1, None)]
    assert errors[1]["missed_positives"] == [] and errors[1]["top_negatives"] == []
    assert metrics["macro_prf_within_run"]["recall"] == 0.5
    import hashlib

    # the record vouches for its run file: its SHA-256, the queries it ranks (q2 only) and the depth asked
    assert metrics["run_file"] == {"sha256": hashlib.sha256((out / "run.trec").read_bytes()).hexdigest(),
                                   "queries": 1, "depth": 100}


def test_unknown_model_is_one_line_error(tiny_benchmark, tmp_path):
    result = run_capflow("retrieve", "--benchmark", tiny_benchmark, "--model", "nope", "--models",
                         REPO / "config/models.yaml", "--language", "en", "--run", tmp_path / "r",
                         "--metrics", tmp_path / "m", "--errors", tmp_path / "e")
    assert result.returncode == 2
    registry = REPO / "config/models.yaml"
    assert result.stderr.strip() == f"capflow retrieve: error: {registry}: model 'nope' is not in the registry"
    assert not (tmp_path / "r").exists()


def tiny_bert(path, seed):
    return build_tiny_bert(path, list("abcdefghijklmnopqrstuvwxyz0123456789.,"), seed)


def test_embedding_cache_reuses_entries_and_never_mixes_models(tmp_path, tiny_benchmark):
    bench = load_benchmark(tiny_benchmark)
    cache = tmp_path / "cache"
    first = Recipe(name="tiny-a", path=str(tiny_bert(tmp_path / "a", 0)), pooling="mean", max_length=64)
    second = Recipe(name="tiny-b", path=str(tiny_bert(tmp_path / "b", 1)), pooling="mean", max_length=64)

    state = {}
    vectors = dense.embed(first, bench.candidate_texts, "passage", cache, "cpu", state)
    assert state["encoded"] == 4 and np.allclose(np.linalg.norm(vectors, axis=1), 1)
    again = {}
    assert np.array_equal(dense.embed(first, bench.candidate_texts, "passage", cache, "cpu", again), vectors)
    assert again["encoded"] == 0 and "model" not in again  # nothing encoded, no model loaded

    other = {}
    other_vectors = dense.embed(second, bench.candidate_texts, "passage", cache, "cpu", other)
    assert other["encoded"] == 4 and not np.allclose(other_vectors, vectors)
    cls = {}
    dense.embed(Recipe(name="tiny-a", path=first.path, pooling="cls", max_length=64), bench.candidate_texts,
             "passage", cache, "cpu", cls)
    assert cls["encoded"] == 4  # another pooling is another model
    assert len(list(cache.iterdir())) == 3


@pytest.mark.integration
def test_minilm_on_capretrieval_en(benchmark_root, tmp_path):
    bench = load_benchmark(benchmark_root / "CapRetrievalEn")
    recipe = load_recipes(REPO / "config/models.yaml")["all-MiniLM-L6-v2"]
    run = rt.retrieve(bench, recipe, language="en", depth=100, cache_root=tmp_path / "cache")
    summary, _ = scoring.score_run(bench, run, {})
    assert [round(100 * summary["metrics"][f"ndcg@{k}"], 2) for k in (1, 5, 10)] == [72.55, 70.64, 70.88]
    state = {}
    dense.embed(recipe, bench.candidate_texts, "passage", tmp_path / "cache", None, state)
    assert state["encoded"] == 0


def test_identical_query_and_candidate_ids_are_ignored_on_request(tmp_path):
    from conftest import write_jsonl

    root = tmp_path / "Mteb"
    write_jsonl(root / "candidates.jsonl", [
        {"id": "q1", "text": "apple"}, {"id": "d2", "text": "apple tart with cream"}, {"id": "d3", "text": "plum jam"},
        {"id": "d4", "text": "pear juice"}, {"id": "d5", "text": "fig roll"}])
    write_jsonl(root / "queries.jsonl", [{"id": "q1", "query": "apple", "positives": [{"id": "d2", "score": 1}]}])
    bench = load_benchmark(root)
    bm25 = Recipe(name="bm25", kind="bm25")
    plain = rt.retrieve(bench, bm25, language="en", depth=1)
    assert [c for c, _ in plain["q1"]] == ["q1"]
    mteb = rt.retrieve(bench, bm25, language="en", depth=1, ignore_identical_ids=True)
    assert [c for c, _ in mteb["q1"]] == ["d2"]


def test_hub_weights_resolve_from_the_local_hub_cache(tmp_path, tiny_benchmark):
    """A recipe naming a hub id loads through huggingface_hub (here offline, from a local cache)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-encoder"
    tiny_bert(repo / "snapshots" / commit, 0)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    recipe = Recipe(name="tiny", hub_id="acme/tiny-encoder", pooling="mean", max_length=64).to_json()
    out = tmp_path / "out"
    args = ["retrieve", "--benchmark", tiny_benchmark, "--recipe-json", recipe, "--language", "en",
            "--device", "cpu", "--run", out / "run.trec", "--metrics", out / "metrics.json",
            "--errors", out / "e.jsonl"]
    result = run_capflow(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "metrics.json").read_text())["queries_evaluated"] == 2

    missing = Recipe(name="gone", hub_id="acme/missing", pooling="mean").to_json()
    args[args.index(recipe)] = missing
    result = run_capflow(*args, env=env)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("capflow retrieve: error: model 'gone': cannot fetch 'acme/missing' from the hub: ")
