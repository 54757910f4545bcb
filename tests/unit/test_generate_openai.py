"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1."""

import itertools
import json
import threading
import time

import pytest

from capflow.errors import UserError
from capflow.generate.backend import GenerationRequest, GeneratorSettings, OpenAIOptions, Sampling, make_backend
from capflow.prompts import load_prompts

from fakes.openai_server import MISBEHAVIOURS, FakeOpenAIServer, Raw, completion, echo_queries

SCHEMA = {"type": "object", "properties": {"queries": {"type": "array", "items": {"type": "string"}}},
          "required": ["queries"]}


def backend_for(server, schema=SCHEMA, **options):
    opts = {"base_url": server.base_url, "concurrency": 4, "timeout_s": 5.0, "max_retries": 3, "backoff_s": 0.01,
            **options}
    settings = GeneratorSettings(backend="openai", model="Qwen/Qwen3-32B",
                                 sampling=Sampling(temperature=0.5, top_p=0.9, max_tokens=200, seed=3),
                                 openai=OpenAIOptions(**opts))
    return make_backend(settings, schema)


def requests_for(n, kind="kw"):
    return [GenerationRequest(f"p{i}", f"passage {i}", kind,
                              [{"role": "system", "content": "s"}, {"role": "user", "content": f"passage {i}"}])
            for i in range(n)]


def test_request_body_carries_sampling_and_schema_and_only_openai_fields(monkeypatch):
    monkeypatch.setenv("CAPFLOW_TEST_KEY", "sk-test")
    with FakeOpenAIServer() as server:  # answers 400 to any field the OpenAI API does not know
        answers = backend_for(server, api_key_env="CAPFLOW_TEST_KEY").generate(requests_for(3))
    assert [json.loads(a)["queries"] for a in answers] == [["about passage 0"], ["about passage 1"],
                                                          ["about passage 2"]]
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["body"]
    assert (body["model"], body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
        "Qwen/Qwen3-32B", 0.5, 0.9, 200, 3)
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "queries", "schema": SCHEMA, "strict": True}}
    assert sorted(body) == ["max_tokens", "messages", "model", "response_format", "seed", "temperature", "top_p"]


def test_chat_template_kwargs_go_to_a_vllm_server_when_asked_for():
    with FakeOpenAIServer(mode="vllm") as server:
        backend_for(server, send_chat_template_kwargs=True).generate(requests_for(1))
    assert server.requests[0]["body"]["chat_template_kwargs"] == {"enable_thinking": False}


def test_the_openai_api_rejects_chat_template_kwargs_in_one_line():
    with FakeOpenAIServer() as server:
        with pytest.raises(UserError, match=r"HTTP 400: .*Unrecognized request argument supplied: "
                                            r"chat_template_kwargs"):
            backend_for(server, send_chat_template_kwargs=True).generate(requests_for(2))


def test_fake_server_answers_400_like_the_openai_api():
    """A test of the fake alone: unknown fields and malformed schemas are refused, except that a
    vLLM-mode server takes vLLM's extra sampling fields."""
    with FakeOpenAIServer() as server:
        with pytest.raises(UserError, match="Unrecognized request argument supplied: top_k"):
            backend_for(server, extra_body={"top_k": 20}).generate(requests_for(1))
        with pytest.raises(UserError, match="Invalid schema for response_format 'queries': 'objekt' is not valid"):
            backend_for(server, schema={"type": "objekt"}).generate(requests_for(1))
    with FakeOpenAIServer(mode="vllm") as server:
        assert backend_for(server, extra_body={"top_k": 20}).generate(requests_for(1)) == [
            '{"queries": ["about passage 0"]}']
        with pytest.raises(UserError, match="Invalid schema"):
            backend_for(server, schema={"type": "objekt"}).generate(requests_for(1))


def test_the_cli_flag_sets_the_option():
    import argparse

    from capflow.generate import configure_parser, settings_from_args

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    base = ["--passages", "p.jsonl", "--kind", "kw", "--out", "q", "--stats", "s", "--rejects", "r"]
    assert not settings_from_args(parser.parse_args(base)).openai.send_chat_template_kwargs
    flagged = settings_from_args(parser.parse_args(base + ["--send-chat-template-kwargs"]))
    assert flagged.openai.send_chat_template_kwargs


