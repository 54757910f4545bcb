"""The Slurm profile against a real single-node Slurm cluster (.ci/slurm/start.sh starts one).

The cluster tests submit real sbatch jobs through snakemake-executor-plugin-slurm, with a workflow
profile derived from workflow/profiles/slurm (the same keys, resources shrunk to fit one small node,
job states read with squeue: the test cluster keeps no accounting database) layered over a site
profile that names the cluster's CPU and GPU partitions and GPU type, as a user's own would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
import yte
from snakemake.profiles import ProfileConfigFileParser

from capflow.runtime.slurm import SlurmSite

from conftest import REPO, expected_job_threads, planned_job_blocks, run_snakemake

SLURM_PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
DEFAULT_PROFILE = REPO / "workflow" / "profiles" / "default" / "config.yaml"
# One run (submission, status checks every few seconds, jobs) must end well within this.
RUN_TIMEOUT_S = 1200  # generous: a loaded 2-core CI machine is slow, and only a hang should fail


def slurm_unavailable() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "Slurm client commands not installed (.ci/slurm/install.sh)"
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 10s (start a cluster with .ci/slurm/start.sh)"
    if states.returncode != 0:
        return f"sinfo does not answer: {states.stderr.strip()} (start a cluster with .ci/slurm/start.sh)"
    if not re.search(r"^(idle|mix|alloc)", states.stdout, flags=re.MULTILINE):
        return f"no Slurm node is up (sinfo states: {states.stdout.split()})"
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)


def parse_profile(path: Path, environ: dict[str, str]) -> dict:
    """The command-line arguments Snakemake makes of a profile, in the given environment."""
    saved = dict(os.environ)
    os.environ.update(environ)
    try:
        with open(path) as handle:
            return dict(ProfileConfigFileParser().parse(handle))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def derive_test_profile(target: Path, *, mem_mb: int = 1000, cpus: int = 1) -> Path:
    """workflow/profiles/slurm made to fit the test node: same keys, smaller numbers, squeue status."""
    with open(SLURM_PROFILE) as handle:
        profile = yte.process_yaml(handle, require_use_yte=True)
    profile["set-threads"] = dict.fromkeys(profile.get("set-threads", {}), cpus)
    for resources in profile.get("set-resources", {}).values():
        for key in ("mem_mb",):
            if key in resources:
                resources[key] = min(resources[key], mem_mb)
        for key in ("cpus_per_gpu", "cpus_per_task"):
            if key in resources:
                resources[key] = cpus
    profile.update({
        "jobs": 4,
        "latency-wait": 10,
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
        "slurm-keep-successful-logs": True,
    })
    return write_profile(target, profile)


# The test cluster's partitions and GPU type (.ci/slurm/slurm.conf.in, gres.conf.in)
TEST_SITE = {"slurm_partition": "cpu", "slurm_gpu_partition": "gpu", "slurm_gpu_model": "testgpu"}


def site_profile(target: Path, *, mem_mb: int = 1000, **settings) -> Path:
    """A user's site profile: Slurm settings (quoted, as resource expressions are) and a memory default."""
    resources = {"mem_mb": mem_mb, **{key: repr(value) for key, value in settings.items()}}
    return write_profile(target, {"default-resources": resources})


