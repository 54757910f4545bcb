"""Benchmark: the whole ``snakemake --cores 8 all`` of the embedded default, from scratch.

Each repeat clones the repository's committed state into a fresh directory and runs the README's
command there, timing the whole call (wall clock, and CPU seconds of all its children). Variants:

* ``default``: as a newcomer runs it (bf16 autocast where the CPU computes in bf16 natively);
* ``fp32``: ``finetune.bf16: "no"``, what a CPU without native bf16 trains in;
* ``avx2``: fp32 with torch, oneDNN and MKL held to AVX2 kernels (``ATEN_CPU_CAPABILITY``,
  ``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``), which stands in for a CPU without AVX512 on
  a machine that has it. Same cores, clock and caches, so read it as an estimate of such a CPU.

``--commits`` times several commits of the repository (default: HEAD), each variant of each. The
runs alternate (every commit's default, fp32, avx2, then the next repeat) so that any load hits all
alike; the figures are medians of the repeats, with ratios to the first commit's first variant. Run
it on a quiet machine:

    .venv/bin/python benchmarks/embedded_default.py --repeats 2 --variants default avx2
    .venv/bin/python benchmarks/embedded_default.py --repeats 2 --variants avx2 --commits HEAD HEAD~1
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
FP32 = "finetune:\n  bf16: \"no\"\n"
VARIANTS = {"default": ("", {}), "fp32": (FP32, {}), "avx2": (FP32, AVX2_ONLY)}


def run_once(commit: str, variant: str, cores: int) -> tuple[float, float, int]:
    """(wall s, CPU s of the snakemake call and its jobs, jobs run) of one run from scratch."""
    config, extra_env = VARIANTS[variant]
    workdir = Path(tempfile.mkdtemp(prefix=f"capflow-bench-{variant}-"))
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(workdir)], check=True)
        subprocess.run(["git", "-C", str(workdir), "checkout", "-q", commit], check=True)
        extra_args = []
        if config:
            (workdir / "bench.yaml").write_text(config)
            extra_args = ["--configfile", "bench.yaml"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        # the clone is not beside shared/, so the reference data is named as a newcomer's checkout finds it
        env = {"CAPFLOW_DATA_DIR": str(REPO.parent / "shared" / "data"), **os.environ, **extra_env}
        result = subprocess.run(["snakemake", "--cores", str(cores), "all", *extra_args], cwd=workdir, env=env,
                                capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SystemExit(f"{commit} {variant}: snakemake failed:\n{result.stderr[-3000:]}")
        done = [line for line in result.stderr.splitlines() if "steps (100%) done" in line]
        jobs = int(done[-1].split(" of ")[1].split()[0]) if done else 0
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return wall, cpu, jobs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["default", "avx2"])
    parser.add_argument("--commits", nargs="+", default=["HEAD"], help="commits of this repository to time")
    args = parser.parse_args()
    commits = {name: subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", name], check=True,
                                    capture_output=True, text=True).stdout.strip() for name in args.commits}

    runs = [(name, variant) for name in args.commits for variant in args.variants]
    times: dict[tuple[str, str], list[tuple[float, float, int]]] = {run: [] for run in runs}
    for repeat in range(args.repeats):
        for name, variant in runs:
            wall, cpu, jobs = run_once(commits[name], variant, args.cores)
            times[name, variant].append((wall, cpu, jobs))
            print(f"repeat {repeat + 1} {name} ({commits[name]}) {variant}: {minutes(wall)} wall, {cpu:.0f} s CPU, "
                  f"{jobs} jobs", flush=True)

    baseline = statistics.median(w for w, _, _ in times[runs[0]])
    print(f"\n| commit | variant | wall (median of {args.repeats}) | CPU | × {runs[0][0]} {runs[0][1]} |")
    print("|---|---|---|---|---|")
    for (name, variant), measured in times.items():
        wall = statistics.median(w for w, _, _ in measured)
        cpu = statistics.median(c for _, c, _ in measured)
        print(f"| {name} ({commits[name]}) | {variant} | {minutes(wall)} | {cpu:.0f} s | {wall / baseline:.2f} |")


if __name__ == "__main__":
    main()
