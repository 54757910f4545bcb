"""The report's analyses on the reference data: BM25 on CapRetrieval and CapRetrievalEn, and
all-MiniLM-L6-v2 on CapRetrievalEn encoded once into an embedding cache for the session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capflow.recipes import load_recipes

from conftest import REPO, benchmark_outputs, run_capflow

pytestmark = pytest.mark.integration
# the registry's table labels, as the workflow gives them to the report steps
LABELS = json.dumps({name: recipe.labels() for name, recipe in load_recipes(REPO / "config" / "models.yaml").items()})


def _ok(*args):
    result = run_capflow(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="session")
def runs(benchmark_root, tmp_path_factory) -> Path:
    """data/{benchmark}, z/{benchmark}/{bm25,minilm}/ (run.trec, metrics.json), cache/."""
    root = tmp_path_factory.mktemp("report")
    for name in ("CapRetrieval", "CapRetrievalEn"):
        _ok("data", "--name", name, "--local-dirs", benchmark_root, *benchmark_outputs(root / "data" / name))
    jobs = [("CapRetrieval", "bm25", "zh"), ("CapRetrievalEn", "bm25", "en"),
            ("CapRetrievalEn", "all-MiniLM-L6-v2", "en")]
    for name, model, language in jobs:
        out = root / "z" / name / model
        _ok("retrieve", "--benchmark", root / "data" / name, "--model", model, "--language", language,
            "--cache", root / "cache", "--run", out / "run.trec", "--metrics", out / "metrics.json",
            "--errors", out / "errors.jsonl")
    return root


def run_files(root: Path, name: str, model: str) -> tuple[Path, Path]:
    return root / "z" / name / model / "metrics.json", root / "z" / name / model / "run.trec"


@pytest.fixture(scope="session")
def per_query(runs) -> Path:
    metrics, trecs = zip(*[run_files(runs, n, m) for n, m in (("CapRetrieval", "bm25"), ("CapRetrievalEn", "bm25"),
                                                              ("CapRetrievalEn", "all-MiniLM-L6-v2"))],
                         strict=True)
    out = runs / "per_query.csv"
    _ok("per-query", "--metrics", *metrics, "--runs", *trecs, "--benchmark", "CapRetrieval", runs / "data/CapRetrieval",
        "--benchmark", "CapRetrievalEn", runs / "data/CapRetrievalEn",
        "--query-types", "CapRetrievalEn", runs / "data/CapRetrieval/query_types.json", "--out", out,
        "--labels", LABELS)
    return out


def test_per_query_frame_agrees_with_metrics_json_and_splits_377_queries(runs, per_query):
    from capflow.report.perquery import read_frame

    frame = read_frame(per_query)
    for name, model in (("CapRetrieval", "bm25"), ("CapRetrievalEn", "all-MiniLM-L6-v2")):
        part = frame[(frame.benchmark == name) & (frame.model == model)]
        summary = json.loads(run_files(runs, name, model)[0].read_text())
        for measure in ("ndcg@10", "recall@100"):
            assert part[part.metric == measure].value.mean() == pytest.approx(summary["metrics"][measure], abs=1e-6)
    ndcg = frame[(frame.benchmark == "CapRetrievalEn") & (frame.model == "bm25") & (frame.metric == "ndcg@10")]
    # CapRetrievalEn has no types of its own: it takes CapRetrieval's for the same query ids
    assert ndcg.groupby("query_group").query_id.nunique().to_dict() == {
        "Singleton Entity": 200, "Singleton Event": 20, "Conjunction": 16, "Simple Condition": 105,
        "Complex Condition": 30, "Untyped": 6}


def test_table_3_reproduces_bm25_per_group_numbers(per_query, tmp_path):
    _ok("tables", "query-groups", "--per-query", per_query, "--benchmark", "CapRetrieval", "--md", tmp_path / "g.md",
        "--csv", tmp_path / "g.csv")
    md = (tmp_path / "g.md").read_text()
    assert ("| Model | Entity (200) | Event (20) | Conj. (16) | Simple Cond. (105) | Complex Cond. (30) | Untyped (6) "
            "| All (377) |") in md
    assert "| BM25 | **79.20** | **58.65** | **68.00** | **50.80** | **39.66** | **77.18** | **66.54** |" in md


def test_table_3_paper_layout_shares_add_up(per_query, tmp_path):
    _ok("tables", "query-types", "--per-query", per_query, "--benchmark", "CapRetrievalEn", "--featured",
        "all-MiniLM-L6-v2", "--md", tmp_path / "t3.md", "--tex", tmp_path / "t3.tex", "--csv", tmp_path / "t3.csv")
    import csv

    rows = {r["query type"]: r for r in csv.DictReader(open(tmp_path / "t3.csv", encoding="utf-8"))}
    assert list(rows) == ["Singleton Entity", "Singleton Event", "Conjunction", "Simple Condition",
                          "Complex Condition", "Untyped", "All"]
    assert rows["All"]["Queries"] == "377" and rows["Untyped"]["Queries"] == "6"
    assert rows["All"]["BM25 nDCG@10"] == "70.4428"  # BM25 on CapRetrievalEn (Snowball-stemmed words)
    for row in rows.values():
        shares = [float(v) for k, v in row.items() if k.endswith(("E>B", "E<B", "E=B"))]
        assert sum(shares) == pytest.approx(100.0)
    wins = run_capflow("tables", "query-wins", "--per-query", per_query, "--benchmark", "CapRetrievalEn",
                       "--baseline", "nobody", "--md", tmp_path / "w.md")
    assert wins.returncode == 2 and wins.stderr.strip().endswith("baseline 'nobody' is not in the frame")


def test_table_1_dataset_statistics(runs, tmp_path):
    _ok("tables", "datasets", "--benchmark", "CapRetrieval", runs / "data/CapRetrieval", "zh",
        "--benchmark", "CapRetrievalEn", runs / "data/CapRetrievalEn", "en", "--md", tmp_path / "t1.md")
    md = (tmp_path / "t1.md").read_text()
    for line in ("| Passages | 3,024 | 3,024 |", "| Queries | 404 | 404 |", "| Queries without positives | 27 | 27 |",
                 "| Positives per query, max | 305 | 305 |",
                 # the paper's unit, BERT WordPiece tokens: its ranges, passages 8-75 and queries 1-16
                 "| Passage length, min | 8 | 6 |", "| Passage length, max | 75 | 69 |",
                 "| Passage length, avg | 30.90 | 25.29 |", "| Query length, min | 1 | 1 |",
                 "| Query length, max | 16 | 13 |", "| Query length, avg | 3.78 | 2.84 |"):
        assert line in md
    assert "Lengths in BERT WordPiece tokens (uncased vocabulary of all-MiniLM-L6-v2)" in md


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A qrels.trec as the IR tools take it: {query: {document: label}}."""
    qrels: dict = {}
    for line in path.read_text().splitlines():
        qid, _, cid, label = line.split()
        qrels.setdefault(qid, {})[cid] = int(label)
    return qrels