def write_profile(target: Path, profile: dict) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    (target / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return target


def submitted_job_ids(log: str) -> dict[str, str]:
    """Rule name -> Slurm job id, from the executor's 'submitted with SLURM jobid' lines."""
    ids = {}
    for match in re.finditer(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_([^/]+)/", log):
        ids.setdefault(match.group(2), []).append(match.group(1))
    return ids


def scontrol_job(job_id: str) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=10)
    assert shown.returncode == 0, shown.stderr
    return dict(field.split("=", 1) for field in shown.stdout.split() if "=" in field)


def run_on_slurm(workdir: Path, profile: Path, *args, site: Path | None = None,
                 env=None) -> subprocess.CompletedProcess:
    """Snakemake with `profile` as the workflow profile, over the `site` profile when one is given."""
    profiles = ["--profile", site, "--workflow-profile", profile] if site else ["--profile", profile]
    try:
        result = run_snakemake(workdir, *profiles, *args, env=env, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        for ids in submitted_job_ids(partial).values():
            subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
        pytest.fail(f"Snakemake on Slurm did not finish within {RUN_TIMEOUT_S}s:\n{partial[-3000:]}")
    assert result.returncode == 0, result.stderr[-5000:]
    return result


# --- the profiles themselves (no cluster needed) ---

def test_slurm_profile_leaves_the_site_settings_to_a_site_profile():
    profile = parse_profile(SLURM_PROFILE, {"CAPFLOW_SLURM_PARTITION": "cpu"})
    assert profile["executor"] == "slurm"
    # profiles merge key by key: a default-resources key here would hide the site profile's
    assert "default-resources" not in profile
    placement = ("slurm_account", "slurm_partition", "gpu_model")
    assert not [entry for entry in profile["set-resources"] if entry.split(":")[1].split("=")[0] in placement]


def test_site_profile_settings_come_before_the_environment():
    site = SlurmSite.resolve({"slurm_partition": "'cpu'", "slurm_gpu_model": "a100"},
                             {"CAPFLOW_SLURM_PARTITION": "other", "CAPFLOW_SLURM_GPU_PARTITION": "gpu",
                              "CAPFLOW_SLURM_ACCOUNT": "proj42"})
    assert site == SlurmSite(account="proj42", partition="cpu", gpu_partition="gpu", gpu_model="a100")


def test_only_jobs_with_gpus_get_the_gpu_partition_and_model():
    site = SlurmSite(account="proj42", partition="cpu", gpu_partition="gpu", gpu_model="a100")
    assert site.placement(0) == {"slurm_account": "proj42", "slurm_partition": "cpu", "gpu_model": None}
    assert site.placement(2) == {"slurm_account": "proj42", "slurm_partition": "gpu", "gpu_model": "a100"}
    # without a GPU partition of its own, a GPU job goes to the CPU jobs' partition; unset means the executor's choice
    assert SlurmSite(partition="all").placement(1) == {"slurm_account": None, "slurm_partition": "all",
                                                       "gpu_model": None}
    assert SlurmSite().placement(0) == {"slurm_account": None, "slurm_partition": None, "gpu_model": None}


GPU_CONFIG = {"zeroshot": {"gpus": 1}, "finetune": {"gpus": 1}, "evaluate": {"gpus": 1}}


def test_planned_jobs_are_placed_by_their_gpus_and_use_at_most_the_cpus(workflow_copy, tmp_path):
    """A dry run of the embedded default with GPUs asked for: each job's partition and GPU model,
    from a site profile and the environment, and its threads under --cores 8."""
    (workflow_copy / "gpus.yaml").write_text(yaml.safe_dump(GPU_CONFIG))
    site = site_profile(tmp_path / "site", slurm_partition="cpu", slurm_gpu_partition="gpu")
    result = run_snakemake(workflow_copy, "-n", "--cores", "8", "--profile", site, "--configfile=gpus.yaml", "all",
                           env={"CAPFLOW_SLURM_GPU_MODEL": "a100", "CAPFLOW_SLURM_PARTITION": "hidden-by-site"},
                           timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    placed = {}
    for job in planned_job_blocks(result.stdout):
        resources = job["resources"]
        if "gpu" in resources:  # every rule that runs as a cluster job
            key = (job["rule"], "bm25" if "bm25" in job["wildcards"] else "dense")
            placed.setdefault(key, set()).add((resources["gpu"], resources["slurm_partition"],
                                               resources.get("gpu_model"), job["threads"],
                                               resources.get("compute_threads")))
    # --cores 8 above the CPUs: a torch job declares one CPU's worth of cores and computes with one thread
    encode, train = expected_job_threads(8, 4), expected_job_threads(8, 8)  # train: the leakage filter's too
    assert placed == {
        ("testview", "dense"): {("0", "cpu", None, 1, None)},
        ("pool", "dense"): {("0", "cpu", None, 1, None)},
        ("leakage", "dense"): {("0", "cpu", None, *train)},
        ("generate", "dense"): {("0", "cpu", None, 1, "1")},
        ("trainset", "dense"): {("0", "cpu", None, 1, None)},
        ("zeroshot", "bm25"): {("0", "cpu", None, 1, "1")},
        ("zeroshot", "dense"): {("1", "gpu", "a100", *encode)},
        ("evaluate", "bm25"): {("0", "cpu", None, 1, "1")},
        ("evaluate", "dense"): {("1", "gpu", "a100", *encode)},
        ("finetune", "dense"): {("1", "gpu", "a100", *train)},
    }, placed


def test_default_profile_caps_gpu_jobs_at_the_visible_devices():
    assert parse_profile(DEFAULT_PROFILE, {"CAPFLOW_GPU_COUNT": "3"})["resources"] == ["gpu=3"]
    assert parse_profile(DEFAULT_PROFILE, {"CAPFLOW_GPU_COUNT": "0"})["resources"] == ["gpu=0"]


# --- a real cluster ---

TRIVIAL_SNAKEFILE = """
rule all:
    input: "cpu.txt", "gpu.txt"

rule cpu_step:
    output: "cpu.txt"
    log: "logs/cpu.log"
    shell: "echo job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-0}} > {output} 2> {log}"

rule gpu_step:
    input: "cpu.txt"
    output: "gpu.txt"
    log: "logs/gpu.log"
    resources: gpu=1
    shell:
        "{python} -m capflow gpu-run --gpus {resources.gpu} --"
        " sh -c 'echo job=$SLURM_JOB_ID gpus=$SLURM_GPUS_ON_NODE cuda=$CUDA_VISIBLE_DEVICES' > {output} 2> {log}"
"""


@pytest.mark.slurm
def test_cpu_and_gpu_jobs_run_as_slurm_jobs(slurm_cluster, tmp_path):
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(TRIVIAL_SNAKEFILE.replace("{python}", sys.executable))
    profile = derive_test_profile(tmp_path / "profile")
    result = run_on_slurm(workdir, profile)

    jobs = submitted_job_ids(result.stderr)
    assert set(jobs) == {"cpu_step", "gpu_step"}, result.stderr[-3000:]
    cpu_out = dict(f.split("=") for f in (workdir / "cpu.txt").read_text().split())
    gpu_out = dict(f.split("=") for f in (workdir / "gpu.txt").read_text().split())
    # each rule ran inside its own Slurm job, the GPU rule with one GPU that gpu-run left as Slurm set it
    assert cpu_out == {"job": jobs["cpu_step"][0], "gpus": "0"}
    assert gpu_out["job"] == jobs["gpu_step"][0]
    assert gpu_out["gpus"] == "1"
    assert gpu_out["cuda"] == "0"
    gpu_job = scontrol_job(jobs["gpu_step"][0])
    assert gpu_job["JobState"] == "COMPLETED"
    assert gpu_job["TresPerJob"] == "gres:gpu:1"
    cpu_job = scontrol_job(jobs["cpu_step"][0])
    assert cpu_job["JobState"] == "COMPLETED"
    assert "gpu" not in cpu_job.get("TresPerJob", "")


def venv_path_env() -> dict[str, str]:
    """Jobs call `capflow`: put this interpreter's scripts first on the PATH Slurm passes on."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


FINETUNE_TARGET = "results/finetune/id-kw/seed-0/train.json"


@pytest.mark.slurm
@pytest.mark.integration
def test_zeroshot_stage_and_a_finetune_run_on_slurm(slurm_cluster, workflow_copy, benchmark_root, tmp_path):
    """The embedded default's zero-shot stage and one finetune (with the jobs before it), all as sbatch jobs,
    the encoders and the finetune asking for a GPU: each job lands on its partition with its GPU request."""
    profile = derive_test_profile(tmp_path / "profile")
    site = site_profile(tmp_path / "site", **TEST_SITE)
    # a few training steps are enough to show the finetune job runs on the cluster
    config = {**GPU_CONFIG, "finetune": {"gpus": 1, "max_steps": 4, "batch_size": 16}}
    (workflow_copy / "short_finetune.yaml").write_text(yaml.safe_dump(config))
    result = run_on_slurm(workflow_copy, profile, "--configfile=short_finetune.yaml", "--",
                          "results/tables/zeroshot.md", FINETUNE_TARGET, site=site, env=venv_path_env())

    jobs = submitted_job_ids(result.stderr)
    counts = {rule: len(ids) for rule, ids in jobs.items()}
    # data downloads and tables are local rules: they run beside Snakemake, not as sbatch jobs; Table 2's
    # batch of tables also holds the analyses of the zero-shot runs
    assert counts == {"zeroshot": 5, "classification_sweep": 2, "inversions": 2, "error_analysis": 2, "testview": 1,
                      "pool": 1, "leakage": 1, "generate": 2, "trainset": 1, "finetune": 1}, counts
    placed = {}
    for ids in jobs.values():
        for job_id in ids:
            job = scontrol_job(job_id)
            assert job["JobState"] == "COMPLETED"
            # the executor's comment: rule_<rule>_wildcards_<values>
            kind = "dense" if "all-MiniLM" in job["Comment"] or "finetune" in job["Comment"] else "cpu"
            placed.setdefault((job["Comment"].split("_wildcards_")[0], kind), set()).add(
                (job["Partition"], job.get("TresPerJob", "")))
    gpu_job = {("gpu", "gres:gpu:testgpu:1")}
    cpu_job = {("cpu", "")}
    assert placed == {("rule_zeroshot", "cpu"): cpu_job, ("rule_zeroshot", "dense"): gpu_job,
                      ("rule_finetune", "dense"): gpu_job, **{(f"rule_{rule}", "cpu"): cpu_job for rule in
                                                             ("classification_sweep", "inversions", "error_analysis",
                                                              "testview", "pool", "leakage", "generate", "trainset")}}
    results = workflow_copy / "results"
    metrics = json.loads((results / "zeroshot/CapRetrieval/bm25/metrics.json").read_text())["metrics"]
    assert [round(100 * metrics[f"ndcg@{k}"], 2) for k in (1, 5, 10)] == [74.40, 69.30, 66.54]
    assert "| BM25 | - | **74.40** | **69.30** | **66.54** |" in (results / "tables/zeroshot.md").read_text()
    summary = json.loads((workflow_copy / FINETUNE_TARGET).read_text())
    assert summary["steps"] == 4 and summary["batch_size"] == 16
    model_dir = workflow_copy / "results/finetune/id-kw/seed-0/model"
    assert (model_dir / "config_sentence_transformers.json").exists()
    assert len((workflow_copy / "results/finetune/id-kw/seed-0/loss.csv").read_text().splitlines()) > 1
