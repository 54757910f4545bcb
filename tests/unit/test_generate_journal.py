"""`capflow generate` keeps each answer as it arrives: a bad answer costs only itself, and a job that
crashed or was killed resumes without asking the LLM again for what it received, writing the same
bytes as an uninterrupted run."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from capflow.io import current_umask

from conftest import REPO, run_capflow, write_jsonl
from fakes.openai_server import FakeOpenAIServer, completion

ANSWERS = [
    '{"queries": ["red cat", "sofa"]}',
    '{"queries": ["\\ud800 abc", "gas meter"]}',  # a JSON escape the parser turns into a lone surrogate
    "no JSON here, only \ud800",  # a lone surrogate in the text itself (the response body escapes it)
    '{"queries": ["noodles"]}',
    '{"queries": ["sunrise", "clouds"]}',
]
OUTPUTS = ("queries.jsonl", "stats.json", "rejects.jsonl")


def passage_of(body: dict) -> int:
    return int(re.search(r"passage (\d) about cats", json.dumps(body)).group(1))


def answering(failing=None, blocked=None, release=None):
    """A server's ``respond``: ANSWERS, a 503 for passage ``failing``, passage ``blocked`` held until ``release``."""

    def respond(body, attempt):
        i = passage_of(body)
        if i == failing:
            return 503, {"error": "overloaded"}, {}, 0.0
        if i == blocked:
            release.wait(120)
        return 200, completion(ANSWERS[i]), {}, 0.0

    return respond


def generate_command(folder, server, *extra):
    pool = write_jsonl(folder / "pool.jsonl", [{"id": f"p{i}", "text": f"passage {i} about cats", "source": "t"}
                                               for i in range(len(ANSWERS))])
    return ["generate", "--passages", pool, "--kind", "kw", "--out", folder / "queries.jsonl",
            "--stats", folder / "stats.json", "--rejects", folder / "rejects.jsonl", "--backend", "openai",
            "--model", "m", "--prompts", REPO / "config/prompts/en.yaml", "--base-url", server.base_url,
            "--concurrency", "1", "--max-retries", "0", "--backoff-s", "0", *extra]


def asked(server) -> list[int]:
    return sorted(passage_of(r["body"]) for r in server.requests)


def outputs(folder) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


