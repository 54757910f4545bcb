"""One generation job: a shard of a passage pool, one query kind, one backend.

A pool of n passages splits into ``shards`` contiguous slices; shard i holds passages
``[i*n//shards, (i+1)*n//shards)``. Each job writes its queries {passage_id, kind, query}, its
rejects {passage_id, kind, reason, text} and its stats, each atomically, so a killed job leaves
no half-written output and a rerun redoes exactly the shards that are missing. Within a job, the
raw answers are kept as they arrive (:mod:`capflow.generate.journal`): a rerun of a job that
crashed or was killed asks the generator only for the answers it never received, and writes the
same bytes an uninterrupted run would have.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from capflow import worklog
from capflow.errors import UserError
from capflow.generate.backend import Backend, GenerationRequest, GeneratorSettings, make_backend
from capflow.generate.journal import AnswerJournal, generator_identity, request_keys
from capflow.generate.parsing import clean_queries, parse_answer, writable
from capflow.io import iter_jsonl, write_json, write_jsonl
from capflow.prompts import PromptSet
from capflow.runtime import hardware
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
            raise UserError(f"duplicate passage id {obj['id']!r} (first on line {first_line[obj['id']]})", path,
                            lineno)
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
    for request, answer in zip(requests, answers, strict=True):
        parsed = parse_answer(answer)
        if parsed.error:
            text = answer[:REJECT_TEXT_CHARS] if isinstance(answer, str) else ""
            rejects.append({"passage_id": request.passage_id, "kind": request.kind, "reason": parsed.error,
                            "text": writable(text)})
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
              prompts: PromptSet | None, backend: Backend | None = None,
              journal: AnswerJournal | None = None) -> ShardResult:
    """Generate one shard; with a ``journal``, answers it already holds are reused and new ones kept."""
    start, end = shard_bounds(len(passages), shard, shards)
    requests = build_requests(passages[start:end], kind, prompts)
    if not passages:
        log.warning("WARNING: the pool is empty (did the leakage filter keep no passage?): this shard writes no query")
    log.info("shard %d/%d: %d passages (%d..%d), kind %s, generator %s", shard, shards, len(requests), start,
             end - 1, kind, settings.label)
    began = time.perf_counter()
    answers = generate_answers(requests, settings, prompts, backend, journal)
    queries, rejects = collect(requests, answers, settings.max_query_chars)
    stats = shard_stats(requests, queries, rejects, settings, kind, shard, shards)
    log.info("shard %d/%d: %d queries for %d/%d passages, %d rejects %s, %.1fs", shard, shards, stats["queries"],
             stats["passages_with_queries"], stats["passages"], stats["rejects"], stats["reject_reasons"],
             time.perf_counter() - began)
    return ShardResult(queries, rejects, stats)


def generate_answers(requests: Sequence[GenerationRequest], settings: GeneratorSettings, prompts: PromptSet | None,
                     backend: Backend | None, journal: AnswerJournal | None) -> list[str]:
    """One raw answer per request, in order: from the journal where it has one, else from the backend."""
    schema = prompts.schema if prompts else None
    keys = request_keys(requests, generator_identity(settings, schema))
    received = journal.resume(keys) if journal is not None else {}
    pending = [i for i, key in enumerate(keys) if key not in received]
    if received:
        log.info("%d answers kept by an earlier run, %d to generate", len(requests) - len(pending), len(pending))
    setup = work = 0.0
    if pending:
        if backend is None:
            with worklog.timed() as setup_time:
                backend = make_backend(settings, schema)
            setup = setup_time()

        def keep(index: int, answer: str) -> None:
            key = keys[pending[index]]
            received[key] = answer
            if journal is not None and isinstance(answer, str):
                journal.append(key, answer)

        try:
            with worklog.timed() as work_time:
                answers = backend.generate([requests[i] for i in pending], on_answer=keep)
            work = work_time()
        finally:
            if journal is not None:
                journal.close()
        if len(answers) != len(pending):
            raise RuntimeError(f"the backend returned {len(answers)} answers for {len(pending)} requests")
        received.update((keys[i], answer) for i, answer in zip(pending, answers, strict=True))
    per_passage = prompts.counts[requests[0].kind] if prompts and requests else 1
    units = {"passages": len(pending), "queries": len(pending) * per_passage}
    worklog.write(worklog.WorkRecord("generate", units, work, setup, device=hardware.device_name()))
    return [received[key] for key in keys]


def write_shard(result: ShardResult, out: Path, stats: Path, rejects: Path,
                journal: AnswerJournal | None = None) -> None:
    # queries last: with every file atomic, a job killed mid-write leaves the shard visibly unfinished;
    # the journal goes only once every output is in place
    write_jsonl(rejects, result.rejects)
    write_json(stats, result.stats)
    write_jsonl(out, result.queries)
    if journal is not None:
        journal.remove()
