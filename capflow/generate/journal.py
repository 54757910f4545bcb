"""The raw answers of one generation job, kept as they arrive so a crash or a kill loses none.

The journal is a JSON-lines file beside the job's queries (``<queries>.partial`` unless told
otherwise), one record {"key", "answer"} per answer, appended and flushed as each answer arrives
(it survives the job's crash or kill, not a power cut). A rerun of the job reads it back and asks
the generator only for the requests it lacks; once the job's outputs are written it is deleted.

A record's key is a digest of everything that decides the answer: the passage, the query kind,
the rendered prompt and the generator's model, sampling and answer format. A record whose key the
rerun does not ask for (another prompt, model or seed) is dropped, never reused. Records are
written in ASCII (``\\uXXXX`` escapes), so an answer holding a lone surrogate is kept exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from capflow.errors import UserError
from capflow.generate.backend import GenerationRequest, GeneratorSettings
from capflow.io import write_text

log = logging.getLogger(__name__)


def journal_path(queries: Path) -> Path:
    return queries.with_name(queries.name + ".partial")


def generator_identity(settings: GeneratorSettings, schema: dict | None) -> dict:
    """The settings that decide an answer; transport and speed options (URL, threads, GPUs) do not."""
    identity = {
        "backend": settings.backend, "model": settings.model, "revision": settings.revision,
        "language": settings.language, "sampling": dataclasses.asdict(settings.sampling),
        "chat_template_kwargs": settings.chat_template_kwargs,
        "schema": schema if settings.structured_output else None,
    }
    if settings.backend == "openai":
        identity["extra_body"] = settings.openai.extra_body
        identity["send_chat_template_kwargs"] = settings.openai.send_chat_template_kwargs
    elif settings.backend == "vllm":
        identity["max_model_len"] = settings.vllm.max_model_len
        identity["dtype"] = settings.vllm.dtype
    return identity


def request_keys(requests: Iterable[GenerationRequest], identity: dict) -> list[str]:
    generator = json.dumps(identity, sort_keys=True)
    keys = []
    for r in requests:
        asked = json.dumps([generator, r.passage_id, r.kind, r.passage, r.messages], sort_keys=True)
        keys.append(hashlib.sha256(asked.encode("ascii")).hexdigest())
    return keys


def _record(line: bytes) -> tuple[str, str] | None:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and isinstance(obj.get("key"), str) and isinstance(obj.get("answer"), str):
        return obj["key"], obj["answer"]
    return None


def _line(key: str, answer: str) -> str:
    return json.dumps({"key": key, "answer": answer}) + "\n"


class AnswerJournal:
    """Append-only answers of one job at ``path``; the file is created with the first answer."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._handle: TextIO | None = None

    def resume(self, wanted: Iterable[str]) -> dict[str, str]:
        """The answers already received for the keys in ``wanted``, by key.

        Anything else in the file (a line cut short by a kill, another configuration's answers) is
        dropped, and the file rewritten atomically to hold only what is kept.
        """
        wanted = set(wanted)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UserError(f"cannot read the answers kept by an earlier run: {exc.strerror or exc}",
                            self.path) from None
        lines = data.splitlines(keepends=True)
        kept: dict[str, str] = {}
        for line in lines:
            record = _record(line) if line.endswith(b"\n") else None  # no newline: cut short by a kill
            if record is not None and record[0] in wanted:
                kept.setdefault(*record)
        if len(kept) != len(lines):
            dropped = len(lines) - len(kept)
            log.warning("%s: dropped %d kept answer(s) that this run does not ask for or that were cut short",
                        self.path, dropped)
            write_text(self.path, "".join(_line(k, a) for k, a in kept.items()))
        return kept

    def append(self, key: str, answer: str) -> None:
        try:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "a", encoding="ascii")
            self._handle.write(_line(key, answer))
            self._handle.flush()
        except OSError as exc:
            raise UserError(f"cannot keep the answers received: {exc.strerror or exc}", self.path) from None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
