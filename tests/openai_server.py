"""A scriptable OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1 for tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Callable

from loopback import LoopbackServer


def completion(content: str) -> dict:
    return {"id": "cmpl-1", "object": "chat.completion", "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}]}


def echo_queries(body: dict) -> str:
    """Default answer: one query naming the last message's last line (the passage, in our prompts)."""
    user = body["messages"][-1]["content"]
    return json.dumps({"queries": [f"about {user.strip().splitlines()[-1][:40]}"]})


class FakeOpenAIServer(LoopbackServer):
    """``respond(body, attempt) -> (status, payload dict | str, headers, delay_s)``; attempt counts per body."""

    def __init__(self, respond: Callable | None = None):
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
                key = json.dumps(body["messages"], sort_keys=True)
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                    server.attempts[key] = attempt = server.attempts.get(key, 0) + 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, payload, headers, delay = server.respond(body, attempt)
                    time.sleep(delay)
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
