"""A rehearsal's work records scaled to the full configuration (capflow estimate), and the benchmark slice."""

import pytest

from capflow import benchmark as bm
from capflow import worklog
from capflow.estimate import Estimator, job_key, report
from capflow.plan.build import plan_from_files
from capflow.plan.jobs import planned_jobs
from capflow.slicing import BenchmarkSlice

from conftest import run_capflow

PAPER_OOD = ["config/paper.yaml", "config/paper-ood.yaml"]


def rehearsed(root, rule, key, wall, record=None):
    """A rehearsal job's Snakemake benchmark file and, for a heavy job, its log's work record."""
    timing = root / "rehearsal" / "benchmarks" / rule / f"{key}.tsv"
    timing.parent.mkdir(parents=True, exist_ok=True)
    timing.write_text(f"s\th:m:s\tmax_rss\n{wall}\t0:00:00\t100\n")
    if record is not None:
        log = root / "rehearsal" / "logs" / rule / f"{key}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"2026-12-02 10:00:00 INFO capflow.worklog: {record.line()}\nlater lines\n")


@pytest.fixture
def estimator(workflow_copy, monkeypatch):
    monkeypatch.chdir(workflow_copy)
    cut = worklog.WorkRecord("data", {"candidates": 300, "queries": 30}, 0.5,
                             full={"candidates": 3024, "queries": 404}, device="NVIDIA H200")
    rehearsed(workflow_copy, "data", "CapRetrieval", 2.0, cut)  # the data rule's log folder is logs/data
    encode = worklog.WorkRecord("retrieve", {"texts": 330}, 3.3, setup_seconds=4.0, device="NVIDIA H200")
    rehearsed(workflow_copy, "zeroshot", "CapRetrieval/bge-base-zh-v1.5", 10.0, encode)
    train = worklog.WorkRecord("train", {"steps": 2, "pairs": 256}, 1.0, device="NVIDIA H200")
    rehearsed(workflow_copy, "finetune", "ood-sm/seed-0", 20.0, train)
    ask = worklog.WorkRecord("generate", {"passages": 150, "queries": 300}, 6.0, device="NVIDIA H200")
    rehearsed(workflow_copy, "generate", "ood/sm/shard-0", 30.0, ask)
    rehearsed(workflow_copy, "pools", "ood", 5.0, worklog.WorkRecord("pool", {"passages": 160}, 1.6,
                                                                    full={"passages": 100000}))
    rehearsed(workflow_copy, "leakage", "ood", 3.0, worklog.WorkRecord(
        "leakage", {"passages": 160, "kept": 150, "test_captions": 300, "pairs": 48000}, 0.48))
    full, full_report = plan_from_files(PAPER_OOD, workflow_copy)
    rehearsal, rehearsal_report = plan_from_files([*PAPER_OOD, "config/smoke.yaml"], workflow_copy)
    return Estimator(full, rehearsal, rehearsal_report, full_report)


def by_job(estimator):
    return {(e.rule, e.key): e for e in estimator.estimates()}


def test_work_seconds_scale_by_full_over_rehearsed_units_and_the_rest_is_kept(estimator):
    estimates = by_job(estimator)
    # 10 s wall, 3.3 s of it encoding 330 texts; the full benchmark has 3,428 texts
    zeroshot = estimates[("zeroshot", "CapRetrieval/bge-base-zh-v1.5")]
    assert zeroshot.seconds == pytest.approx(10.0 - 3.3 + 3.3 * 3428 / 330)
    assert zeroshot.gpus == 1 and zeroshot.measured
    # 4,000 steps of 128 pairs where 2 steps of 128 took 1 s
    assert estimates[("finetune", "ood/sm/0")].seconds == pytest.approx(20.0 - 1.0 + 1.0 * 4000 * 128 / 256)
    # the pool: 20,000 passages of the 100,000 the source holds; 150 of 160 pass the leakage filter;
    # two shards, 7 SM queries per passage; the rehearsal's shard 0 stands in for shard 1
    per_shard = 20000 * 150 / 160 / 2 * 7
    for shard in ("0", "1"):
        assert estimates[("generate", f"ood/sm/{shard}")].seconds == pytest.approx(30.0 - 6.0 + 6.0 * per_shard / 300)
    assert estimates[("pool", "ood")].seconds == pytest.approx(5.0 - 1.6 + 1.6 * 20000 / 160)
    assert estimates[("leakage", "ood")].seconds == pytest.approx(3.0 - 0.48 + 0.48 * 20000 * 3024 / 48000)
    # a zero-shot job the rehearsal did not run is counted, and said to be missing
    assert not estimates[("zeroshot", "CapRetrieval/bm25")].measured


def test_the_report_gives_each_stage_and_the_total_with_the_hardware(estimator):
    text = report(estimator)
    assert "measured on: NVIDIA H200" in text
    zeroshot = next(line for line in text.splitlines() if line.startswith("| zeroshot |"))
    seconds = 10.0 - 3.3 + 3.3 * 3428 / 330
    assert zeroshot == (f"| zeroshot | 24 (23 not timed) | 10 s per 1,000 texts | {seconds / 3600:.2f} | "
                        f"{seconds / 3600:.2f} |")
    assert next(line for line in text.splitlines() if "**total**" in line).startswith("| **total** | 190 |")


def test_every_full_job_has_a_key_of_its_wildcards(workflow_copy):
    full, report_ = plan_from_files(PAPER_OOD, workflow_copy)
    keys = [job_key(j) for j in planned_jobs(full, report_) if j.rule == "evaluate"]
    assert "EcomRetrieval/ood-kw/seed-0" in keys


def test_an_estimate_without_a_rehearsal_is_one_line(workflow_copy):
    result = run_capflow("estimate", "--configfile", *PAPER_OOD, cwd=workflow_copy)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "capflow estimate: error: no rehearsal results under rehearsal/benchmarks: run the rehearsal first "
        "(snakemake ... --configfile <configs> config/smoke.yaml all)")


def test_work_records_survive_a_log_with_other_lines(tmp_path):
    record = worklog.WorkRecord("retrieve", {"texts": 12}, 0.25, setup_seconds=1.5, full={"texts": 99}, device="CPU")
    log = tmp_path / "job.log"
    log.write_text("start\n" + record.line() + "\n" + worklog.MARK + "{not json\n")
    assert worklog.read(log) == [record]
    assert worklog.read(tmp_path / "missing.log") == []


def test_a_slice_keeps_the_first_queries_and_their_positives_before_other_candidates():
    queries = [bm.Query("q1", "a", {"c5": 2}), bm.Query("q2", "b", {"c1": 1, "c4": 1}), bm.Query("q3", "c", {"c2": 1})]
    benchmark = bm.Benchmark([f"c{i}" for i in range(1, 7)], list("uvwxyz"), queries, {"t": ["a"]})
    cut = BenchmarkSlice(queries=2, candidates=4).apply(benchmark)
    assert [q.id for q in cut.queries] == ["q1", "q2"]
    assert cut.candidate_ids == ["c1", "c2", "c4", "c5"]  # 3 positives, then the first other, in file order
    assert cut.candidate_texts == ["u", "v", "x", "y"]
    assert BenchmarkSlice(queries=1, candidates=0 + 1).apply(benchmark).candidate_ids == ["c5"]
    assert BenchmarkSlice().apply(benchmark) is benchmark
    assert BenchmarkSlice(2, 4).options() == ["--slice-queries", "2", "--slice-candidates", "4"]
