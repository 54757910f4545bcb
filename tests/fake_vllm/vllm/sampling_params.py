"""SamplingParams and StructuredOutputsParams with vLLM's fields and validation.

As in vLLM 0.11, StructuredOutputsParams is a pydantic dataclass: an unknown field raises a
pydantic ValidationError, which is a ValueError (a plain dataclass would raise TypeError).
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from pydantic.dataclasses import dataclass


class VLLMValidationError(ValueError):
    pass


@dataclass
class StructuredOutputsParams:
    json: str | dict | None = None
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None
    disable_any_whitespace: bool = False
    disable_additional_properties: bool = False
    whitespace_pattern: str | None = None
    structural_tag: str | None = None
    _backend: str | None = field(default=None, init=False)
    _backend_was_auto: bool = field(default=False, init=False)

    def __post_init__(self):
        count = sum(getattr(self, name) is not None
                    for name in ("json", "regex", "choice", "grammar", "json_object", "structural_tag"))
        if count > 1:
            raise VLLMValidationError("You can only use one kind of structured outputs constraint "
                                      f"but multiple are specified: {self.__dict__}")
        if count < 1:
            raise VLLMValidationError("You must use one kind of structured outputs constraint "
                                      f"but none are specified: {self.__dict__}")


_DEFAULTS: dict[str, Any] = {
    "n": 1, "presence_penalty": 0.0, "frequency_penalty": 0.0, "repetition_penalty": 1.0,
    "temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "seed": None, "stop": None,
    "stop_token_ids": None, "ignore_eos": False, "max_tokens": 16, "min_tokens": 0, "logprobs": None,
    "prompt_logprobs": None, "detokenize": True, "skip_special_tokens": True,
    "spaces_between_special_tokens": True, "include_stop_str_in_output": False, "output_kind": None,
    "structured_outputs": None, "logit_bias": None, "allowed_token_ids": None, "extra_args": None,
    "bad_words": None, "thinking_token_budget": None,
}


class SamplingParams:
    def __init__(self, **kwargs):
        for name in kwargs:
            if name not in _DEFAULTS:
                raise TypeError(f"Unexpected keyword argument '{name}'")  # msgspec.Struct's wording
        for name, default in _DEFAULTS.items():
            setattr(self, name, kwargs.get(name, default))
        self._verify_args()

    def _verify_args(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise VLLMValidationError(f"n must be at least 1, got {self.n}.")
        if self.temperature < 0.0:
            raise VLLMValidationError(f"temperature must be non-negative, got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise VLLMValidationError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.max_tokens is not None and (not isinstance(self.max_tokens, int) or self.max_tokens < 1):
            raise VLLMValidationError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if self.seed is not None and not isinstance(self.seed, int):
            raise VLLMValidationError(f"seed must be an int, got {self.seed!r}.")
        if self.structured_outputs is not None and not isinstance(self.structured_outputs, StructuredOutputsParams):
            raise VLLMValidationError("structured_outputs must be a StructuredOutputsParams")

    def __repr__(self) -> str:
        changed = {k: getattr(self, k) for k, v in _DEFAULTS.items() if getattr(self, k) != v}
        return f"SamplingParams({changed})"
