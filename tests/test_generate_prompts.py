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
