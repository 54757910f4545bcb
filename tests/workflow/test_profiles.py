"""The local profile: Snakemake loads it without flags (profiles/default), and it stays out of the
way of a cluster profile, whose jobs would otherwise lose their GPUs to a login node's count of 0."""

import re

import pytest

from capflow.runtime.devices import cluster_run

from conftest import expected_job_threads, run_snakemake

PAPER_OOD = ("--configfile", "config/paper.yaml", "config/paper-ood.yaml")


def generate_gpus(output: str) -> set[str]:
    """The gpu resource of every planned generate job."""
    jobs = output.split("rule generate:")[1:]
    return {re.search(r"gpu=(\d+)", job).group(1) for job in jobs}


@pytest.mark.parametrize("argv,environ,expected", [
    (["--cores", "16", "all"], {}, False),
    (["--profile", "workflow/profiles/default", "all"], {}, False),
    (["--profile=profiles/default"], {}, False),
    (["--profile", "workflow/profiles/slurm", "all"], {}, True),
    (["--executor", "slurm"], {}, True),
    (["-e", "local", "--cores", "2"], {}, False),
    (["all"], {"SNAKEMAKE_PROFILE": "/etc/snakemake/cluster"}, True),
])
def test_cluster_run_is_read_from_the_command_line(argv, environ, expected):
    assert cluster_run(argv, environ) is expected


def test_bare_snakemake_gets_the_local_profile_and_a_cluster_profile_keeps_its_gpus(workflow_copy):
    two = {"CUDA_VISIBLE_DEVICES": "0,1"}  # two visible GPUs: the local profile caps GPU jobs at 2
    bare = run_snakemake(workflow_copy, "-n", "--cores", "16", "all", *PAPER_OOD, env=two)
    assert bare.returncode == 0, bare.stderr[-2000:]
    assert "Using workflow specific profile profiles/default" in bare.stderr
    assert generate_gpus(bare.stdout) == {"2"}  # vLLM's tensor_parallel_size 2
    # the rule's own threads reach the job (the profile sets none): 4, or one CPU's worth of --cores 16
    threads, _ = expected_job_threads(16, 4)
    assert f"threads: {threads}\n" in bare.stdout.split("rule generate:")[1].split("\n\n")[0]

    one = {"CUDA_VISIBLE_DEVICES": "0"}  # a login node's count must not reach cluster jobs
    slurm = run_snakemake(workflow_copy, "-n", "--profile", "workflow/profiles/slurm", "all", *PAPER_OOD, env=one)
    assert slurm.returncode == 0, slurm.stderr[-2000:]
    assert generate_gpus(slurm.stdout) == {"2"}

    opted_out = run_snakemake(workflow_copy, "-n", "--cores", "1", "--workflow-profile", "none", "all", *PAPER_OOD,
                              env=one)
    assert opted_out.returncode == 0 and "profiles/default" not in opted_out.stderr
    assert generate_gpus(opted_out.stdout) == {"2"}


def test_a_local_run_with_fewer_gpus_than_vllm_shards_over_stops_at_planning(workflow_copy):
    one = run_snakemake(workflow_copy, "-n", "--cores", "16", "all", *PAPER_OOD, env={"CUDA_VISIBLE_DEVICES": "0"})
    assert one.returncode != 0
    assert ("config generate.vllm.tensor_parallel_size is 2, but this run may use 1 GPU(s) (resources gpu=1)"
            in one.stdout + one.stderr), one.stdout[-2000:]
    assert "rule generate:" not in one.stdout and not (workflow_copy / "results").exists()
    # the same machine told so explicitly, and a run that asks for no more than it has
    (workflow_copy / "tp1.yaml").write_text("generate:\n  vllm:\n    tensor_parallel_size: 1\n")
    fits = run_snakemake(workflow_copy, "-n", "--cores", "1", "all", *PAPER_OOD, "tp1.yaml",
                         env={"CUDA_VISIBLE_DEVICES": "0"})
    assert fits.returncode == 0, fits.stdout[-2000:]
    assert generate_gpus(fits.stdout) == {"1"}
