"""MTEB retrieval datasets (hub layout: configs corpus / queries / default = qrels) as benchmark dirs.

Every dataset here is written by the test as parquet files in the hub's folder layout, with the
README that declares the configurations, and read through ``datasets.load_dataset`` as the hub
copy would be; nothing is downloaded.
"""


import pytest

from capflow import cli, scoring
from capflow import mteb_data as md
from capflow import retrieve as rt
from capflow.benchmark import load_benchmark, write_benchmark
from capflow.errors import UserError
from capflow.recipes import Recipe

README = """---
configs:
- config_name: corpus
  data_files:
  - split: dev
    path: corpus/dev-*
- config_name: default
  data_files:
  - split: dev
    path: data/dev-*
- config_name: queries
  data_files:
  - split: dev
    path: queries/dev-*
---
"""

CORPUS = {"id": ["d1", "d2", "d3", "d4"],
          "text": ["红色连衣裙 夏季", "蓝色牛仔裤", "运动鞋 男款", "手机壳"],
          "title": ["", "", "品牌", ""]}
QUERIES = {"_id": ["q1", "q2", "q3"], "text": ["连衣裙", "牛仔裤", "耳机"]}
QRELS = {"query-id": ["q1", "q2", "q3"], "corpus-id": ["d1", "d2", "d4"], "score": ["1", "1", "0"]}


def write_dataset(root, corpus=CORPUS, queries=QUERIES, qrels=QRELS):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for folder, table in (("corpus", corpus), ("queries", queries), ("data", qrels)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(table), root / folder / "dev-00000-of-00001.parquet")
    (root / "README.md").write_text(README)
    return root


def test_conversion_gives_a_benchmark_dir_that_retrieve_scores_unchanged(tmp_path):
    source = write_dataset(tmp_path / "EcomMini")
    benchmark = md.load_mteb_retrieval(str(source), "dev", cache_dir=str(tmp_path / "cache"))
    stats = md.conversion_stats(benchmark, str(source), "dev", None)
    assert stats == {"source": str(source), "split": "dev", "revision": None, "candidates": 4, "queries": 3,
                     "queries_with_positives": 2, "positives": 2, "identical_query_document_ids": 0,
                     "identical_ids": []}
    (tmp_path / "out").mkdir()
    write_benchmark(benchmark, tmp_path / "out" / "candidates.jsonl", tmp_path / "out" / "queries.jsonl")
    loaded = load_benchmark(tmp_path / "out")
    assert loaded.candidate_texts[2] == "品牌 运动鞋 男款"  # title and text, as MTEB embeds documents
    assert loaded.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {}}  # score 0 is not a positive
    run = rt.retrieve(loaded, Recipe(name="bm25", kind="bm25"), language="zh", depth=10)
    summary, _ = scoring.score_run(loaded, run, {})
    assert summary["queries_evaluated"] == 2 and summary["metrics"]["ndcg@1"] == 1.0


def test_queries_sharing_a_document_id_are_listed(tmp_path):
    source = write_dataset(tmp_path / "Clash", queries={"_id": ["q1", "d2", "q3"], "text": QUERIES["text"]},
                           qrels={**QRELS, "query-id": ["q1", "d2", "q3"]})
    benchmark = md.load_mteb_retrieval(str(source), "dev", cache_dir=str(tmp_path / "cache"))
    stats = md.conversion_stats(benchmark, str(source), "dev", None)
    assert stats["identical_query_document_ids"] == 1 and stats["identical_ids"] == ["d2"]


@pytest.mark.parametrize("change, message", [
    ({"qrels": {**QRELS, "corpus-id": ["d1", "d9", "d4"]}}, "qrels: row 1: document 'd9' is not in the corpus"),
    ({"qrels": {**QRELS, "score": ["1", "high", "0"]}}, "qrels: row 1: score 'high' is not a number"),
    ({"queries": {"qid": QUERIES["_id"], "text": QUERIES["text"]}}, "queries has no id column (_id or id)"),
    ({"corpus": {**CORPUS, "id": ["d1", "d1", "d3", "d4"]}}, "corpus: duplicate id 'd1' (row 1)"),
])
def test_bad_datasets_are_one_line_errors(tmp_path, change, message):
    source = write_dataset(tmp_path / "Bad", **change)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        md.load_mteb_retrieval(str(source), "dev", cache_dir=str(tmp_path / "cache"))


def outputs(folder):
    return ["--candidates", str(folder / "candidates.jsonl"), "--queries", str(folder / "queries.jsonl"),
            "--types", str(folder / "query_types.json"), "--stats", str(folder / "mteb.json")]


def test_cli_converts_and_reports_a_missing_split_in_one_line(tmp_path, capsys):
    source = write_dataset(tmp_path / "VideoMini")
    assert cli.main(["mteb-data", "--source", str(source), *outputs(tmp_path / "out")]) == 0
    assert load_benchmark(tmp_path / "out").candidate_ids == CORPUS["id"]
    code = cli.main(["mteb-data", "--source", str(source), "--split", "test", *outputs(tmp_path / "out2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith(f"capflow mteb-data: error: cannot load {source} (corpus, test): ")
    assert not (tmp_path / "out2").exists()


def test_a_text_above_the_limit_is_one_line_naming_its_row(tmp_path):
    """data.max_text_chars reaches the conversion as --max-text-chars; its default holds these texts."""
    source = write_dataset(tmp_path / "EcomMini", corpus={**CORPUS, "text": [*CORPUS["text"][:3], "壳" * 12]})
    cache = str(tmp_path / "cache")
    assert md.load_mteb_retrieval(str(source), "dev", cache_dir=cache).candidate_texts[3] == "壳" * 12
    with pytest.raises(UserError) as error:
        md.load_mteb_retrieval(str(source), "dev", cache_dir=cache, max_chars=10)
    assert str(error.value) == (f"{source} corpus: row 3: the text of id 'd4' is 12 characters long, "
                                "more than the limit of 10")
