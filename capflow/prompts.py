"""Query-generation prompts: one YAML file per language holding an SM and a KW template.

A prompt file (``config/prompts/{en,zh}.yaml``) names the JSON schema every answer must follow
(``{"queries": [...]}``) and gives, per kind, a ``system`` and a ``user`` message in which
``{passage}`` stands for the passage text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from capflow.errors import UserError
from capflow.vocabulary import KINDS

LANGUAGES = ("en", "zh")
PASSAGE_SLOT = "{passage}"

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class PromptTemplate:
    system: str
    user: str

    def messages(self, passage: str) -> Messages:
        # str.replace, not str.format: the templates show JSON examples full of braces.
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self.user.replace(PASSAGE_SLOT, passage)}]


@dataclass(frozen=True)
class PromptSet:
    path: Path
    language: str
    schema: dict
    templates: dict[str, PromptTemplate]

    def messages(self, kind: str, passage: str) -> Messages:
        return self.templates[kind].messages(passage)


def load_prompts(path: str | Path) -> PromptSet:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("prompt file not found", path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"malformed YAML: {getattr(exc, 'problem', exc)}", path,
                        None if mark is None else mark.line + 1) from None
    if not isinstance(raw, dict):
        raise UserError("expected a mapping with 'language', 'schema', 'sm' and 'kw'", path)
    language = raw.get("language")
    if language not in LANGUAGES:
        raise UserError(f"'language' must be one of {', '.join(LANGUAGES)}, got {language!r}", path)
    if not isinstance(raw.get("schema"), str):
        raise UserError("'schema' must name a JSON schema file (relative to the prompt file)", path)
    schema = load_schema(path.parent / raw["schema"])
    templates = {}
    for kind in KINDS:
        entry = raw.get(kind)
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("system", "user")):
            raise UserError(f"'{kind}' must be a mapping with string 'system' and 'user'", path)
        if PASSAGE_SLOT not in entry["user"]:
            raise UserError(f"'{kind}.user' must contain {PASSAGE_SLOT}", path)
        templates[kind] = PromptTemplate(entry["system"].strip(), entry["user"].strip())
    return PromptSet(path, language, schema, templates)


def load_schema(path: Path) -> dict:
    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("JSON schema file not found", path) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON: {exc.msg}", path, exc.lineno) from None
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UserError(f"not a valid JSON schema: {exc.message}", path) from None
    return schema
