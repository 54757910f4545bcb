"""Fake vLLM for tests: the public names capflow uses, with vLLM's signatures."""

from vllm.api import API
from vllm.entrypoints.llm import LLM
from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import SamplingParams

__version__ = f"{API}.0+fake"
__all__ = ["LLM", "SamplingParams", "RequestOutput", "CompletionOutput"]
