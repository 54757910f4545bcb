"""SamplingParams and StructuredOutputsParams with the fields and checks of the vLLM API chosen in vllm.api.

StructuredOutputsParams is a pydantic dataclass, as in vLLM, which ignores unknown fields. vLLM 0.11
refuses two constraints at once (pydantic wraps its ValueError in a ValidationError); 0.33 also
refuses none. vLLM 0.11 raises ValueErrors, 0.33 and 0.34 their VLLMValidationError, no ValueError.
"""

from __future__ import annotations

import math
from dataclasses import field
from inspect import Parameter, Signature
from typing import Any

from pydantic.dataclasses import dataclass

from vllm.api import API, before, since

if API != "0.11":
    from vllm.exceptions import VLLMValidationError

CONSTRAINTS = ("json", "regex", "choice", "grammar", "json_object", "structural_tag")


def refusal(message: str, parameter: str | None = None, value: Any = None) -> Exception:
    """The exception vLLM raises for an invalid setting."""
    if API == "0.11":
        return ValueError(message)
    return VLLMValidationError(message, parameter=parameter, value=value)


@dataclass
class StructuredOutputsParams:
    json: str | dict | None = None
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None
    if API == "0.11":
        disable_fallback: bool = False
    disable_any_whitespace: bool = False
    disable_additional_properties: bool = False
    whitespace_pattern: str | None = None
    structural_tag: str | None = None
    _backend: str | None = field(default=None, init=False)
    _backend_was_auto: bool = field(default=False, init=False)

    def __post_init__(self):
        count = sum(getattr(self, name) is not None for name in CONSTRAINTS)
        if count > 1:
            raise refusal("You can only use one kind of structured outputs constraint "
                          f"but multiple are specified: {self.__dict__}")
        if count < 1 and API != "0.11":
            raise refusal("You must use one kind of structured outputs constraint "
                          f"but none are specified: {self.__dict__}")


# SamplingParams' public fields and their defaults, in vLLM's order
FIELDS: dict[str, Any] = dict([
    ("n", 1), *before("0.33", ("best_of", None)), ("presence_penalty", 0.0), ("frequency_penalty", 0.0),
    ("repetition_penalty", 1.0), ("temperature", 1.0), *since("0.33", ("watermarking", None)), ("top_p", 1.0),
    ("top_k", 0), ("min_p", 0.0), ("seed", None), ("stop", None), ("stop_token_ids", None), ("ignore_eos", False),
    ("max_tokens", 16), ("min_tokens", 0), ("logprobs", None), ("prompt_logprobs", None),
    *since("0.33", ("prompt_logprob_token_ids", None), ("prompt_logprob_start", None), ("logprob_token_ids", None),
          ("flat_logprobs", False)),
    ("detokenize", True), ("skip_special_tokens", True), ("spaces_between_special_tokens", True),
    *before("0.33", ("logits_processors", None)), ("include_stop_str_in_output", False),
    *before("0.33", ("truncate_prompt_tokens", None)), ("output_kind", None),
    *since("0.33", ("stream_interval", None), ("skip_clone", False)), ("output_text_buffer_length", 0),
    ("structured_outputs", None), *before("0.33", ("guided_decoding", None)), ("logit_bias", None),
    ("allowed_token_ids", None), ("extra_args", None), ("bad_words", None), ("skip_reading_prefix_cache", None),
    *since("0.33", ("thinking_token_budget", None), ("repetition_detection", None), ("routed_experts_prompt_start", 0),
          ("trace_decode_token_ids", None)),
])


class SamplingParams:
    def __init__(self, **kwargs):
        for name in kwargs:
            if name not in FIELDS:
                raise TypeError(f"Unexpected keyword argument '{name}'")  # msgspec.Struct's wording
        for name, default in FIELDS.items():
            setattr(self, name, kwargs.get(name, default))
        self.given = tuple(kwargs)  # what the caller set, for tests
        self._verify_args()

    def _verify_args(self) -> None:
        if self.n < 1:
            raise refusal(f"n must be at least 1, got {self.n}.")
        if not math.isfinite(self.temperature) and API != "0.11":
            raise refusal(f"temperature must be a finite number, got {self.temperature}.", "temperature",
                          self.temperature)
        if self.temperature < 0.0:
            raise refusal(f"temperature must be non-negative, got {self.temperature}.", "temperature", self.temperature)
        if self.temperature > 2.0 and API != "0.11":
            raise refusal(f"temperature must be in [0, 2], got {self.temperature}.", "temperature", self.temperature)
        if not 0.0 < self.top_p <= 1.0:
            raise refusal(f"top_p must be in (0, 1], got {self.top_p}.", "top_p", self.top_p)
        if self.max_tokens is not None and self.max_tokens < 1:
            raise refusal(f"max_tokens must be at least 1, got {self.max_tokens}.", "max_tokens", self.max_tokens)

    def __repr__(self) -> str:
        changed = {k: getattr(self, k) for k, v in FIELDS.items() if getattr(self, k) != v}
        return f"SamplingParams({changed})"


# vLLM's SamplingParams is a msgspec Struct whose fields inspect.signature lists as keyword parameters
SamplingParams.__signature__ = Signature(
    [Parameter(name, Parameter.KEYWORD_ONLY, default=default) for name, default in FIELDS.items()])
