"""Command-line flags derived from a settings dataclass, so that each setting is defined once.

A field's name gives its flag (``top_p`` -> ``--top-p``), its default's type gives the flag's type (a
bool is a switch: ``--x`` for a default of False, ``--no-x`` for True; a dict is a JSON object; a
tuple takes any number of values, or ``metadata["nargs"]``; a field whose default is None takes
``metadata["type"]``, else text), and its ``metadata["help"]`` the help text. The same fields turn
parsed arguments back into the dataclass
(:func:`from_args`) and a config section into the workflow's command-line words (:func:`valued_options`,
:func:`switches`), in field order: a reordered field changes a rule's params and reruns its jobs.
The config schema states the same defaults, and the tests hold the two equal.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def json_object(text: str) -> dict:
    """An argparse type: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def defaults_of(cls) -> dict:
    """Each field's default, by name."""
    instance = cls()
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(cls)}


def add_options(group, cls, skip: tuple[str, ...] = ()) -> None:
    """One option per field of ``cls`` (but ``skip``) on an argparse parser or group."""
    defaults = defaults_of(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default, text = defaults[f.name], f.metadata.get("help", "")
        if isinstance(default, bool):
            if default:
                group.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false", help=text)
            else:
                group.add_argument(flag(f.name), action="store_true", help=text)
            continue
        if isinstance(default, (list, tuple)):  # a list of values: nargs from the metadata, else any number
            kind = type(default[0]) if default else str
            group.add_argument(flag(f.name), nargs=f.metadata.get("nargs", "*"), type=kind, default=list(default),
                               help=f"{text} (default {' '.join(map(str, default))})".lstrip())
            continue
        if isinstance(default, dict):
            kind = json_object
        elif default is None:  # an optional setting: metadata["type"] says what it is when given
            kind = f.metadata.get("type", str)
        else:
            kind = type(default)
        if default is not None:  # a None default is said in the help text, if anywhere
            shown = json.dumps(default) if isinstance(default, dict) else "%(default)s"
            text = f"{text} (default {shown})".lstrip()
        group.add_argument(flag(f.name), type=kind, default=default, help=text)


def from_args(cls, args, **given):
    """The dataclass from parsed arguments; ``given`` fields (nested settings) are passed as they are."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.name not in given}, **given)


def valued_options(cls, values: Mapping) -> dict[str, object]:
    """A config section's values as ``{flag name: value}`` in field order (switches left to :func:`switches`;
    a dict as sorted JSON)."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        value = values[f.name]
        if isinstance(value, bool):
            continue
        out[f.name.replace("_", "-")] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
    return out


def switches(cls, values: Mapping) -> list[str]:
    """The switches a config section's booleans ask for: those that differ from the default."""
    defaults = defaults_of(cls)
    out = []
    for f in dataclasses.fields(cls):
        value = values[f.name]
        if isinstance(value, bool) and value != defaults[f.name]:
            out.append(flag(f.name) if value else "--no-" + f.name.replace("_", "-"))
    return out
