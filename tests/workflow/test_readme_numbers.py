"""The numbers the README states about the embedded default, pinned exactly on the reference data.

Each stage is called as the workflow calls it (same settings as config/config.yaml), without
Snakemake; tests/workflow/test_embedded_default.py checks the tables of a whole `snakemake all` run.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import sys
from fractions import Fraction

import pytest

from capflow import data, leakage, testview
from capflow.benchmark import load_benchmark
from capflow.pools import build_pool, read_pydoc_topics

from conftest import REPO, benchmark_outputs, run_capflow, run_snakemake, write_jsonl

pytestmark = pytest.mark.integration

# config/config.yaml: pools.id (holdout 1000 of CapRetrievalEn, seed 0), pools.ood, leakage.threshold
HOLDOUT, HOLDOUT_SEED = 1000, 0
LEAKAGE_THRESHOLD = Fraction(7, 10)
# Paragraphs of pydoc_data.topics that pass the OOD pool's filters (40-400 characters, prose),
# measured on CPython 3.10.13, 3.11.7, 3.12.1 and 3.13.0. The README quotes 671 (Python 3.11).
OOD_POOL_SIZE = {(3, 10): 652, (3, 11): 671, (3, 12): 687, (3, 13): 704}
# CapRetrieval queries whose text types.json spells differently (one space vs "+"): no type
UNTYPED = {
    "e4fbc38dddd384db580409260580b41f": "啤酒 炒菜",
    "6517aca9c1b341fae06ccc72fac0ab4b": "连衣裙 草地",
    "c969042ecfc7bbd52b0d53253b99d827": "黄瓜 蘑菇",
    "f36419487e5f781a23135b6d38dee770": "演唱会门票 二维码",
    "8afc28745d92e623f83dd66de7be72a0": "西瓜 芒果",
    "9b5eb5fb8e3cbc810da6621d034b0d8a": "苹果 猕猴桃 芒果",
}
TYPES = ["complex_condition", "conjunction", "simple_condition", "singleton_concept", "singleton_event",
         "singleton_object", "singleton_person", "singleton_place"]


def ndcg_x100(run: dict[str, list[str]], qrels: dict[str, dict[str, int]], k: int) -> float:
    """trec_eval's ndcg_cut written out: linear gains, log2(rank + 1) discounts, judged queries only."""
    values = []
    for qid, labels in qrels.items():
        if not labels:
            continue
        dcg = sum(labels.get(cid, 0) / math.log2(rank + 2) for rank, cid in enumerate(run.get(qid, [])[:k]))
        ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(sorted(labels.values(), reverse=True)[:k]))
        values.append(dcg / ideal)
    return round(100 * sum(values) / len(values), 2)


def qrels_of(bench) -> dict[str, dict[str, int]]:
    return {q.id: dict(q.qrels) for q in bench.queries}


# --- pools, test view and leakage filter ---------------------------------------------------------

@pytest.fixture(scope="module")
def id_pool(benchmark_root):
    held, view = testview.split_holdout(benchmark_root / "CapRetrievalEn", HOLDOUT, HOLDOUT_SEED)
    pool, _ = build_pool(held, min_chars=1, seed=HOLDOUT_SEED)
    rows = [{"id": p.id, "text": p.text} for p in pool]
    return rows, view


def test_test_view_keeps_349_queries_with_a_positive(id_pool):
    _, view = id_pool
    assert view.stats["candidates"] == 2024
    assert view.stats["queries_with_positives_before"] == 377
    assert view.stats["queries_with_positives"] == 349


def test_leakage_filter_drops_53_of_the_1000_held_out_captions(id_pool):
    rows, view = id_pool
    assert len(rows) == 1000
    kept, report = leakage.filter_pool(rows, view.benchmark.candidate_ids, view.benchmark.candidate_texts,
                                       LEAKAGE_THRESHOLD)
    assert report["counts"] == {"in": 1000, "dropped": 53, "kept": 947, "test_captions": 2024}
    assert len(kept) == 947


