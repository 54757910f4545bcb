"""Killing a Snakemake generation run mid-way: the rerun redoes only the shards that never finished,
and within the killed shard asks only for the answers it never received.

Real Snakemake over the real rules (rules/common.smk + rules/generate.smk), an OpenAI-compatible
server on 127.0.0.1 that answers the last shard's first passage and blocks every request for its
other passages, and SIGKILL on the whole process group once the other shards are written.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from conftest import write_jsonl
from fakes.openai_server import FakeOpenAIServer, completion

SHARDS = 3
PASSAGES = [f"passage {i} about cats" if i < 7 else f"passage {i} BLOCK" for i in range(9)]  # shard 2 = 6..8
SNAKEFILE = """\
from snakemake.utils import validate
validate(config, "workflow/schemas/config.schema.yaml")
include: "rules/common.smk"
include: "rules/prefetch.smk"
include: "rules/generate.smk"
"""


def snakemake(workdir: Path, *args, popen=False):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "snakemake", "-s", "Snakefile.generate", "--configfile", "config/config.yaml",
               "generate.yaml", *args]
    if popen:
        return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)


def shard_files(workdir: Path, shard: int) -> list[Path]:
    base = workdir / "results" / "generate" / "ood" / "kw"
    return [base / f"shard-{shard}{suffix}" for suffix in (".jsonl", ".stats.json", ".rejects.jsonl")]


def kept_answers(workdir: Path) -> int:
    partial = shard_files(workdir, 2)[0].with_name("shard-2.jsonl.partial")
    return len(partial.read_bytes().splitlines()) if partial.exists() else 0


def snapshot(paths):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in paths}


def test_killed_run_resumes_without_regenerating_finished_shards(workflow_copy):
    wf = workflow_copy
    (wf / "Snakefile.generate").write_text(SNAKEFILE)
    write_jsonl(wf / "results" / "pools" / "ood" / "passages.jsonl",
                [{"id": f"p{i}", "text": t, "source": "test"} for i, t in enumerate(PASSAGES)])
    # Generation runs after the prefetch; here nothing needs the hub, so its manifest is empty.
    (wf / "results" / "prefetch" / "manifest.json").parent.mkdir(parents=True)
    (wf / "results" / "prefetch" / "manifest.json").write_text('{"downloaded": true, "items": [], "total_bytes": 0}\n')
    release = threading.Event()
    blocked = threading.Event()

    def respond(body, attempt):
        if "BLOCK" in body["messages"][-1]["content"] and not release.is_set():
            blocked.set()
            release.wait(600)
        return 200, completion('{"queries": ["cats", "a passage"]}'), {}, 0.0

    targets = [str(shard_files(wf, s)[0].relative_to(wf)) for s in range(SHARDS)]
    with FakeOpenAIServer(respond) as server:
        (wf / "generate.yaml").write_text(yaml.safe_dump({"generate": {
            "backend": "openai", "model": "fake", "shards": SHARDS,
            "openai": {"base_url": server.base_url, "concurrency": 2, "timeout_s": 900, "max_retries": 0}}}))
        # one thread per job, so the three shards run side by side however many CPUs the machine has
        run = snakemake(wf, "--cores", str(SHARDS), "--set-threads", "generate=1", "--", *targets, popen=True)
        log: list[str] = []
        reader = threading.Thread(target=lambda: log.extend(line.decode() for line in run.stdout), daemon=True)
        reader.start()
        try:
            # kill once Snakemake has recorded two shards as finished and the third, which holds its
            # first answer, is stuck in the LLM
            deadline = time.monotonic() + 600
            while not (blocked.is_set() and sum("(Rule: generate)" in line for line in list(log)) >= 2
                       and kept_answers(wf) == 1):
                assert run.poll() is None, "".join(log)
                assert time.monotonic() < deadline, "shards 0 and 1 did not finish in time:\n" + "".join(log)
                time.sleep(0.1)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
            reader.join(10)

        assert not any(p.exists() for p in shard_files(wf, 2))  # the killed job left no output behind
        assert kept_answers(wf) == 1  # but kept the answer it had received
        done = snapshot([p for s in (0, 1) for p in shard_files(wf, s)])
        first_run_requests = len(server.requests)
        release.set()
        server.requests.clear()
        time.sleep(0.05)  # mtimes below must differ from any write a rerun would make

        assert snakemake(wf, "--unlock").returncode == 0
        rerun = snakemake(wf, "--cores", str(SHARDS), "--set-threads", "generate=1", "--", *targets)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    assert snapshot(done) == done  # finished shards untouched: same mtimes, same bytes
    asked = sorted(next(t for t in PASSAGES if t in r["body"]["messages"][-1]["content"]) for r in server.requests)
    assert asked == [PASSAGES[i] for i in (7, 8)]  # only the answers the killed shard never received
    assert first_run_requests >= 7
    assert kept_answers(wf) == 0  # the finished shard no longer needs them
    rows = [json.loads(line) for line in shard_files(wf, 2)[0].read_text().splitlines()]
    assert [r["passage_id"] for r in rows] == ["p6", "p6", "p7", "p7", "p8", "p8"]
    assert "rule generate" in rerun.stdout + rerun.stderr
    assert rerun.stderr.count("rule generate:") + rerun.stdout.count("rule generate:") == 1
