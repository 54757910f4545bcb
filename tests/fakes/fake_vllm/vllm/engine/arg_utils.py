"""EngineArgs: the engine settings LLM(**kwargs) forwards, a subset of vLLM's (which has some 200 fields).

Only the names matter here: LLM refuses any other keyword, as vLLM refuses one that is no field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

NAMES = ("max_model_len", "max_num_seqs", "max_num_batched_tokens", "enable_prefix_caching", "enable_chunked_prefill",
         "pipeline_parallel_size", "data_parallel_size", "distributed_executor_backend", "download_dir",
         "load_format", "disable_log_stats", "block_size", "kv_cache_dtype", "max_logprobs", "generation_config",
         "enable_lora", "max_lora_rank", "limit_mm_per_prompt", "served_model_name", "worker_cls",
         "kv_transfer_config")

EngineArgs = dataclasses.make_dataclass("EngineArgs", [(name, Any, dataclasses.field(default=None)) for name in NAMES])