def test_ood_pool_is_pydoc_prose_none_of_it_dropped(id_pool):
    version = sys.version_info[:2]
    if version not in OOD_POOL_SIZE:
        pytest.fail(f"no expected OOD pool size for Python {version[0]}.{version[1]}: build the pool "
                    f"(capflow pool --kind pydoc-topics --min-chars 40 --max-chars 400) and add its count "
                    f"to OOD_POOL_SIZE in {__file__}")
    pool, stats = build_pool(read_pydoc_topics(), min_chars=40, max_chars=400, seed=0)
    assert len(pool) == OOD_POOL_SIZE[version], stats["counts"]
    _, view = id_pool
    rows = [{"id": p.id, "text": p.text} for p in pool]
    _, report = leakage.filter_pool(rows, view.benchmark.candidate_ids, view.benchmark.candidate_texts,
                                    LEAKAGE_THRESHOLD)
    assert report["counts"]["dropped"] == 0


# --- the data stage ------------------------------------------------------------------------------

def test_data_log_lists_the_6_differently_spelled_queries(benchmark_root, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="capflow.data"):
        _, types = data.materialise("CapRetrieval", local_dirs=[str(benchmark_root)], repo=None)
    assert "query types: 398 matched, 6 unmatched" in caplog.messages
    listed = [m for m in caplog.messages if m.startswith("query without a type: ")]
    assert listed == [f"query without a type: {qid} {text!r}" for qid, text in UNTYPED.items()]
    assert len(types) == 398 and not set(types) & set(UNTYPED)


def fake_benchmark(root, caption):
    """Both benchmarks of the embedded default, so the prefetch step finds nothing to download."""
    for name in ("CapRetrieval", "CapRetrievalEn"):
        write_jsonl(root / name / "candidates.jsonl", [{"id": "c1", "text": caption}, {"id": "c2", "text": "more"}])
        write_jsonl(root / name / "queries.jsonl", [{"id": "q1", "query": "x", "positives": []}])


