"""Reading raw generator answers: tolerant extraction, normalisation and the reasons for rejects."""

import pytest

from capflow.generate.parsing import (
    DUPLICATE,
    EMPTY,
    INVALID_UNICODE,
    NOT_A_STRING,
    PASSAGE_COPY,
    TOO_LONG,
    clean_queries,
    parse_answer,
    writable,
)


@pytest.mark.parametrize("raw, expected", [
    ('{"queries": ["red cat", "sofa"]}', ["red cat", "sofa"]),
    ('Sure, here you go:\n```json\n{"queries": ["a", "b"]}\n```\nAnything else?', ["a", "b"]),
    ('```\n["x", "y"]\n```', ["x", "y"]),
    ('As noted in [1], the answer is {"queries": ["only this"]} -- done', ["only this"]),
    ('Answer: ["cat", "dog"] (see [2])', ["cat", "dog"]),
    ('{"keywords": ["renamed key"]}', ["renamed key"]),
    ("<think>maybe {\"queries\": [\"draft\"]}</think>\n{\"queries\": [\"final\"]}", ["final"]),
    ("1. cat\n2) dog\n- bird\n* fish\n• ant\n3、猫\n（4）狗", ["cat", "dog", "bird", "fish", "ant", "猫", "狗"]),
    ('{"queries": ["kept", "also kept", "cut o', ["kept", "also kept"]),  # truncated by max_tokens
    ('{"queries": [1, null, "ok"]}', [1, None, "ok"]),
])
def test_parse_answer_finds_the_queries(raw, expected):
    parsed = parse_answer(raw)
    assert parsed.error is None
    assert parsed.items == expected


@pytest.mark.parametrize("raw", ["", "   ", "I cannot help with that.", "{not json", "<think>only thinking"])
def test_parse_answer_reports_garbage_without_raising(raw):
    parsed = parse_answer(raw)
    assert parsed.items == []
    assert parsed.error.startswith("unparseable")


def test_a_decimal_number_line_is_not_a_list_item():
    assert parse_answer("weight 1.5 kg").error is not None


def test_clean_queries_normalises_and_says_why_each_reject_was_dropped():
    items = ["  Red   cat ", "red cat.", "", "   ", "x" * 21, "A red cat sleeps on the sofa", 7,
             "“sofa”", "Sofa", "ｓｏｆａ ｃｏｖｅｒ"]
    cleaned = clean_queries(items, "A red cat sleeps on the sofa.", max_chars=20)
    assert cleaned.kept == ["Red cat", "sofa", "sofa cover"]
    assert [reason for _, reason in cleaned.rejected] == [
        DUPLICATE, EMPTY, EMPTY, TOO_LONG, PASSAGE_COPY, NOT_A_STRING, DUPLICATE]
    assert ("7", NOT_A_STRING) in cleaned.rejected


def test_clean_queries_keeps_chinese_and_compares_without_punctuation():
    cleaned = clean_queries(["燃气表", "燃气表。", "墙上的燃气表", "图片中显示了一个燃气表"],
                            "图片中显示了一个燃气表。", max_chars=64)
    assert cleaned.kept == ["燃气表", "墙上的燃气表"]
    assert [r for _, r in cleaned.rejected] == [DUPLICATE, PASSAGE_COPY]


@pytest.mark.parametrize("raw", ["[" * 100000, "{\"queries\": " + "[" * 100000, "```json\n" + "[" * 5000 + "\n```"],
                         ids=["brackets", "queries-key", "fenced"])
def test_deeply_nested_brackets_are_unparseable_not_a_crash(raw):
    parsed = parse_answer(raw)
    assert parsed.items == [] and parsed.error == "unparseable: JSON nested too deeply"


@pytest.mark.parametrize("raw, expected", [
    ('{"queries": ["bad \\x escape", "kept", "cut', ["kept"]),
    ('{"queries": ["a raw\ttab", "kept", "cut', ["kept"]),
    ('{"queries": ["kept", "bad \\u12 escape", "cut', ["kept"]),
], ids=["bad-escape", "control-character", "short-unicode-escape"])
def test_a_truncated_answer_skips_strings_json_cannot_read(raw, expected):
    assert parse_answer(raw).items == expected


def test_an_integer_too_long_for_python_is_passed_over():
    parsed = parse_answer("[" + "1" * 5000 + '] then {"queries": ["cat"]}')
    assert parsed.items == ["cat"]
    assert parse_answer("[" + "1" * 5000 + "]").error == "unparseable: no JSON object or list found"


def test_an_answer_that_is_not_text_is_unparseable():
    assert parse_answer(42).error == "unparseable: the answer is int, not text"
    assert parse_answer(None).error == "unparseable: empty answer"


@pytest.mark.parametrize("raw", ['{"queries": []}', "[]", "```json\n[]\n```", 'Nothing fits: {"keywords": []}'])
def test_an_answer_whose_only_list_is_empty_is_a_reject_of_its_own(raw):
    parsed = parse_answer(raw)
    assert parsed.items == [] and parsed.error == "no_queries: the answer's list is empty"


def test_a_query_with_a_lone_surrogate_is_a_reject_written_with_a_replacement_character():
    cleaned = clean_queries(["\ud800 abc", "fine", {"k\udfff": 1}], "a passage", max_chars=64)
    assert cleaned.kept == ["fine"]
    assert cleaned.rejected == [("\ufffd abc", INVALID_UNICODE), ('{"k\ufffd": 1}', NOT_A_STRING)]
    for text, _ in cleaned.rejected:
        text.encode("utf-8")


def test_writable_replaces_every_surrogate_and_nothing_else():
    assert writable("a\ud800b\udc00c 猫 \U0001f600") == "a\ufffdb\ufffdc 猫 \U0001f600"
