import json
import shutil

import pytest

from capflow import data
from capflow.benchmark import Query, load_benchmark, match_types
from capflow.errors import UserError

from conftest import run_capflow, write_jsonl
from fakes.hub_server import LocalHub


def materialise_cli(name, local_dir, out, *extra, env=None):
    """`capflow data` writing a benchmark dir ``out`` (the workflow names the same three files)."""
    outputs = ["--candidates", out / "candidates.jsonl", "--queries", out / "queries.jsonl",
               "--types", out / "query_types.json"]
    return run_capflow("data", "--name", name, "--local-dirs", local_dir, *outputs, *extra,
                       env={"CAPFLOW_DATA_DIR": "", **(env or {})})


def test_materialise_local_copy(tiny_benchmark, tmp_path):
    out = tmp_path / "out" / "Tiny"
    result = materialise_cli("Tiny", tiny_benchmark.parent, out)
    assert result.returncode == 0, result.stderr
    bench = load_benchmark(out)
    assert bench.candidate_ids == ["c1", "c2", "c3", "c4"]
    assert [q.id for q in bench.queries] == ["q1", "q2", "q3"]
    assert json.loads((out / "query_types.json").read_text()) == {"q1": "animal", "q2": "document"}
    assert "query without a type: q3 'volcano'" in result.stderr


def test_env_var_replaces_config_dirs(tiny_benchmark, tmp_path):
    out = tmp_path / "out"
    result = materialise_cli("Tiny", tmp_path / "nowhere", out, env={data.DATA_DIR_ENV: str(tiny_benchmark.parent)})
    assert result.returncode == 0, result.stderr
    assert (out / "candidates.jsonl").exists()


def test_the_text_limit_is_the_configured_one(tiny_benchmark, tmp_path):
    """A limit raised in the config (data.max_text_chars) admits a longer text, which the steps after
    `capflow data` read back from its output; at the default the same text is refused."""
    from capflow.benchmark import MAX_TEXT_CHARS

    long_text = "a cat " * 20_000  # 120000 characters
    rows = [json.loads(line) for line in (tiny_benchmark / "candidates.jsonl").read_text().splitlines()]
    write_jsonl(tiny_benchmark / "candidates.jsonl", [*rows, {"id": "c5", "text": long_text}])
    refused = materialise_cli("Tiny", tiny_benchmark.parent, tmp_path / "default")
    assert refused.returncode == 2 and refused.stderr.strip().endswith(
        f"{tiny_benchmark / 'candidates.jsonl'}:5: the text of candidate 'c5' is 120000 characters long, "
        f"more than the limit of {MAX_TEXT_CHARS}")
    assert not (tmp_path / "default").exists()
    out = tmp_path / "raised"
    assert materialise_cli("Tiny", tiny_benchmark.parent, out, "--max-text-chars", "200000").returncode == 0
    assert load_benchmark(out).candidate_texts[-1] == long_text


def test_types_match_after_whitespace_normalisation():
    queries = [Query("a", " train \t ticket ", {}), Query("b", "plane", {})]
    assigned, unmatched = match_types(queries, {"doc": ["train ticket"]})
    assert assigned == {"a": "doc"}
    assert [q.id for q in unmatched] == ["b"]


