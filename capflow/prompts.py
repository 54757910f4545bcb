"""Query-generation prompts: one YAML file per language holding an SM and a KW template.

A prompt file (``config/prompts/{en,zh}.yaml``) names the JSON schema every answer must follow
(``{"queries": [...]}``) and gives, per kind, a ``system`` and a ``user`` message in which
``{passage}`` stands for the passage text and ``{count}`` for how many queries to ask for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from capflow.errors import UserError
from capflow.io import read_text
from capflow.vocabulary import KINDS
from capflow.yamlfiles import load_yaml

LANGUAGES = ("en", "zh")
PASSAGE_SLOT = "{passage}"
COUNT_SLOT = "{count}"
# Queries asked for per passage: the paper's Table 6 reports about 7 SM and 12-14 KW queries per passage.
DEFAULT_COUNTS = {"sm": 7, "kw": 13}

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class PromptTemplate:
    system: str
    user: str

    def messages(self, passage: str, count: int) -> Messages:
        # str.replace, not str.format: the templates show JSON examples full of braces. The count goes
        # in first, so a passage that happens to contain "{count}" stays as it is.
        user = self.user.replace(COUNT_SLOT, str(count)).replace(PASSAGE_SLOT, passage)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class PromptSet:
    path: Path
    language: str
    schema: dict
    templates: dict[str, PromptTemplate]
    counts: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_COUNTS))

    def messages(self, kind: str, passage: str) -> Messages:
        return self.templates[kind].messages(passage, self.counts[kind])


def load_prompts(path: str | Path, counts: dict[str, int] | None = None) -> PromptSet:
    """The prompt file at ``path``; ``counts`` (kind -> queries per passage) replace the defaults, and
    a kind given a count must have a ``{count}`` slot in its user message for the count to reach it."""
    path = Path(path)
    raw = load_yaml(path, "prompt file not found")
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
    for kind, count in (counts or {}).items():
        if kind not in templates:
            raise UserError(f"queries per passage given for unknown kind '{kind}' (known: {', '.join(KINDS)})")
        if not isinstance(count, int) or count < 1:
            raise UserError(f"queries per passage for '{kind}' must be a whole number >= 1, not {count!r}")
        if COUNT_SLOT not in templates[kind].user:
            raise UserError(f"'{kind}.user' has no {COUNT_SLOT} slot, so its queries per passage ({count}) "
                            "cannot be asked for", path)
    return PromptSet(path, language, schema, templates, {**DEFAULT_COUNTS, **(counts or {})})


def load_schema(path: Path) -> dict:
    text = read_text(path, "JSON schema file not found")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON: {exc.msg}", path, exc.lineno) from None
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UserError(f"not a valid JSON schema: {exc.message}", path) from None
    return schema
