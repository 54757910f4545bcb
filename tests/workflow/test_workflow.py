"""The workflow itself: lint, dry runs of both configurations, config errors, and a real zero-shot run."""

import json
import re

import pytest

from capflow.runtime.cpus import available_cpus

from conftest import expected_job_threads, job_stats, planned_job_blocks, run_snakemake


def test_lint_passes(workflow_copy):
    result = run_snakemake(workflow_copy, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_default_dry_run_plans_table2(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "all")
    assert result.returncode == 0, result.stderr
    jobs = job_stats(result.stdout)
    # BM25 and MiniLM on both benchmarks, the authors' English BM25 on CapRetrievalEn
    assert jobs["benchmark_data"] == 2 and jobs["zeroshot"] == 5 and jobs["tables_zeroshot"] == 1
    assert jobs["tables_finetune"] == jobs["figures_zeroshot"] == jobs["figures_finetune"] == 1


def test_the_readme_command_runs_no_more_compute_threads_than_cpus(workflow_copy):
    """`snakemake --cores 8 all` with the local profile loaded by itself: each multi-threaded job
    declares its rule's threads (one CPU's worth when 8 exceeds the CPUs) and computes with that many
    CPUs' threads, so the jobs that fit in 8 cores never compute with more threads than there are CPUs."""
    result = run_snakemake(workflow_copy, "-n", "--cores", "8", "all")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Using workflow specific profile profiles/default" in result.stdout + result.stderr
    threads = {}
    for job in planned_job_blocks(result.stdout):
        if job["rule"] in {"zeroshot", "evaluate", "finetune", "leakage", "generate"}:
            kind = "bm25" if "bm25" in job["wildcards"] else "dense"
            threads.setdefault((job["rule"], kind), set()).add((job["threads"], job["resources"]["compute_threads"]))
    encode, train = expected_job_threads(8, 4), expected_job_threads(8, 8)
    assert threads == {
        ("zeroshot", "bm25"): {(1, "1")}, ("evaluate", "bm25"): {(1, "1")},
        ("generate", "dense"): {(1, "1")},  # heuristic generation
        ("zeroshot", "dense"): {encode}, ("evaluate", "dense"): {encode},
        ("finetune", "dense"): {train}, ("leakage", "dense"): {train},
    }, threads
    if available_cpus() < 8:  # torch jobs and the leakage filter: as many run together as CPUs, one thread each
        assert 8 // train[0] <= available_cpus() and train[1] == "1"


def test_paper_dry_run_plans_all_twelve_rows(workflow_copy):
    # as on a workstation with two GPUs, which vLLM's tensor_parallel_size asks for
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "all", "--resources", "gpu=2", "--configfile",
                           "config/paper.yaml", "config/paper-ood.yaml")
    assert result.returncode == 0, result.stderr
    assert len(set(re.findall(r"results/zeroshot/CapRetrieval/([^/]+)/metrics.json", result.stdout))) == 12
    assert "results/pools/id/" not in result.stdout and "results/finetune/ood-smkw/seed-0/model" in result.stdout


def test_paper_without_the_id_captions_stops_at_planning(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "--configfile=config/paper.yaml", "all")
    assert result.returncode != 0 and "Job stats:" not in result.stdout
    assert ("pools.id.source.path is not set: point it at your passage file (source kind 'jsonl'), or leave 'id' "
            "out of trainsets.pools (config/paper-ood.yaml runs the paper without the in-domain pool)"
            in result.stdout + result.stderr)


def test_paper_generation_pins_the_llm_and_asks_for_the_papers_counts(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "-p", "--cores", "1", "--resources", "gpu=2", "--configfile",
                           "config/paper.yaml", "config/paper-ood.yaml", "--", "results/generate/ood/sm/shard-0.jsonl",
                           "results/generate/ood/kw/shard-0.jsonl")
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [line for line in result.stdout.splitlines() if " generate --passages " in line]
    assert len(commands) == 2
    assert all("--model Qwen/Qwen3-32B --model-revision 9216db5781bf21249d130ec9da846c4624c16137" in c
               for c in commands)
    counts = {re.search(r"--kind (\w+)", c).group(1): re.search(r"--queries-per-passage (\d+)", c).group(1)
              for c in commands}
    assert counts == {"sm": "7", "kw": "13"}


def test_mistyped_config_key_is_a_clear_error(workflow_copy):
    (workflow_copy / "typo.yaml").write_text("zeroshot:\n  model: [bm25]\n")
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "--configfile=typo.yaml")
    assert result.returncode != 0
    assert "unknown config key 'zeroshot.model' (did you mean 'zeroshot.models'?)" in result.stdout + result.stderr