def kept_lines(folder) -> list[bytes]:
    return (folder / "queries.jsonl.partial").read_bytes().splitlines(keepends=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    with FakeOpenAIServer(answering()) as server:
        result = run_capflow(*generate_command(folder, server))
    assert result.returncode == 0, result.stderr
    assert asked(server) == [0, 1, 2, 3, 4]
    return folder


def test_a_lone_surrogate_costs_only_its_query_or_its_answer(uninterrupted):
    rows = [json.loads(line) for line in (uninterrupted / "queries.jsonl").read_text("utf-8").splitlines()]
    assert [(r["passage_id"], r["query"]) for r in rows] == [
        ("p0", "red cat"), ("p0", "sofa"), ("p1", "gas meter"), ("p3", "noodles"), ("p4", "sunrise"), ("p4", "clouds")]
    rejects = [json.loads(line) for line in (uninterrupted / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert [(r["passage_id"], r["reason"], r["text"]) for r in rejects] == [
        ("p1", "invalid_unicode", "\ufffd abc"),
        ("p2", "unparseable: no JSON object or list found", "no JSON here, only \ufffd")]
    stats = json.loads((uninterrupted / "stats.json").read_text("utf-8"))
    assert (stats["queries"], stats["passages_with_queries"], stats["reject_reasons"]) == (
        6, 4, {"invalid_unicode": 1, "unparseable": 1})
    assert not (uninterrupted / "queries.jsonl.partial").exists()  # gone once the outputs are written


def test_a_crashed_job_keeps_its_answers_and_the_rerun_asks_only_for_the_rest(tmp_path, uninterrupted):
    with FakeOpenAIServer(answering(failing=3)) as server:
        crashed = run_capflow(*generate_command(tmp_path, server))
    assert crashed.returncode == 2
    assert crashed.stderr.strip().splitlines()[-1].endswith("giving up after 1 attempts: HTTP 503")
    assert not any((tmp_path / name).exists() for name in OUTPUTS)
    # passages 0-2 came before the failure; passage 4 only if the freed worker sent it before the batch stopped
    assert len(kept_lines(tmp_path)) in (3, 4)
    before = asked(server)

    with FakeOpenAIServer(answering()) as server:
        rerun = run_capflow(*generate_command(tmp_path, server))
    assert rerun.returncode == 0, rerun.stderr
    assert asked(server) == [3] + ([4] if 4 not in before else [])
    assert f"{5 - len(asked(server))} answers kept by an earlier run, {len(asked(server))} to generate" in rerun.stderr
    assert outputs(tmp_path) == outputs(uninterrupted)
    assert not (tmp_path / "queries.jsonl.partial").exists()


def test_a_killed_job_keeps_its_answers_and_the_rerun_asks_only_for_the_rest(tmp_path, uninterrupted):
    release = threading.Event()
    with FakeOpenAIServer(answering(blocked=2, release=release)) as server:
        command = [sys.executable, "-m", "capflow", *map(str, generate_command(tmp_path, server))]
        job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not (2 in asked(server) and (tmp_path / "queries.jsonl.partial").exists()
                       and len(kept_lines(tmp_path)) == 2):
                assert job.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            job.send_signal(signal.SIGKILL)
            job.wait()
            release.set()
    assert not any((tmp_path / name).exists() for name in OUTPUTS)
    assert all(line.endswith(b"\n") for line in kept_lines(tmp_path))

    with FakeOpenAIServer(answering()) as server:
        rerun = run_capflow(*generate_command(tmp_path, server))
    assert rerun.returncode == 0, rerun.stderr
    assert asked(server) == [2, 3, 4]
    assert outputs(tmp_path) == outputs(uninterrupted)


def test_a_line_cut_short_by_a_kill_is_dropped_and_asked_again(tmp_path, uninterrupted):
    with FakeOpenAIServer(answering(failing=3)) as server:
        assert run_capflow(*generate_command(tmp_path, server)).returncode == 2
    lines = kept_lines(tmp_path)
    (tmp_path / "queries.jsonl.partial").write_bytes(b"".join(lines[:2]) + lines[2][:30])  # killed mid-write
    with FakeOpenAIServer(answering()) as server:
        rerun = run_capflow(*generate_command(tmp_path, server))
    assert rerun.returncode == 0, rerun.stderr
    assert asked(server)[:2] == [2, 3]
    assert "dropped 1 kept answer(s)" in rerun.stderr
    assert outputs(tmp_path) == outputs(uninterrupted)


def test_answers_kept_for_other_settings_are_not_reused(tmp_path):
    with FakeOpenAIServer(answering(failing=3)) as server:
        assert run_capflow(*generate_command(tmp_path, server)).returncode == 2
    kept = len(kept_lines(tmp_path))
    with FakeOpenAIServer(answering()) as server:
        rerun = run_capflow(*generate_command(tmp_path, server, "--seed", "1"))
    assert rerun.returncode == 0, rerun.stderr
    assert asked(server) == [0, 1, 2, 3, 4]
    assert f"dropped {kept} kept answer(s) that this run does not ask for" in rerun.stderr


def test_an_unwritable_journal_is_one_line_and_no_output(tmp_path):
    (tmp_path / "queries.jsonl.partial").mkdir()
    with FakeOpenAIServer(answering()) as server:
        result = run_capflow(*generate_command(tmp_path, server))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "queries.jsonl.partial: cannot read the answers kept by an earlier run: Is a directory")
    assert not any((tmp_path / name).exists() for name in OUTPUTS)
    assert server.requests == []


def test_the_journal_goes_where_partial_says(tmp_path, uninterrupted):
    with FakeOpenAIServer(answering(failing=3)) as server:
        assert run_capflow(*generate_command(tmp_path, server, "--partial", tmp_path / "kept" / "answers")
                           ).returncode == 2
    assert not (tmp_path / "queries.jsonl.partial").exists()
    assert len((tmp_path / "kept" / "answers").read_bytes().splitlines()) >= 3
    with FakeOpenAIServer(answering()) as server:
        rerun = run_capflow(*generate_command(tmp_path, server, "--partial", tmp_path / "kept" / "answers"))
    assert rerun.returncode == 0 and 0 not in asked(server)
    assert outputs(tmp_path) == outputs(uninterrupted)
    assert not (tmp_path / "kept" / "answers").exists()


def test_a_journal_holds_only_ascii_and_keeps_a_lone_surrogate_exactly(tmp_path):
    with FakeOpenAIServer(answering(failing=3)) as server:
        assert run_capflow(*generate_command(tmp_path, server)).returncode == 2
    data = (tmp_path / "queries.jsonl.partial").read_bytes()
    data.decode("ascii")
    assert [json.loads(line)["answer"] for line in data.splitlines()][:3] == ANSWERS[:3]
    assert os.stat(tmp_path / "queries.jsonl.partial").st_mode & 0o777 == 0o666 & ~current_umask()
