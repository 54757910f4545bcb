"""A run's record (metrics.json): one writer, one validated reader, and run files checked against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capflow.errors import UserError
from capflow.io import write_json
from capflow.report.labels import labelled
from capflow.runrecord import SCHEMA, RunFile, RunRecord, read_checked_run, read_run_record
from capflow.trec import write_trec

from conftest import benchmark_outputs, run_capflow

METRICS = {"ndcg@1": 0.5, "ndcg@5": 0.5, "ndcg@10": 0.665435, "recall@100": 1.0}
# what the retrieve step wrote before records carried a run digest (write_json of this object)
RETRIEVED = {"benchmark": "Cap", "model": "ood-kw-seed0", "base_model": "all-MiniLM-L6-v2", "queries": 3,
             "queries_evaluated": 2, "candidates": 4, "metrics": METRICS, "ndcg@10_by_type": {"untyped": 0.665435},
             "macro_prf_within_run": {"score": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5},
             "recipe": {"name": "all-MiniLM-L6-v2", "kind": "dense", "pooling": "mean"}}
HYBRID = {"benchmark": "Cap", "model": "bm25+m-rrf", "group": "hybrid", "fusion": {"method": "rrf", "k": 60},
          "runs": ["bm25", "m"], "queries": 3, "queries_evaluated": 2, "candidates": 4, "metrics": METRICS,
          "ndcg@10_by_type": {}}
LABELS = {"bm25": {"display": "BM25", "group": "lexical", "params": "-"},
          "m": {"display": "MiniLM", "group": "small", "params": "22M"},
          "all-MiniLM-L6-v2": {"display": "MiniLM", "group": "small", "params": "22M"}}


def written(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize("obj", [RETRIEVED, HYBRID], ids=["retrieve", "hybrid"])
def test_a_record_is_written_byte_identical_to_the_object_it_was_read_from(tmp_path, obj):
    write_json(tmp_path / "before.json", obj)
    read_run_record(tmp_path / "before.json").write(tmp_path / "after.json")
    assert (tmp_path / "after.json").read_bytes() == (tmp_path / "before.json").read_bytes()
    digest = {"sha256": "ab" * 32, "queries": 2, "depth": 100}
    record = RunRecord.from_json({**obj, "run_file": digest})
    assert record.run_file == RunFile("ab" * 32, 2, 100) and record.to_json() == {**obj, "run_file": digest}


def test_the_schema_names_every_field_of_the_record():
    import dataclasses

    names = {f.metadata.get("json", f.name) for f in dataclasses.fields(RunRecord)} - {None}
    assert names == set(SCHEMA["properties"])


@pytest.mark.parametrize(("change", "message"), [
    ({"metrics": None}, "metrics JSON lacks field 'metrics'"),
    ({"model": None}, "metrics JSON lacks field 'model'"),
    ({"queries": "3"}, "metrics JSON field 'queries' must be an integer"),
    ({"queries_evaluated": True}, "metrics JSON field 'queries_evaluated' must be an integer"),
    ({"metrics": {"ndcg@10": "0.66"}}, "metrics JSON field 'metrics.ndcg@10' must be a number"),
    ({"metrics": {"ndcg@10": float("nan")}}, "metrics JSON field 'metrics.ndcg@10' must be a finite number"),
    ({"metric": {}}, "metrics JSON has an unknown field 'metric'"),
    ({"fusion": {"method": "rrf"}, "runs": ["bm25", "m"]}, "metrics JSON lacks field 'fusion.k'"),
    ({"fusion": {"method": "rrf", "k": 60}}, "metrics JSON has 'fusion' without 'runs'"),
    ({"run_file": {"sha256": "x", "queries": 2, "depth": 100}},
     "metrics JSON field 'run_file.sha256' must be 64 lowercase hex digits (a SHA-256)"),
    ({"metrics": {"ndcg@10": 1.5}}, "metrics JSON field 'metrics.ndcg@10' must be at most 1"),
    ({"runs": ["bm25"], "fusion": {"method": "rrf", "k": 60}}, "metrics JSON field 'runs' must hold 2 items"),
    ({"fusion": {"method": "sum"}, "runs": ["bm25", "m"]},
     "metrics JSON field 'fusion.method' must be one of 'rrf', 'minmax'"),
    ({"metrics": {"ndcg@10\u2028": "x"}}, "metrics JSON field 'metrics.ndcg@10\\u2028' must be a number"),
])
def test_a_missing_or_mistyped_field_is_one_line_naming_the_file_and_the_field(tmp_path, change, message):
    obj = {k: v for k, v in {**RETRIEVED, **change}.items() if v is not None}
    path = written(tmp_path / "metrics.json", obj)
    with pytest.raises(UserError) as caught:
        read_run_record(path)
    assert str(caught.value) == f"{path}: {message}"


def test_not_an_object_is_not_a_record(tmp_path):
    path = written(tmp_path / "list.json", [1, 2])
    with pytest.raises(UserError, match=r"list.json: not a metrics JSON \(benchmark, model, metrics\)$"):
        read_run_record(path)


def test_the_display_name_is_answered_once_by_the_record_and_its_labels():
    finetuned = RunRecord.from_json(RETRIEVED)
    assert finetuned.display_name == "ood-kw-seed0"  # no labels: the model name
    assert labelled(finetuned, LABELS).display_name == "MiniLM"  # a finetuned model shows its base model's
    assert labelled(finetuned, LABELS).params == "22M"
    hybrid = labelled(RunRecord.from_json(HYBRID), LABELS)
    assert (hybrid.display_name, hybrid.group, hybrid.params) == ("BM25 + MiniLM (RRF k=60)", "hybrid", "22M")
    minmax = {**HYBRID, "fusion": {"method": "minmax", "weight": 0.25}}
    assert labelled(RunRecord.from_json(minmax), {}).display_name == "bm25 + m (min-max, w=0.25)"


# --- run files against their record ----------------------------------------------------------------------

RUN = {"q1": [("c1", 0.9), ("c3", 0.5), ("c2", 0.1)], "q2": [("c4", 1.5), ("c1", 0.2)], "q3": []}
QUERY_IDS = ("q1", "q2", "q3")


@pytest.fixture
def recorded(tmp_path) -> tuple[Path, RunRecord]:
    run_path = tmp_path / "run.trec"
    sha256 = write_trec(run_path, RUN, "m")
    record = RunRecord("Tiny", "m", METRICS, run_file=RunFile.of(RUN, sha256, 3), source=tmp_path / "metrics.json")
    return run_path, record


def test_the_run_a_record_scored_is_read(recorded):
    run_path, record = recorded
    assert record.run_file.queries == 2  # q3 ranks nothing: it has no line
    assert read_checked_run(run_path, record, QUERY_IDS) == {q: hits for q, hits in RUN.items() if hits}


def rewrite(path: Path, keep) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for i, line in enumerate(lines) if keep(i, line)))


@pytest.mark.parametrize(("edit", "message"), [
    # cut at a line boundary: the same queries, one candidate fewer
    (lambda i, line: i != 4, "is not the run that its metrics JSON {record} scored (the file's SHA-256 differs: "
                             "changed or truncated)"),
    (lambda i, line: not line.startswith("q2 "), "ranks 1 queries but its metrics JSON {record} records 2 "
                                                 "(a truncated or changed run?)"),
])
def test_a_truncated_run_is_one_line_naming_the_run_file(recorded, edit, message):
    run_path, record = recorded
    rewrite(run_path, edit)
    with pytest.raises(UserError) as caught:
        read_checked_run(run_path, record, QUERY_IDS)
    assert str(caught.value) == f"{run_path}: " + message.format(record=record.source)


def test_a_run_of_another_benchmark_nan_scores_or_a_deeper_run_are_refused(recorded):
    run_path, record = recorded
    run_path.write_text("x1 Q0 c1 1 0.5 m\n")
    with pytest.raises(UserError, match=r"run.trec: query 'x1' is not in benchmark 'Tiny' \(a run of another "
                                        r"benchmark\?\)$"):
        read_checked_run(run_path, record, QUERY_IDS)
    run_path.write_text("q1 Q0 c1 1 0.5 m\nq1 Q0 c2 2 nan m\n")
    with pytest.raises(UserError, match=r"run.trec:2: score 'nan' is not a finite number$"):
        read_checked_run(run_path, record, QUERY_IDS)
    run_path.write_text("q1 Q0 c1 1 0.5 m\nq1 Q0 c1 2 0.4 m\n")
    with pytest.raises(UserError, match=r"run.trec:2: candidate 'c1' is ranked twice for query 'q1'$"):
        read_checked_run(run_path, record, QUERY_IDS)
    write_trec(run_path, {"q1": [("c1", 0.4), ("c2", 0.3), ("c3", 0.2), ("c4", 0.1)], "q2": [("c4", 1.0)]}, "m")
    with pytest.raises(UserError, match=r"run.trec: query 'q1' has 4 ranked candidates, more than the depth 3 that "
                                        r"its metrics JSON .*metrics.json records$"):
        read_checked_run(run_path, record, QUERY_IDS)


def test_a_record_without_a_run_digest_cannot_vouch_for_a_run(recorded):
    run_path, record = recorded
    import dataclasses

    with pytest.raises(UserError, match=r"metrics.json: records no digest of its run file \(written by an older "
                                        r"capflow\): rerun the job that wrote it$"):
        read_checked_run(run_path, dataclasses.replace(record, run_file=None), QUERY_IDS)


# --- the steps that read run files ------------------------------------------------------------------------

@pytest.fixture
def tiny_runs(tmp_path, tiny_benchmark) -> Path:
    """data/ (the tiny benchmark), bm25/ and dense/ (run.trec, metrics.json) written as retrieve writes them."""
    from capflow.benchmark import load_benchmark
    from capflow.scoring import score_run, summary_record

    made = run_capflow("data", "--name", "Tiny", "--local-dirs", tiny_benchmark.parent,
                       *benchmark_outputs(tmp_path / "data"), env={"CAPFLOW_DATA_DIR": ""})
    assert made.returncode == 0, made.stderr
    benchmark = load_benchmark(tmp_path / "data")
    runs = {"bm25": {"q1": [("c1", 3.0), ("c2", 2.0)], "q2": [("c4", 1.7)]},
            "dense": {"q1": [("c3", 0.9), ("c1", 0.8), ("c2", 0.1)], "q2": [("c2", 0.5), ("c4", 0.4)],
                      "q3": [("c2", 0.3)]}}
    for model, run in runs.items():
        summary, _ = score_run(benchmark, run, {})
        sha256 = write_trec(tmp_path / model / "run.trec", run, model)
        summary_record(summary, benchmark="Tiny", model=model,
                       run_file=RunFile.of(run, sha256, 3)).write(tmp_path / model / "metrics.json")
    return tmp_path


def per_query(root: Path, run: Path, out: Path):
    return run_capflow("per-query", "--metrics", root / "dense/metrics.json", "--runs", run,
                       "--benchmark", "Tiny", root / "data", "--out", out)


def test_per_query_refuses_a_run_cut_at_a_line_boundary(tiny_runs):
    assert per_query(tiny_runs, tiny_runs / "dense/run.trec", tiny_runs / "ok.csv").returncode == 0
    run = tiny_runs / "dense/run.trec"
    rewrite(run, lambda i, line: i != 1)  # q1 loses its second candidate
    result = per_query(tiny_runs, run, tiny_runs / "pq.csv")
    assert result.returncode == 2 and not (tiny_runs / "pq.csv").exists()
    assert result.stderr.strip() == (f"capflow per-query: error: {run}: is not the run that its metrics JSON "
                                     f"{tiny_runs / 'dense/metrics.json'} scored (the file's SHA-256 differs: "
                                     "changed or truncated)")
    result = per_query(tiny_runs, tiny_runs / "bm25/run.trec", tiny_runs / "pq.csv")  # another model's run
    assert result.returncode == 2 and "bm25/run.trec: ranks 2 queries but its metrics JSON" in result.stderr


def hybrid(root: Path, *options):
    return run_capflow("hybrid", "--benchmark", root / "data", "--lexical", root / "bm25/run.trec",
                       root / "bm25/metrics.json", "--dense", root / "dense/run.trec", root / "dense/metrics.json",
                       "--run", root / "h/run.trec", "--metrics", root / "h/metrics.json", *options)


def test_hybrid_refuses_nan_scores_and_a_negative_rrf_k_in_one_line(tiny_runs):
    result = hybrid(tiny_runs, "--method", "rrf", "--rrf-k", "-1")
    assert result.returncode == 2 and not (tiny_runs / "h").exists()
    assert result.stderr == "capflow hybrid: error: --rrf-k must be at least 0, got -1\n"
    run = tiny_runs / "bm25/run.trec"
    run.write_text(run.read_text().replace("2.000000", "nan"))
    result = hybrid(tiny_runs, "--method", "minmax")
    assert result.returncode == 2 and not (tiny_runs / "h").exists()
    assert result.stderr == f"capflow hybrid: error: {run}:2: score 'nan' is not a finite number\n"


def test_a_hybrid_record_carries_its_run_digest_and_its_run_is_checked_like_any(tiny_runs):
    assert hybrid(tiny_runs, "--method", "rrf", "--depth", "2").returncode == 0
    record = read_run_record(tiny_runs / "h/metrics.json")
    assert record.runs == ("bm25", "dense") and record.fusion == {"method": "rrf", "k": 60}
    assert (record.run_file.queries, record.run_file.depth) == (3, 2)
    import hashlib

    assert record.run_file.sha256 == hashlib.sha256((tiny_runs / "h/run.trec").read_bytes()).hexdigest()
    run = read_checked_run(tiny_runs / "h/run.trec", record, QUERY_IDS)
    # c1 1/61 + 1/62, c2 1/62 + 1/63, c3 1/61: the depth keeps two
    assert [c for c, _ in run["q1"]] == ["c1", "c2"]
