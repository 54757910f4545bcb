"""TREC run files: one line ``qid Q0 docid rank score tag`` per ranked candidate, each query's best first."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from capflow.errors import UserError
from capflow.io import atomic_open, decode_utf8, open_binary

Run = dict[str, list[tuple[str, float]]]  # query id -> [(candidate id, score)], best first


def shown(text: str, limit: int = 60) -> str:
    """``text`` as an error message may quote it: printable (escapes for the rest) and at most ``limit``
    characters, so the message stays one short line."""
    text = text if text.isprintable() else repr(text)[1:-1]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def write_trec(path: Path, run: Run, tag: str) -> str:
    """Write ``run``; return the SHA-256 (hex) of the bytes written."""
    digest = hashlib.sha256()
    with atomic_open(path) as handle:
        for qid, hits in run.items():
            for rank, (cid, score) in enumerate(hits, start=1):
                line = f"{qid} Q0 {cid} {rank} {score:.6f} {tag}\n"
                handle.write(line)
                digest.update(line.encode("utf-8"))
    return digest.hexdigest()


def parse_trec(text: str, path: Path) -> Run:
    """The run in ``text``: every score a finite number, no candidate twice for a query."""
    run: Run = {}
    seen: set[tuple[str, str]] = set()
    lines = text.split("\n")  # not splitlines(): line numbers count only newlines, as an editor does
    if lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != 6:
            raise UserError("expected 'qid Q0 docid rank score tag'", path, lineno)
        qid, cid = parts[0], parts[2]
        try:
            score = float(parts[4])
        except ValueError:
            raise UserError(f"score '{shown(parts[4])}' is not a number", path, lineno) from None
        if not math.isfinite(score):
            raise UserError(f"score '{shown(parts[4])}' is not a finite number", path, lineno)
        if (qid, cid) in seen:
            raise UserError(f"candidate '{shown(cid)}' is ranked twice for query '{shown(qid)}'", path, lineno)
        seen.add((qid, cid))
        run.setdefault(qid, []).append((cid, score))
    return run


def read_trec_and_digest(path: Path) -> tuple[Run, str]:
    """The run in ``path`` and the SHA-256 (hex) of the file's bytes."""
    path = Path(path)
    with open_binary(path, "run file not found") as handle:
        data = handle.read()
    return parse_trec(decode_utf8(data, path), path), hashlib.sha256(data).hexdigest()


def read_trec(path: Path) -> Run:
    return read_trec_and_digest(path)[0]
