"""The shared vocabulary of training settings: mixes, display names and finetuned-run labels."""

from __future__ import annotations

import re

MIXES: dict[str, tuple[str, ...]] = {"sm": ("sm",), "kw": ("kw",), "smkw": ("sm", "kw")}
MIX_DISPLAY = {"sm": "SM", "kw": "KW", "smkw": "SM+KW"}
POOL_DISPLAY = {"ood": "OOD pool", "id": "ID pool"}

_SETTING_LABEL = re.compile(r"^(?P<pool>[a-z0-9_]+)-(?P<mix>[a-z]+)-seed(?P<seed>\d+)$")


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
