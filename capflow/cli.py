"""``capflow <step>``: one subcommand per workflow rule.

Each step lives in its own module exposing ``configure_parser(parser)`` and ``main(args)``; modules
are imported only when their step runs, so light steps (BM25, tables) never import torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from capflow import __version__
from capflow.errors import UserError
from capflow.runtime.cpus import set_threads, thread_count

# step name -> (module, one-line help)
STEPS: dict[str, tuple[str, str]] = {
    "prefetch": ("capflow.prefetch", "fetch every hub model and dataset the configured jobs need into the hub caches"),
    "data": ("capflow.data", "materialise and validate a benchmark"),
    "retrieve": ("capflow.retrieve", "rank a benchmark's candidates with BM25 or an encoder, and score the run"),
    "per-query": ("capflow.report.perquery", "the long per-query frame (per_query.csv) of many runs"),
    "tables": ("capflow.report.tables_step", "build one table (LaTeX/Markdown/CSV) of the report"),
    "classification": ("capflow.report.classification",
                       "the authors' classification setting over a threshold sweep, from the embedding cache"),
    "error-analysis": ("capflow.report.erroranalysis",
                       "literal and semantic misses and false positives of runs against BM25, and an annotation sheet"),
    "inversions": ("capflow.report.inversions",
                   "label-0 captions scoring above label-2 positives, per dense model and query, from the cache"),
    "qrels": ("capflow.report.qrels", "write a benchmark's judgements as TREC qrels"),
    "mteb-json": ("capflow.report.mtebjson", "write a model's runs on one benchmark as an mteb TaskResult"),
    "hybrid": ("capflow.report.hybrid", "fuse a BM25 run and a dense run (RRF or min-max interpolation), and score it"),
    "latex": ("capflow.report.latex", "write all.tex, which inputs every table and figure (XeLaTeX + xeCJK)"),
    "figures": ("capflow.report.figures_step", "draw one figure (PNG/PDF) of the report"),
    "gpu-run": ("capflow.runtime.devices", "run a command on free GPUs of this machine (its own CUDA_VISIBLE_DEVICES)"),
    "testview": ("capflow.testview", "hold captions out of a benchmark: the rest is its test view"),
    "pool": ("capflow.pools", "build a passage pool from a source"),
    "leakage": ("capflow.leakage", "drop pool passages whose ROUGE-L F1 against any test caption reaches a threshold"),
    "generate": ("capflow.generate", "generate SM or KW training queries for one shard of a passage pool"),
    "trainset": ("capflow.trainsets", "assemble a training set (SM, KW or SM+KW) with held-out queries and its stats"),
    "negatives": ("capflow.train.negatives",
                  "mine hard negatives for a training set from its pool (BM25 or the base model), never a positive"),
    "train": ("capflow.train", "finetune an encoder on a training set (in-batch negatives, no duplicate passages)"),
    "model-card": ("capflow.model_card", "add a finetuned model's benchmark scores (nDCG@10) to its model card"),
    "estimate": ("capflow.estimate", "scale a rehearsal's measured times to the full configuration"),
    "nltk-data": ("capflow.nltkdata",
                  "install NLTK's English Punkt model (the authors' English BM25) from the package index"),
    "mteb-data": ("capflow.mteb_data",
                  "convert an MTEB retrieval dataset (corpus, queries, qrels) into a benchmark dir"),
}


def build_parser(step: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="capflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"capflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--threads", type=thread_count,
                        help="compute threads (torch, BLAS); default: OMP_NUM_THREADS; at most the CPUs either way")
    parser.add_argument("--log", type=Path,
                        help="send everything the step prints to this file; a failure's one-line message "
                             "also goes to the console")
    sub = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for name, (module_name, help_text) in STEPS.items():
        step_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == step:
            importlib.import_module(module_name).configure_parser(step_parser)
    return parser


def thread_option(options: list[str]) -> int | None:
    """The value of --threads among the options before the step, if given."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--threads", type=thread_count)
    return parser.parse_known_args(options)[0].threads


def redirect_output(log: Path):
    """Point this process's stdout and stderr (and its children's) at ``log``; return the console."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    console = os.fdopen(os.dup(2), "w")
    with open(log, "w", encoding="utf-8") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
    return console


# options before the step that take a value
VALUED_OPTIONS = (["--log"], ["--threads"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    step = next((a for i, a in enumerate(argv) if not a.startswith("-") and argv[i - 1:i] not in VALUED_OPTIONS), None)
    set_threads(thread_option(argv[:argv.index(step)] if step else argv))  # before torch or numpy loads
    args = build_parser(step if step in STEPS else None).parse_args(argv)
    return run_step(args.step, lambda: importlib.import_module(STEPS[args.step][0]).main(args), args.log,
                    args.verbose)


def run_step(name: str, step, log: Path | str | None = None, verbose: bool = False) -> int:
    """Run ``step()`` with logging set up: everything it prints goes to ``log`` when given, and a
    failure is one line (``capflow NAME: error: ...``) on the console too. Returns the exit status."""
    log = Path(log) if log else None
    try:
        console = redirect_output(log) if log else None
    except OSError as exc:
        problem = "a part of its path is not a folder" if isinstance(exc, (FileExistsError, NotADirectoryError)) \
            else exc.strerror or str(exc)
        print(f"capflow {name}: error: {log}: cannot write the --log file: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        step()
    except UserError as exc:
        message = f"capflow {name}: error: {exc}"
        print(message, file=sys.stderr)
        if console:
            print(message, file=console, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if console:
            print(f"capflow {name}: {type(exc).__name__}: {exc} (traceback in {log})", file=console, flush=True)
        raise
    return 0
