"""Benchmark: a two-thread torch job with spinning (ACTIVE) against sleeping (PASSIVE) OpenMP threads,
alone and beside one busy process.

Each run is a child process (this script with --worker) that encodes the first 1,000
CapRetrievalEn captions with MiniLM in two torch threads (capflow's encoder, batch 32), with
``OMP_WAIT_POLICY`` set before torch loads;
``capflow`` steps default to PASSIVE (capflow/runtime/cpus.py). "busy" starts a ``while True: pass``
process for the run's duration. Policies alternate; figures are medians of the repeats.

    python benchmarks/omp_wait_policy.py [--data ../shared/data] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

POLICIES = ("ACTIVE", "PASSIVE")
REPO = Path(__file__).resolve().parents[1]


def encode_seconds(data: Path) -> float:
    """Worker: seconds to encode the captions (runs in a child process, after OMP_WAIT_POLICY is set)."""
    import torch

    from capflow.benchmark import load_benchmark
    from capflow.encoders import encode, load_encoder, prepared_texts
    from capflow.recipes import load_recipes

    torch.set_num_threads(2)
    recipe = load_recipes(REPO / "config" / "models.yaml")["all-MiniLM-L6-v2"]
    texts = prepared_texts(recipe, load_benchmark(data / "CapRetrievalEn").candidate_texts, "passage", None)[:1000]
    encoder = load_encoder(recipe, device="cpu")
    start = time.perf_counter()
    encode(encoder, texts, 32, show_progress=False)
    return time.perf_counter() - start


def run_once(policy: str, busy: bool, data: Path) -> float:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        result = subprocess.run([sys.executable, __file__, "--worker", "--data", str(data)], capture_output=True,
                                text=True, env={**os.environ, "OMP_WAIT_POLICY": policy, "OMP_NUM_THREADS": "2"})
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"seconds": encode_seconds(args.data)}))
        return

    print(f"| machine load | {' | '.join(POLICIES)} | PASSIVE / ACTIVE |")
    print("|---|---|---|---|")
    for busy in (False, True):
        seconds = {policy: [] for policy in POLICIES}
        for _ in range(args.repeats):
            for policy in POLICIES:
                seconds[policy].append(run_once(policy, busy, args.data))
        medians = {policy: statistics.median(values) for policy, values in seconds.items()}
        print(f"| {'one busy process beside' if busy else 'quiet'} | "
              + " | ".join(f"{medians[p]:.2f} s" for p in POLICIES)
              + f" | {medians['PASSIVE'] / medians['ACTIVE']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
