"""One generation job: a shard of a passage pool, one query kind, one backend.

A pool of n passages splits into ``shards`` contiguous slices; shard i holds passages
``[i*n//shards, (i+1)*n//shards)``. Each job writes its queries {passage_id, kind, query}, its
rejects {passage_id, kind, reason, text} and its stats, each atomically, so a killed job leaves
nothing behind and a rerun redoes exactly the shards that are missing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from capflow.errors import UserError
from capflow.generate.backend import Backend, GenerationRequest, GeneratorSettings, make_backend
from capflow.generate.parsing import clean_queries, parse_answer
from capflow.io import iter_jsonl, write_json, write_jsonl
from capflow.prompts import PromptSet
from capflow.vocabulary import KINDS

log = logging.getLogger(__name__)

REJECT_TEXT_CHARS = 1000  # enough of a garbage answer to see what went wrong


@dataclass(frozen=True)
class Passage:
    id: str
    text: str


def load_pool(path: str | Path) -> list[Passage]:
    passages: list[Passage] = []
    first_line: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path, {"id": str, "text": str}):
        if obj["id"] in first_line:
            raise UserError(f"duplicate passage id '{obj['id']}' (first on line {first_line[obj['id']]})", path, lineno)
        first_line[obj["id"]] = lineno
        passages.append(Passage(obj["id"], obj["text"]))
    return passages


def shard_bounds(n: int, shard: int, shards: int) -> tuple[int, int]:
    if shards < 1:
        raise UserError(f"the number of shards must be at least 1, got {shards}")
    if not 0 <= shard < shards:
        raise UserError(f"shard {shard} is out of range for {shards} shards (0..{shards - 1})")
    return shard * n // shards, (shard + 1) * n // shards


def build_requests(passages: Sequence[Passage], kind: str, prompts: PromptSet | None) -> list[GenerationRequest]:
    if kind not in KINDS:
        raise UserError(f"unknown query kind '{kind}' (choose from {', '.join(KINDS)})")
    return [GenerationRequest(p.id, p.text, kind, None if prompts is None else prompts.messages(kind, p.text))
            for p in passages]


@dataclass
class ShardResult:
    queries: list[dict]
    rejects: list[dict]
    stats: dict


def collect(requests: Sequence[GenerationRequest], answers: Sequence[str],
            max_chars: int) -> tuple[list[dict], list[dict]]:
    """Parse every answer into query rows and reject rows; garbage becomes a reject, never an error."""
    if len(answers) != len(requests):
        raise RuntimeError(f"the backend returned {len(answers)} answers for {len(requests)} requests")
    queries: list[dict] = []
    rejects: list[dict] = []
    for request, answer in zip(requests, answers):
        parsed = parse_answer(answer)
        if parsed.error:
            rejects.append({"passage_id": request.passage_id, "kind": request.kind, "reason": parsed.error,
                            "text": (answer or "")[:REJECT_TEXT_CHARS]})
            continue
        cleaned = clean_queries(parsed.items, request.passage, max_chars)
        queries.extend({"passage_id": request.passage_id, "kind": request.kind, "query": q} for q in cleaned.kept)
        rejects.extend({"passage_id": request.passage_id, "kind": request.kind, "reason": reason, "text": text}
                       for text, reason in cleaned.rejected)
    return queries, rejects


def shard_stats(requests: Sequence[GenerationRequest], queries: Sequence[dict], rejects: Sequence[dict],
                settings: GeneratorSettings, kind: str, shard: int, shards: int) -> dict:
    reasons = Counter(r["reason"].split(":")[0] for r in rejects)
    return {
        "kind": kind, "shard": shard, "shards": shards,
        "generator": settings.label, "backend": settings.backend, "model": settings.model,
        "language": settings.language,
        "passages": len(requests),
        "passages_with_queries": len({q["passage_id"] for q in queries}),
        "queries": len(queries),
        "rejects": len(rejects),
        "reject_reasons": dict(sorted(reasons.items())),
    }


def run_shard(passages: Sequence[Passage], kind: str, shard: int, shards: int, settings: GeneratorSettings,
              prompts: PromptSet | None, backend: Backend | None = None) -> ShardResult:
    start, end = shard_bounds(len(passages), shard, shards)
    requests = build_requests(passages[start:end], kind, prompts)
    if backend is None:
        backend = make_backend(settings, prompts.schema if prompts else None)
    if not passages:
        log.warning("WARNING: the pool is empty (did the leakage filter keep no passage?): this shard writes no query")
    log.info("shard %d/%d: %d passages (%d..%d), kind %s, generator %s", shard, shards, len(requests), start,
             end - 1, kind, settings.label)
    began = time.perf_counter()
    answers = backend.generate(requests)
    queries, rejects = collect(requests, answers, settings.max_query_chars)
    stats = shard_stats(requests, queries, rejects, settings, kind, shard, shards)
    log.info("shard %d/%d: %d queries for %d/%d passages, %d rejects %s, %.1fs", shard, shards, stats["queries"],
             stats["passages_with_queries"], stats["passages"], stats["rejects"], stats["reject_reasons"],
             time.perf_counter() - began)
    return ShardResult(queries, rejects, stats)


def write_shard(result: ShardResult, out: Path, stats: Path, rejects: Path) -> None:
    # queries last: with every file atomic, a job killed mid-write leaves the shard visibly unfinished
    write_jsonl(rejects, result.rejects)
    write_json(stats, result.stats)
    write_jsonl(out, result.queries)
