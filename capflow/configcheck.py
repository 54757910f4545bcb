"""A short, exact message for a mistyped config key, before the schema's full validation."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from capflow.errors import UserError


def unknown_keys(config, schema: dict, prefix: str = "") -> list[str]:
    """Dotted paths of keys the schema does not allow, each with a suggestion where one is close."""
    if not isinstance(config, dict) or schema.get("type") != "object":
        return []
    known = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    problems = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if key in known:
            problems += unknown_keys(value, known[key], path + ".")
        elif isinstance(extra, dict):
            problems += unknown_keys(value, extra, path + ".")
        elif extra is False:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else f" (known: {', '.join(known)})"
            problems.append(f"'{path}'{hint}")
    return problems


def check_config_keys(config: dict, schema_path: str | Path) -> None:
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    problems = unknown_keys(config, schema)
    if problems:
        raise UserError(f"unknown config key {'; '.join(problems)}")
