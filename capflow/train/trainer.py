"""The sentence-transformers trainer as `capflow train` builds it: loss, batch sampler, precision and
callbacks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from capflow.io import give_default_modes
from capflow.progress import eta_callback
from capflow.runtime.hardware import cpu_has_native_bf16
from capflow.train.deveval import DEV_METRIC, NO_DEV_EVALUATION, DevEvaluation
from capflow.train.pairs import passage_length, passage_token_lengths
from capflow.train.settings import AUTO_LENGTH_START, TrainSettings

log = logging.getLogger(__name__)

def use_bf16(setting: str, device: str) -> bool:
    """bf16 mixed precision (fp32 weights, bf16 matmuls under autocast): ``auto`` where the hardware has it."""
    if setting != "auto":
        return setting == "yes"
    if device == "cuda":
        import torch

        return torch.cuda.is_bf16_supported()
    return device == "cpu" and cpu_has_native_bf16()


def build_trainer(model, train_columns: dict[str, list[str]], eval_columns: dict[str, list[str]] | None,
                  settings: TrainSettings, output_dir: Path, device: str, callbacks: Sequence = (),
                  evaluator=None, dev: DevEvaluation = NO_DEV_EVALUATION):
    """A SentenceTransformerTrainer for in-batch-negative training without duplicate texts in a batch.

    Columns after ``query`` and ``passage`` (``negative_1``, ...) are hard negatives, encoded as passages.
    ``evaluator`` (with ``dev``'s interval) scores retrieval during training."""
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
                                               router_mapping={column: "query" if column == "query" else "document"
                                                               for column in train_columns},
                                               max_length=lengths)
    scale = 1.0 / settings.temperature
    if settings.mini_batch_size:
        loss = CachedMultipleNegativesRankingLoss(model, scale=scale, mini_batch_size=settings.mini_batch_size)
    else:
        loss = MultipleNegativesRankingLoss(model, scale=scale)
    evaluate_during = eval_columns is not None and settings.eval_steps is not None
    eval_steps = settings.eval_steps
    if evaluator is not None and dev.enabled:  # the hold-out loss is then computed at the dev evaluations
        evaluate_during, eval_steps = True, dev.dev_eval_steps
    # the best checkpoint must be among the saved ones: save at every evaluation
    best = {"load_best_model_at_end": True, "metric_for_best_model": DEV_METRIC, "greater_is_better": True,
            "save_steps": eval_steps} if dev.keep_best and evaluator is not None else {}
    options = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": settings.batch_size,
        "per_device_eval_batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "weight_decay": settings.weight_decay,
        "warmup_steps": settings.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "lr_scheduler_type": "linear",
        "max_steps": settings.max_steps or -1,
        "num_train_epochs": settings.epochs,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "bf16": use_bf16(settings.bf16, device),
        "use_cpu": device == "cpu",
        "batch_sampler": BatchSamplers.NO_DUPLICATES,
        "logging_strategy": "steps",
        "logging_steps": 1,
        "eval_strategy": "steps" if evaluate_during else "no",
        "eval_steps": eval_steps if evaluate_during else None,
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": settings.save_total_limit,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    args = SentenceTransformerTrainingArguments(**{**options, **best})
    trainer = SentenceTransformerTrainer(
        model=model, args=args, loss=loss, data_collator=collator, callbacks=list(callbacks),
        train_dataset=Dataset.from_dict(train_columns),
        eval_dataset=Dataset.from_dict(eval_columns) if eval_columns is not None else None,
        evaluator=evaluator,
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout; the log has them
    return trainer


def run_callbacks(keep_best: bool = False) -> list:
    from transformers import TrainerCallback

    class LogLosses(TrainerCallback):
        """One log line per logged step, since the progress bars are off."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and ("loss" in logs or "eval_loss" in logs or DEV_METRIC in logs):
                parts = [f"{k} {logs[k]:.4f}" for k in ("loss", "eval_loss", DEV_METRIC) if k in logs]
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

    # Keeping the best checkpoint needs the last one too: it may be the best.
    return [LogLosses(), *([] if keep_best else [NoFinalCheckpoint()]), DefaultModes(), eta_callback()]


