"""`capflow train`'s settings: the dataclass its flags and the config schema's finetune section follow."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

from capflow.errors import UserError

log = logging.getLogger(__name__)

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