def test_unknown_model_is_named(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "--config", "zeroshot={'models': ['bm25', 'bge-bsae']}")
    assert result.returncode != 0
    assert "config zeroshot.models: unknown model(s) bge-bsae" in result.stdout + result.stderr


@pytest.mark.integration
def test_zeroshot_dag_runs_and_reruns_nothing(workflow_copy, benchmark_root):
    target = ["--cores", "2", "results/tables/zeroshot.md"]
    first = run_snakemake(workflow_copy, *target)
    assert first.returncode == 0, first.stderr[-3000:]
    results = workflow_copy / "results"

    def ndcg(benchmark, model):
        m = json.loads((results / "zeroshot" / benchmark / model / "metrics.json").read_text())["metrics"]
        return [round(100 * m[f"ndcg@{k}"], 2) for k in (1, 5, 10)]

    assert ndcg("CapRetrieval", "bm25") == [74.40, 69.30, 66.54]
    assert ndcg("CapRetrievalEn", "all-MiniLM-L6-v2") == [72.55, 70.64, 70.88]
    md = (results / "tables" / "zeroshot.md").read_text()
    assert "| BM25 | - | **74.40** | **69.30** | **66.54** |" in md
    tables = {p.name: p.read_bytes() for p in (results / "tables").iterdir()}

    again = run_snakemake(workflow_copy, *target)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # Only the tables: delete them and rebuild from the metrics JSON alone.
    for name in tables:
        (results / "tables" / name).unlink()
    only_tables = run_snakemake(workflow_copy, "--cores", "1", "results/tables/zeroshot.md")
    assert only_tables.returncode == 0, only_tables.stderr
    assert job_stats(only_tables.stdout + only_tables.stderr).get("zeroshot") is None
    assert {p.name: p.read_bytes() for p in (results / "tables").iterdir()} == tables

    # A forced rerun of one model hits the embedding cache: nothing is encoded again.
    forced = run_snakemake(workflow_copy, "--cores", "1", "--forcerun",
                           "results/zeroshot/CapRetrievalEn/all-MiniLM-L6-v2/metrics.json", "--",
                           "results/zeroshot/CapRetrievalEn/all-MiniLM-L6-v2/metrics.json")
    assert forced.returncode == 0, forced.stderr
    log = (results / "logs" / "zeroshot" / "CapRetrievalEn" / "all-MiniLM-L6-v2.log").read_text()
    assert "passage texts: 3024, cached 3024, to encode 0" in log
    assert ndcg("CapRetrievalEn", "all-MiniLM-L6-v2") == [72.55, 70.64, 70.88]


def test_a_failed_job_shows_its_one_line_message_on_the_console(workflow_copy, tmp_path):
    bad = tmp_path / "bad" / "CapRetrieval"
    bad.mkdir(parents=True)
    other = bad.parent / "CapRetrievalEn"  # a valid copy, so the prefetch step finds nothing to download
    other.mkdir()
    (other / "candidates.jsonl").write_text('{"id": "c1", "text": "a cat"}\n{"id": "c2", "text": "a dog"}\n')
    (other / "queries.jsonl").write_text('{"id": "q1", "query": "cat", "positives": [{"id": "c1", "score": 1}]}\n')
    (bad / "candidates.jsonl").write_text('{"id": "c1", "text": "a cat"}\n')
    (bad / "queries.jsonl").write_text('{"id": "q1", "query": "cat", "positives": [{"id": "c9", "score": 1}]}\n')
    (workflow_copy / "holdout.yaml").write_text("pools:\n  id:\n    source: {holdout: 1}\n")  # fits the copy
    result = run_snakemake(workflow_copy, "--cores", "1", "--configfile", "holdout.yaml", "--",
                           "results/data/CapRetrieval/queries.jsonl", env={"CAPFLOW_DATA_DIR": str(bad.parent)})
    assert result.returncode != 0
    expected = f"capflow data: error: {bad / 'queries.jsonl'}:1: query 'q1': positive 'c9' is not a known candidate"
    assert expected in result.stderr.splitlines(), result.stderr[-3000:]
    log = workflow_copy / "results" / "logs" / "data" / "CapRetrieval.log"
    assert log.read_text().strip().splitlines()[-1] == expected
    assert not (workflow_copy / "results" / "data" / "CapRetrieval" / "queries.jsonl").exists()
