"""The rehearsal of the paper configuration, end to end, on stand-ins (marker rehearsal; .ci/run runs it).

`config/paper.yaml config/paper-ood.yaml config/smoke.yaml` runs every rule of the paper's DAG. A loopback
hub serves tiny random stand-ins at the paper's repo ids and pinned revisions (tests/fakes/standins); the
prefetch fetches them, the hub is stopped, and every later job runs offline. Generation runs through the
transformers backend with the model id and revision vLLM would get; this machine has no GPU. Then the
same workdir rehearses the in-domain pool from a small caption file, and `capflow estimate` scales the
rehearsal's times to the full configuration.
"""

import json
import re

import pytest
from test_slurm import (  # noqa: F401 - slurm_cluster is a fixture
    TEST_SITE,
    derive_test_profile,
    run_on_slurm,
    scontrol_job,
    site_profile,
    slurm_cluster,
    submitted_job_ids,
    venv_path_env,
)

from capflow.plan.build import plan_from_files
from capflow.plan.jobs import planned_jobs

from conftest import _data_root, copy_workflow, run_capflow, run_snakemake
from fakes.loopback import closed_endpoint
from fakes.standins import paper_standins_hub
from fakes.standins.corpus import passages

pytestmark = pytest.mark.rehearsal

PAPER_OOD = ["config/paper.yaml", "config/paper-ood.yaml"]
# What this machine changes: no GPU, so the LLM runs through the transformers backend on the CPU.
CPU_ONLY = "generate:\n  backend: transformers\n  transformers: {device: cpu, batch_size: 16}\n"




def started_rules(result) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, re.M))


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory, request):
    """A workdir that rehearsed the paper's OOD configuration: (workdir, environment, rules run)."""
    root = tmp_path_factory.mktemp("rehearsal")
    workdir = copy_workflow(root / "wf")
    (workdir / "cpu.yaml").write_text(CPU_ONLY)
    configs = [*PAPER_OOD, "config/smoke.yaml", "cpu.yaml"]
    env = {"HF_HOME": str(root / "hf-home"), "HF_HUB_OFFLINE": "", "HF_DATASETS_OFFLINE": "",
           "CAPFLOW_DATA_DIR": str(_data_root())}
    hub = paper_standins_hub(root / "hub", [workdir / c for c in configs], root=workdir,
                             cache_root=request.config.cache.mkdir("standins"), data_root=_data_root())
    try:
        fetched = run_snakemake(workdir, "--cores", "2", "--configfile", *configs, "--", "prefetch",
                                env={**env, "HF_ENDPOINT": hub.endpoint}, timeout=1200)
    finally:
        hub.__exit__()
    assert fetched.returncode == 0, fetched.stderr[-4000:]

    offline = {**env, "HF_ENDPOINT": closed_endpoint()}
    run = run_snakemake(workdir, "--cores", "2", "--configfile", *configs, "--", "all", env=offline, timeout=2400)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    return workdir, configs, offline, started_rules(fetched) | started_rules(run)


def test_every_rule_of_the_paper_dag_runs_offline_after_the_prefetch(rehearsed):
    workdir, configs, _, ran = rehearsed
    plan, report = plan_from_files([workdir / c for c in PAPER_OOD], workdir)
    assert {job.rule for job in planned_jobs(plan, report)} <= ran
    assert len({job.rule for job in planned_jobs(plan, report)}) == 24
    # every encoder of the paper ranked the slice of each benchmark, from the stand-in at its pinned revision,
    # and CapRetrievalEn's list is its own (the English BGE models, both English BM25s)
    assert "bge-base-en-v1.5" in plan.zeroshot_models("CapRetrievalEn")
    for benchmark in ("CapRetrieval", "CapRetrievalEn"):
        for model in plan.zeroshot_models(benchmark):
            record = json.loads((workdir / f"rehearsal/zeroshot/{benchmark}/{model}/metrics.json").read_text())
            assert record["queries"] == 30, (benchmark, model)
    # the LLM's answers became training queries of both kinds
    stats = json.loads((workdir / "rehearsal/trainsets/ood-smkw/stats.json").read_text())
    assert stats["by_kind"]["sm"]["queries"] > 0 and stats["by_kind"]["kw"]["queries"] > 0, stats
    # the finetuned model was evaluated on the sliced MTEB dev sets
    ecom = json.loads((workdir / "rehearsal/evaluate/EcomRetrieval/ood-kw/seed-0/metrics.json").read_text())
    assert ecom["queries"] == 30
    assert (workdir / "rehearsal/tables/finetune.tex").is_file()


