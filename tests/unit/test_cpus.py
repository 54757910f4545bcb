"""A capflow step never starts more compute threads than the CPUs it may run on."""

import subprocess
import sys

from capflow.runtime.cpus import THREAD_VARIABLES, available_cpus, cap_thread_variables, set_threads


def test_thread_variables_above_the_cpus_are_lowered_to_them():
    environ = {"OMP_NUM_THREADS": "8", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "auto", "PATH": "/bin"}
    changed = cap_thread_variables(environ, cpus=2)
    assert changed == {"OMP_NUM_THREADS": ("8", "2")}
    assert environ == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "auto", "PATH": "/bin"}


def test_threads_given_set_every_variable_and_stay_within_the_cpus():
    environ = {"OMP_NUM_THREADS": "8"}
    set_threads(1, environ, cpus=2)
    assert environ == {**dict.fromkeys(THREAD_VARIABLES, "1"), "OMP_WAIT_POLICY": "PASSIVE"}
    set_threads(4, environ, cpus=2)
    assert environ == {**dict.fromkeys(THREAD_VARIABLES, "2"), "OMP_WAIT_POLICY": "PASSIVE"}


def test_idle_openmp_threads_sleep_unless_the_user_chose_a_policy():
    environ = {}
    set_threads(None, environ, cpus=2)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    environ = {"OMP_WAIT_POLICY": "active"}
    set_threads(2, environ, cpus=2)
    assert environ["OMP_WAIT_POLICY"] == "active"


def torch_threads_of_a_step(tmp_path, options: list[str], omp_num_threads: int) -> int:
    """torch's thread count inside a capflow step run as `capflow <options> threads` (and the
    OpenMP wait policy the step's process started torch with, in policy.txt)."""
    script = ("import sys; from capflow import cli\n"
              "cli.STEPS['threads'] = ('threads_probe', 'print the torch threads')\n"
              f"sys.exit(cli.main({options!r} + ['threads']))\n")
    probe = tmp_path / "threads_probe.py"
    probe.write_text("def configure_parser(parser):\n    pass\n\n"
                     "def main(args):\n    import os, torch\n"
                     "    open('threads.txt', 'w').write(str(torch.get_num_threads()))\n"
                     "    open('policy.txt', 'w').write(os.environ.get('OMP_WAIT_POLICY', 'unset'))\n")
    env = {"OMP_NUM_THREADS": str(omp_num_threads), "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return int((tmp_path / "threads.txt").read_text())


def test_the_command_line_sets_torch_threads_before_torch_loads(tmp_path):
    """Snakemake's OMP_NUM_THREADS for `--cores 8` on fewer CPUs reaches torch lowered to the CPUs;
    --threads replaces it."""
    cpus = available_cpus()
    assert torch_threads_of_a_step(tmp_path, [], cpus + 6) == cpus
    assert torch_threads_of_a_step(tmp_path, ["--threads", "1", "--log", str(tmp_path / "step.log")], cpus + 6) == 1
    assert (tmp_path / "policy.txt").read_text() == "PASSIVE"
