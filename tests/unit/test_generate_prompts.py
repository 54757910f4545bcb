"""The SM/KW prompt files shipped in config/prompts/, and loading errors for broken ones."""

import json

import jsonschema
import pytest

from capflow.errors import UserError
from capflow.prompts import load_prompts


@pytest.mark.parametrize("language", ["en", "zh"])
def test_shipped_prompts_render_both_kinds_with_the_passage(repo_root, language):
    prompts = load_prompts(repo_root / "config" / "prompts" / f"{language}.yaml")
    assert prompts.language == language
    passage = '这是一张图片 {"not": "a slot"} with braces'
    for kind in ("sm", "kw"):
        messages = prompts.messages(kind, passage)
        assert [m["role"] for m in messages] == ["system", "user"]
        assert passage in messages[1]["content"]
        assert "{passage}" not in messages[1]["content"]
        assert '"queries"' in messages[1]["content"]  # the output contract is spelled out
    assert prompts.messages("sm", "p") != prompts.messages("kw", "p")


def test_shipped_prompts_ask_for_what_the_paper_asks(repo_root):
    en = load_prompts(repo_root / "config" / "prompts" / "en.yaml")
    assert "summary" in en.templates["sm"].user and "question" in en.templates["sm"].user
    assert "keywords" in en.templates["kw"].user and "hypernyms" in en.templates["kw"].user
    zh = load_prompts(repo_root / "config" / "prompts" / "zh.yaml")
    assert "概括" in zh.templates["sm"].user and "问题" in zh.templates["sm"].user
    assert "关键词" in zh.templates["kw"].user and "上位词" in zh.templates["kw"].user


ZH_SM = ("下面是一段文本：\n\n{p}\n\n请写出 {n} 条用户可能用来检索到这段文本整体的搜索查询。"
         "每条查询要么是对文本整体内容的"
         "概括性总结，要么是关于其主要内容的较长问题。查询应概括文本的整体语义，而不是某个细节；请用自己的话表述，"
         "不要照抄原文。\n\n请按如下格式输出 JSON 对象：{{\"queries\": [\"……\", \"……\"]}}")
ZH_KW = ("下面是一段文本：\n\n{p}\n\n请列出约 {n} 条用户为了找到这段文本可能搜索的显著关键词，"
         "尽量覆盖全部要点：文中提到的"
         "实体、物体、人物、地点、事件和属性，它们的上位词（更宽泛的类别，例如“橘猫”→“猫”“宠物”“动物”），以及描述所发生"
         "事情的简短短语。每条查询是一个词或几个词组成的短语，不要重复。\n\n"
         "请按如下格式输出 JSON 对象：{{\"queries\": [\"……\", \"……\"]}}")
EN_SM = ("Here is a passage:\n\n{p}\n\nWrite {n} search queries that a user might type to find this passage as a "
         "whole.\nEach query is either an overall summary of what the passage describes or a longer\nquestion about "
         "its main content. Cover the passage's overall meaning rather than a\nsingle detail, use your own words, and "
         "do not copy the passage.\n\nAnswer with a JSON object of the form {{\"queries\": [\"...\", \"...\"]}}.")
EN_KW = ("Here is a passage:\n\n{p}\n\nList about {n} salient keywords a user might search for to find this passage,"
         "\ncovering all its salient points: the entities, objects, people, places, events and\nattributes it "
         "mentions, their hypernyms (more general categories, e.g. \"tabby cat\" ->\n\"cat\", \"pet\", \"animal\"), "
         "and short phrases describing what happens. Each query is a\nsingle word or a short phrase of a few words.\n"
         "Do not repeat a query.\n\nAnswer with a JSON object of the form {{\"queries\": [\"...\", \"...\"]}}.")


@pytest.mark.parametrize("language, kind, template, default", [
    ("zh", "sm", ZH_SM, 7), ("zh", "kw", ZH_KW, 13), ("en", "sm", EN_SM, 7), ("en", "kw", EN_KW, 13)])
def test_rendered_prompts_ask_for_the_papers_counts_or_the_configured_ones(repo_root, language, kind, template,
                                                                          default):
    path = repo_root / "config" / "prompts" / f"{language}.yaml"
    passage = "一只橘猫 {count} sleeps"  # a slot-like word in the passage stays as it is
    assert load_prompts(path).messages(kind, passage)[1]["content"] == template.format(p=passage, n=default)
    assert load_prompts(path, {kind: 5}).messages(kind, passage)[1]["content"] == template.format(p=passage, n=5)


def test_counts_need_a_count_slot_and_a_positive_number(tmp_path, repo_root):
    path = _write_prompts(tmp_path, "language: en\nschema: s.json\nsm: {system: s, user: 'Write {count}: {passage}'}\n"
                                    "kw: {system: s, user: 'Keywords: {passage}'}\n")
    assert load_prompts(path, {"sm": 3}).messages("sm", "x")[1]["content"] == "Write 3: x"
    assert load_prompts(path).messages("kw", "x")[1]["content"] == "Keywords: x"  # no count asked for: no slot needed
    with pytest.raises(UserError, match=r"p.yaml: 'kw.user' has no \{count\} slot, so its queries per passage \(13\) "
                                        "cannot be asked for"):
        load_prompts(path, {"kw": 13})
    with pytest.raises(UserError, match="queries per passage for 'sm' must be a whole number >= 1, not 0"):
        load_prompts(path, {"sm": 0})


def test_the_answer_schema_accepts_answers_and_rejects_others(repo_root):
    schema = load_prompts(repo_root / "config" / "prompts" / "en.yaml").schema
    jsonschema.validate({"queries": ["a", "b"]}, schema)
    for bad in ({"queries": []}, {"queries": [1]}, {"queries": ["a"], "extra": 1}, ["a"], {}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def _write_prompts(tmp_path, text, schema=True):
    if schema:
        (tmp_path / "s.json").write_text(json.dumps({"type": "object"}))
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("language: en\nschema: s.json\nsm: {system: s, user: '{passage}'}\n", "'kw' must be a mapping"),
    ("language: fr\nschema: s.json\n", "'language' must be one of"),
    ("language: en\nschema: s.json\nsm: {system: s, user: no slot}\nkw: {system: s, user: '{passage}'}\n",
     "'sm.user' must contain {passage}"),
    ("language: en\nschema: [\n", "malformed YAML"),
])
def test_broken_prompt_files_give_one_line_errors(tmp_path, text, message):
    with pytest.raises(UserError, match=message.replace("{", r"\{").replace("(", r"\(")) as info:
        load_prompts(_write_prompts(tmp_path, text))
    assert "p.yaml" in str(info.value) and "\n" not in str(info.value)


def test_missing_schema_file_is_named(tmp_path):
    path = _write_prompts(tmp_path, "language: en\nschema: gone.json\n", schema=False)
    with pytest.raises(UserError, match="gone.json: JSON schema file not found"):
        load_prompts(path)
