"""Reading and writing the report's CSV frames (per-query values, sweeps, inversions) with pandas."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from capflow.errors import UserError
from capflow.io import atomic_open


def read_frame_csv(path: Path, columns: Sequence[str], kind: str, **read_options):
    """A CSV written by :func:`write_frame_csv`, refused in one line when it lacks one of ``columns``."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, keep_default_na=False, **read_options)
    except FileNotFoundError:
        raise UserError("file not found", path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UserError(f"not a readable {kind}: {str(exc).splitlines()[0]}", path) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"not a {kind}: lacks {', '.join(missing)}", path)
    return frame


def write_frame_csv(frame, path: Path) -> None:
    """Atomically, six decimals, no index: the same frame gives the same bytes."""
    with atomic_open(path) as handle:
        frame.to_csv(handle, index=False, float_format="%.6f", lineterminator="\n")
