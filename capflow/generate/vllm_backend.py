"""Offline batched generation with vLLM (``pip install capflow[vllm]``).

One ``LLM`` per job; a whole shard goes to ``LLM.chat`` at once so vLLM schedules the batch
itself. The model's own chat template renders the messages (with ``chat_template_kwargs``, which
switch Qwen3's thinking off), and answers are constrained to the query JSON schema through
``SamplingParams(structured_outputs=StructuredOutputsParams(json=schema))``. These calls are the
same from vLLM 0.11 to 0.34; benchmarks/vllm_contract.py checks them against real releases.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from capflow.errors import UserError
from capflow.generate.backend import GenerationRequest, GeneratorSettings, OnAnswer

log = logging.getLogger(__name__)


def refusals() -> tuple[type[Exception], ...]:
    """What vLLM raises for refused settings: ValueError in 0.11, later VLLMValidationError (0.33: no ValueError)."""
    try:
        from vllm.exceptions import VLLMValidationError
    except ImportError:
        return (ValueError,)
    return (ValueError, VLLMValidationError)


class VllmBackend:
    def __init__(self, settings: GeneratorSettings, schema: dict | None):
        try:
            import vllm
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError:
            raise UserError("generation backend 'vllm' needs vLLM: pip install 'capflow[vllm]'") from None
        self.settings = settings
        options, sampling = settings.vllm, settings.sampling
        version = getattr(vllm, "__version__", "?")
        # Built before the model loads, so that settings this vLLM refuses (from 0.24 it caps temperature at 2)
        # stop the job at once, not after minutes of loading weights.
        try:
            structured = None if schema is None else StructuredOutputsParams(json=schema)
            self.sampling_params = vllm.SamplingParams(
                temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=sampling.max_tokens,
                seed=sampling.seed, structured_outputs=structured)
        except refusals() as exc:
            raise UserError(f"vLLM {version} refuses the sampling settings (generate.sampling): {exc}") from None
        log.info("loading %s with vLLM %s (tensor_parallel_size=%d)", settings.model, version,
                 options.tensor_parallel_size)
        self.llm = vllm.LLM(model=settings.model, revision=settings.revision,
                            tensor_parallel_size=options.tensor_parallel_size,
                            gpu_memory_utilization=options.gpu_memory_utilization,
                            max_model_len=options.max_model_len, dtype=options.dtype, seed=sampling.seed)

    def generate(self, requests: Sequence[GenerationRequest], on_answer: OnAnswer | None = None) -> list[str]:
        if not requests:
            return []
        outputs = self.llm.chat([r.messages for r in requests], self.sampling_params, use_tqdm=True,
                                chat_template_kwargs=self.settings.chat_template_kwargs or None)
        if len(outputs) != len(requests):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(requests)} prompts")
        answers = [out.outputs[0].text if out.outputs else "" for out in outputs]
        if on_answer is not None:  # vLLM schedules the whole batch itself: its answers all arrive at the end
            for i, answer in enumerate(answers):
                on_answer(i, answer)
        return answers
