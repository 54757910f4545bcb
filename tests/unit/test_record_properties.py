"""Generated run files and metrics JSON files through their readers and the steps that read them: each
input is read, or refused with one line naming its file; a refused input leaves no output behind."""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capflow.errors import UserError
from capflow.report import hybrid, mtebjson
from capflow.runrecord import SCHEMA, RunFile, RunRecord, read_checked_run, read_run_record
from capflow.trec import write_trec

from conftest import benchmark_outputs, run_capflow

EXAMPLES = 200
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
QUERY_IDS = ("q1", "q2", "q3")
RUN = {"q1": [("c1", 0.9), ("c3", 0.5)], "q2": [("c4", 1.5), ("c1", -0.25)]}
METRICS = {"ndcg@1": 0.5, "ndcg@5": 0.5, "ndcg@10": 0.5, "recall@100": 1.0}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A validated tiny benchmark (data/) and a dense run with its record (dense/)."""
    root = tmp_path_factory.mktemp("properties")
    source = root / "src" / "Tiny"
    source.mkdir(parents=True)
    (source / "candidates.jsonl").write_text("".join(json.dumps({"id": f"c{i}", "text": f"passage {i}"}) + "\n"
                                                     for i in range(1, 5)))
    queries = [{"id": "q1", "query": "one", "positives": [{"id": "c1", "score": 2}]},
               {"id": "q2", "query": "two", "positives": [{"id": "c4", "score": 1}]},
               {"id": "q3", "query": "three", "positives": []}]
    (source / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (source / "types.json").write_text(json.dumps({"number": ["one", "two", "three"]}))
    made = run_capflow("data", "--name", "Tiny", "--local-dirs", root / "src", *benchmark_outputs(root / "data"),
                       env={"CAPFLOW_DATA_DIR": ""})
    assert made.returncode == 0, made.stderr
    sha256 = write_trec(root / "dense/run.trec", RUN, "dense")
    RunRecord("Tiny", "dense", METRICS, run_file=RunFile.of(RUN, sha256, 2)).write(root / "dense/metrics.json")
    return root


_cases = itertools.count()


def case_dir(root: Path) -> Path:
    folder = root / "cases" / str(next(_cases))
    folder.mkdir(parents=True)
    return folder


def assert_one_line_naming(error: UserError, path: Path) -> None:
    text = str(error)
    assert text.startswith(f"{path}:") and text.isprintable() and len(text) < 2 * len(str(path)) + 200, text


# --- run files ----------------------------------------------------------------------------------------------

scores = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.floats(-10, 10, allow_nan=False).map(lambda s: f"{s:.6f}"),
                   st.sampled_from(["nan", "-inf", "inf", "1e999", "high", "0x1p-2", "1_0", ""]))
fields = st.one_of(st.sampled_from(["q1", "q2", "q3", "x9", "Q0", "c1", "c2", "c3", "c4", "1", "2", "dense"]),
                   st.text(max_size=6))
trec_line = st.one_of(
    st.tuples(st.sampled_from(["q1", "q2", "q3", "x9"]), st.sampled_from(["c1", "c2", "c3", "c4", "c9"]),
              st.integers(1, 5), scores).map(lambda t: f"{t[0]} Q0 {t[1]} {t[2]} {t[3]} dense"),
    st.lists(fields, max_size=8).map(" ".join),
)


@st.composite
def run_file_bytes(draw) -> bytes:
    """A run file: the recorded run cut at a byte or a line, lines built from run tokens, or any bytes."""
    recorded = "".join(f"{q} Q0 {c} {r} {s:.6f} dense\n" for q, hits in RUN.items()
                       for r, (c, s) in enumerate(hits, start=1)).encode()
    kind = draw(st.sampled_from(["cut", "lines", "bytes", "edit"]))
    if kind == "cut":
        return recorded[:draw(st.integers(0, len(recorded)))]
    if kind == "lines":
        ending = draw(st.sampled_from(["\n", "\r\n", "\x0b", "\u2028"]))
        return ending.join(draw(st.lists(trec_line, max_size=6))).encode("utf-8", "surrogatepass")
    if kind == "edit":
        lines = recorded.decode().splitlines(keepends=True)
        index = draw(st.integers(0, len(lines) - 1))
        lines[index] = draw(trec_line) + "\n"
        return "".join(lines).encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=200))


def test_generated_run_files_are_read_only_when_they_are_the_recorded_run(workdir):
    seen = []
    lexical_record = read_run_record(workdir / "dense/metrics.json")

    @SETTINGS
    @given(data=run_file_bytes(), method=st.sampled_from(hybrid.METHODS))
    def check(data: bytes, method: str) -> None:
        seen.append(data)
        folder = case_dir(workdir)
        run_path = folder / "lexical.trec"
        run_path.write_bytes(data)
        try:
            run = read_checked_run(run_path, lexical_record, QUERY_IDS)
        except UserError as error:
            assert_one_line_naming(error, run_path)
        else:
            assert run == RUN and data == (workdir / "dense/run.trec").read_bytes()
        args = argparse.Namespace(benchmark=workdir / "data", lexical=[run_path, workdir / "dense/metrics.json"],
                                  dense=[workdir / "dense/run.trec", workdir / "dense/metrics.json"], method=method,
                                  rrf_k=60, weight=0.5, depth=3, label=None, run=folder / "out/run.trec",
                                  metrics=folder / "out/metrics.json")
        try:
            hybrid.main(args)
        except UserError as error:
            assert_one_line_naming(error, run_path)
            assert not (folder / "out").exists() or not any((folder / "out").iterdir())
        else:
            record = read_run_record(folder / "out/metrics.json")
            assert read_checked_run(folder / "out/run.trec", record, QUERY_IDS)

    check()
    assert len(seen) >= EXAMPLES


# --- metrics JSON ------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
RETRIEVED = {"benchmark": "Tiny", "model": "bm25", "queries": 3, "queries_evaluated": 2, "candidates": 4,
             "metrics": METRICS, "ndcg@10_by_type": {}, "recipe": {"name": "bm25", "kind": "bm25"},
             "run_file": {"sha256": "0" * 64, "queries": 2, "depth": 100}}
HYBRID = {**RETRIEVED, "group": "hybrid", "fusion": {"method": "rrf", "k": 60}, "runs": ["bm25", "dense"]}
KEYS = sorted(SCHEMA["properties"]) + ["metric", "display_name"]


@st.composite
def metrics_objects(draw):
    """A metrics JSON object: a valid record with fields dropped, replaced or added (at the top level or one
    level down), or any JSON value."""
    if draw(st.booleans()):
        return draw(json_values)
    obj = json.loads(json.dumps(draw(st.sampled_from([RETRIEVED, HYBRID]))))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(KEYS))
        action = draw(st.sampled_from(["drop", "replace", "nested"]))
        if action == "drop":
            obj.pop(key, None)
        elif action == "replace" or not isinstance(obj.get(key), dict) or not obj[key]:
            obj[key] = draw(json_values)
        else:
            inner = draw(st.sampled_from(sorted(obj[key]) + ["extra"]))
            obj[key][inner] = draw(json_values)
    return obj


def test_generated_metrics_json_is_a_record_or_one_line_naming_the_file(workdir):
    seen = []

    @SETTINGS
    @given(obj=metrics_objects(), raw=st.one_of(st.none(), st.binary(max_size=60)))
    def check(obj, raw) -> None:
        seen.append(obj)
        folder = case_dir(workdir)
        path = folder / "metrics.json"
        path.write_bytes(raw if raw is not None else json.dumps(obj, allow_nan=True).encode())
        try:
            record = read_run_record(path)
        except UserError as error:
            assert_one_line_naming(error, path)
        else:
            as_read = json.loads(path.read_text())  # NaN may sit in the free-form recipe: compare the texts
            assert json.dumps(record.to_json(), sort_keys=True) == json.dumps(as_read, sort_keys=True)
            assert record.source == path
            assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in record.metrics.values())
        out = folder / "mteb.json"
        try:
            mtebjson.main(argparse.Namespace(run=[("test", path)], dataset_revision="main", languages=["eng-Latn"],
                                             out=out))
        except UserError as error:
            assert_one_line_naming(error, path)
            assert not out.exists()
        else:
            assert json.loads(out.read_text())["scores"]["test"][0]["main_score"] == record.metrics["ndcg@10"]

    check()
    assert len(seen) >= EXAMPLES
