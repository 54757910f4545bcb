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

import dataclasses
from pathlib import Path

from capflow.errors import UserError
from capflow.settingflags import add_options, from_args
from capflow.train.deveval import DevEvaluation
from capflow.train.run import train
from capflow.train.settings import (
    AUTO_LENGTH_COVERAGE,
    AUTO_LENGTH_START,
    BF16_CHOICES,
    TrainSettings,
    max_length_value,
)

__all__ = ["TrainSettings", "configure_parser", "main", "settings_from_args", "train"]


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
    parser.add_argument("--negatives", type=Path,
                        help="hard negatives per pair (capflow negatives' output): (query, passage, negatives) rows")
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
    add_options(parser, DevEvaluation)
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
          device=args.device, restart=args.restart, negatives_path=args.negatives,
          dev=from_args(DevEvaluation, args))
