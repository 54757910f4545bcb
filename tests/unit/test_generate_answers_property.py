"""Property: whatever an LLM answers, generation ends with queries or rejects, never a traceback.

Generated answers (JSON-ish text, lone surrogates, wrong types, huge and empty lists, cut-off
answers) go through the whole path of a shard: the answer journal, the parser, the cleaner and the
atomic writers. Every answer ends as at least one query or one reject, the files are valid UTF-8,
and the journal gives back exactly the answers it was handed.
"""

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capflow.generate.backend import GeneratorSettings
from capflow.generate.journal import AnswerJournal, generator_identity, request_keys
from capflow.generate.shards import Passage, build_requests, run_shard, write_shard
from capflow.io import read_json, read_jsonl

MAX_CHARS = 48
ANSWERS_AT_LEAST = 200

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT = st.text(st.one_of(st.characters(), SURROGATE, st.sampled_from('{}[]",:\\ \n\t`<>/0123456789.-*')),
               max_size=80)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=16)


@st.composite
def json_answer(draw) -> str:
    """A JSON document, mostly ``{"queries": ...}``, as a model might wrap or cut it."""
    key = draw(st.sampled_from(["queries", "queries", "keywords", "Queries", ""]))
    value = draw(JSON_VALUE | st.lists(TEXT, max_size=8))
    text = json.dumps({key: value} if key else value, ensure_ascii=draw(st.booleans()))
    wrap = draw(st.sampled_from(["{}", "```json\n{}\n```", "Sure! {} Anything else?",
                                 '<think>{"queries": ["draft"]}</think>{}', "<think>{}"]))
    text = wrap.replace("{}", text, 1) if "{}" in wrap else wrap + text
    if draw(st.booleans()):  # cut off by max_tokens
        text = text[:draw(st.integers(0, len(text)))]
    return text


ANSWER = st.one_of(
    TEXT,
    json_answer(),
    st.integers(0, 3000).map(lambda n: json.dumps({"queries": [f"query {i}" for i in range(n)]})),
    st.lists(TEXT, max_size=6).map(lambda items: "\n".join(f"{i}. {t}" for i, t in enumerate(items, 1))),
    st.sampled_from(["", " ", "[]", "{}", '{"queries": []}', '{"queries": null}', "null", "<think>", "[" * 5000,
                     "[" + "9" * 5000 + "]"]),
    st.none() | st.integers() | st.binary(max_size=8) | st.lists(st.integers(), max_size=3),  # not text at all
)


class ScriptedBackend:
    def __init__(self, answers):
        self.answers = answers

    def generate(self, requests, on_answer=None):
        for i, answer in enumerate(self.answers):
            on_answer(i, answer)
        return list(self.answers)


def run_and_write(answers: list, folder: Path) -> None:
    passages = [Passage(f"p{i}", f"passage number {i}") for i in range(len(answers))]
    config = GeneratorSettings(max_query_chars=MAX_CHARS)
    journal = AnswerJournal(folder / "queries.jsonl.partial")
    result = run_shard(passages, "kw", 0, 1, config, None, backend=ScriptedBackend(answers), journal=journal)

    keys = request_keys(build_requests(passages, "kw", None), generator_identity(config, None))
    texts = {key: answer for key, answer in zip(keys, answers, strict=True) if isinstance(answer, str)}
    assert AnswerJournal(journal.path).resume(keys) == texts

    write_shard(result, folder / "queries.jsonl", folder / "stats.json", folder / "rejects.jsonl", journal)
    queries, rejects = read_jsonl(folder / "queries.jsonl"), read_jsonl(folder / "rejects.jsonl")
    stats = read_json(folder / "stats.json")

    assert {r["passage_id"] for r in queries} | {r["passage_id"] for r in rejects} == {p.id for p in passages}
    for row in queries:
        query = row["query"]
        assert isinstance(query, str) and query.strip() and len(query) <= MAX_CHARS
        query.encode("utf-8")
    assert all(isinstance(r["reason"], str) and isinstance(r["text"], str) for r in rejects)
    assert (stats["queries"], stats["rejects"]) == (len(queries), len(rejects))
    assert not journal.path.exists()


def test_every_answer_becomes_queries_or_rejects_and_nothing_raises():
    seen: list = []

    @settings(max_examples=ANSWERS_AT_LEAST, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(ANSWER, min_size=1, max_size=4))
    def check(answers):
        seen.extend(answers)
        with tempfile.TemporaryDirectory() as folder:
            run_and_write(answers, Path(folder))

    check()
    assert len(seen) >= ANSWERS_AT_LEAST