def test_trec_eval_tie_order_gives_pytrec_evals_number(runs, tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from capflow import metrics
    from capflow.report.perquery import load_benchmark_queries, rankings, read_run

    _ok("qrels", "--benchmark", runs / "data/CapRetrieval", "--out", tmp_path / "qrels.trec")
    qrels = read_qrels(tmp_path / "qrels.trec")
    assert sum(len(v) for v in qrels.values()) == 4683 and len(qrels) == 377
    run = read_run(run_files(runs, "CapRetrieval", "bm25")[1])
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    scored = evaluator.evaluate({q: dict(hits) for q, hits in run.items()})
    trec = sum(v["ndcg_cut_10"] for v in scored.values()) / len(qrels)
    bench = load_benchmark_queries(runs / "data/CapRetrieval")
    ours = {order: metrics.evaluate(rankings(run, order), bench.qrels, [10])[0]["ndcg@10"]
            for order in ("file", "docid")}
    assert round(100 * ours["file"], 2) == 66.54 and round(100 * ours["docid"], 2) == 66.72
    assert trec == pytest.approx(ours["docid"], abs=1e-9)


def test_ranx_and_pytrec_eval_give_capflows_numbers_on_its_files(runs, tmp_path):
    """ranx orders tied scores in no fixed way, trec_eval by document id: given capflow's ranks as scores,
    both give capflow's number (the authors' file order, 66.54); given the scores, pytrec_eval gives the
    document-id order's (66.72), and ranx needs make_comparable for the judged queries BM25 ranks nothing for."""
    ranx = pytest.importorskip("ranx")
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from capflow.report.perquery import read_run

    _ok("qrels", "--benchmark", runs / "data/CapRetrieval", "--out", tmp_path / "qrels.trec")
    qrels = read_qrels(tmp_path / "qrels.trec")
    run = read_run(run_files(runs, "CapRetrieval", "bm25")[1])
    by_rank = {q: {doc: 1.0 / rank for rank, (doc, _) in enumerate(hits, 1)} for q, hits in run.items()}
    with pytest.raises(AssertionError, match="make_comparable"):  # ranx checks with an assert
        ranx.evaluate(ranx.Qrels(qrels), ranx.Run(by_rank), "ndcg@10")
    assert round(100 * ranx.evaluate(ranx.Qrels(qrels), ranx.Run(by_rank), "ndcg@10", make_comparable=True), 2) \
        == 66.54
    assert round(100 * pytrec_eval_mean(pytrec_eval, tmp_path / "qrels.trec", by_rank)[0], 2) == 66.54
    by_score = {q: dict(hits) for q, hits in run.items()}
    assert round(100 * pytrec_eval_mean(pytrec_eval, tmp_path / "qrels.trec", by_score)[0], 2) == 66.72


def pytrec_eval_mean(pytrec_eval, qrels_path: Path, run: dict, measure: str = "ndcg_cut_10") -> tuple[float, int]:
    """pytrec_eval's mean over every judged query of the qrels, a query the run leaves out counted as 0
    (as capflow and the paper count it), and how many queries it scored."""
    qrels = read_qrels(qrels_path)
    scored = pytrec_eval.RelevanceEvaluator(qrels, {measure.rsplit("_", 1)[0]}).evaluate(
        {q: dict(hits) for q, hits in run.items()})
    return sum(v[measure] for v in scored.values()) / len(qrels), len(scored)


def test_a_test_view_run_scores_the_same_in_pytrec_eval_with_its_own_qrels(runs, tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from capflow import metrics
    from capflow.report.perquery import load_benchmark_queries, rankings, read_run
    from capflow.runrecord import read_run_record

    view = tmp_path / "testview" / "CapRetrievalEn"
    _ok("testview", "--benchmark-dir", runs / "data/CapRetrievalEn", "--holdout", "1000", *benchmark_outputs(view),
        "--stats", view / "testview.json", "--heldout", view / "heldout.jsonl")
    out = tmp_path / "run"
    _ok("retrieve", "--benchmark", view, "--benchmark-name", "CapRetrievalEn", "--view", "test view", "--model",
        "bm25", "--language", "en", "--run", out / "run.trec", "--metrics", out / "metrics.json", "--errors",
        out / "errors.jsonl")
    _ok("qrels", "--benchmark", view, "--out", view / "qrels.trec")
    record = read_run_record(out / "metrics.json")
    assert (record.benchmark, record.view, record.benchmark_label) == (
        "CapRetrievalEn", "test view", "CapRetrievalEn (test view)")
    run = read_run(out / "run.trec")
    bench = load_benchmark_queries(view)
    judged = sum(1 for q in bench.queries if q.qrels)
    trec, scored = pytrec_eval_mean(pytrec_eval, view / "qrels.trec", run)
    ours = metrics.evaluate(rankings(run, "docid"), bench.qrels, [10])[0]["ndcg@10"]
    assert trec == pytest.approx(ours, abs=1e-9)
    assert record.queries_evaluated == judged and scored < judged  # BM25 ranks nothing for some queries


def test_english_error_categories_match_query_words_after_stemming(runs, tmp_path):
    """MiniLM on CapRetrievalEn against BM25: 303 of the misses that would be "semantic" with plain word
    matching contain an inflected query word, and count as literal once stemmed as BM25 stems."""
    import collections
    import csv

    metrics_path, run_path = run_files(runs, "CapRetrievalEn", "all-MiniLM-L6-v2")
    _ok("error-analysis", "--benchmark", runs / "data/CapRetrievalEn", "--language", "en", "--lexical-run",
        run_files(runs, "CapRetrievalEn", "bm25")[1], "--metrics", metrics_path, "--runs", run_path,
        "--out", tmp_path / "errors.csv", "--sheet", tmp_path / "sheet.csv")
    counts = collections.Counter(row["category"] for row in csv.DictReader((tmp_path / "errors.csv").open()))
    assert counts == {"literal": 1579, "semantic": 1669, "fp_shared_term": 833, "fp_other": 639}


def test_mteb_json(runs, tmp_path):
    from mteb.results import TaskResult

    metrics_path = run_files(runs, "CapRetrieval", "bm25")[0]
    out = tmp_path / "CapRetrieval.json"
    _ok("mteb-json", "--run", "test", metrics_path, "--languages", "cmn-Hans", "--out", out)
    result = TaskResult.from_disk(out)  # mteb's own loader validates it
    entry = result.scores["test"][0]
    assert result.task_name == "CapRetrieval" and entry["main_score"] == entry["ndcg_at_10"] == 0.665435
    assert entry["languages"] == ["cmn-Hans"] and "recall_at_100" in entry and "hit_rate_at_10" in entry
    assert result.dataset_revision == "main" and result.evaluation_time > 0


def test_classification_sweep_from_the_cache(runs, tmp_path):
    metrics_path = run_files(runs, "CapRetrievalEn", "all-MiniLM-L6-v2")[0]
    sweep = tmp_path / "sweep.csv"
    _ok("classification", "--metrics", metrics_path, "--benchmark", "CapRetrievalEn", runs / "data/CapRetrievalEn",
        "--cache", runs / "cache", "--thresholds", "0.4", "0.8", "1.2", "--out", sweep)
    import pandas as pd

    frame = pd.read_csv(sweep)
    assert list(frame.threshold) == [0.4, 0.8, 1.2] and set(frame.no_positive_queries) == {27}
    assert frame.query_recall.is_monotonic_increasing and frame.no_positive_retrieving_nothing.is_monotonic_decreasing
    _ok("tables", "classification", "--sweep", sweep, "--benchmark", "CapRetrievalEn", "--threshold", "0.8",
        "--md", tmp_path / "c.md")
    assert "| all-MiniLM-L6-v2 |" in (tmp_path / "c.md").read_text()
    empty = run_capflow("classification", "--metrics", metrics_path, "--benchmark", "CapRetrievalEn",
                        runs / "data/CapRetrievalEn", "--cache", tmp_path / "empty-cache", "--out", tmp_path / "x.csv")
    assert empty.returncode == 2 and "3024 of 3024 passage texts are not in the embedding cache" in empty.stderr
    assert not (tmp_path / "x.csv").exists()


def test_hybrid_rows_are_scored_like_any_run(runs, tmp_path):
    bm25, dense = run_files(runs, "CapRetrievalEn", "bm25"), run_files(runs, "CapRetrievalEn", "all-MiniLM-L6-v2")
    for method in ("rrf", "minmax"):
        _ok("hybrid", "--benchmark", runs / "data/CapRetrievalEn", "--lexical", bm25[1], bm25[0],
            "--dense", dense[1], dense[0], "--method", method, "--run", tmp_path / method / "run.trec",
            "--metrics", tmp_path / method / "metrics.json")
    rrf = json.loads((tmp_path / "rrf/metrics.json").read_text())
    assert rrf["group"] == "hybrid" and rrf["model"] == "bm25+all-MiniLM-L6-v2-rrf" and rrf["queries_evaluated"] == 377
    # no table labels in the job's output: the report derives them from the runs' models
    assert "display" not in rrf and "params" not in rrf
    assert rrf["runs"] == ["bm25", "all-MiniLM-L6-v2"] and rrf["fusion"] == {"method": "rrf", "k": 60}
    _ok("tables", "zeroshot", "--inputs", bm25[0], dense[0], tmp_path / "rrf/metrics.json",
        tmp_path / "minmax/metrics.json", "--md", tmp_path / "t2.md", "--labels", LABELS)
    table = (tmp_path / "t2.md").read_text()
    assert "| *Hybrid (BM25 + embedding model)* |" in table
    assert "| BM25 + all-MiniLM-L6-v2 (RRF k=60) | 22M | 78.51 | 76.26 | 75.68 |" in table  # README Table 2
    not_a_summary = tmp_path / "list.json"
    not_a_summary.write_text("[1, 2]")
    bad = run_capflow("hybrid", "--benchmark", runs / "data/CapRetrievalEn", "--lexical", bm25[1], not_a_summary,
                      "--dense", dense[1], dense[0], "--method", "rrf", "--run", tmp_path / "bad/run.trec",
                      "--metrics", tmp_path / "bad/metrics.json")
    assert bad.returncode == 2
    assert f"{not_a_summary}: not a metrics JSON (benchmark, model, metrics)" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_inversion_cases_read_every_score_from_the_cache(runs, tmp_path):
    metrics_path = run_files(runs, "CapRetrievalEn", "all-MiniLM-L6-v2")[0]
    out = tmp_path / "inversions.csv"
    _ok("inversions", "--metrics", metrics_path, "--benchmark", "CapRetrievalEn", runs / "data/CapRetrievalEn",
        "--query-types", "CapRetrievalEn", runs / "data/CapRetrieval/query_types.json", "--cache", runs / "cache",
        "--out", out)
    from capflow.report.inversions import read_inversions

    frame = read_inversions(out)
    assert len(frame) == 370  # queries with a label-2 positive
    assert (frame.margin > 0).sum() == (frame.inverted_pairs > 0).sum() == 298
    # the paper's three queries, found by their CapRetrieval text and shown on CapRetrievalEn by the shared ids
    zh = [json.loads(line) for line in (runs / "data/CapRetrieval/queries.jsonl").read_text().splitlines()]
    ids = [q["id"] for q in zh if q["query"] in ("炸鸡", "紫色的花", "西瓜")]
    _ok("tables", "inversions", "--inversions", out, "--benchmark", "CapRetrievalEn", "--always", *ids, "--top", "2",
        "--md", tmp_path / "t7.md", "--tex", tmp_path / "t7.tex")
    md = (tmp_path / "t7.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith(("| Query", "| *"))]
    assert len(rows) == 5 and rows[0].startswith("| Watermelon |") and rows[0].endswith("| 0.54 | 0.44 | 5 |")
    _ok("tables", "inversion-counts", "--inversions", out, "--benchmark", "CapRetrievalEn", "--md", tmp_path / "c.md")
    assert "| Entity (198) |" in (tmp_path / "c.md").read_text()


def test_per_query_frame_is_byte_identical_on_rerun_and_bad_input_is_one_line(runs, per_query, tmp_path):
    metrics_path, trec = run_files(runs, "CapRetrieval", "bm25")
    argv = ["per-query", "--metrics", metrics_path, "--runs", trec, "--benchmark", "CapRetrieval",
            runs / "data/CapRetrieval", "--out"]
    _ok(*argv, tmp_path / "a.csv")
    _ok(*argv, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    bad_run = tmp_path / "bad.trec"
    bad_run.write_text(trec.read_text().splitlines()[0] + "\nq1 Q0 cr.1 2 high bm25\n")
    result = run_capflow("per-query", "--metrics", metrics_path, "--runs", bad_run, "--benchmark", "CapRetrieval",
                         runs / "data/CapRetrieval", "--out", tmp_path / "c.csv")
    assert result.returncode == 2 and not (tmp_path / "c.csv").exists()
    assert result.stderr.strip() == f"capflow per-query: error: {bad_run}:2: score 'high' is not a number"
    result = run_capflow("per-query", "--metrics", metrics_path, "--runs", trec, "--benchmark", "Other",
                         runs / "data/CapRetrieval", "--out", tmp_path / "c.csv")
    assert result.stderr.strip() == (f"capflow per-query: error: {metrics_path}: benchmark 'CapRetrieval' has no "
                                     "--benchmark LABEL DIR")


def test_a_run_cut_at_a_line_boundary_or_of_another_benchmark_is_one_line(runs, tmp_path):
    metrics_path, trec = run_files(runs, "CapRetrieval", "bm25")
    lines = trec.read_text().splitlines(keepends=True)

    def per_query(run):
        result = run_capflow("per-query", "--metrics", metrics_path, "--runs", run, "--benchmark", "CapRetrieval",
                             runs / "data/CapRetrieval", "--out", tmp_path / "pq.csv")
        assert result.returncode == 2 and not (tmp_path / "pq.csv").exists()
        return result.stderr

    # read unchecked, the run's first half scores nDCG@10 37.96 where its metrics.json says 66.54
    half = tmp_path / "half.trec"
    half.write_text("".join(lines[:len(lines) // 2]))
    assert per_query(half) == (f"capflow per-query: error: {half}: ranks 198 queries but its metrics JSON "
                               f"{metrics_path} records 373 (a truncated or changed run?)\n")
    last_cut = tmp_path / "last_cut.trec"
    last_cut.write_text("".join(lines[:-1]))
    assert per_query(last_cut) == (f"capflow per-query: error: {last_cut}: is not the run that its metrics JSON "
                                   f"{metrics_path} scored (the file's SHA-256 differs: changed or truncated)\n")
    english = run_files(runs, "CapRetrievalEn", "bm25")[1]  # the same query ids, another benchmark's run
    assert per_query(english).startswith(f"capflow per-query: error: {english}: ")
