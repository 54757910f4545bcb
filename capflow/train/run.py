"""One finetuning run, from training pairs to the saved model, its loss file and its summary."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from capflow import worklog
from capflow.errors import UserError
from capflow.io import give_default_modes, write_json, write_text
from capflow.model_card import write_model_card
from capflow.recipes import Recipe
from capflow.runtime import hardware
from capflow.runtime.hardware import limit_cpu_threads, peak_memory_mb
from capflow.train.deveval import DEV_METRIC, NO_DEV_EVALUATION, DevEvaluation, build_evaluator, dev_task
from capflow.train.losslog import DEV_COLUMN, loss_csv, loss_rows
from capflow.train.negatives import load_negatives
from capflow.train.pairs import (
    check_in_batch_negatives,
    load_pairs,
    load_pool_texts,
    pair_columns,
    passage_length,
    passage_token_lengths,
    truncation_report,
)
from capflow.train.resume import RUN_RECORD, check_output, prepare_work_dir, replace_dir, run_record, write_errors_named
from capflow.train.settings import AUTO_LENGTH_COVERAGE, AUTO_LENGTH_START, TrainSettings
from capflow.train.trainer import build_trainer, run_callbacks

log = logging.getLogger(__name__)

def train(recipe: Recipe, settings: TrainSettings, *, train_path: Path, passages_path: Path, out: Path,
          loss_path: Path, heldout_path: Path | None = None, summary_path: Path | None = None,
          device: str | None = None, callbacks: Sequence = (), restart: bool = False,
          negatives_path: Path | None = None, dev: DevEvaluation = NO_DEV_EVALUATION) -> dict:
    """Finetune ``recipe``'s model on the pairs of ``train_path``; write the model, loss CSV and summary.

    With ``negatives_path`` (``capflow negatives``' output) each pair trains with its hard negatives, and
    pairs without any are left out; with ``dev`` enabled the held-out pairs are also scored as retrieval."""
    from capflow import encoders

    settings.check()
    dev.check()
    if dev.enabled and not heldout_path:
        raise UserError("retrieval evaluation during training (dev_eval_steps) needs --heldout pairs")
    out = Path(out)
    passages = load_pool_texts(passages_path)
    pairs = load_pairs(train_path, passages)
    if not pairs:
        raise UserError("no training pairs", train_path)
    negatives = load_negatives(negatives_path, passages) if negatives_path else None
    if negatives is not None:
        pairs = [pair for pair in pairs if pair in negatives]
        if not pairs:
            raise UserError(f"no training pair of {train_path} has hard negatives here", negatives_path)
    warnings = check_in_batch_negatives(pairs, settings.batch_size, train_path)
    for warning in warnings:
        log.warning("WARNING: %s", warning)
    heldout = load_pairs(heldout_path, passages) if heldout_path else []
    if heldout_path and not heldout:
        log.warning("%s holds no pairs: no hold-out loss", heldout_path)

    weights = encoders.resolve_weights(recipe)
    data = {"train": train_path, "heldout": heldout_path, "passages": passages_path}
    if negatives_path:  # a run without the knobs keeps the record it always had
        data["negatives"] = negatives_path
    record = run_record(recipe, settings, data, encoders.fingerprint(weights))
    if dev.enabled:
        record["dev_evaluation"] = dataclasses.asdict(dev)
    check_output(out, record)
    work = out.with_name(out.name + ".partial")
    resume = prepare_work_dir(work, record, restart)

    device = device or hardware.pick_device()
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
    evaluator = None
    if dev.enabled and heldout:
        queries, corpus, relevant = dev_task(heldout, passages)
        prepared_queries = encoders.prepared_texts(recipe, list(queries.values()), "query", eos)
        # the corpus is the whole pool in pool order: its texts are prepared already (pool_texts)
        evaluator = build_evaluator(dict(zip(queries, prepared_queries, strict=True)),
                                    dict(zip(corpus, pool_texts, strict=True)), relevant, settings.batch_size)
    trainer = build_trainer(model, pair_columns(recipe, pairs, passages, eos, negatives),
                            pair_columns(recipe, heldout, passages, eos) if heldout else None,
                            settings, work / "checkpoints", device,
                            [*run_callbacks(keep_best=dev.keep_best), *callbacks], evaluator=evaluator, dev=dev)
    log.info("training %s on %d pairs (%d distinct passages), %d held out; device %s, bf16 %s",
             recipe.name, len(pairs), len({pid for _, pid in pairs}), len(heldout), device, trainer.args.bf16)
    started = time.perf_counter()
    with write_errors_named(work):
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    elapsed = time.perf_counter() - started
    rows = loss_rows(trainer.state.log_history)
    # (with keep_best the model is now the best checkpoint: its scores are in the rows already)
    if heldout and not dev.keep_best and not (
            rows and "eval_loss" in rows[-1] and rows[-1]["step"] == trainer.state.global_step):
        trainer.evaluate()
        rows = loss_rows(trainer.state.log_history)

    staged = work / "model"
    max_seq_length = encoders.pin_max_length(model)  # what evaluation loads it with, not the last batch's
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
        "query_max_length": min(settings.query_max_length, max_seq_length), "max_seq_length": max_seq_length,
        "train_seconds": round(elapsed, 2),
        "pairs_per_second": round(steps_run * settings.batch_size / elapsed, 2) if elapsed else None,
        "final_train_loss": next((r["train_loss"] for r in reversed(rows) if "train_loss" in r), None),
        "final_eval_loss": next((r["eval_loss"] for r in reversed(rows) if "eval_loss" in r), None),
        "mean_train_loss": result.training_loss,
        **(dev_summary(rows, trainer.state) if evaluator is not None else {}),
        **({"hard_negatives_per_pair": len(next(iter(negatives.values())))} if negatives else {}),
        **truncation,
        **peak_memory_mb(device),
        "warnings": warnings,
    }
    write_model_card(staged, recipe, train_path=train_path, passages=passages.values(), summary=summary,
                     base_dir=weights)
    give_default_modes(staged)
    write_text(loss_path, loss_csv(rows))
    if summary_path:
        write_json(summary_path, summary)
    replace_dir(staged, out, work / "previous")
    shutil.rmtree(work, ignore_errors=True)
    units = {"steps": steps_run, "pairs": steps_run * settings.batch_size}
    worklog.write(worklog.WorkRecord("train", units, elapsed, device=hardware.device_name()))
    log.info("saved %s (%d steps, %.1f pairs/s, final hold-out loss %s)", out, summary["steps"],
             summary["pairs_per_second"] or 0.0, summary["final_eval_loss"])
    return summary




def dev_summary(rows: Sequence[dict], state) -> dict:
    """What train.json records of the dev evaluations: the last and the best nDCG@10, and the kept step."""
    scored = [row for row in rows if DEV_COLUMN in row]
    best = max(scored, key=lambda row: row[DEV_COLUMN], default=None)
    kept = state.best_model_checkpoint
    return {"final_dev_ndcg@10": scored[-1][DEV_COLUMN] if scored else None,
            "best_dev_ndcg@10": best[DEV_COLUMN] if best else None,
            "best_dev_step": best["step"] if best else None,
            "kept_checkpoint_step": int(Path(kept).name.split("-")[1]) if kept else None,
            "dev_metric": DEV_METRIC}
