"""Benchmark directories: loading, validating, and normalising query-type labels.

A benchmark dir holds ``candidates.jsonl`` {id, text}, ``queries.jsonl`` {id, query, positives:
[{id, score}]} and optionally ``types.json`` {type: [query text]}, the dataset authors' form of the
query types. The validated benchmark the workflow writes keeps them as ``query_types.json`` {query id:
type}: the same concept, keyed by query id, under its own name so that neither file passes for the other.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from capflow.errors import UserError
from capflow.io import iter_jsonl, read_json

CANDIDATES = "candidates.jsonl"
QUERIES = "queries.jsonl"
SOURCE_TYPES = "types.json"  # {type: [query text]}, as the dataset authors ship it
QUERY_TYPES = "query_types.json"  # {query id: type}, in every validated benchmark dir
VALID_LABELS = (0, 1, 2)
# Captions and queries are sentences; a longer "text" is a broken file, and would stall BM25 for minutes.
# The default of config data.max_text_chars, which `capflow data`, `mteb-data` and `pool` enforce where
# texts enter the workflow (``--max-text-chars``); the files they write are read back without it.
MAX_TEXT_CHARS = 100_000

_WHITESPACE = re.compile(r"\s+")


def benchmark_dir(files: dict[str, str]) -> str:
    """The folder of a benchmark's files (its ``candidates`` among them), for steps that read a whole benchmark."""
    return str(Path(files["candidates"]).parent)


def normalise_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def has_visible_text(text: str) -> bool:
    """False for text of only whitespace and invisible characters (zero-width spaces, joiners, BOMs, controls)."""
    return any(not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc", "Zs", "Zl", "Zp") for ch in text)


def check_id(value: str, what: str, path: Path, lineno: int) -> None:
    """Ids travel through whitespace-separated TREC runs: an empty id or one with whitespace breaks them."""
    if not value or any(ch.isspace() for ch in value):
        raise UserError(f"{what} id {value!r} is empty or contains whitespace", path, lineno)


def check_text_length(text: str, what: str, path: Path | None, lineno: int | None, limit: int | None) -> None:
    """A text within ``limit`` characters (None: no limit); a longer one is an error naming file and line."""
    if limit is not None and len(text) > limit:
        raise UserError(f"{what} is {len(text)} characters long, more than the limit of {limit}", path, lineno)


def text_limit(text: str) -> int:
    """A --max-text-chars value: a positive number of characters."""
    import argparse

    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of characters, got {text!r}")
    return int(text)


def add_text_limit_argument(parser) -> None:
    parser.add_argument("--max-text-chars", type=text_limit, default=MAX_TEXT_CHARS,
                        help="refuse a text longer than this many characters (config data.max_text_chars; "
                             "default %(default)s)")


@dataclass
class Query:
    id: str
    text: str
    qrels: dict[str, int]  # candidate id -> graded label (positives only, 1 or 2)


@dataclass
class Benchmark:
    candidate_ids: list[str]
    candidate_texts: list[str]
    queries: list[Query]
    types: dict[str, list[str]] = field(default_factory=dict)

    @property
    def qrels(self) -> dict[str, dict[str, int]]:
        return {q.id: q.qrels for q in self.queries}


def check_entry(kind: str, entry_id: str, text: str, named: str, seen: dict[str, int], path: Path, lineno: int,
                max_chars: int | None) -> None:
    """A candidate's or query's id (unique: ``seen`` holds the ids so far, by line) and its text (visible,
    within ``max_chars``, called ``named`` in the message)."""
    check_id(entry_id, kind, path, lineno)
    if entry_id in seen:
        raise UserError(f"duplicate {kind} id '{entry_id}' (first on line {seen[entry_id]})", path, lineno)
    if not has_visible_text(text):
        raise UserError(f"empty text for {kind} '{entry_id}'", path, lineno)
    check_text_length(text, named, path, lineno, max_chars)
    seen[entry_id] = lineno


def load_candidates(path: Path, max_chars: int | None = None) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    texts: list[str] = []
    seen: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path, {"id": str, "text": str}):
        cid = obj["id"]
        check_entry("candidate", cid, obj["text"], f"the text of candidate '{cid}'", seen, path, lineno, max_chars)
        ids.append(cid)
        texts.append(obj["text"])
    if not ids:
        raise UserError("no candidates", path)
    return ids, texts