def test_capflow_data_dir_wins_over_the_workdirs_data_folder(workflow_copy, tmp_path):
    """data/ inside the working directory and $CAPFLOW_DATA_DIR hold different CapRetrieval copies."""
    fake_benchmark(workflow_copy / "data", "from the working directory's data/")
    fake_benchmark(tmp_path / "elsewhere", "from CAPFLOW_DATA_DIR")
    target = "results/data/CapRetrieval/candidates.jsonl"
    (workflow_copy / "holdout.yaml").write_text("pools:\n  id:\n    source: {holdout: 1}\n")  # fits the copies
    small = ("--configfile", "holdout.yaml", "--", target)
    result = run_snakemake(workflow_copy, "--cores", "1", *small, env={"CAPFLOW_DATA_DIR": str(tmp_path / "elsewhere")})
    assert result.returncode == 0, result.stderr[-3000:]
    first = json.loads((workflow_copy / target).read_text().splitlines()[0])
    assert first["text"] == "from CAPFLOW_DATA_DIR"

    (workflow_copy / target).unlink()
    result = run_snakemake(workflow_copy, "--cores", "1", *small, env={"CAPFLOW_DATA_DIR": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    first = json.loads((workflow_copy / target).read_text().splitlines()[0])
    assert first["text"] == "from the working directory's data/"


# --- zero-shot rows of Table 2 -------------------------------------------------------------------

@pytest.fixture(scope="module")
def zeroshot(benchmark_root, tmp_path_factory):
    """`capflow retrieve` as the zeroshot rule runs it, on benchmarks prepared by the data stage:
    ``zeroshot(benchmark, model, language)`` gives its metrics, ranked ids and benchmark."""
    root = tmp_path_factory.mktemp("zeroshot")
    for name in ("CapRetrieval", "CapRetrievalEn"):
        result = run_capflow("data", "--name", name, "--local-dirs", benchmark_root,
                             *benchmark_outputs(root / "data" / name), env={data.DATA_DIR_ENV: ""})
        assert result.returncode == 0, result.stderr[-2000:]

    def run(benchmark: str, model: str, language: str) -> dict:
        out = root / benchmark / model
        result = run_capflow("retrieve", "--benchmark", root / "data" / benchmark, "--model", model,
                             "--models", REPO / "config" / "models.yaml", "--language", language,
                             "--depth", 100, "--cache", root / "cache", "--device", "cpu",
                             "--run", out / "run.trec", "--metrics", out / "metrics.json",
                             "--errors", out / "errors.jsonl")
        assert result.returncode == 0, result.stderr[-3000:]
        ranked: dict[str, list[str]] = {}
        for line in (out / "run.trec").read_text().splitlines():
            qid, _, cid, rank, _, _ = line.split()
            ranked.setdefault(qid, []).append(cid)
            assert int(rank) == len(ranked[qid])
        return {"metrics": json.loads((out / "metrics.json").read_text()), "run": ranked,
                "bench": load_benchmark(root / "data" / benchmark)}

    return functools.cache(run)  # each (benchmark, model, language) runs once, when a test first needs it


def ndcgs(metrics: dict) -> list[float]:
    return [round(100 * metrics["metrics"][f"ndcg@{k}"], 2) for k in (1, 5, 10)]


@pytest.mark.parametrize("benchmark,model,language,expected", [
    ("CapRetrieval", "all-MiniLM-L6-v2", "zh", [11.27, 11.37, 11.61]),
    ("CapRetrievalEn", "all-MiniLM-L6-v2", "en", [72.55, 70.64, 70.88]),
    ("CapRetrievalEn", "bm25", "en", [73.34, 71.35, 70.44]),
])
def test_table_2_rows(zeroshot, benchmark, model, language, expected):
    result = zeroshot(benchmark, model, language)
    assert ndcgs(result["metrics"]) == expected
    # the run file alone, scored by an nDCG written out here, gives the same numbers
    qrels = qrels_of(result["bench"])
    assert [ndcg_x100(result["run"], qrels, k) for k in (1, 5, 10)] == expected


@pytest.mark.parametrize("benchmark", ["CapRetrieval", "CapRetrievalEn"])
def test_dense_runs_rank_100_candidates_for_every_query(zeroshot, benchmark):
    run = zeroshot(benchmark, "all-MiniLM-L6-v2", "zh" if benchmark == "CapRetrieval" else "en")["run"]
    assert len(run) == 404
    assert {len(ids) for ids in run.values()} == {100}
    assert all(len(set(ids)) == 100 for ids in run.values())


def test_ndcg_at_10_by_query_type(zeroshot, benchmark_root):
    result = zeroshot("CapRetrieval", "all-MiniLM-L6-v2", "zh")
    by_type = result["metrics"]["ndcg@10_by_type"]
    # the 8 types of types.json; the 6 untyped queries all have positives, so they form a group too
    assert sorted(by_type) == sorted(TYPES + ["untyped"])
    judged = {q.id for q in result["bench"].queries if q.qrels}
    assert set(UNTYPED) <= judged
    # the groups' means, weighted by their sizes (types.json matched here), give back the overall nDCG@10
    types = json.loads((benchmark_root / "CapRetrieval" / "types.json").read_text(encoding="utf-8"))
    by_text = {" ".join(text.split()): name for name, texts in types.items() for text in texts}
    sizes: dict[str, int] = {}
    for q in result["bench"].queries:
        if q.id in judged:
            name = by_text.get(" ".join(q.text.split()), "untyped")
            sizes[name] = sizes.get(name, 0) + 1
    assert sizes["untyped"] == 6 and sum(sizes.values()) == 377
    overall = sum(by_type[t] * n for t, n in sizes.items()) / len(judged)
    assert overall == pytest.approx(result["metrics"]["metrics"]["ndcg@10"], abs=1e-5)
    english = zeroshot("CapRetrievalEn", "all-MiniLM-L6-v2", "en")["metrics"]
    assert english["ndcg@10_by_type"] == {}  # CapRetrievalEn ships no types.json


def test_english_bm25_equals_a_direct_rank_bm25_call(zeroshot):
    """The README's recipe written out with rank_bm25 and snowballstemmer directly: lowercased word
    tokens, Snowball English stems, BM25Okapi defaults, scores below 1e-3 dropped, ties in file order."""
    import numpy as np
    import snowballstemmer
    from rank_bm25 import BM25Okapi

    result = zeroshot("CapRetrievalEn", "bm25", "en")
    bench = result["bench"]
    stem = snowballstemmer.stemmer("english").stemWords

    def tokens(text: str) -> list[str]:
        return stem([w for w in re.split(r"[\W_]+", text.lower()) if w])

    index = BM25Okapi([tokens(t) for t in bench.candidate_texts])
    direct = {}
    for q in bench.queries:
        scores = index.get_scores(tokens(q.text))
        order = np.argsort(-scores, kind="stable")[:100]
        direct[q.id] = [bench.candidate_ids[i] for i in order if scores[i] >= 1e-3]
    assert {qid: ids for qid, ids in direct.items() if ids} == result["run"]  # the run file lists no empty query
    assert [ndcg_x100(direct, qrels_of(bench), k) for k in (1, 5, 10)] == [73.34, 71.35, 70.44]