@pytest.mark.parametrize("file,line,expected", [
    ("candidates.jsonl", '{"id": "c5", "text": "x"', "candidates.jsonl:5: malformed JSON: Expecting ',' delimiter"),
    ("candidates.jsonl", '{"id": "c5"}', "candidates.jsonl:5: missing field 'text'"),
    ("candidates.jsonl", '{"id": "c1", "text": "again"}',
     "candidates.jsonl:5: duplicate candidate id 'c1' (first on line 1)"),
    ("candidates.jsonl", '{"id": "c5", "text": "  "}', "candidates.jsonl:5: empty text for candidate 'c5'"),
    ("candidates.jsonl", '{"id": 5, "text": "x"}', "candidates.jsonl:5: field 'id' must be str"),
    ("queries.jsonl", '{"id": "q4", "query": "x", "positives": [{"id": "c9", "score": 1}]}',
     "queries.jsonl:4: query 'q4': positive 'c9' is not a known candidate"),
    ("queries.jsonl", '{"id": "q4", "query": "x", "positives": [{"id": "c1", "score": 3}]}',
     "queries.jsonl:4: query 'q4': label 3 for 'c1' is not one of 0, 1, 2"),
    ("queries.jsonl", '{"id": "q1", "query": "x", "positives": []}',
     "queries.jsonl:4: duplicate query id 'q1' (first on line 1)"),
    ("queries.jsonl", '{"id": "q4", "query": "", "positives": []}', "queries.jsonl:4: empty text for query 'q4'"),
    ("queries.jsonl", '{"id": "q4", "query": "x"}', "queries.jsonl:4: missing field 'positives'"),
])
def test_bad_input_is_one_line_error_and_writes_nothing(tiny_benchmark, tmp_path, file, line, expected):
    with open(tiny_benchmark / file, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    out = tmp_path / "out"
    result = materialise_cli("Tiny", tiny_benchmark.parent, out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("capflow data: error: ") and lines[-1].endswith(expected)
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture
def hub_server(tmp_path, tiny_benchmark, monkeypatch):
    """A loopback hub holding the dataset repo someone/Tiny, and an empty hub cache for this test."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with LocalHub(tmp_path / "hub") as hub:
        served = hub.add("datasets", "someone/Tiny")
        shutil.copytree(tiny_benchmark, served, dirs_exist_ok=True)
        yield hub.endpoint, served


def test_download_from_hub_layout(hub_server, tmp_path):
    endpoint, _ = hub_server
    out = tmp_path / "out" / "Tiny"
    result = materialise_cli("Tiny", tmp_path / "empty", out, "--repo", "someone/Tiny", "--endpoint", endpoint)
    assert result.returncode == 0, result.stderr
    assert len(load_benchmark(out).queries) == 3
    assert json.loads((out / "query_types.json").read_text())["q2"] == "document"


def test_download_without_types_file(hub_server, tmp_path):
    endpoint, served = hub_server
    (served / "types.json").unlink()
    out = tmp_path / "out" / "Tiny"
    result = materialise_cli("Tiny", tmp_path / "empty", out, "--repo", "someone/Tiny", "--endpoint", endpoint)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "query_types.json").read_text()) == {}


def test_download_failure_is_one_line(hub_server, tmp_path):
    endpoint, _ = hub_server
    out = tmp_path / "out" / "Tiny"
    result = materialise_cli("Tiny", tmp_path / "empty", out, "--repo", "someone/Missing", "--endpoint", endpoint)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "capflow data: error: download failed: HTTP 404 for "
        f"{endpoint}/datasets/someone/Missing/resolve/main/candidates.jsonl")
    assert not out.exists()


def test_downloaded_invalid_file_is_rejected(hub_server, tmp_path):
    endpoint, served = hub_server
    write_jsonl(served / "queries.jsonl", [{"id": "q1", "query": "x", "positives": [{"id": "nope", "score": 1}]}])
    out = tmp_path / "out" / "Tiny"
    result = materialise_cli("Tiny", tmp_path / "empty", out, "--repo", "someone/Tiny", "--endpoint", endpoint)
    assert result.returncode == 2
    assert "queries.jsonl:1: query 'q1': positive 'nope' is not a known candidate" in result.stderr
    assert not out.exists()


def test_no_source_names_the_config_key(tmp_path):
    with pytest.raises(UserError, match="data.local_dirs"):
        data.materialise("Tiny", local_dirs=[str(tmp_path)], repo=None)


@pytest.mark.integration
def test_reference_benchmarks_load(benchmark_root):
    zh = load_benchmark(benchmark_root / "CapRetrieval")
    en = load_benchmark(benchmark_root / "CapRetrievalEn")
    assert len(zh.candidate_ids) == len(en.candidate_ids) == 3024
    assert len(zh.queries) == len(en.queries) == 404
    assert sum(1 for q in zh.queries if not q.qrels) == 27
    assigned, unmatched = match_types(zh.queries, zh.types)
    assert (len(assigned), len(unmatched)) == (398, 6)


def test_the_log_names_the_source_and_types_naming_no_query(tiny_benchmark, tmp_path):
    types = {"animal": ["cat", "kitten", "puppy"], "document": ["train ticket", "passport", "visa", "stamp", "map"]}
    (tiny_benchmark / "types.json").write_text(json.dumps(types))
    result = materialise_cli("Tiny", tiny_benchmark.parent, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert f"source of Tiny: the local copy {tiny_benchmark}" in result.stderr
    assert ("types.json: 6 entries name no query of the benchmark, e.g. 'kitten', 'puppy', 'passport', 'visa', "
            "'stamp'\n") in result.stderr


@pytest.mark.parametrize("missing", ["candidates.jsonl", "queries.jsonl"])
def test_an_incomplete_local_copy_is_refused_not_downloaded(hub_server, tiny_benchmark, tmp_path, missing):
    (tiny_benchmark / missing).unlink()
    out = tmp_path / "out"
    result = materialise_cli("Tiny", tiny_benchmark.parent, out, "--repo", "someone/Tiny",
                             "--endpoint", hub_server[0])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"capflow data: error: {tiny_benchmark}: local copy of benchmark 'Tiny' is incomplete: {missing} missing "
        "(complete it or remove the directory to download it)")
    assert not out.exists()
