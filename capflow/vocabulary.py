"""The workflow's names, defined once: generation kinds, training mixes, pools and run labels.

The Snakemake rules derive their wildcard patterns from here, the config schema's enums are
checked against it by the tests, and tables take their display names from it.
"""

from __future__ import annotations

import re

KINDS = ("sm", "kw")  # SM: overall summaries / long questions; KW: salient keywords and short phrases
MIXES: dict[str, tuple[str, ...]] = {"sm": ("sm",), "kw": ("kw",), "smkw": ("sm", "kw")}
MIX_DISPLAY = {"sm": "SM", "kw": "KW", "smkw": "SM+KW"}
POOLS = ("ood", "id")
POOL_DISPLAY = {"ood": "OOD pool", "id": "ID pool"}

# Names a user chooses (benchmarks, models, pools) become path components and command-line words.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]*"


def is_name(text) -> bool:
    """Whether ``text`` is a name, matched whole (``$`` would also match before a final newline)."""
    return isinstance(text, str) and re.fullmatch(NAME_PATTERN, text) is not None

_SETTING_LABEL = re.compile(r"^(?P<pool>[a-z0-9_]+)-(?P<mix>[a-z]+)-seed(?P<seed>\d+)$")


def one_of(names) -> str:
    """A regular expression matching exactly one of ``names`` (for wildcard constraints)."""
    return "|".join(re.escape(name) for name in names) or r"(?!x)x"


def setting_label(pool: str, mix: str, seed: int | str) -> str:
    """The model label of a finetuned run in its metrics JSON, e.g. ``ood-kw-seed0``."""
    return f"{pool}-{mix}-seed{seed}"


def parse_setting_label(label: str) -> tuple[str, str, int] | None:
    match = _SETTING_LABEL.match(label)
    if not match or match["mix"] not in MIXES:
        return None
    return match["pool"], match["mix"], int(match["seed"])


def setting_display(pool: str, mix: str) -> str:
    """A finetuned setting for readers, e.g. ``ID pool SM+KW``."""
    return f"{POOL_DISPLAY.get(pool, pool)} {MIX_DISPLAY.get(mix, mix)}"
