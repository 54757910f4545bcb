"""Benchmark: CPU training throughput of ``capflow train`` against a plain sentence-transformers fit.

Both train the same model on the same pairs with the same batch size and number of steps, each in
a child process of its own (so each has its own peak RSS):

* ``capflow``: ``capflow.train.build_trainer`` as ``capflow train`` runs it: InfoNCE at
  temperature 0.02, batches without duplicate passages, queries/passages truncated to 32/128 tokens,
  bf16 autocast where the CPU has native bf16 (``bf16: auto``);
* ``capflow-fp32``: the same with ``bf16: no``, to show what the trainer's own choices cost;
* ``plain``: the SentenceTransformerTrainer with default settings (default batch sampler, default
  loss scale, the model's own maximum length, the default AdamW) and ``MultipleNegativesRankingLoss``.

The runs alternate (capflow, capflow-fp32, plain, capflow, ...) so that load from other processes
hits all alike; each reports pairs/s over ``trainer.train()`` (model loading excluded) and the
median step time after the first step. The ratios are pairs/s over plain's, medians of the repeats.

    .venv/bin/python benchmarks/train_throughput.py --train results/trainsets/id-smkw/train.jsonl \
        --passages results/pools/id/passages.jsonl --steps 20 --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ("capflow", "capflow-fp32", "plain")


def load_columns(args, recipe):
    from capflow.train import pairs as train_pairs

    texts = train_pairs.load_pool_texts(args.passages)
    pairs = train_pairs.load_pairs(args.train, texts)
    return train_pairs.pair_columns(recipe, pairs, texts, None)


def worker(args) -> dict:
    import torch
    from transformers import TrainerCallback

    from capflow import encoders
    from capflow import train as tr
    from capflow.recipes import load_recipes
    from capflow.train import trainer as training

    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = dataclasses.replace(load_recipes(args.models)[args.model], dtype="float32")
    columns = load_columns(args, recipe)
    model = encoders.load_encoder(recipe, device="cpu")
    step_times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.started = time.perf_counter()

        def on_step_end(self, *a, **k):
            step_times.append(time.perf_counter() - self.started)

    with tempfile.TemporaryDirectory() as tmp:
        if args.worker.startswith("capflow"):
            settings = tr.TrainSettings(batch_size=args.batch_size, max_steps=args.steps, save_steps=10**9,
                                        bf16="no" if args.worker == "capflow-fp32" else "auto")
            trainer = training.build_trainer(model, columns, None, settings, Path(tmp), "cpu", [StepTimer()])
        else:
            from datasets import Dataset
            from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
            from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

            train_args = SentenceTransformerTrainingArguments(
                output_dir=tmp, per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=0)
            trainer = SentenceTransformerTrainer(model=model, args=train_args, train_dataset=Dataset.from_dict(columns),
                                                 loss=MultipleNegativesRankingLoss(model), callbacks=[StepTimer()])
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    return {"variant": args.worker, "threads": torch.get_num_threads(), "bf16": bool(trainer.args.bf16),
            "seconds": round(seconds, 2),
            "pairs_per_second": round(args.steps * args.batch_size / seconds, 2),
            "median_step_s": round(statistics.median(step_times[1:] or step_times), 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=Path("results/trainsets/id-smkw/train.jsonl"))
    parser.add_argument("--passages", type=Path, default=Path("results/pools/id/passages.jsonl"))
    parser.add_argument("--models", type=Path, default=Path("config/models.yaml"))
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads per run (default: torch's choice)")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    for repeat in range(args.repeats):
        for variant in runs:
            command = [sys.executable, __file__, "--worker", variant, "--train", str(args.train), "--passages",
                       str(args.passages), "--models", str(args.models), "--model", args.model, "--batch-size",
                       str(args.batch_size), "--steps", str(args.steps)] + (
                ["--threads", str(args.threads)] if args.threads else [])
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{variant} run failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[variant].append(result)
            print(f"run {repeat + 1} {variant}: {result}", flush=True)
    summary = {variant: {"pairs_per_second": statistics.median(r["pairs_per_second"] for r in results),
                         "median_step_s": statistics.median(r["median_step_s"] for r in results),
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}
               for variant, results in runs.items()}
    for variant in ("capflow", "capflow-fp32"):
        summary[f"ratio_{variant}_over_plain"] = round(summary[variant]["pairs_per_second"]
                                                       / summary["plain"]["pairs_per_second"], 3)
    summary["setup"] = {"model": args.model, "batch_size": args.batch_size, "steps": args.steps,
                        "repeats": args.repeats, "threads": runs["capflow"][0]["threads"], "train": str(args.train),
                        "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