def test_the_in_domain_pool_rehearses_from_a_caption_file(rehearsed):
    workdir, _, offline, _ = rehearsed
    captions = workdir / "captions.jsonl"
    captions.write_text("".join(json.dumps({"id": f"cap{i}", "text": text}, ensure_ascii=False) + "\n"
                                for i, text in enumerate(passages(7, 200, (4, 10)))), encoding="utf-8")
    (workdir / "captions.yaml").write_text(f"pools:\n  id:\n    source: {{path: {captions}}}\n")
    configs = ["config/paper.yaml", "config/smoke.yaml", "cpu.yaml", "captions.yaml"]
    run = run_snakemake(workdir, "--cores", "2", "--configfile", *configs, "--", "all", env=offline, timeout=2400)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    ran = started_rules(run)
    assert {"pool", "leakage", "generate", "trainset", "finetune", "evaluate"} <= ran
    assert "zeroshot" not in ran  # the OOD rehearsal's zero-shot rows stand
    summary = json.loads((workdir / "rehearsal/finetune/id-smkw/seed-0/train.json").read_text())
    assert summary["steps"] == 2


def test_the_estimate_scales_the_rehearsal_to_the_paper(rehearsed):
    workdir, _, _, _ = rehearsed
    result = run_capflow("estimate", "--configfile", *PAPER_OOD, "--out", "estimate.md", cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "measured on: CPU (" in lines[0]
    stages = {line.split(" | ")[0].strip("| ") for line in lines if line.startswith("| ")}
    assert {"zeroshot", "generate", "finetune", "evaluate", "leakage", "pool", "**total**"} <= stages
    finetune = next(line for line in lines if line.startswith("| finetune |"))
    assert "per 1,000 pairs" in finetune and " (" not in finetune.split("|")[2]  # every job rehearsed
    assert (workdir / "estimate.md").read_text().strip() == result.stdout.strip()


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
def test_a_zeroshot_a_generate_and_a_finetune_job_rehearse_on_slurm(rehearsed, tmp_path):
    """The same rehearsal's jobs as sbatch jobs on the test cluster, offline, from the prefetched caches."""
    workdir, configs, offline, _ = rehearsed
    profile = derive_test_profile(tmp_path / "profile")
    site = site_profile(tmp_path / "site", **TEST_SITE)
    targets = ["rehearsal/zeroshot/CapRetrieval/bge-base-zh-v1.5/metrics.json",
               "rehearsal/generate/ood/kw/shard-0.jsonl", "rehearsal/finetune/ood-kw/seed-0/train.json"]
    result = run_on_slurm(workdir, profile, "--configfile", *configs, "--forcerun", "zeroshot", "generate",
                          "finetune", "--", *targets, site=site, env={**offline, **venv_path_env()})
    jobs = submitted_job_ids(result.stderr)
    assert {rule: len(ids) for rule, ids in jobs.items()} == {"zeroshot": 1, "generate": 1, "trainset": 1,
                                                             "finetune": 1}, jobs
    for rule, ids in jobs.items():
        job = scontrol_job(ids[0])
        assert job["JobState"] == "COMPLETED", (rule, job)
        assert job["Partition"] == ("gpu" if rule in ("zeroshot", "finetune") else "cpu"), (rule, job)
    assert json.loads((workdir / targets[2]).read_text())["steps"] == 2
