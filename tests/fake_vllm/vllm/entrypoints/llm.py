"""LLM with vLLM's constructor and chat() signatures; a deterministic stand-in for the model."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import SamplingParams

# EngineArgs fields LLM(**kwargs) forwards (a subset of vLLM's; anything else is a TypeError there too)
ENGINE_ARGS = frozenset({
    "max_model_len", "max_num_seqs", "max_num_batched_tokens", "enable_prefix_caching",
    "enable_chunked_prefill", "pipeline_parallel_size", "data_parallel_size",
    "distributed_executor_backend", "download_dir", "load_format", "disable_log_stats", "block_size",
    "kv_cache_dtype", "max_logprobs", "generation_config", "enable_lora", "max_lora_rank",
    "limit_mm_per_prompt", "served_model_name", "worker_cls", "kv_transfer_config",
})


def default_responder(conversation: list[dict], params: SamplingParams) -> str:
    """The fake model: a few deterministic queries derived from the prompt."""
    prompt = "\n".join(m["content"] for m in conversation)
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    answer = json.dumps({"queries": [f"query {digest[:6]}", f"query {digest[6:12]}"]})
    if params.structured_outputs is None:  # unconstrained models wrap JSON in prose
        answer = f"Here are the queries:\n```json\n{answer}\n```"
    return answer


RESPONDER: Callable[[list[dict], SamplingParams], str] = default_responder
INSTANCES: list["LLM"] = []


class LLM:
    def __init__(self, model: str, *, runner: str = "auto", convert: str = "auto", tokenizer: str | None = None,
                 tokenizer_mode: str = "auto", skip_tokenizer_init: bool = False, trust_remote_code: bool = False,
                 allowed_local_media_path: str = "", allowed_media_domains: list[str] | None = None,
                 tensor_parallel_size: int = 1, dtype: str = "auto", quantization: str | None = None,
                 revision: str | None = None, tokenizer_revision: str | None = None, seed: int = 0,
                 gpu_memory_utilization: float = 0.9, swap_space: float = 4, cpu_offload_gb: float = 0,
                 enforce_eager: bool = False, disable_custom_all_reduce: bool = False,
                 hf_token: bool | str | None = None, hf_overrides: Any = None,
                 mm_processor_kwargs: dict | None = None, pooler_config: Any = None,
                 structured_outputs_config: Any = None, kv_cache_memory_bytes: int | None = None,
                 compilation_config: Any = None, logits_processors: list | None = None, **kwargs: Any) -> None:
        for name in kwargs:
            if name not in ENGINE_ARGS:
                raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument '{name}'")
        if not isinstance(model, str) or not model:
            raise ValueError("model must be a non-empty string")
        if not isinstance(tensor_parallel_size, int) or tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size must be a positive int, got {tensor_parallel_size!r}")
        if not 0 < gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        max_model_len = kwargs.get("max_model_len")
        if max_model_len is not None and (not isinstance(max_model_len, int) or max_model_len < 1):
            raise ValueError(f"max_model_len must be a positive int, got {max_model_len!r}")
        self.init_kwargs = {"model": model, "revision": revision, "tensor_parallel_size": tensor_parallel_size,
                            "dtype": dtype, "seed": seed, "gpu_memory_utilization": gpu_memory_utilization, **kwargs}
        self.calls: list[dict] = []
        INSTANCES.append(self)

    def chat(self, messages, sampling_params: SamplingParams | list[SamplingParams] | None = None,
             use_tqdm: bool | Callable = True, lora_request: Any = None, chat_template: str | None = None,
             chat_template_content_format: str = "auto", add_generation_prompt: bool = True,
             continue_final_message: bool = False, tools: list[dict] | None = None,
             chat_template_kwargs: dict[str, Any] | None = None, tokenization_kwargs: dict[str, Any] | None = None,
             mm_processor_kwargs: dict[str, Any] | None = None) -> list[RequestOutput]:
        conversations = [messages] if messages and isinstance(messages[0], dict) else list(messages)
        for conversation in conversations:
            for message in conversation:
                if not isinstance(message, dict) or "role" not in message or "content" not in message:
                    raise ValueError(f"each message needs 'role' and 'content', got {message!r}")
        if sampling_params is None:
            sampling_params = SamplingParams()
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(conversations)
        if len(params) != len(conversations):
            raise ValueError("The lengths of prompts and sampling_params must be the same.")
        if add_generation_prompt and continue_final_message:
            raise ValueError("continue_final_message cannot be True when add_generation_prompt is True")
        self.calls.append({"conversations": conversations, "sampling_params": params, "use_tqdm": use_tqdm,
                           "chat_template_kwargs": chat_template_kwargs})
        outputs = []
        for i, (conversation, p) in enumerate(zip(conversations, params)):
            text = RESPONDER(conversation, p)
            finish = "stop"
            if p.max_tokens is not None and len(text) > p.max_tokens:  # one character per "token"
                text, finish = text[:p.max_tokens], "length"
            outputs.append(RequestOutput(
                request_id=str(i), prompt=None, prompt_token_ids=[], prompt_logprobs=None,
                outputs=[CompletionOutput(0, text, [], None, None, finish)], finished=True))
        return outputs
