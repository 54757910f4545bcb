"""Command-line words for the rules' shell lines, every value shell-quoted."""

from __future__ import annotations

import shlex


def cli_options(options: dict) -> str:
    """`--key value` words, each value shell-quoted; None values are left out."""
    return " ".join(f"--{key} {shlex.quote(str(value))}" for key, value in options.items() if value is not None)


def words(*values) -> str:
    """Each value as one shell word."""
    return " ".join(shlex.quote(str(value)) for value in values)
