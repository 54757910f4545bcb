"""``capflow train``: finetune an encoder on generated (query, passage) pairs.

Training is the sentence-transformers trainer with InfoNCE over in-batch negatives
(``MultipleNegativesRankingLoss``, scale = 1 / temperature; its GradCache variant when a
``mini_batch_size`` is set) and batches without duplicate texts (``BatchSamplers.NO_DUPLICATES``):
several generated queries share one passage, and two of them in one batch would make a passage its
own query's negative. A training set with fewer than two distinct passages has no negatives at all
(the loss is 0 at every step) and is refused. Texts pass through the recipe exactly as at
evaluation (``Recipe.prepare``).

Mixed precision (bf16 autocast over fp32 weights) is on where the hardware computes in bf16: CUDA
GPUs that support it and CPUs with AVX512-BF16 or AMX (about twice as fast as fp32 there).

Queries and passages are truncated to their own lengths (32 and 128 tokens by default) by the data
collator: it tokenises each column with the column's task (``query`` / ``document``) and a
per-task ``max_length``, so no text is re-decoded from tokens and the saved model keeps the
recipe's evaluation length.

The run trains in ``<out>.partial/`` beside the output, which holds the run record (a fingerprint of
recipe, settings, data and base weights) and the checkpoints. A rerun of the same run resumes from
the latest checkpoint; a different run finding that folder refuses to touch it (``--restart`` discards
it). Only a finished model is renamed to ``<out>``: a standard sentence-transformers directory.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import resource
import shutil
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from capflow import worklog
from capflow.benchmark import has_visible_text
from capflow.cpus import available_cpus
from capflow.errors import UserError
from capflow.io import WRITE_ERRORS, give_default_modes, iter_jsonl, read_json, write_json, write_text
from capflow.model_card import write_model_card
from capflow.progress import eta_callback
from capflow.recipes import Recipe

log = logging.getLogger(__name__)

RUN_RECORD = "capflow_run.json"
PAIR_FIELDS = {"query": str, "passage_id": str}
LOSS_COLUMNS = ("step", "train_loss", "eval_loss")
BF16_CHOICES = ("auto", "yes", "no")
# passage_max_length "auto": the smallest of 128, 256, 512, ... (up to the model's limit) that holds
# this share of the pool's passages whole. 128 is the paper's setting, enough for captions; the
# paper's OOD paragraphs average about 140 jieba words and need more.
AUTO_LENGTH_START = 128
AUTO_LENGTH_COVERAGE = 0.95


def max_length_value(text: str) -> int | str:
    """A --passage-max-length value: a positive number of tokens or 'auto'."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    return int(text)


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    temperature: float = 0.02
    batch_size: int = 32
    mini_batch_size: int | None = None  # set: GradCache loss, forward passes of this many texts
    query_max_length: int = 32
    passage_max_length: int | str = "auto"  # tokens, or "auto": sized from the pool (AUTO_LENGTH_COVERAGE)
    warmup_ratio: float = 0.1
    max_steps: int | None = None  # unset: train for ``epochs``
    epochs: float = 1.0
    bf16: str = "auto"  # auto: on CUDA GPUs and CPUs that compute in bf16 natively
    seed: int = 0
    eval_steps: int | None = None  # unset: evaluate the hold-out once, at the end
    save_steps: int = 500
    save_total_limit: int = 2

    def check(self) -> None:
        positive = {"learning_rate": self.learning_rate, "temperature": self.temperature,
                    "batch_size": self.batch_size, "query_max_length": self.query_max_length,
                    "epochs": self.epochs, "save_steps": self.save_steps, "save_total_limit": self.save_total_limit}
        if self.passage_max_length != "auto":
            if not isinstance(self.passage_max_length, int):
                raise UserError(f"training setting passage_max_length must be a positive integer or 'auto', "
                                f"got {self.passage_max_length!r}")
            positive["passage_max_length"] = self.passage_max_length
        for optional in ("mini_batch_size", "max_steps", "eval_steps"):
            if getattr(self, optional) is not None:
                positive[optional] = getattr(self, optional)
        for name, value in positive.items():
            if value <= 0:
                raise UserError(f"training setting {name} must be positive, got {value}")
        if self.weight_decay < 0:
            raise UserError(f"training setting weight_decay must not be negative, got {self.weight_decay}")
        if not 0 <= self.warmup_ratio < 1:
            raise UserError(f"training setting warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.bf16 not in BF16_CHOICES:
            raise UserError(f"training setting bf16 must be one of {', '.join(BF16_CHOICES)}, got {self.bf16!r}")


# --- data ---------------------------------------------------------------------------------------------

def load_pairs(path: Path, passages: dict[str, str]) -> list[tuple[str, str]]:
    """(query, passage id) pairs of a training file; every passage must be in the pool."""
    pairs = []
    for lineno, row in iter_jsonl(path, PAIR_FIELDS):
        if not has_visible_text(row["query"]):
            raise UserError("empty query", path, lineno)
        if row["passage_id"] not in passages:
            raise UserError(f"passage '{row['passage_id']}' is not in the pool", path, lineno)
        pairs.append((row["query"], row["passage_id"]))
    return pairs


def load_pool_texts(path: Path) -> dict[str, str]:
    from capflow.generate.shards import load_pool

    return {p.id: p.text for p in load_pool(path)}


def check_in_batch_negatives(pairs: Sequence[tuple[str, str]], batch_size: int, path: Path) -> list[str]:
    """Refuse a training set whose batches cannot hold two distinct passages; return warnings.

    With in-batch negatives each query's only negatives are the other passages of its batch: with
    one distinct passage there are none, and the loss is exactly 0 at every step.
    """
    distinct = len({pid for _, pid in pairs})
    if distinct < 2:
        raise UserError(f"{len(pairs)} training pair(s) over {distinct} distinct passage(s): in-batch negatives need "
                        "at least 2 distinct passages (the loss would be 0 at every step)", path)
    warnings = []
    if len(pairs) < batch_size:
        warnings.append(f"the training set ({len(pairs)} pairs, {distinct} distinct passages) is smaller than one "
                        f"batch ({batch_size}): every step sees the same few in-batch negatives")
    return warnings


def pair_columns(recipe: Recipe, pairs: Sequence[tuple[str, str]], passages: dict[str, str],
                 eos: str | None) -> dict[str, list[str]]:
    """The two text columns the loss reads, each text prepared as the encoder sees it at evaluation."""
    from capflow.encoders import prepared_texts

    return {"query": prepared_texts(recipe, [q for q, _ in pairs], "query", eos),
            "passage": prepared_texts(recipe, [passages[pid] for _, pid in pairs], "passage", eos)}


def passage_length(setting: int | str, lengths: Sequence[int], model_max: int) -> int:
    """The passage truncation length: ``setting`` within the model's limit, or for "auto" the
    smallest of AUTO_LENGTH_START·2^k (then the model's limit) covering AUTO_LENGTH_COVERAGE of
    ``lengths`` (the pool's passages in tokens)."""
    if setting != "auto":
        return min(int(setting), model_max)
    candidate = AUTO_LENGTH_START
    while candidate < model_max:
        if sum(n <= candidate for n in lengths) >= AUTO_LENGTH_COVERAGE * len(lengths):
            return candidate
        candidate *= 2
    return model_max


def passage_token_lengths(model, texts: Sequence[str]) -> list[int]:
    """Each prepared passage's length in the model's tokens, special tokens included, untruncated."""
    return [len(ids) for ids in model.tokenizer(list(texts), verbose=False)["input_ids"]]


def truncation_report(setting: int | str, length: int, pool_lengths: Sequence[int],
                      train_lengths: Sequence[int]) -> dict:
    """What train.json records about passage truncation."""
    def share_longer(lengths: Sequence[int]) -> float:
        return round(sum(n > length for n in lengths) / len(lengths), 4) if lengths else 0.0

    return {"passage_max_length": length, "passage_max_length_setting": setting,
            "pool_passages_truncated": share_longer(pool_lengths),
            "train_passages_truncated": share_longer(train_lengths)}


# --- the run record -----------------------------------------------------------------------------------

def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_record(recipe: Recipe, settings: TrainSettings, data: dict[str, Path | None], base_weights: str) -> dict:
    """What makes a run this run: resuming is only safe when all of it is equal."""
    return {
        "recipe": json.loads(recipe.to_json()),
        "settings": dataclasses.asdict(settings),
        "data": {name: file_digest(path) if path else None for name, path in sorted(data.items())},
        "base_weights": base_weights,
    }


def differing_keys(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def read_record(path: Path) -> dict | None:
    try:
        record = read_json(path)
    except UserError:
        return None
    return record if isinstance(record, dict) else None


def check_output(out: Path, record: dict) -> None:
    """An existing model at ``out`` may only be replaced by the same run."""
    if not out.exists():
        return
    existing = read_record(out / RUN_RECORD)
    if existing is None:
        raise UserError("exists and is not a model trained by this step; remove it to train here", out)
    if existing != record:
        raise UserError(f"holds a model of another run (differs in {', '.join(differing_keys(existing, record))}); "
                        "remove it to train this one", out)


def latest_checkpoint(checkpoints: Path) -> Path | None:
    steps = [(int(m.group(1)), p) for p in checkpoints.glob("checkpoint-*")
             if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and (p / "trainer_state.json").exists()]
    return max(steps)[1] if steps else None


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from (a file truncated, emptied or altered on disk), or None.

    JSON files must parse, safetensors files must hold what their header declares, and the torch files
    (zip archives) must pass their CRC checks."""
    from safetensors import safe_open

    for path in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        try:
            if path.suffix == ".json":
                json.loads(path.read_bytes())
            elif path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as tensors:  # checks the header covers the file
                    tensors.keys()
            elif path.suffix in (".pt", ".pth", ".bin"):
                with zipfile.ZipFile(path) as archive:
                    damaged = archive.testzip()
                if damaged is not None:
                    return f"{path.name}: bad checksum of {damaged}"
        except Exception as exc:  # noqa: BLE001 (whatever a damaged file raises, the checkpoint is unusable)
            return f"{path.name}: {type(exc).__name__}: {str(exc)[:100]}"
    state = read_record(checkpoint / "trainer_state.json")
    if state is None or not isinstance(state.get("global_step"), int):
        return "trainer_state.json holds no global_step"
    return None


def resumable_checkpoint(work: Path) -> Path | None:
    """The latest checkpoint of ``work`` that reads back whole. Damaged later ones are moved to
    ``<work>/damaged/`` (the trainer would otherwise rotate or resume them); if every one is damaged the
    run stops, naming --restart."""
    damaged = []
    while (checkpoint := latest_checkpoint(work / "checkpoints")) is not None:
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            if damaged:
                log.warning("falling back to %s", checkpoint)
            return checkpoint
        (work / "damaged").mkdir(exist_ok=True)
        os.replace(checkpoint, work / "damaged" / checkpoint.name)
        log.warning("checkpoint %s is damaged (%s); moved to %s", checkpoint, problem, work / "damaged")
        damaged.append(checkpoint.name)
    if damaged:
        raise UserError(f"every checkpoint is damaged ({', '.join(damaged)}, now in damaged/); rerun with "
                        "--restart to train this run afresh", work)
    return None


def prepare_work_dir(work: Path, record: dict, restart: bool = False) -> Path | None:
    """Create the run's working folder, or reopen it for the same run; return a checkpoint to resume.

    With ``restart`` an existing folder (of this run or another) is discarded first.
    """
    if work.exists() and restart:
        log.warning("--restart: discarding %s", work)
        shutil.rmtree(work)
    if work.exists():
        existing = read_record(work / RUN_RECORD)
        afresh = f"remove it (rm -r '{work}') or rerun with --restart to start this run afresh"
        if existing is None:
            raise UserError(f"is not a training folder of this step (no run record); {afresh}", work)
        if existing != record:
            differing = ", ".join(differing_keys(existing, record))
            raise UserError(f"holds checkpoints of another run (differs in {differing}); {afresh}", work)
        shutil.rmtree(work / "model", ignore_errors=True)
        checkpoint = resumable_checkpoint(work)
        if checkpoint:
            log.info("resuming the same run from %s", checkpoint)
        return checkpoint
    work.mkdir(parents=True)
    write_json(work / RUN_RECORD, record)
    return None


# --- training -----------------------------------------------------------------------------------------

def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes in bf16 natively (AVX512-BF16 or AMX), where autocast pays off."""
    try:
        flags = set(cpuinfo.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def use_bf16(setting: str, device: str) -> bool:
    """bf16 mixed precision (fp32 weights, bf16 matmuls under autocast): ``auto`` where the hardware has it."""
    if setting != "auto":
        return setting == "yes"
    if device == "cuda":
        import torch

        return torch.cuda.is_bf16_supported()
    return device == "cpu" and cpu_has_native_bf16()


def build_trainer(model, train_columns: dict[str, list[str]], eval_columns: dict[str, list[str]] | None,
                  settings: TrainSettings, output_dir: Path, device: str, callbacks: Sequence = ()):
    """A SentenceTransformerTrainer for in-batch-negative training without duplicate texts in a batch."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )
    from transformers import PrinterCallback

    model_max = model.max_seq_length or AUTO_LENGTH_START
    # train() sizes "auto" from the whole pool; a direct caller gets it sized from these passages
    passage_max = passage_length(settings.passage_max_length,
                                 passage_token_lengths(model, train_columns["passage"])
                                 if settings.passage_max_length == "auto" else [], model_max)
    lengths = {"query": min(settings.query_max_length, model_max), "document": passage_max}
    collator = SentenceTransformerDataCollator(preprocess_fn=model.preprocess,
                                               router_mapping={"query": "query", "passage": "document"},
                                               max_length=lengths)
    scale = 1.0 / settings.temperature
    if settings.mini_batch_size:
        loss = CachedMultipleNegativesRankingLoss(model, scale=scale, mini_batch_size=settings.mini_batch_size)
    else:
        loss = MultipleNegativesRankingLoss(model, scale=scale)
    evaluate_during = eval_columns is not None and settings.eval_steps is not None
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a ratio of the total steps
        lr_scheduler_type="linear",
        max_steps=settings.max_steps or -1,
        num_train_epochs=settings.epochs,
        seed=settings.seed,
        data_seed=settings.seed,
        bf16=use_bf16(settings.bf16, device),
        use_cpu=device == "cpu",
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        logging_strategy="steps",
        logging_steps=1,
        eval_strategy="steps" if evaluate_during else "no",
        eval_steps=settings.eval_steps if evaluate_during else None,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, loss=loss, data_collator=collator, callbacks=list(callbacks),
        train_dataset=Dataset.from_dict(train_columns),
        eval_dataset=Dataset.from_dict(eval_columns) if eval_columns is not None else None,
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout; the log has them
    return trainer


def _run_callbacks() -> list:
    from transformers import TrainerCallback

    class LogLosses(TrainerCallback):
        """One log line per logged step, since the progress bars are off."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and ("loss" in logs or "eval_loss" in logs):
                parts = [f"{k} {logs[k]:.4f}" for k in ("loss", "eval_loss") if k in logs]
                if "learning_rate" in logs:
                    parts.append(f"learning_rate {logs['learning_rate']:.2e}")
                log.info("step %d/%d: %s", state.global_step, state.max_steps, ", ".join(parts))

    class NoFinalCheckpoint(TrainerCallback):
        """The finished model is saved as the output; a checkpoint of it would only cost time and disk."""

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_save = False

    class DefaultModes(TrainerCallback):
        """Checkpoint files get the default file mode (safetensors writes its files 0600)."""

        def on_save(self, args, state, control, **kwargs):
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if checkpoint.is_dir():
                give_default_modes(checkpoint)

    return [LogLosses(), NoFinalCheckpoint(), DefaultModes(), eta_callback()]


def loss_rows(log_history: Sequence[dict]) -> list[dict]:
    """One row per step with a train loss and/or an eval loss, from the trainer's log history."""
    rows: dict[int, dict] = {}
    for entry in log_history:
        step = entry.get("step")
        for key, column in (("loss", "train_loss"), ("eval_loss", "eval_loss")):
            if step is not None and key in entry:
                rows.setdefault(step, {"step": step})[column] = entry[key]
    return [rows[s] for s in sorted(rows)]


def loss_csv(rows: Sequence[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LOSS_COLUMNS)
    for row in rows:
        writer.writerow([row["step"]] + [f"{row[c]:.6f}" if c in row else "" for c in LOSS_COLUMNS[1:]])
    return out.getvalue()


def peak_memory_mb(device: str) -> dict:
    peak = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device == "cuda":
        import torch

        peak["peak_gpu_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak


def limit_cpu_threads() -> None:
    """No more compute threads than CPUs this process may run on (OMP_NUM_THREADS can ask for more)."""
    import torch

    available = available_cpus()
    if torch.get_num_threads() > available:
        torch.set_num_threads(available)


# Below this much free space, a failed save is taken for a full disk: torch.save reports one only as
# "RuntimeError: ... unexpected pos", and safetensors as its own error type.
LOW_SPACE_BYTES = 16 * 2**20


def out_of_space(exc: BaseException, folder: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRORS:
        return True
    if "No space left on device" in str(exc):
        return True
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def write_errors_named(work: Path):
    """A full disk (or a failing one) while saving checkpoints or the model: one line naming the folder.
    The output is untouched, and the checkpoints already saved stay for the rerun."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if not out_of_space(exc, work):
            raise
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else "No space left on device"
        raise UserError(f"cannot write: {problem} (the checkpoints saved so far are kept)", work) from None
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError" or not out_of_space(exc, work):
            raise
        raise UserError("cannot write: No space left on device (the checkpoints saved so far are kept)",
                        work) from None


def replace_dir(source: Path, target: Path, scratch: Path) -> None:
    """Move ``source`` to ``target``; an existing ``target`` goes to ``scratch`` first (then deleted)."""
    if target.exists():
        os.replace(target, scratch)
    os.replace(source, target)
    shutil.rmtree(scratch, ignore_errors=True)


def train(recipe: Recipe, settings: TrainSettings, *, train_path: Path, passages_path: Path, out: Path,
          loss_path: Path, heldout_path: Path | None = None, summary_path: Path | None = None,
          device: str | None = None, callbacks: Sequence = (), restart: bool = False) -> dict:
    """Finetune ``recipe``'s model on the pairs of ``train_path``; write the model, loss CSV and summary."""
    from capflow import encoders

    settings.check()
    out = Path(out)
    passages = load_pool_texts(passages_path)
    pairs = load_pairs(train_path, passages)
    if not pairs:
        raise UserError("no training pairs", train_path)
    warnings = check_in_batch_negatives(pairs, settings.batch_size, train_path)
    for warning in warnings:
        log.warning("WARNING: %s", warning)
    heldout = load_pairs(heldout_path, passages) if heldout_path else []
    if heldout_path and not heldout:
        log.warning("%s holds no pairs: no hold-out loss", heldout_path)

    weights = encoders.resolve_weights(recipe)
    record = run_record(recipe, settings, {"train": train_path, "heldout": heldout_path, "passages": passages_path},
                        encoders.fingerprint(weights))
    check_output(out, record)
    work = out.with_name(out.name + ".partial")
    resume = prepare_work_dir(work, record, restart)

    device = device or encoders.pick_device()
    if device == "cpu":
        limit_cpu_threads()
    # Train fp32 weights (under bf16 autocast where enabled); evaluation loads them in the recipe's dtype.
    model = encoders.load_encoder(dataclasses.replace(recipe, dtype="float32"), device=device, weights=weights)
    eos = model.tokenizer.eos_token if recipe.append_eos else None
    pool_texts = encoders.prepared_texts(recipe, list(passages.values()), "passage", eos)
    pool_lengths = passage_token_lengths(model, pool_texts)
    length_of = dict(zip(passages, pool_lengths))
    length = passage_length(settings.passage_max_length, pool_lengths, model.max_seq_length or AUTO_LENGTH_START)
    truncation = truncation_report(settings.passage_max_length, length, pool_lengths,
                                   [length_of[pid] for pid in dict.fromkeys(pid for _, pid in pairs)])
    if settings.passage_max_length == "auto" and truncation["pool_passages_truncated"] > 1 - AUTO_LENGTH_COVERAGE:
        warnings.append(f"{truncation['pool_passages_truncated']:.1%} of the pool's passages are longer than the "
                        f"model's limit ({length} tokens) and are truncated")
        log.warning("WARNING: %s", warnings[-1])
    settings = dataclasses.replace(settings, passage_max_length=length)
    log.info("passages truncated at %d tokens (%s): %.1f%% of the pool's, %.1f%% of the training set's", length,
             truncation["passage_max_length_setting"], 100 * truncation["pool_passages_truncated"],
             100 * truncation["train_passages_truncated"])
    trainer = build_trainer(model, pair_columns(recipe, pairs, passages, eos),
                            pair_columns(recipe, heldout, passages, eos) if heldout else None,
                            settings, work / "checkpoints", device, [*_run_callbacks(), *callbacks])
    log.info("training %s on %d pairs (%d distinct passages), %d held out; device %s, bf16 %s",
             recipe.name, len(pairs), len({pid for _, pid in pairs}), len(heldout), device, trainer.args.bf16)
    started = time.perf_counter()
    with write_errors_named(work):
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    elapsed = time.perf_counter() - started
    rows = loss_rows(trainer.state.log_history)
    if heldout and not (rows and "eval_loss" in rows[-1] and rows[-1]["step"] == trainer.state.global_step):
        trainer.evaluate()
        rows = loss_rows(trainer.state.log_history)

    staged = work / "model"
    with write_errors_named(work):
        model.save_pretrained(str(staged))
    write_json(staged / RUN_RECORD, record)
    resumed_step = int(resume.name.split("-")[1]) if resume else None
    steps_run = trainer.state.global_step - (resumed_step or 0)
    summary = {
        "model": recipe.name, "device": device, "bf16": bool(trainer.args.bf16),
        "pairs": len(pairs), "heldout_pairs": len(heldout), "steps": trainer.state.global_step,
        "resumed_from_step": resumed_step,
        "epochs": round(trainer.state.epoch or 0.0, 4), "batch_size": settings.batch_size,
        "train_seconds": round(elapsed, 2),
        "pairs_per_second": round(steps_run * settings.batch_size / elapsed, 2) if elapsed else None,
        "final_train_loss": next((r["train_loss"] for r in reversed(rows) if "train_loss" in r), None),
        "final_eval_loss": next((r["eval_loss"] for r in reversed(rows) if "eval_loss" in r), None),
        "mean_train_loss": result.training_loss,
        **truncation,
        **peak_memory_mb(device),
        "warnings": warnings,
    }
    write_model_card(staged, recipe, train_path=train_path, passages=passages.values(), summary=summary)
    give_default_modes(staged)
    write_text(loss_path, loss_csv(rows))
    if summary_path:
        write_json(summary_path, summary)
    replace_dir(staged, out, work / "previous")
    shutil.rmtree(work, ignore_errors=True)
    units = {"steps": steps_run, "pairs": steps_run * settings.batch_size}
    worklog.write(worklog.WorkRecord("train", units, elapsed, device=worklog.device_name()))
    log.info("saved %s (%d steps, %.1f pairs/s, final hold-out loss %s)", out, summary["steps"],
             summary["pairs_per_second"] or 0.0, summary["final_eval_loss"])
    return summary


# --- CLI ----------------------------------------------------------------------------------------------

def configure_parser(parser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--recipe-json", help="the base model's recipe as JSON")
    which.add_argument("--model", help="a model name from --models")
    parser.add_argument("--models", type=Path, default=Path("config/models.yaml"), help="recipe registry")
    parser.add_argument("--train", required=True, type=Path, help="training pairs {query, passage_id, kind} (JSONL)")
    parser.add_argument("--heldout", type=Path, help="held-out pairs, same format: the eval loss")
    parser.add_argument("--passages", required=True, type=Path, help="the pool's passages.jsonl {id, text}")
    parser.add_argument("--out", required=True, type=Path, help="output model directory")
    parser.add_argument("--loss-csv", required=True, type=Path, help="per-step losses: step, train_loss, eval_loss")
    parser.add_argument("--summary", type=Path, help="run summary JSON (steps, pairs/s, peak memory)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--restart", action="store_true",
                        help="discard an existing <out>.partial folder (checkpoints of this or another run) first")
    defaults = TrainSettings()
    for field in dataclasses.fields(TrainSettings):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if field.name == "bf16":
            parser.add_argument(flag, choices=BF16_CHOICES, default=default,
                                help="mixed precision (default %(default)s)")
        elif field.name == "passage_max_length":
            parser.add_argument(flag, type=max_length_value, default=default,
                                help=f"tokens, or auto: the smallest of {AUTO_LENGTH_START}, {2 * AUTO_LENGTH_START}, "
                                     f"... that holds {AUTO_LENGTH_COVERAGE:.0%}% of the pool's passages whole "
                                     "(default %(default)s)")
        else:
            kind = float if isinstance(default, float) or field.name == "epochs" else int
            parser.add_argument(flag, type=kind, default=default, help="(default %(default)s)")
    parser.set_defaults(weights=None, label=None)


def settings_from_args(args) -> TrainSettings:
    return TrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)})


def main(args) -> None:
    from capflow.retrieve import select_recipe

    recipe = select_recipe(args)
    if recipe.kind != "dense":
        raise UserError(f"model '{recipe.name}' is not a dense encoder and cannot be finetuned")
    train(recipe, settings_from_args(args), train_path=args.train, heldout_path=args.heldout,
          passages_path=args.passages, out=args.out, loss_path=args.loss_csv, summary_path=args.summary,
          device=args.device, restart=args.restart)
