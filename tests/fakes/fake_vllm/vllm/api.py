"""Which vLLM API the fake mimics, and that API's signatures.

``FAKE_VLLM_API`` picks one when ``vllm`` is first imported: ``0.11`` (vLLM 0.11.x), ``0.33`` or ``0.34``
(the default). benchmarks/vllm_contract.py compares each with the real release, and the test
suite with the descriptions recorded in tests/fakes/fake_vllm/api/.
"""

from __future__ import annotations

import os
from inspect import Parameter, Signature

GENERATIONS = ("0.11", "0.33", "0.34")
API = os.environ.get("FAKE_VLLM_API", GENERATIONS[-1])
if API not in GENERATIONS:
    raise ImportError(f"FAKE_VLLM_API={API!r}: the fake mimics vLLM {', '.join(GENERATIONS)}")

REQUIRED = Parameter.empty


def signature(positional: list[tuple[str, object]], keyword_only: list[tuple[str, object]] = (),
              var_keyword: bool = False) -> Signature:
    """A method's signature: ``self``, then (name, default) pairs, then optionally ``**kwargs``."""
    params = [Parameter("self", Parameter.POSITIONAL_OR_KEYWORD)]
    params += [Parameter(name, Parameter.POSITIONAL_OR_KEYWORD, default=default) for name, default in positional]
    params += [Parameter(name, Parameter.KEYWORD_ONLY, default=default) for name, default in keyword_only]
    if var_keyword:
        params.append(Parameter("kwargs", Parameter.VAR_KEYWORD))
    return Signature(params)


def since(generation: str, *items: tuple[str, object]) -> list[tuple[str, object]]:
    """The items if the API mimicked is ``generation``'s or newer."""
    return list(items) if GENERATIONS.index(API) >= GENERATIONS.index(generation) else []


def before(generation: str, *items: tuple[str, object]) -> list[tuple[str, object]]:
    """The items if the API mimicked is older than ``generation``'s."""
    return [] if since(generation, *items) else list(items)


# LLM(model, *, ..., **engine_args): keyword-only parameters in vLLM's order
LLM_INIT = signature([("model", REQUIRED)], [
    ("runner", "auto"), ("convert", "auto"), ("tokenizer", None), ("tokenizer_mode", "auto"),
    ("skip_tokenizer_init", False), ("trust_remote_code", False), ("allowed_local_media_path", ""),
    ("allowed_media_domains", None), ("tensor_parallel_size", 1), ("dtype", "auto"), ("quantization", None),
    ("revision", None), ("tokenizer_revision", None),
    *before("0.33", ("seed", None)), *since("0.33", ("chat_template", None), ("seed", 0)),
    ("gpu_memory_utilization", {"0.11": 0.9, "0.33": 0.92, "0.34": None}[API]),
    *before("0.33", ("swap_space", 4)),
    ("cpu_offload_gb", 0),
    *since("0.33", ("offload_group_size", 0), ("offload_num_in_group", 1), ("offload_prefetch_step", 1),
          ("offload_params", None)),
    ("enforce_eager", False),
    *since("0.33", ("enable_return_routed_experts", False), ("return_sampling_mask", False)),
    ("disable_custom_all_reduce", False), ("hf_token", None), ("hf_overrides", None),
    ("mm_processor_kwargs", None), ("pooler_config", None),
    *before("0.33", ("override_pooler_config", None)),
    ("structured_outputs_config", None),
    *since("0.33", ("profiler_config", None), ("attention_config", None)),
    ("kv_cache_memory_bytes", None),
    *since("0.34", ("enable_extensible_kv_cache", None)),
    ("compilation_config", None),
    *since("0.33", ("quantization_config", None)),
    ("logits_processors", None),
    *since("0.33", ("spec_method", None), ("spec_model", None), ("spec_tokens", None)),
], var_keyword=True)

CHAT = signature([
    ("messages", REQUIRED), ("sampling_params", None), ("use_tqdm", True), ("lora_request", None),
    *since("0.33", ("priority", None)),
    ("chat_template", None), ("chat_template_content_format", "auto"), ("add_generation_prompt", True),
    ("continue_final_message", False), ("tools", None), ("chat_template_kwargs", None),
    *since("0.33", ("tokenization_kwargs", None)),
    ("mm_processor_kwargs", None),
])
