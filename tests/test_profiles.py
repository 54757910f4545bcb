"""The local profile: Snakemake loads it without flags (profiles/default), and it stays out of the
way of a cluster profile, whose jobs would otherwise lose their GPUs to a login node's count of 0."""

import re

import pytest

from capflow.devices import cluster_run
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
    env = {"CUDA_VISIBLE_DEVICES": "0"}  # one visible GPU: the local profile caps GPU jobs at 1
    bare = run_snakemake(workflow_copy, "-n", "--cores", "16", "all", *PAPER_OOD, env=env)
    assert bare.returncode == 0, bare.stderr[-2000:]
    assert "Using workflow specific profile profiles/default" in bare.stderr
    assert generate_gpus(bare.stdout) == {"1"}  # vLLM's tensor_parallel_size 2, scaled down to the cap
    # the rule's own threads reach the job (the profile sets none): 4, or one CPU's worth of --cores 16
    threads, _ = expected_job_threads(16, 4)
    assert f"threads: {threads}\n" in bare.stdout.split("rule generate:")[1].split("\n\n")[0]

    slurm = run_snakemake(workflow_copy, "-n", "--profile", "workflow/profiles/slurm", "all", *PAPER_OOD, env=env)
    assert slurm.returncode == 0, slurm.stderr[-2000:]
    assert generate_gpus(slurm.stdout) == {"2"}

    opted_out = run_snakemake(workflow_copy, "-n", "--cores", "1", "--workflow-profile", "none", "all", *PAPER_OOD,
                              env=env)
    assert opted_out.returncode == 0 and "profiles/default" not in opted_out.stderr
    assert generate_gpus(opted_out.stdout) == {"2"}
