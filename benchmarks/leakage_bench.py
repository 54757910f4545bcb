"""Benchmark: the leakage filter on 40,000 pool passages x a benchmark's 3,024 captions.

The pool is built from the benchmark's own captions (seeded): word/phrase-shuffled, truncated,
concatenated and spliced captions, and near-copies edited at random rates so that many pairs lie
near the threshold. ``capflow leakage`` runs on it as a child process (whole wall time, peak RSS
from wait4), once per ``--exact-from`` value. The baseline, in the same run: rouge-score with a
character tokenizer on a random sample of (passage, caption) pairs, timed and extrapolated to the
full product; its decisions on the sample are checked against the exact rule.

    .venv/bin/python benchmarks/leakage_bench.py --data ../shared/data --benchmark CapRetrieval
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from capflow import benchmark as bm
from capflow.io import write_jsonl
from capflow.leakage import CharTokenizer, parse_fraction, rouge_l

_PHRASE = re.compile(r"[^，。、；：,.;:\s]+[，。、；：,.;:]?|\s+")


def pieces(text: str) -> list[str]:
    """Words (with spacing) for English, punctuation-delimited phrases for Chinese."""
    parts = [p for p in _PHRASE.findall(text) if p.strip()]
    return parts if len(parts) > 1 else list(text)


def join(parts: list[str], text: str) -> str:
    return (" " if " " in text else "").join(parts)


def near_copy(text: str, rate: float, donor: str, rng: random.Random) -> str:
    out = []
    for ch in text:
        roll = rng.random()
        if roll < rate / 2:
            continue  # delete
        out.append(rng.choice(donor) if roll < rate else ch)
    return "".join(out) or text


def synthetic_pool(captions: list[str], size: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pool = []
    for _ in range(size):
        a, b = rng.choice(captions), rng.choice(captions)
        kind = rng.random()
        if kind < 0.25:
            parts = pieces(a)
            rng.shuffle(parts)
            text = join(parts, a)
        elif kind < 0.45:
            keep = max(1, int(len(a) * rng.uniform(0.4, 0.9)))
            start = rng.randint(0, len(a) - keep)
            text = a[start:start + keep]
        elif kind < 0.65:
            text = join([a, b], a)
        elif kind < 0.85:
            text = near_copy(a, rng.uniform(0.05, 0.5), b, rng)
        else:
            pa, pb = pieces(a), pieces(b)
            text = join(pa[: len(pa) // 2] + pb[len(pb) // 2:], a)
        pool.append(text)
    return pool


def run_filter(pool_path: Path, test_dir: Path, threshold: str, exact_from: str, out: Path) -> dict:
    command = [sys.executable, "-m", "capflow", "leakage", "--pool", str(pool_path), "--test", str(test_dir),
               "--threshold", threshold, "--exact-from", exact_from,
               "--out-passages", str(out / "kept.jsonl"), "--report", str(out / "report.json")]
    start = time.perf_counter()
    child = subprocess.Popen(command, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    stderr = child.stderr.read().decode()
    if status != 0:
        raise SystemExit(f"capflow leakage failed:\n{stderr}")
    report = json.loads((out / "report.json").read_text())
    return {"exact_from": exact_from, "wall_s": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "counts": report["counts"],
            "pairs": report["pairs"],
            "histogram": {f"{b['from']:.1f}": b["count"] for b in report["histogram"]["bins"]}}


def rouge_score_baseline(pool: list[str], tests: list[str], threshold: Fraction, pairs: int, seed: int) -> dict:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=CharTokenizer())
    rng = random.Random(seed)
    sample = [(rng.randrange(len(pool)), rng.randrange(len(tests))) for _ in range(pairs)]
    start = time.perf_counter()
    scores = [scorer.score(tests[j], pool[i])["rougeL"].fmeasure for i, j in sample]
    elapsed = time.perf_counter() - start
    disagreements = sum(
        (abs(score - float(rouge_l(pool[i], tests[j]))) > 1e-9) for score, (i, j) in zip(scores, sample))
    per_pair = elapsed / pairs
    return {"pairs": pairs, "seconds": round(elapsed, 3), "us_per_pair": round(per_pair * 1e6, 1),
            "extrapolated_full_product_s": round(per_pair * len(pool) * len(tests)),
            "score_disagreements_with_exact": disagreements,
            "sample_reaching_threshold": sum(1 for s in scores if s >= float(threshold))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CAPFLOW_DATA_DIR", "../shared/data")))
    parser.add_argument("--benchmark", default="CapRetrieval")
    parser.add_argument("--passages", type=int, default=40_000)
    parser.add_argument("--threshold", default="0.7")
    parser.add_argument("--exact-from", nargs="+", default=["0.7", "0.5", "0.3", "0.1"])
    parser.add_argument("--baseline-pairs", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    test_ids, tests = bm.load_candidates(args.data / args.benchmark / bm.CANDIDATES)
    threshold = parse_fraction(args.threshold, "--threshold")
    pool = synthetic_pool(tests, args.passages, args.seed)
    results = {"benchmark": args.benchmark, "passages": len(pool), "test_captions": len(tests),
               "threshold": args.threshold, "cpus": os.cpu_count(),
               "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pool_path = tmp / "pool.jsonl"
        write_jsonl(pool_path, ({"id": f"p{i}", "text": t} for i, t in enumerate(pool)))
        write_jsonl(tmp / "test" / bm.CANDIDATES, ({"id": i, "text": t} for i, t in zip(test_ids, tests)))
        results["filter"] = [run_filter(pool_path, tmp / "test", args.threshold, e, tmp) for e in args.exact_from]
    results["rouge_score_baseline"] = rouge_score_baseline(pool, tests, threshold, args.baseline_pairs, args.seed)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    best = min(run["wall_s"] for run in results["filter"])
    results["speedup_vs_rouge_score"] = round(results["rouge_score_baseline"]["extrapolated_full_product_s"] / best)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