def load_queries(path: Path, candidate_ids: set[str], max_chars: int | None = None) -> list[Query]:
    queries: list[Query] = []
    seen: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path, {"id": str, "query": str, "positives": list}):
        qid = obj["id"]
        check_entry("query", qid, obj["query"], f"query '{qid}'", seen, path, lineno, max_chars)
        qrels: dict[str, int] = {}
        for pos in obj["positives"]:
            if isinstance(pos, (str, list)):
                raise UserError(f"query '{qid}': positives must be objects {{\"id\": ..., \"score\": ...}}, "
                                f"not candidate ids ({json.dumps(pos, ensure_ascii=False)[:60]})", path, lineno)
            if not isinstance(pos, dict) or "id" not in pos or "score" not in pos:
                raise UserError(f"query '{qid}': each positive needs 'id' and 'score'", path, lineno)
            pid, label = pos["id"], pos["score"]
            if not isinstance(pid, str):
                raise UserError(f"query '{qid}': a positive's 'id' must be one candidate id (a string), "
                                f"got {json.dumps(pid, ensure_ascii=False)[:60]}", path, lineno)
            if pid not in candidate_ids:
                raise UserError(f"query '{qid}': positive '{pid}' is not a known candidate", path, lineno)
            if isinstance(label, bool) or label not in VALID_LABELS:
                raise UserError(f"query '{qid}': label {label!r} for '{pid}' is not one of 0, 1, 2", path, lineno)
            if pid in qrels:
                raise UserError(f"query '{qid}': positive '{pid}' listed twice", path, lineno)
            if label > 0:
                qrels[pid] = int(label)
        queries.append(Query(qid, obj["query"], qrels))
    if not queries:
        raise UserError("no queries", path)
    return queries


def load_types(path: Path) -> dict[str, list[str]]:
    raw = read_json(path)
    if not isinstance(raw, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in raw.values()
    ):
        raise UserError("expected an object mapping each type to a list of query texts", path)
    return raw


def match_types(queries: list[Query], types: dict[str, list[str]]) -> tuple[dict[str, str], list[Query]]:
    """Map query id -> type by whitespace-normalised text; return the mapping and unmatched queries."""
    by_text: dict[str, str] = {}
    for type_name, texts in types.items():
        for text in texts:
            by_text.setdefault(normalise_whitespace(text), type_name)
    assigned: dict[str, str] = {}
    unmatched: list[Query] = []
    for q in queries:
        type_name = by_text.get(normalise_whitespace(q.text))
        if type_name is None:
            unmatched.append(q)
        else:
            assigned[q.id] = type_name
    return assigned, unmatched


def unknown_type_entries(queries: list[Query], types: dict[str, list[str]]) -> list[str]:
    """Texts listed in ``types`` that match no query (after whitespace normalisation), in file order."""
    known = {normalise_whitespace(q.text) for q in queries}
    return [text for texts in types.values() for text in texts if normalise_whitespace(text) not in known]


def load_benchmark(directory: str | Path, max_chars: int | None = None) -> Benchmark:
    """A benchmark dir, each text within ``max_chars`` characters: `capflow data` reads a source with the
    configured limit; the dirs it writes are read back with none (None)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError("benchmark directory not found", directory)
    ids, texts = load_candidates(directory / CANDIDATES, max_chars)
    queries = load_queries(directory / QUERIES, set(ids), max_chars)
    types_path = directory / SOURCE_TYPES
    types = load_types(types_path) if types_path.exists() else {}
    return Benchmark(ids, texts, queries, types)


def write_benchmark(benchmark: Benchmark, candidates: str | Path, queries: str | Path) -> None:
    """Write a benchmark's candidates and queries in the benchmark-dir format (each file atomically)."""
    from capflow.io import write_jsonl

    write_jsonl(candidates, ({"id": i, "text": t} for i, t in zip(benchmark.candidate_ids, benchmark.candidate_texts)))
    write_jsonl(queries, ({"id": q.id, "query": q.text,
                           "positives": [{"id": c, "score": s} for c, s in q.qrels.items()]}
                          for q in benchmark.queries))


def load_query_types(path: Path) -> dict[str, str]:
    """A ``query_types.json``: query id -> type, as the data step writes it."""
    raw = read_json(path)
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise UserError("expected an object mapping query ids to type names", path)
    return raw


def benchmark_query_types(directory: Path) -> dict[str, str]:
    """A validated benchmark dir's query types; none when it has no ``query_types.json``."""
    path = Path(directory) / QUERY_TYPES
    return load_query_types(path) if path.exists() else {}
