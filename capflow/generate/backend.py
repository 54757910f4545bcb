"""The one interface every query generator implements, its settings, and the factory.

A backend turns a batch of :class:`GenerationRequest` into one raw answer string per request, in
order, and hands each answer to ``on_answer(index, answer)`` as soon as it has it, so the caller
can keep it before the batch ends. LLM backends send ``request.messages`` (the rendered prompt);
the heuristic backend reads ``request.passage`` and ``request.kind`` directly. Every answer then
goes through the same parser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from capflow.errors import UserError
from capflow.prompts import Messages

BACKENDS = ("heuristic", "vllm", "openai", "transformers")
HEURISTIC_LABEL = "heuristic (no LLM)"


@dataclass(frozen=True)
class GenerationRequest:
    passage_id: str
    passage: str
    kind: str  # sm | kw
    messages: Messages | None  # None where the backend needs no prompt (heuristic)


# The settings of each backend, defined once: `capflow generate`'s flags, the config schema's
# defaults (held equal by the tests) and the workflow's command lines follow from these fields
# (capflow.settingflags). The workflow writes them in field order, so a reordered field reruns
# generation.
@dataclass
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.8
    max_tokens: int = field(default=512, metadata={"help": "answer length limit (tokens)"})
    seed: int = 0


@dataclass
class VllmOptions:
    dtype: str = "auto"
    gpu_memory_utilization: float = 0.9
    max_model_len: int = 4096
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs per generation job"})


@dataclass
class OpenAIOptions:
    api_key_env: str = field(default="OPENAI_API_KEY",
                             metadata={"help": "environment variable holding the API key (unset: no key)"})
    backoff_s: float = field(default=1.0, metadata={"help": "first retry delay, doubled on each retry"})
    base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "e.g. http://host:8000/v1"})
    concurrency: int = field(default=16, metadata={"help": "requests in flight"})
    max_retries: int = field(default=5, metadata={"help": "retries on 429/5xx/timeouts"})
    timeout_s: float = 120.0
    extra_body: dict = field(default_factory=dict, metadata={"help": "JSON merged into each request body"})
    # chat_template_kwargs is a vLLM server extension the OpenAI API rejects: sent only when asked for
    send_chat_template_kwargs: bool = field(
        default=False, metadata={"help": "send --chat-template-kwargs as the request field of that name (vLLM-style "
                                         "servers; the OpenAI API rejects it)"})


@dataclass
class TransformersOptions:
    batch_size: int = 8
    device: str | None = field(default=None, metadata={"help": "torch device (default: cuda, then mps, then cpu)"})


@dataclass
class GeneratorSettings:
    backend: str = "heuristic"
    model: str | None = None
    revision: str | None = None  # a hub commit pins the LLM (vllm, transformers)
    language: str = "en"
    max_query_chars: int = 128
    sampling: Sampling = field(default_factory=Sampling)
    # passed to the chat template: Qwen3's thinking mode is switched off by default
    chat_template_kwargs: dict = field(default_factory=lambda: {"enable_thinking": False})
    structured_output: bool = True
    vllm: VllmOptions = field(default_factory=VllmOptions)
    openai: OpenAIOptions = field(default_factory=OpenAIOptions)
    transformers: TransformersOptions = field(default_factory=TransformersOptions)

    @property
    def label(self) -> str:
        """How tables name the generator."""
        return HEURISTIC_LABEL if self.backend == "heuristic" else f"{self.model} ({self.backend})"

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"unknown generation backend '{self.backend}' (choose from {', '.join(BACKENDS)})")
        if self.backend != "heuristic" and not self.model:
            raise UserError(f"generation backend '{self.backend}' needs a model")
        if self.max_query_chars < 1:
            raise UserError("max_query_chars must be at least 1")
        if self.sampling.max_tokens < 1:
            raise UserError("sampling max_tokens must be at least 1")
        if self.sampling.temperature < 0:
            raise UserError("sampling temperature must be >= 0")
        if not 0 < self.sampling.top_p <= 1:
            raise UserError("sampling top_p must be in (0, 1]")


OnAnswer = Callable[[int, str], None]


class Backend(Protocol):
    def generate(self, requests: Sequence[GenerationRequest], on_answer: OnAnswer | None = None) -> list[str]:
        """One raw answer per request, in order; each also goes to ``on_answer`` (any order) on arrival."""


def make_backend(settings: GeneratorSettings, schema: dict | None) -> Backend:
    """The backend ``settings`` names; ``schema`` is the answer's JSON schema for structured output."""
    settings.check()
    schema = schema if settings.structured_output else None
    if settings.backend == "heuristic":
        from capflow.generate.heuristic import HeuristicBackend

        return HeuristicBackend(settings.language)
    if settings.backend == "vllm":
        from capflow.generate.vllm_backend import VllmBackend

        return VllmBackend(settings, schema)
    if settings.backend == "openai":
        from capflow.generate.openai_backend import OpenAIBackend

        return OpenAIBackend(settings, schema)
    from capflow.generate.transformers_backend import TransformersBackend

    return TransformersBackend(settings)
