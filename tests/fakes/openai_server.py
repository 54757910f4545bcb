"""A scriptable OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1 for tests.

Like the OpenAI API it answers HTTP 400 with an ``invalid_request_error`` to a body field the API
does not know (``chat_template_kwargs`` included) and to a ``response_format`` schema that is not
a valid JSON Schema. Started with ``mode="vllm"`` it accepts extra fields as ``vllm serve`` does
(which ignores the ones it does not know), but still rejects a malformed schema.

To misbehave on demand, ``respond`` returns a :class:`Raw` payload (see :data:`MISBEHAVIOURS`):
the server writes those bytes in place of a well-formed response and hangs up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from fakes.loopback import LoopbackServer

# The request body fields of OpenAI's chat completions API.
OPENAI_FIELDS = frozenset({
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
    "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
})
MODES = ("openai", "vllm")


@dataclass(frozen=True)
class Raw:
    """Bytes written verbatim instead of an HTTP response, after which the server closes the connection."""

    data: bytes


# What a broken server or proxy sends; each makes Python's http.client raise something different.
MISBEHAVIOURS = {
    # Content-Length promises more than comes: http.client.IncompleteRead
    "body-cut-short": Raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                          b'{"choices": [{"message": '),
    # a status code that is not a number: http.client.BadStatusLine
    "bad-status-line": Raw(b"HTTP/1.1 OK fine\r\n\r\n"),
    # not HTTP at all: http.client.BadStatusLine
    "not-http": Raw(b"SSH-2.0-OpenSSH_9.6\r\n"),
    # the connection closes before any byte: http.client.RemoteDisconnected
    "hang-up": Raw(b""),
    # http.client.HTTPException("got more than 100 headers")
    "too-many-headers": Raw(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Filler-%d: x\r\n" % i for i in range(101))
                            + b"Content-Length: 2\r\n\r\n{}"),
    # an error status whose body breaks off: http.client.IncompleteRead while reading the error
    "error-body-cut-short": Raw(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1000\r\n\r\n{\"error"),
    # a header line over 64 KiB: http.client.LineTooLong
    "header-too-long": Raw(b"HTTP/1.1 200 OK\r\nX-Filler: " + b"x" * 70000 + b"\r\n\r\n"),
}


def invalid_request(message: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}


def check_body(body: dict, mode: str) -> dict | None:
    """The 400 error payload the server answers ``body`` with, or None when the body is acceptable."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if mode == "openai":
        unknown = sorted(set(body) - OPENAI_FIELDS)
        if unknown:
            return invalid_request(f"Unrecognized request argument supplied: {', '.join(unknown)}")
    for name in ("model", "messages"):
        if name not in body:
            return invalid_request(f"Missing required parameter: '{name}'.", name)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        if "name" not in spec or not isinstance(spec.get("schema"), dict):
            return invalid_request("Missing required parameter: 'response_format.json_schema.name' or "
                                   "'response_format.json_schema.schema'.", "response_format")
        try:
            Draft202012Validator.check_schema(spec["schema"])
        except SchemaError as exc:
            return invalid_request(f"Invalid schema for response_format '{spec['name']}': {exc.message}",
                                   "response_format")
    return None


def completion(content: str) -> dict:
    return {"id": "cmpl-1", "object": "chat.completion", "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}]}


def echo_queries(body: dict) -> str:
    """Default answer: one query naming the last message's last line (the passage, in our prompts)."""
    user = body["messages"][-1]["content"]
    return json.dumps({"queries": [f"about {user.strip().splitlines()[-1][:40]}"]})


class FakeOpenAIServer(LoopbackServer):
    """``respond(body, attempt) -> (status, payload dict | str | Raw, headers, delay_s)``; attempt counts per body.

    ``respond`` only sees bodies the server accepts (see :func:`check_body`); the others get a 400.
    """

    def __init__(self, respond: Callable | None = None, mode: str = "openai"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.respond = respond or (lambda body, attempt: (200, completion(echo_queries(body)), {}, 0.0))
        self.requests: list[dict] = []
        self.attempts: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = json.dumps(body.get("messages"), sort_keys=True)
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                    server.attempts[key] = attempt = server.attempts.get(key, 0) + 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    error = check_body(body, server.mode)
                    if error is None:
                        status, payload, headers, delay = server.respond(body, attempt)
                    else:
                        status, payload, headers, delay = 400, error, {}, 0.0
                    time.sleep(delay)
                    if isinstance(payload, Raw):
                        self.wfile.write(payload.data)
                        self.close_connection = True
                        return
                    data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.serve(Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
