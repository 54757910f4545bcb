"""GPU check: the paper recipe path on a GPU, in the stored dtype and in bf16, and GPU placement.

Run it whenever a GPU machine is at hand (a few minutes; nothing is downloaded):

    python benchmarks/gpu_check.py [--data ../shared/data] [--device cuda]

1. all-MiniLM-L6-v2 (from its offline package) through ``capflow retrieve``'s dense path on
   CapRetrievalEn, once with ``dtype: auto`` (the checkpoint's stored dtype, as the paper's recipes
   load every model) and once with ``dtype: bfloat16``: encode time, texts/s, nDCG@1/5/10, and the
   largest difference of a cosine score against the stored-dtype run.
2. A 40-step finetune of MiniLM on the device under bf16 autocast (``bf16: auto``): pairs/s.
3. Two jobs started at once through ``capflow gpu-run --gpus 1``: the device each was given and when
   it got it. With two or more GPUs they run side by side on different devices; with one, the
   second waits for the first.

Prints a Markdown table of the figures, with the device's name, for the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# What each gpu-run job prints: the device it was given and when it started and ended.
PROBE = ("import json, os, sys, time; start = time.time(); time.sleep(float(sys.argv[1])); "
         "print(json.dumps({'devices': os.environ.get('CUDA_VISIBLE_DEVICES'), 'start': start, 'end': time.time()}))")


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} visible)"
    return f"{device} ({torch.get_num_threads()} threads)"


def synchronise(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def encode_runs(recipe, benchmark, device: str) -> list[dict]:
    """Retrieval with the recipe in its stored dtype, then in bf16; figures and score differences."""
    import numpy as np

    from capflow import dense, scoring

    rows, reference = [], None
    for dtype in ("auto", "bfloat16"):
        variant = dataclasses.replace(recipe, dtype=dtype)
        dense.search(variant, benchmark.candidate_texts[:64], [q.text for q in benchmark.queries[:8]], 5,
                     device=device)  # warm-up: kernels, allocator
        synchronise(device)
        started = time.perf_counter()
        ranked = dense.search(variant, benchmark.candidate_texts, [q.text for q in benchmark.queries], 100,
                              device=device)
        synchronise(device)
        seconds = time.perf_counter() - started
        run = {q.id: [(benchmark.candidate_ids[i], s) for i, s in hits] for q, hits in zip(benchmark.queries, ranked)}
        summary, _ = scoring.score_run(benchmark, run, {}, None, "CapRetrievalEn")
        scores = {(qid, cid): s for qid, hits in run.items() for cid, s in hits}
        if reference is None:
            reference, difference = scores, 0.0
        else:
            shared = scores.keys() & reference.keys()
            difference = float(np.max([abs(scores[k] - reference[k]) for k in shared])) if shared else float("nan")
        texts = len(benchmark.candidate_texts) + len(benchmark.queries)
        rows.append({"dtype": dtype, "seconds": round(seconds, 2), "texts_per_second": round(texts / seconds, 1),
                     **{f"ndcg@{k}": round(100 * summary["metrics"][f"ndcg@{k}"], 2) for k in (1, 5, 10)},
                     "max_score_difference": round(difference, 5)})
    return rows


def finetune_run(recipe, benchmark, device: str, workdir: Path, steps: int) -> dict:
    """``steps`` steps of 32 pairs (a caption's first words as its query) under bf16 autocast."""
    from capflow import train
    from capflow.io import write_jsonl

    rng = random.Random(0)
    passages = [{"id": cid, "text": text, "source": "CapRetrievalEn"}
                for cid, text in zip(benchmark.candidate_ids, benchmark.candidate_texts)]
    pairs = [{"query": " ".join(p["text"].split()[:4]), "passage_id": p["id"], "kind": "kw"}
             for p in rng.sample(passages, min(1280, len(passages)))]
    write_jsonl(workdir / "passages.jsonl", passages)
    write_jsonl(workdir / "train.jsonl", pairs)
    settings = train.TrainSettings(batch_size=32, max_steps=steps, save_steps=1000, bf16="auto")
    summary = train.train(recipe, settings, train_path=workdir / "train.jsonl",
                          passages_path=workdir / "passages.jsonl", out=workdir / "model",
                          loss_path=workdir / "loss.csv", device=device)
    figures = {key: summary[key]
               for key in ("bf16", "steps", "train_seconds", "pairs_per_second", "passage_max_length")}
    return {**figures, "final_train_loss": round(summary["final_train_loss"], 4)}


def placement_run(seconds: float = 5.0) -> list[dict]:
    """Two `capflow gpu-run --gpus 1` jobs started together; what each was given, and when."""
    with tempfile.TemporaryDirectory() as locks:
        command = [sys.executable, "-m", "capflow", "gpu-run", "--gpus", "1", "--lock-dir", locks, "--",
                   sys.executable, "-c", PROBE, str(seconds)]
        launched = time.time()
        jobs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [job.communicate()[0] for job in jobs]
    if any(job.returncode for job in jobs):
        raise SystemExit(f"gpu-run failed: {outputs}")
    found = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    return [{"devices": f["devices"], "started_after_s": round(f["start"] - launched, 1),
             "ended_after_s": round(f["end"] - launched, 1)} for f in sorted(found, key=lambda f: f["start"])]


def markdown(title: str, rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = [f"**{title}**", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu runs the same steps as a smoke test")
    parser.add_argument("--limit", type=int, help="use only this many captions (a quick smoke test)")
    parser.add_argument("--steps", type=int, default=40, help="finetuning steps (default 40)")
    args = parser.parse_args()

    import torch

    from capflow.benchmark import load_benchmark
    from capflow.recipes import load_recipes

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu for a smoke test")
    recipe = load_recipes(REPO / "config" / "models.yaml")["all-MiniLM-L6-v2"]
    benchmark = load_benchmark(args.data / "CapRetrievalEn")
    if args.limit:
        benchmark = dataclasses.replace(benchmark, candidate_ids=benchmark.candidate_ids[:args.limit],
                                        candidate_texts=benchmark.candidate_texts[:args.limit])
    started = time.perf_counter()
    print(f"device: {device_name(args.device)}; torch {torch.__version__}\n")
    print(markdown("Zero-shot MiniLM on CapRetrievalEn, stored dtype vs bf16", encode_runs(recipe, benchmark,
                                                                                         args.device)))
    with tempfile.TemporaryDirectory() as workdir:
        figures = finetune_run(recipe, benchmark, args.device, Path(workdir), args.steps)
        print(markdown(f"{args.steps}-step finetune, bf16 auto", [figures]))
    print(markdown("Two gpu-run --gpus 1 jobs started together", placement_run()))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
