"""Work records: each heavy step logs what it did and how long the work itself took.

One line per step in its log, ``capflow-work {json}``: the units of work done (texts encoded, queries
asked for, training pairs, passage pairs compared), the seconds they took, the seconds spent setting
up (loading a model), the sizes a rehearsal's slice cut from (``full``) and the device. `capflow
estimate` reads them from a rehearsal's logs and scales them to a full configuration.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MARK = "capflow-work "


@dataclass
class WorkRecord:
    step: str
    units: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    setup_seconds: float = 0.0
    full: dict[str, float] = field(default_factory=dict)
    device: str = ""

    def line(self) -> str:
        return MARK + json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


def write(record: WorkRecord) -> None:
    log.info("%s", record.line())


@contextmanager
def timed():
    """Seconds elapsed inside the block: ``with timed() as t: ...; t()``."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def read(path: str | Path) -> list[WorkRecord]:
    """The work records of a log; none when the log is missing or holds none."""
    try:
        # split at newlines only: a record's JSON may hold U+0085 or U+2028, where splitlines() would cut it
        lines = Path(path).read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return []
    records = []
    for line in lines:
        _, mark, payload = line.partition(MARK)
        if not mark:
            continue
        try:
            fields = json.loads(payload)
            records.append(WorkRecord(**fields))
        except (json.JSONDecodeError, TypeError):
            continue
    return records
