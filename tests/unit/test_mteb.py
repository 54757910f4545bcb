"""capflow and mteb: the results capflow writes load with mteb's own loaders, and mteb scores a model on
capflow's CapRetrieval tasks (capflow.mtebtasks) as capflow's retrieve step scores it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import mteb
import pytest
from mteb.results import TaskResult

from capflow import benchmark as bm
from capflow import encoders, scoring
from capflow.errors import UserError
from capflow.mtebtasks import TASKS, CapRetrieval, CapRetrievalEn
from capflow.plan.build import plan_from_files
from capflow.recipes import load_recipes
from capflow.report import mtebjson
from capflow.retrieve import retrieve
from capflow.runrecord import RunRecord
from capflow.slicing import BenchmarkSlice

from conftest import REPO, run_capflow, write_jsonl

RECIPES = load_recipes(REPO / "config" / "models.yaml")
METRICS = {"ndcg@1": 0.5, "ndcg@10": 0.625, "recall@100": 1.0, "mrr@10": 0.75, "hit@10": 1.0}


def write_record(path: Path, view: str | None = None, seconds: float | None = 2.5, **metrics) -> Path:
    RunRecord("CapRetrievalEn", "bm25", {**METRICS, **metrics}, view=view, evaluation_seconds=seconds).write(path)
    return path


def test_the_version_written_is_the_one_pinned():
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert mtebjson.MTEB_VERSION == pins["mteb"] == mteb.__version__


def test_a_written_result_loads_as_mtebs_task_result(tmp_path):
    test = write_record(tmp_path / "test.json")
    view = write_record(tmp_path / "view.json", view="test view", seconds=1.25, **{"ndcg@10": 0.5})
    out = tmp_path / "mteb" / mtebjson.result_path(".", "capflow/bm25", mtebjson.NO_REVISION, "CapRetrievalEn")
    made = run_capflow("mteb-json", "--run", "test", test, "--run", "testview", view, "--dataset-revision", "main",
                       "--languages", "eng-Latn", "--out", out)
    assert made.returncode == 0, made.stderr
    assert out == tmp_path / "mteb/results/capflow__bm25/no_revision_available/CapRetrievalEn.json"

    result = TaskResult.from_disk(out)
    assert (result.task_name, result.dataset_revision, result.mteb_version) == ("CapRetrievalEn", "main", "2.26.24")
    assert result.evaluation_time == 3.75 and result.eval_splits == ["test", "testview"]
    entry = result.scores["test"][0]
    assert entry["main_score"] == entry["ndcg_at_10"] == 0.625 and entry["languages"] == ["eng-Latn"]
    assert entry["hit_rate_at_10"] == 1.0 and entry["mrr_at_10"] == 0.75 and entry["hf_subset"] == "default"
    assert result.scores["testview"][0]["main_score"] == 0.5
    # the task's own split, as mteb validates a result against its task
    assert result.validate_and_filter_scores(task=CapRetrievalEn()).get_score() == 0.625

    # mteb's results cache reads the folder: the model's name from its path
    loaded = mteb.ResultCache(tmp_path / "mteb").load_results(require_model_meta=False, include_remote=False)
    (model,) = loaded.model_results
    assert (model.model_name, model.model_revision) == ("capflow/bm25", "no_revision_available")
    assert [r.task_name for r in model.task_results] == ["CapRetrievalEn"]


def test_a_result_needs_languages_and_one_benchmark(tmp_path):
    record = RunRecord("CapRetrieval", "bm25", METRICS)
    other = RunRecord("CapRetrievalEn", "bm25", METRICS)
    with pytest.raises(UserError, match="languages"):
        mtebjson.mteb_result([("test", record)], "main", [])
    with pytest.raises(UserError, match="one benchmark"):
        mtebjson.mteb_result([("test", record), ("testview", other)], "main", ["cmn-Hans"])
    with pytest.raises(UserError, match="two runs for split 'test'"):
        mtebjson.mteb_result([("test", record), ("test", record)], "main", ["cmn-Hans"])
    # a record from before evaluation_seconds leaves the time unknown
    assert mtebjson.mteb_result([("test", record)], "main", ["cmn-Hans"])["evaluation_time"] is None
    out = tmp_path / "x.json"
    args = argparse.Namespace(run=[("test", str(write_record(tmp_path / "m.json", **{"ndcg@10": 0.25})))],
                              dataset_revision="v1", languages=["eng-Latn"], out=out)
    mtebjson.main(args)
    assert json.loads(out.read_text())["dataset_revision"] == "v1"


def test_models_are_named_as_mteb_names_them():
    names = mtebjson.registry_models(RECIPES)
    assert names["all-MiniLM-L6-v2"] == ("sentence-transformers/all-MiniLM-L6-v2", RECIPES["all-MiniLM-L6-v2"].revision)
    assert names["bm25"] == ("capflow/bm25", "no_revision_available")
    # a second recipe over the same weights is capflow's own, so that the two never share a file
    assert names["Qwen3-Embedding-0.6B"][0] == "Qwen/Qwen3-Embedding-0.6B"
    assert names["Qwen3-Embedding-0.6B-card"] == ("capflow/Qwen3-Embedding-0.6B-card", "no_revision_available")
    assert mtebjson.model_folder("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers__all-MiniLM-L6-v2"


def test_the_embedded_default_writes_one_file_per_model_and_benchmark():
    plan, _ = plan_from_files([], REPO)
    results = {path.removeprefix("results/mteb/results/"): result for path, result in plan.mteb_results.items()}
    revision = RECIPES["all-MiniLM-L6-v2"].revision
    minilm = results[f"sentence-transformers__all-MiniLM-L6-v2/{revision}/CapRetrievalEn.json"]
    # the zero-shot run on the whole benchmark, and the evaluation's zero-shot row on the test view
    assert minilm.runs == (("test", "results/zeroshot/CapRetrievalEn/all-MiniLM-L6-v2/metrics.json"),
                           ("testview", "results/evaluate/CapRetrievalEn/zeroshot/all-MiniLM-L6-v2/metrics.json"))
    assert results["capflow__bm25/no_revision_available/CapRetrieval.json"].runs == (
        ("test", "results/zeroshot/CapRetrieval/bm25/metrics.json"),)
    assert results["capflow__id-kw-seed0/no_revision_available/CapRetrievalEn.json"].runs == (
        ("testview", "results/evaluate/CapRetrievalEn/id-kw/seed-0/metrics.json"),)
    assert "capflow__rrf-all-MiniLM-L6-v2/no_revision_available/CapRetrieval.json" in results
    # 2 zero-shot models x 2 benchmarks and the authors' BM25 on CapRetrievalEn, 2 hybrids x 2 benchmarks,
    # 6 finetunes on the test view
    assert results["capflow__bm25-nltk/no_revision_available/CapRetrievalEn.json"].runs == (
        ("test", "results/zeroshot/CapRetrievalEn/bm25-nltk/metrics.json"),)
    assert len(results) == 15
    options = plan.mteb_json_options("capflow__bm25", "no_revision_available", "CapRetrieval")
    assert options.endswith("--dataset-revision main --languages cmn-Hans")


def test_the_tasks_read_a_benchmark_directory(tmp_path):
    folder = tmp_path / "CapRetrieval"
    write_jsonl(folder / "candidates.jsonl", [{"id": "c1", "text": "一只猫"}, {"id": "c2", "text": "两只狗"}])
    write_jsonl(folder / "queries.jsonl", [{"id": "q1", "query": "猫", "positives": [{"id": "c1", "score": 2}]},
                                           {"id": "q2", "query": "鸟", "positives": []}])
    task = CapRetrieval(folder, split="testview", revision="v2", prepare=lambda text, role: f"{role}: {text}")
    task.load_data()
    split = task.dataset["default"]["testview"]
    assert split["corpus"]["text"] == ["passage: 一只猫", "passage: 两只狗"]
    assert split["queries"]["id"] == ["q1", "q2"] and split["relevant_docs"] == {"q1": {"c1": 2}}
    assert (task.metadata.eval_splits, task.metadata.revision, task.metadata.eval_langs) == (
        ["testview"], "v2", ["cmn-Hans"])
    # the class keeps its own metadata
    assert CapRetrieval.metadata.eval_splits == ["test"] and sorted(TASKS) == ["CapRetrieval", "CapRetrievalEn"]


@pytest.mark.integration
def test_mteb_scores_minilm_on_capretrievalen_as_capflow_does(benchmark_root):
    """The first 100 queries and 1,000 captions (their positives first), both encoded by all-MiniLM-L6-v2
    from the same prepared strings: mteb's nDCG@10 is capflow's."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    recipe = RECIPES["all-MiniLM-L6-v2"]
    cut = BenchmarkSlice(queries=100, candidates=1000)
    benchmark = cut.apply(bm.load_benchmark(benchmark_root / "CapRetrievalEn"))
    run = retrieve(benchmark, recipe, language="en", depth=100)
    summary, _ = scoring.score_run(benchmark, run, {})

    task = CapRetrievalEn(benchmark_root / "CapRetrievalEn", cut=cut, prepare=recipe.prepare)
    model = encoders.load_encoder(recipe)
    result = mteb.evaluate(model, task, cache=None, show_progress_bar=False,
                           encode_kwargs={"batch_size": recipe.batch_size})
    (task_result,) = result.task_results
    scores = task_result.scores["test"][0]
    assert summary["queries_evaluated"] == 100
    assert round(scores["ndcg_at_10"], 4) == round(summary["metrics"]["ndcg@10"], 4) == 0.7961
    assert scores["recall_at_100"] == pytest.approx(summary["metrics"]["recall@100"], abs=1e-4)
