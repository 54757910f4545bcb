"""Benchmark: what query generation costs outside the LLM, for 40,000 passages.

A backend that answers instantly with a canned, valid KW answer stands in for the model; everything
else is the real ``capflow generate`` path: reading the pool, rendering each passage's chat
messages from the shipped prompt file, parsing every answer (half of them fenced in prose, as an
unconstrained model writes them), normalising, deduplicating, filtering, and writing queries,
rejects and stats atomically. The target is <= 10 s. The baseline in the same run is the I/O floor:
reading the pool and writing the same query rows with ``json`` alone.

    .venv/bin/python benchmarks/generation_overhead.py [--passages 40000] [--language zh]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from capflow.generate.backend import GeneratorSettings
from capflow.generate.shards import ShardResult, build_requests, collect, load_pool, shard_stats, write_shard
from capflow.io import write_jsonl
from capflow.prompts import load_prompts

REPO = Path(__file__).resolve().parents[1]
WORDS = {
    "zh": ("图片 显示 一只 橘猫 躺在 沙发 上 旁边 有 电源 适配器 燃气表 管道 "
           "晨跑 记录 公里 心率 微博 截图 城市 夜景 桥梁 月亮").split(),
    "en": "the image shows a tabby cat lying on sofa next to power adapter gas meter pipes morning run record "
          "heart rate city night bridge moon".split(),
}
CANNED = ["red cat", "sofa", "power adapter", "gas meter", "Red  Cat", "pipes", "", "household appliance"]


class InstantBackend:
    """Answers every request at once with the same canned KW answer (one duplicate, one empty)."""

    def __init__(self):
        answer = json.dumps({"queries": CANNED}, ensure_ascii=False)
        self.answers = [answer, f"Here are the keywords:\n```json\n{answer}\n```\n"]

    def generate(self, requests):
        return [self.answers[i % 2] for i in range(len(requests))]


def make_pool(path: Path, n: int, language: str, seed: int = 0) -> None:
    rng = random.Random(seed)
    sep = "" if language == "zh" else " "
    write_jsonl(path, ({"id": f"p{i}", "text": sep.join(rng.choices(WORDS[language], k=rng.randint(12, 40))),
                        "source": "benchmark"} for i in range(n)))


def timed(label, timings, fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    timings[label] = time.perf_counter() - start
    return result


def io_floor(pool: Path, rows: list[dict], out: Path) -> float:
    start = time.perf_counter()
    with open(pool, encoding="utf-8") as handle:
        [json.loads(line) for line in handle]
    with open(out, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=40_000)
    parser.add_argument("--language", choices=["en", "zh"], default="zh")
    args = parser.parse_args()

    prompts = load_prompts(REPO / "config" / "prompts" / f"{args.language}.yaml")
    settings = GeneratorSettings(backend="openai", model="instant", language=args.language)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_pool(tmp / "pool.jsonl", args.passages, args.language)
        timings: dict[str, float] = {}
        total_start = time.perf_counter()
        passages = timed("read pool", timings, load_pool, tmp / "pool.jsonl")
        requests = timed("build prompts", timings, build_requests, passages, "kw", prompts)
        answers = timed("backend (instant)", timings, InstantBackend().generate, requests)
        queries, rejects = timed("parse + clean + dedup", timings, collect, requests, answers,
                                 settings.max_query_chars)
        stats = shard_stats(requests, queries, rejects, settings, "kw", 0, 1)
        timed("write (atomic)", timings, write_shard, ShardResult(queries, rejects, stats), tmp / "q.jsonl",
              tmp / "q.stats.json", tmp / "q.rejects.jsonl")
        total = time.perf_counter() - total_start
        floor = io_floor(tmp / "pool.jsonl", queries, tmp / "floor.jsonl")

    print(f"{args.passages:,} passages ({args.language}), {len(queries):,} queries, {len(rejects):,} rejects")
    for label, seconds in timings.items():
        print(f"  {label:<24}{seconds:8.3f} s")
    print(f"  {'total':<24}{total:8.3f} s   (target <= 10 s: {'met' if total <= 10 else 'MISSED'})")
    print(f"  {'baseline: json I/O only':<24}{floor:8.3f} s   (total / baseline = {total / floor:.1f}x)")
    print(f"  per passage: {total / args.passages * 1e6:.0f} us")


if __name__ == "__main__":
    main()
