"""Generation through any OpenAI-compatible ``/v1/chat/completions`` endpoint (e.g. ``vllm serve``).

Standard library only. Requests run on a bounded thread pool, and each answer goes to the caller
as soon as it arrives. 429, 5xx, timeouts, dropped connections and broken HTTP responses (a body
cut short, a garbled status line, too many or too long headers) are retried with exponential
backoff (honouring ``Retry-After``); any other HTTP error (bad model name, bad key, bad request)
fails the job at once, since every request would meet it.
Answers are constrained with ``response_format`` ``json_schema`` where the schema is given. The
body holds only fields of the OpenAI API unless ``send_chat_template_kwargs`` adds the
``chat_template_kwargs`` field that vLLM-style servers pass to the chat template.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from capflow.errors import UserError
from capflow.generate.backend import GenerationRequest, GeneratorSettings, OnAnswer

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 60.0


class Stopped(Exception):
    """Another request of the same batch failed; this one stops instead of retrying."""


def wait_before_retry(delay: float, stop: threading.Event) -> None:
    stop.wait(delay)


class RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIBackend:
    def __init__(self, settings: GeneratorSettings, schema: dict | None):
        self.settings = settings
        self.options = settings.openai
        if self.options.concurrency < 1 or self.options.max_retries < 0 or self.options.timeout_s <= 0:
            raise UserError("openai backend: concurrency >= 1, max_retries >= 0 and timeout_s > 0 are required")
        self.url = self.options.base_url.rstrip("/") + "/chat/completions"
        self.headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(self.options.api_key_env) if self.options.api_key_env else None
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        sampling = settings.sampling
        self.body_template = {
            "model": settings.model, "temperature": sampling.temperature, "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens, "seed": sampling.seed,
        }
        if schema is not None:
            self.body_template["response_format"] = {
                "type": "json_schema", "json_schema": {"name": "queries", "schema": schema, "strict": True}}
        if self.options.send_chat_template_kwargs and settings.chat_template_kwargs:
            self.body_template["chat_template_kwargs"] = settings.chat_template_kwargs
        self.body_template.update(self.options.extra_body)

    def generate(self, requests: Sequence[GenerationRequest], on_answer: OnAnswer | None = None) -> list[str]:
        if not requests:
            return []
        answers: list[str] = [""] * len(requests)
        handed: set[int] = set()
        in_callback = False
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="openai")
        index = {pool.submit(self.complete, r.messages, stop): i for i, r in enumerate(requests)}
        try:
            for done, future in enumerate(as_completed(index), start=1):
                i = index[future]
                answers[i] = future.result()
                if on_answer is not None:
                    in_callback = True
                    on_answer(i, answers[i])
                    in_callback = False
                handed.add(i)
                if done % 1000 == 0:
                    log.info("%d/%d answers", done, len(requests))
        except BaseException:
            # Requests already on the wire finish (each within timeout_s) but none retries or starts,
            # so no thread of this batch outlives the call; the answers they bring are handed over too.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            if on_answer is not None and not in_callback:
                for future, i in index.items():
                    if i not in handed and not future.cancelled() and future.exception() is None:
                        on_answer(i, future.result())
            raise
        pool.shutdown()
        return answers

    def complete(self, messages, stop: threading.Event) -> str:
        """One chat completion's text, retrying transient failures until ``stop`` is set."""
        body = json.dumps({**self.body_template, "messages": messages}).encode("utf-8")
        attempt = 0
        while True:
            if stop.is_set():
                raise Stopped()
            try:
                return self._post(body)
            except RetryableError as exc:
                if attempt >= self.options.max_retries:
                    raise UserError(f"openai backend: {self.url}: giving up after {attempt + 1} attempts: "
                                    f"{exc}") from None
                delay = min(MAX_BACKOFF_S, self.options.backoff_s * 2 ** attempt)
                if exc.retry_after is not None:
                    delay = max(delay, min(MAX_BACKOFF_S, exc.retry_after))
                log.warning("openai backend: %s; retry %d/%d in %.1fs", exc, attempt + 1,
                            self.options.max_retries, delay)
                wait_before_retry(delay, stop)
                attempt += 1

    def _post(self, body: bytes) -> str:
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in RETRY_STATUS:
                raise RetryableError(f"HTTP {exc.code}", _retry_after(exc.headers.get("Retry-After"))) from None
            raise UserError(f"openai backend: {self.url}: HTTP {exc.code}: {_error_detail(exc)}") from None
        except TimeoutError:
            raise RetryableError(f"timed out after {self.options.timeout_s}s") from None
        except (urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise RetryableError(f"timed out after {self.options.timeout_s}s") from None
            raise RetryableError(f"connection failed: {reason}") from None
        except http.client.IncompleteRead as exc:
            more = "" if exc.expected is None else f" ({exc.expected} more expected)"
            raise RetryableError(f"response cut short after {len(exc.partial)} bytes{more}") from None
        except http.client.HTTPException as exc:  # a bad status line, too many or too long headers
            raise RetryableError(f"malformed HTTP response: {type(exc).__name__}: {_first_line(exc)}") from None
        # a malformed response body is the server's garbage, not the job's failure: an empty answer (a reject)
        try:
            message = json.loads(payload)["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            log.warning("openai backend: response without choices[0].message: %r", payload[:200])
            return ""
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            if content is not None or not isinstance(message, dict):
                log.warning("openai backend: choices[0].message has no text content: %r", payload[:200])
            return ""
        return content


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read()[:300].decode("utf-8", "replace").strip()
    except (http.client.HTTPException, OSError):  # the error's own body broken off
        return "(the response body was cut short)"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "(no detail)"


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
