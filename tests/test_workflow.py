"""The workflow itself: lint, dry runs of both configurations, config errors, and a real zero-shot run."""

import json
import re

import pytest

from conftest import run_snakemake


def planned_jobs(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def test_lint_passes(workflow_copy):
    result = run_snakemake(workflow_copy, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_default_dry_run_plans_table2(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "all")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    assert jobs["benchmark_data"] == 2 and jobs["zeroshot"] == 4 and jobs["table_zeroshot"] == 1


def test_paper_dry_run_plans_all_twelve_rows(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "all", "--configfile", "config/paper.yaml",
                           "config/paper-ood.yaml")
    assert result.returncode == 0, result.stderr
    assert len(set(re.findall(r"results/zeroshot/CapRetrieval/([^/]+)/metrics.json", result.stdout))) == 12
    assert "results/pools/id/" not in result.stdout and "results/finetune/ood-smkw/seed-0/model" in result.stdout


def test_paper_without_the_id_captions_stops_at_planning(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "--configfile=config/paper.yaml", "all")
    assert result.returncode != 0 and "Job stats:" not in result.stdout
    assert ("pools.id.source.path is not set: point it at your passage file (source kind 'jsonl'), or leave 'id' "
            "out of trainsets.pools (config/paper-ood.yaml runs the paper without the in-domain pool)"
            in result.stdout + result.stderr)


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
    target = ["--cores", "2", "table_zeroshot"]
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
    only_tables = run_snakemake(workflow_copy, "--cores", "1", "table_zeroshot")
    assert only_tables.returncode == 0, only_tables.stderr
    assert planned_jobs(only_tables.stdout + only_tables.stderr).get("zeroshot") is None
    assert {p.name: p.read_bytes() for p in (results / "tables").iterdir()} == tables

    # A forced rerun of one model hits the embedding cache: nothing is encoded again.
    forced = run_snakemake(workflow_copy, "--cores", "1", "--forcerun",
                           "results/zeroshot/CapRetrievalEn/all-MiniLM-L6-v2/metrics.json", "--",
                           "results/zeroshot/CapRetrievalEn/all-MiniLM-L6-v2/metrics.json")
    assert forced.returncode == 0, forced.stderr
    log = (results / "logs" / "zeroshot" / "CapRetrievalEn" / "all-MiniLM-L6-v2.log").read_text()
    assert "passage texts: 3024, cached 3024, to encode 0" in log
    assert ndcg("CapRetrievalEn", "all-MiniLM-L6-v2") == [72.55, 70.64, 70.88]
