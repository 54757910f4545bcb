"""The exceptions of vLLM 0.33 and 0.34, where VLLMValidationError is no ValueError. vLLM 0.11 has no
vllm.exceptions and raises ValueErrors."""

from __future__ import annotations

from typing import Any

from vllm.api import API

if API == "0.11":
    raise ImportError("vLLM 0.11 has no vllm.exceptions")


class VLLMError(Exception):
    pass


class VLLMClientError(VLLMError):
    pass


class VLLMValidationError(VLLMClientError):
    def __init__(self, message: str, *, parameter: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.parameter, self.value = parameter, value

    def __str__(self) -> str:
        extras = [f"{name}={getattr(self, name)}" for name in ("parameter", "value") if getattr(self, name) is not None]
        return f"{super().__str__()} ({', '.join(extras)})" if extras else super().__str__()
