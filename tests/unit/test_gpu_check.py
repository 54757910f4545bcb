"""The GPU check script (benchmarks/gpu_check.py) runs its three steps; here on the CPU, on 200 captions.

On a GPU machine the same script gives the README's GPU figures; this only keeps it working."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_gpu_check_runs_every_step_on_the_cpu(benchmark_root):
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu",
                             "--limit", "200", "--steps", "2", "--data", str(benchmark_root)],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    titles = [line for line in result.stdout.splitlines() if line.startswith("**")]
    assert titles == ["**Zero-shot MiniLM on CapRetrievalEn, stored dtype vs bf16**", "**2-step finetune, bf16 auto**",
                      "**Two gpu-run --gpus 1 jobs started together**"]
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    headers = [i for i, row in enumerate(rows) if row[0] in ("| dtype", "| bf16", "| devices")]
    assert headers == [0, 3, 5] and len(rows) == 8
    assert [row[0] for row in rows[1:3]] == ["| auto", "| bfloat16"]
    assert rows[4][1] == "2"  # the finetune's steps
