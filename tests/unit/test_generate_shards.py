"""`capflow generate`: sharding, output contract, rejects, determinism and one-line errors."""

import json

import pytest

from capflow.errors import UserError
from capflow.generate.backend import GeneratorSettings
from capflow.generate.shards import Passage, run_shard, shard_bounds

from conftest import run_capflow, write_jsonl
from fakes.openai_server import FakeOpenAIServer

POOL = [
    {"id": "a", "text": "The image shows a gas meter installed on the wall, with pipes next to it.", "source": "t"},
    {"id": "b", "text": "Two cats are facing each other on a wooden floor.", "source": "t"},
    {"id": "c", "text": "A screenshot of a train ticket from Beijing to Shanghai.", "source": "t"},
    {"id": "d", "text": "A bowl of noodles with beef and green onions.", "source": "t"},
    {"id": "e", "text": "Sunrise over a sea of clouds, with tourists on the mountain top.", "source": "t"},
]


def generate(tmp_path, pool, kind, shard, shards, *extra, name=None):
    name = name or f"{kind}-{shard}"
    out = {k: tmp_path / f"{name}.{k}" for k in ("jsonl", "stats.json", "rejects.jsonl")}
    result = run_capflow("generate", "--passages", pool, "--kind", kind, "--shard", shard, "--shards", shards,
                         "--out", out["jsonl"], "--stats", out["stats.json"], "--rejects", out["rejects.jsonl"],
                         *extra)
    return result, out


@pytest.mark.parametrize("n", range(0, 12))
@pytest.mark.parametrize("shards", [1, 2, 3, 5])
def test_shards_partition_the_pool(n, shards):
    covered = [i for s in range(shards) for i in range(*shard_bounds(n, s, shards))]
    assert covered == list(range(n))


@pytest.mark.parametrize("shard, shards", [(3, 3), (-1, 2), (0, 0)])
def test_bad_shard_numbers_are_user_errors(shard, shards):
    with pytest.raises(UserError):
        shard_bounds(10, shard, shards)


def test_heuristic_shards_cover_the_pool_and_are_byte_identical_on_rerun(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", POOL)
    seen = []
    for shard in range(2):
        result, out = generate(tmp_path, pool, "kw", shard, 2)
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
        assert all(set(r) == {"passage_id", "kind", "query"} and r["kind"] == "kw" for r in rows)
        seen += list(dict.fromkeys(r["passage_id"] for r in rows))
        stats = json.loads(out["stats.json"].read_text())
        assert stats["generator"] == "heuristic (no LLM)"
        assert stats["queries"] == len(rows) and stats["shard"] == shard and stats["shards"] == 2
        again, out2 = generate(tmp_path, pool, "kw", shard, 2, name=f"again-{shard}")
        assert out2["jsonl"].read_bytes() == out["jsonl"].read_bytes()
        assert out2["stats.json"].read_bytes() == out["stats.json"].read_bytes()
    assert seen == ["a", "b", "c", "d", "e"]  # shard 0 = a, b; shard 1 = c, d, e


class GarbageBackend:
    def generate(self, requests, on_answer=None):
        answers = ["", "I'd rather not.", '{"queries": ["ok", "OK", 42, "%s"]}' % ("z" * 300),
                   '```json\n{"queries": ["A bowl of noodles with beef and green onions."]}\n```', None]
        return answers[:len(requests)]


def test_garbage_answers_become_counted_rejects():
    passages = [Passage(p["id"], p["text"]) for p in POOL]
    result = run_shard(passages, "sm", 0, 1, GeneratorSettings(), None, backend=GarbageBackend())
    assert result.queries == [{"passage_id": "c", "kind": "sm", "query": "ok"}]
    assert [(r["passage_id"], r["reason"].split(":")[0]) for r in result.rejects] == [
        ("a", "unparseable"), ("b", "unparseable"), ("c", "duplicate"), ("c", "not_a_string"), ("c", "too_long"),
        ("d", "passage_copy"), ("e", "unparseable")]
    assert result.stats["reject_reasons"] == {"duplicate": 1, "not_a_string": 1, "passage_copy": 1,
                                              "too_long": 1, "unparseable": 3}
    assert result.stats["passages_with_queries"] == 1


def test_duplicate_passage_ids_fail_with_file_and_line_and_write_nothing(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", POOL + [POOL[1]])
    result, out = generate(tmp_path, pool, "sm", 0, 1)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("pool.jsonl:6: duplicate passage id 'b' (first on line 2)")
    assert not any(p.exists() for p in out.values())


def test_a_failing_backend_leaves_no_output(tmp_path, repo_root):
    pool = write_jsonl(tmp_path / "pool.jsonl", POOL)
    with FakeOpenAIServer(lambda body, attempt: (401, {"error": "bad key"}, {}, 0.0)) as server:
        result, out = generate(tmp_path, pool, "kw", 0, 1, "--backend", "openai", "--model", "m",
                               "--prompts", repo_root / "config/prompts/en.yaml", "--base-url", server.base_url)
    assert result.returncode == 2
    assert "HTTP 401" in result.stderr.strip().splitlines()[-1]
    assert not any(p.exists() for p in out.values())
    assert list(tmp_path.glob(".*.tmp")) == []


def test_llm_backends_need_prompts_and_a_model(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", POOL)
    result, _ = generate(tmp_path, pool, "kw", 0, 1, "--backend", "openai", "--model", "m")
    assert result.returncode == 2 and "needs --prompts" in result.stderr
    result, _ = generate(tmp_path, pool, "kw", 0, 1, "--backend", "vllm")
    assert result.returncode == 2 and "needs a model" in result.stderr


def test_an_empty_pool_writes_an_empty_shard_and_says_why(tmp_path):
    pool = write_jsonl(tmp_path / "passages.jsonl", [])
    out = tmp_path / "out"
    result = run_capflow("generate", "--passages", pool, "--kind", "kw", "--out", out / "kw-0.jsonl",
                         "--stats", out / "kw-0.stats.json", "--rejects", out / "kw-0.rejects.jsonl")
    assert result.returncode == 0, result.stderr
    assert "WARNING: the pool is empty (did the leakage filter keep no passage?)" in result.stderr
    assert (out / "kw-0.jsonl").read_text() == "" and json.loads((out / "kw-0.stats.json").read_text())["passages"] == 0
