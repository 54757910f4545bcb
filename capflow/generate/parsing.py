"""Turning a generator's raw answer into clean queries, and saying why anything was dropped.

An answer is read tolerantly: a ``<think>`` block is ignored; a fenced ```json block, a bare JSON
object ``{"queries": [...]}`` or list ``[...]`` anywhere in the text is used; failing that, a
numbered or bulleted list; an answer whose only list is empty is a reject of its own. Each query
is then whitespace-normalised and dropped if it is not valid Unicode (a lone surrogate, which no
UTF-8 file can hold), empty, longer than the configured maximum, a copy of the whole passage, or a
repeat within the passage. Text kept for a reject is made writable with :func:`writable`, so every
answer ends as queries or rejects and a bad answer costs at most itself.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

from capflow.benchmark import normalise_whitespace

# reasons written to rejects.jsonl
UNPARSEABLE = "unparseable"
NO_QUERIES = "no_queries"
NOT_A_STRING = "not_a_string"
INVALID_UNICODE = "invalid_unicode"
EMPTY = "empty"
TOO_LONG = "too_long"
PASSAGE_COPY = "passage_copy"
DUPLICATE = "duplicate"

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·+]\s+|\d{1,3}[.)]\s+|\d{1,3}[、:：）]\s*|[（(]\d{1,3}[)）]\s*)(.+?)\s*$")
_TRUNCATED_ARRAY = re.compile(r'"queries"\s*:\s*\[(.*)\Z', re.DOTALL)
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"(?=\s*[,\]])')
_QUOTES = "\"'“”‘’「」『』`"
_TRAILING = " ,，;；。.、"
_DECODER = json.JSONDecoder()
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class ParsedAnswer:
    """Candidate items found in one answer (strings or not), or why none could be found."""

    items: list = field(default_factory=list)
    error: str | None = None


def writable(text: str) -> str:
    """``text`` with every surrogate code point replaced by U+FFFD, so it can be written as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def parse_answer(raw: str | None) -> ParsedAnswer:
    if raw is not None and not isinstance(raw, str):
        return ParsedAnswer(error=f"{UNPARSEABLE}: the answer is {type(raw).__name__}, not text")
    text = _THINK.sub("", raw or "").strip()
    if not text:
        return ParsedAnswer(error=f"{UNPARSEABLE}: empty answer")
    empty_list = False
    for block in _FENCE.findall(text) + [text]:
        try:
            items = _json_items(block)
        except RecursionError:
            return ParsedAnswer(error=f"{UNPARSEABLE}: JSON nested too deeply")
        if items:
            return ParsedAnswer(items)
        empty_list = empty_list or items == []
    truncated = _TRUNCATED_ARRAY.search(text)
    if truncated:  # an answer cut off by max_tokens: keep the strings that were completed
        strings = [s for s in map(_json_string, _JSON_STRING.findall(truncated.group(1))) if s is not None]
        if strings:
            return ParsedAnswer(strings)
    listed = [m.group(1) for m in map(_LIST_ITEM.match, text.splitlines()) if m]
    if listed:
        return ParsedAnswer(listed)
    if empty_list:
        return ParsedAnswer(error=f"{NO_QUERIES}: the answer's list is empty")
    return ParsedAnswer(error=f"{UNPARSEABLE}: no JSON object or list found")


def _json_string(literal: str) -> str | None:
    try:
        return json.loads(literal)
    except ValueError:  # a bad escape or a raw control character: not a string the model finished
        return None


def _json_items(text: str) -> list | None:
    """Items of the JSON value in ``text`` that best looks like an answer.

    Every ``{`` or ``[`` is tried as the start of a JSON value (skipping what a decoded value
    spans), so stray prose, a ``[1]`` footnote or an unrelated object around the answer is passed
    over: an object with ``queries`` wins, then a list holding a string, then any other list.
    """
    found: list[list] = []
    position = 0
    for match in re.finditer(r"[\[{]", text):
        if match.start() < position:
            continue
        try:
            value, position = _DECODER.raw_decode(text, match.start())
        except ValueError:  # not JSON here, or an integer too long for int() (also a ValueError)
            continue
        if isinstance(value, dict) and isinstance(value.get("queries"), list):
            return value["queries"]
        items = _list_in(value)
        if items is not None:
            found.append(items)
    with_strings = [items for items in found if any(isinstance(i, str) for i in items)]
    return (with_strings or found or [None])[0]


def _list_in(value) -> list | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:  # a model that renamed the key, e.g. {"keywords": [...]}
            return lists[0]
    return None


def normalise_query(text: str) -> str:
    text = normalise_whitespace(unicodedata.normalize("NFKC", text))
    text = text.strip(_QUOTES).strip()
    return text.rstrip(_TRAILING).strip()


def comparison_key(text: str) -> str:
    """Case-, width-, whitespace- and punctuation-insensitive form used to spot repeats and copies."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch).startswith("P")))


@dataclass
class CleanQueries:
    kept: list[str]
    rejected: list[tuple[str, str]]  # (text, reason)


def _item_text(item) -> str:
    try:
        return writable(json.dumps(item, ensure_ascii=False)[:500])
    except RecursionError:
        return "<nested too deeply>"


def clean_queries(items: list, passage: str, max_chars: int) -> CleanQueries:
    kept: list[str] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    passage_key = comparison_key(passage)
    for item in items:
        if not isinstance(item, str):
            rejected.append((_item_text(item), NOT_A_STRING))
            continue
        if _SURROGATE.search(item):
            rejected.append((writable(item), INVALID_UNICODE))
            continue
        query = normalise_query(item)
        key = comparison_key(query)
        if not key:
            rejected.append((item, EMPTY))
        elif key == passage_key:
            rejected.append((query, PASSAGE_COPY))
        elif len(query) > max_chars:
            rejected.append((query, TOO_LONG))
        elif key in seen:
            rejected.append((query, DUPLICATE))
        else:
            seen.add(key)
            kept.append(query)
    return CleanQueries(kept, rejected)