def test_no_key_no_authorization_header(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer() as server:
        backend_for(server, schema=None).generate(requests_for(1))
    assert "Authorization" not in server.requests[0]["headers"]
    assert "response_format" not in server.requests[0]["body"]


def test_a_500_is_retried_until_it_succeeds():
    def flaky(body, attempt):
        if attempt == 1:
            return 500, {"error": "overloaded"}, {}, 0.0
        return 200, completion(echo_queries(body)), {}, 0.0

    with FakeOpenAIServer(flaky) as server:
        answers = backend_for(server).generate(requests_for(4))
    assert len(server.requests) == 8  # every request failed once, then succeeded
    assert [json.loads(a)["queries"] for a in answers] == [[f"about passage {i}"] for i in range(4)]


def test_a_timeout_is_retried():
    # The first answer comes far past the client's timeout; the retry's answer at once, so even a
    # loaded machine answers it well within the timeout.
    def slow_first(body, attempt):
        return 200, completion(echo_queries(body)), {}, (30.0 if attempt == 1 else 0.0)

    with FakeOpenAIServer(slow_first) as server:
        answers = backend_for(server, timeout_s=2.0).generate(requests_for(2))
    assert len(server.requests) == 4
    assert [json.loads(a)["queries"] for a in answers] == [["about passage 0"], ["about passage 1"]]


def test_429_waits_at_least_retry_after(monkeypatch):
    waits = []
    monkeypatch.setattr("capflow.generate.openai_backend.wait_before_retry", lambda delay, stop: waits.append(delay))

    def limited(body, attempt):
        if attempt < 3:
            return 429, {"error": "rate"}, {"Retry-After": "2"}, 0.0
        return 200, completion('{"queries": ["ok"]}'), {}, 0.0

    with FakeOpenAIServer(limited) as server:
        assert backend_for(server).generate(requests_for(1)) == ['{"queries": ["ok"]}']
    assert waits == [2.0, 2.0]


def test_backoff_doubles_and_then_gives_up_with_one_line(monkeypatch):
    waits = []
    monkeypatch.setattr("capflow.generate.openai_backend.wait_before_retry", lambda delay, stop: waits.append(delay))
    with FakeOpenAIServer(lambda body, attempt: (503, {"error": "down"}, {}, 0.0)) as server:
        with pytest.raises(UserError, match="giving up after 4 attempts: HTTP 503"):
            backend_for(server, concurrency=1, backoff_s=0.5).generate(requests_for(1))
    assert waits == [0.5, 1.0, 2.0]


def test_a_client_error_fails_at_once_with_the_server_message():
    with FakeOpenAIServer(lambda body, attempt: (404, {"error": "model 'x' not found"}, {}, 0.0)) as server:
        with pytest.raises(UserError, match="HTTP 404: .*model 'x' not found"):
            backend_for(server).generate(requests_for(3))
    assert len(server.requests) <= 3  # no retries


def test_a_refused_connection_is_retried_then_reported():
    with FakeOpenAIServer() as server:
        url = server.base_url
    settings = GeneratorSettings(backend="openai", model="m",
                                 openai=OpenAIOptions(base_url=url, max_retries=1, backoff_s=0.0, timeout_s=1.0))
    with pytest.raises(UserError, match="giving up after 2 attempts: connection failed"):
        make_backend(settings, None).generate(requests_for(1))


def test_concurrency_is_bounded_and_order_kept(monkeypatch):
    # Counted on the client, around the whole request of this backend alone: the server's own count
    # would see a new request arrive before its handler thread has finished with the previous one.
    lock = threading.Lock()
    in_flight, seen = [0], []

    # The first three requests wait for one another, so the client must really hold three at once;
    # a client that sent one at a time would break the barrier (BrokenBarrierError -> HTTP 500s).
    barrier = threading.Barrier(3, timeout=60)
    arrivals = itertools.count(1)

    def answer(body, attempt):
        if next(arrivals) <= 3:
            barrier.wait()
        return 200, completion(echo_queries(body)), {}, 0.0

    with FakeOpenAIServer(answer) as server:
        backend = backend_for(server, concurrency=3, max_retries=0, timeout_s=60.0)
        post = backend._post

        def counted_post(body):
            with lock:
                in_flight[0] += 1
                seen.append(in_flight[0])
            try:
                return post(body)
            finally:
                with lock:
                    in_flight[0] -= 1

        monkeypatch.setattr(backend, "_post", counted_post)
        answers = backend.generate(requests_for(12))
    assert max(seen) == 3
    assert len(server.requests) == 12
    assert [json.loads(a)["queries"][0] for a in answers] == [f"about passage {i}" for i in range(12)]


def test_a_failed_batch_leaves_no_request_running():
    # The first request fails at once; the others are slow and would be retried. When generate()
    # raises, nothing of the batch may still be running or start later.
    def answer(body, attempt):
        if "passage 0" in json.dumps(body):
            return 404, {"error": "model 'x' not found"}, {}, 0.0
        return 503, {"error": "busy"}, {}, 1.0

    with FakeOpenAIServer(answer) as server:
        with pytest.raises(UserError, match="HTTP 404"):
            backend_for(server, concurrency=4, backoff_s=0.5).generate(requests_for(8))
        assert not [t for t in threading.enumerate() if t.name.startswith("openai")]
        sent = len(server.requests)
        time.sleep(1.0)
        assert len(server.requests) == sent
    assert max(server.attempts.values()) == 1  # those on the wire when it failed were not retried


def test_garbage_bodies_become_empty_answers_not_crashes():
    with FakeOpenAIServer(lambda body, attempt: (200, "not json at all", {}, 0.0)) as server:
        assert backend_for(server).generate(requests_for(2)) == ["", ""]


def test_shipped_prompts_travel_as_chat_messages(repo_root):
    prompts = load_prompts(repo_root / "config" / "prompts" / "en.yaml")
    request = GenerationRequest("p", "A red cat.", "sm", prompts.messages("sm", "A red cat."))
    with FakeOpenAIServer() as server:
        backend_for(server, schema=prompts.schema).generate([request])
    assert server.requests[0]["body"]["messages"] == prompts.messages("sm", "A red cat.")


@pytest.mark.parametrize("payload", [
    {"choices": [{"message": "just a string"}]},
    {"choices": [{"message": {"role": "assistant", "content": [{"type": "text", "text": "[\"a\"]"}]}}]},
    {"choices": [{"message": {"role": "assistant", "content": 42}}]},
    {"choices": [{"message": {"role": "assistant", "content": None}}]},
    "{\"choices\": " + "[" * 100000,
], ids=["message-string", "content-list", "content-int", "content-null", "deeply-nested-body"])
def test_odd_messages_become_empty_answers_not_crashes(payload):
    with FakeOpenAIServer(lambda body, attempt: (200, payload, {}, 0.0)) as server:
        assert backend_for(server).generate(requests_for(2)) == ["", ""]


def test_a_deeply_nested_answer_is_a_reject_not_a_crash():
    from capflow.generate.shards import collect

    answer = "[" * 100000
    with FakeOpenAIServer(lambda body, attempt: (200, completion(answer), {}, 0.0)) as server:
        requests = requests_for(1)
        answers = backend_for(server).generate(requests)
    queries, rejects = collect(requests, answers, max_chars=64)
    assert queries == []
    assert [(r["passage_id"], r["reason"]) for r in rejects] == [("p0", "unparseable: JSON nested too deeply")]


@pytest.mark.parametrize("misbehaviour", sorted(MISBEHAVIOURS))
def test_a_broken_http_response_is_retried_like_a_refused_connection(misbehaviour, monkeypatch):
    waits = []
    monkeypatch.setattr("capflow.generate.openai_backend.wait_before_retry", lambda delay, stop: waits.append(delay))

    def broken_first(body, attempt):
        if attempt == 1:
            return 200, MISBEHAVIOURS[misbehaviour], {}, 0.0
        return 200, completion(echo_queries(body)), {}, 0.0

    with FakeOpenAIServer(broken_first) as server:
        answers = backend_for(server, concurrency=2, backoff_s=0.25).generate(requests_for(3))
    assert [json.loads(a)["queries"] for a in answers] == [[f"about passage {i}"] for i in range(3)]
    assert sorted(server.attempts.values()) == [2, 2, 2]
    assert waits == [0.25, 0.25, 0.25]  # the first step of the same backoff as for any transient failure


@pytest.mark.parametrize("misbehaviour, reason", [
    ("body-cut-short", "response cut short after 25 bytes (975 more expected)"),
    ("bad-status-line", "malformed HTTP response: BadStatusLine: HTTP/1.1 OK fine"),
    ("not-http", "malformed HTTP response: BadStatusLine: SSH-2.0-OpenSSH_9.6"),
    ("hang-up", "connection failed: Remote end closed connection without response"),
    ("error-body-cut-short", "HTTP 503"),
    ("too-many-headers", "malformed HTTP response: HTTPException: got more than 100 headers"),
    ("header-too-long", "malformed HTTP response: LineTooLong: got more than 65536 bytes when reading header line"),
])
def test_a_server_that_keeps_breaking_is_given_up_in_one_line(misbehaviour, reason):
    with FakeOpenAIServer(lambda body, attempt: (200, MISBEHAVIOURS[misbehaviour], {}, 0.0)) as server:
        with pytest.raises(UserError) as caught:
            backend_for(server, concurrency=1, max_retries=2, backoff_s=0.0).generate(requests_for(1))
    url = f"{server.base_url}/chat/completions"
    assert str(caught.value) == f"openai backend: {url}: giving up after 3 attempts: {reason}"
    assert server.attempts and list(server.attempts.values()) == [3]


def test_a_client_error_whose_body_breaks_off_is_still_one_line():
    cut = Raw(b"HTTP/1.1 404 Not Found\r\nContent-Length: 1000\r\n\r\n{\"error\": \"model")
    with FakeOpenAIServer(lambda body, attempt: (404, cut, {}, 0.0)) as server:
        with pytest.raises(UserError) as caught:
            backend_for(server, concurrency=1).generate(requests_for(1))
    assert str(caught.value) == (f"openai backend: {server.base_url}/chat/completions: HTTP 404: "
                                 "(the response body was cut short)")
    assert len(server.requests) == 1


def test_each_answer_is_handed_over_as_it_arrives():
    # passage 0 is answered only once passage 1's answer has reached the caller: a backend that
    # handed answers over in request order, or at the end, would wait here forever (the server
    # then gives up and answers 500, which fails the batch after no retry)
    handed_1 = threading.Event()

    def answer(body, attempt):
        if "passage 0" in json.dumps(body) and not handed_1.wait(30):
            return 500, {"error": "passage 1 was never handed over"}, {}, 0.0
        return 200, completion(echo_queries(body)), {}, 0.0

    arrivals = []

    def on_answer(index, text):
        arrivals.append((index, json.loads(text)["queries"][0]))
        if index == 1:
            handed_1.set()

    with FakeOpenAIServer(answer) as server:
        answers = backend_for(server, concurrency=2, max_retries=0, timeout_s=60.0).generate(requests_for(2),
                                                                                          on_answer=on_answer)
    assert arrivals == [(1, "about passage 1"), (0, "about passage 0")]
    assert [json.loads(a)["queries"][0] for a in answers] == ["about passage 0", "about passage 1"]


def test_answers_that_arrive_while_a_failed_batch_stops_are_handed_over():
    # passage 0 fails (no retries) only once passages 1-3 are on the wire; they are answered after
    # the failure, while the batch waits for them, and must still reach the caller
    on_the_wire = threading.Barrier(4, timeout=30)
    arrivals = itertools.count(1)
    failed = threading.Event()

    def answer(body, attempt):
        if next(arrivals) <= 4:
            on_the_wire.wait()
        if "passage 0" in json.dumps(body):
            failed.set()
            return 503, {"error": "busy"}, {}, 0.0
        failed.wait(30)
        return 200, completion(echo_queries(body)), {}, 0.5

    handed = {}
    with FakeOpenAIServer(answer) as server:
        with pytest.raises(UserError, match="giving up after 1 attempts: HTTP 503"):
            backend_for(server, concurrency=4, max_retries=0, timeout_s=60.0).generate(
                requests_for(6), on_answer=lambda i, text: handed.update({i: json.loads(text)["queries"][0]}))
    # the worker freed by passage 0 may have sent passage 4 before the batch stopped: kept as well
    assert {1, 2, 3} <= set(handed) <= {1, 2, 3, 4}
    assert handed == {i: f"about passage {i}" for i in handed}
    assert len(server.requests) == 1 + len(handed)  # passage 0 and those handed over: passage 5 never went
