"""The LLM-free generator: real keyword extraction and sentence compression, deterministic."""

import json

from capflow.generate.backend import GenerationRequest, GeneratorSettings, make_backend
from capflow.generate.heuristic import keywords, summaries
from capflow.generate.parsing import clean_queries, parse_answer

EN = "The image shows a gas meter installed on the wall, with pipes and a power adapter next to it."
ZH = "图片中显示了一个安装在墙上的燃气表，旁边有管道和电源适配器。"


def test_english_keywords_are_noun_phrases_and_their_heads():
    found = keywords(EN, "en")
    assert found[:4] == ["gas meter", "meter", "power adapter", "adapter"]
    assert {"wall", "pipes"} <= set(found)
    assert not {"image", "shows", "installed", "the", "with"} & set(found)


def test_chinese_keywords_come_from_jieba():
    found = keywords(ZH, "zh")
    assert {"燃气表", "电源适配器", "管道"} <= set(found)
    assert not {"图片", "显示", "一个"} & set(found)  # caption frame and numerals are not keywords


def test_summaries_drop_the_caption_frame_and_shorten_to_a_clause():
    assert summaries(EN, "en") == ["A gas meter installed on the wall, with pipes and a power adapter next to it",
                                   "A gas meter installed on the wall"]
    assert summaries(ZH, "zh") == ["一个安装在墙上的燃气表，旁边有管道和电源适配器", "一个安装在墙上的燃气表"]
    long_zh = "这张图片显示了一次晨跑记录：跑了5.22公里，用时35:03，平均心率151次/分，平均配速6'43\"，平均步频206。"
    assert summaries(long_zh, "zh") == ["一次晨跑记录"]  # the sentence is too long, its first clause is kept


def test_backend_answers_are_valid_deterministic_json_that_survives_cleaning():
    backend = make_backend(GeneratorSettings(backend="heuristic", language="en"), schema=None)
    requests = [GenerationRequest("p1", EN, kind, None) for kind in ("sm", "kw")]
    first, second = backend.generate(requests), backend.generate(requests)
    assert first == second
    for answer, request in zip(first, requests, strict=True):
        items = json.loads(answer)["queries"]
        assert items and parse_answer(answer).items == items
        cleaned = clean_queries(items, request.passage, max_chars=128)
        assert cleaned.kept == items and not cleaned.rejected


def test_a_one_clause_passage_gets_no_copy_of_itself():
    passage = "Two cats on a sofa"
    assert passage not in summaries(passage, "en")
    assert summaries("", "en") == [] and keywords("", "zh") == []


def test_a_long_sentence_without_a_short_clause_is_cut_to_the_limit():
    long_en = " ".join(f"Word{i}" for i in range(30)) + "."
    assert summaries(long_en, "en") == [" ".join(f"Word{i}" for i in range(16))]
    long_zh = "这是一段非常长的没有任何标点符号的中文句子用来测试截断的功能是否正常工作以及是否会超过字符限制"
    assert summaries(long_zh, "zh") == [long_zh[:40]]
