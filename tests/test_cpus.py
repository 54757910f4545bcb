"""A capflow step never starts more compute threads than the CPUs it may run on."""

import subprocess
import sys

from capflow.cpus import available_cpus, cap_thread_variables


def test_thread_variables_above_the_cpus_are_lowered_to_them():
    environ = {"OMP_NUM_THREADS": "8", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "auto", "PATH": "/bin"}
    changed = cap_thread_variables(environ, cpus=2)
    assert changed == {"OMP_NUM_THREADS": ("8", "2")}
    assert environ == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "auto", "PATH": "/bin"}


def test_the_command_line_caps_torch_threads_at_the_cpus(tmp_path):
    """Snakemake's OMP_NUM_THREADS for `--cores 8` on fewer CPUs reaches torch lowered to the CPUs."""
    script = ("import sys; from capflow import cli\n"
              "cli.STEPS['threads'] = ('threads_probe', 'print the torch threads')\n"
              "sys.exit(cli.main(['threads']))\n")
    probe = tmp_path / "threads_probe.py"
    probe.write_text("def configure_parser(parser):\n    pass\n\n"
                     "def main(args):\n    import torch\n    print(torch.get_num_threads())\n")
    cpus = available_cpus()
    env = {"OMP_NUM_THREADS": str(cpus + 6), "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) == cpus
