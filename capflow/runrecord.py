"""A run's record, its ``metrics.json``: written by the retrieve and hybrid steps, read by every report step.

:class:`RunRecord` is the one writer (:meth:`RunRecord.write`) and the one reader
(:func:`read_run_record`, checked against :data:`SCHEMA`). The record names its run file by a
digest (:class:`RunFile`); :func:`read_checked_run` reads a run file only if it is that run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capflow.errors import UserError
from capflow.io import read_json, write_json
from capflow.trec import Run, read_trec_and_digest, shown
from capflow.vocabulary import HYBRID_METHODS, MIXES, Setting, benchmark_label

_NUMBERS = {"type": "object", "additionalProperties": {"type": "number"}}
_FRACTIONS = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}}
_TEXT = {"type": "string"}
_COUNT = {"type": "integer", "minimum": 0}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["benchmark", "model", "metrics"],
    "additionalProperties": False,
    "properties": {
        "benchmark": _TEXT,
        "view": _TEXT,  # absent for the full benchmark
        "model": _TEXT,
        "setting": {
            "type": "object",
            "required": ["pool", "mix", "seed"],
            "additionalProperties": False,
            "properties": {"pool": _TEXT, "mix": {"enum": list(MIXES)}, "seed": _COUNT, "variant": _TEXT},
        },
        "metrics": _FRACTIONS,  # every measure (nDCG, MRR, MAP, hit, recall, precision) is a fraction
        "queries": _COUNT,
        "queries_evaluated": _COUNT,
        "candidates": _COUNT,
        "ndcg@10_by_type": _FRACTIONS,
        "recipe": {"type": "object"},
        "base_model": _TEXT,
        "macro_prf_within_run": _NUMBERS,
        "group": _TEXT,
        "fusion": {
            "type": "object",
            "required": ["method"],
            "additionalProperties": False,
            "properties": {"method": {"enum": list(HYBRID_METHODS)}, "k": _COUNT,
                           "weight": {"type": "number", "minimum": 0, "maximum": 1}},
            "allOf": [{"if": {"properties": {"method": {"const": "rrf"}}}, "then": {"required": ["k"]}},
                      {"if": {"properties": {"method": {"const": "minmax"}}}, "then": {"required": ["weight"]}}],
        },
        "runs": {"type": "array", "items": _TEXT, "minItems": 2, "maxItems": 2},
        "run_file": {
            "type": "object",
            "required": ["sha256", "queries", "depth"],
            "additionalProperties": False,
            "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "queries": _COUNT,
                           "depth": {"type": "integer", "minimum": 1}},
        },
        "evaluation_seconds": {"type": "number", "minimum": 0},
        "display": _TEXT,
        "params": _TEXT,
    },
    "dependentRequired": {"fusion": ["runs"], "runs": ["fusion"]},
}


@dataclass(frozen=True)
class RunFile:
    """What a record knows of its run file: the SHA-256 of its bytes, the queries it ranks, the depth asked."""

    sha256: str
    queries: int
    depth: int

    @classmethod
    def of(cls, run: Run, sha256: str, depth: int) -> RunFile:
        return cls(sha256, sum(1 for hits in run.values() if hits), depth)


def _json_name(f: dataclasses.Field) -> str:
    return f.metadata.get("json", f.name)


@dataclass(frozen=True)
class RunRecord:
    """One run's scores. ``display``, ``group`` and ``params`` are table labels: the report puts the
    registry's on a record (capflow.report.labels); a hybrid run's ``group`` is written with it."""

    benchmark: str
    model: str
    metrics: dict[str, float]
    view: str | None = None  # the evaluation view (vocabulary.TESTVIEW); None for the full benchmark
    setting: Setting | None = None  # a finetuned run's pool, mix and seed
    queries: int | None = None
    queries_evaluated: int | None = None
    candidates: int | None = None
    ndcg10_by_type: dict[str, float] | None = field(default=None, metadata={"json": "ndcg@10_by_type"})
    recipe: dict | None = None  # the recipe fields that made the vectors (Recipe.vector_json)
    base_model: str | None = None  # a finetuned model's registry entry
    macro_prf_within_run: dict[str, float] | None = None
    group: str | None = None
    fusion: dict | None = None  # a hybrid run: {"method": "rrf", "k": 60} or {"method": "minmax", "weight": 0.5}
    runs: tuple[str, str] | None = None  # a hybrid run: the lexical and the dense run's models
    run_file: RunFile | None = None
    evaluation_seconds: float | None = None  # ranking and scoring, model loading included (mteb's evaluation_time)
    display: str | None = None
    params: str | None = None
    source: Path | None = field(default=None, compare=False, metadata={"json": None})  # the file it was read from

    @property
    def benchmark_label(self) -> str:
        """The benchmark as tables name it: its view said after it."""
        return benchmark_label(self.benchmark, self.view)

    @property
    def display_name(self) -> str:
        """The name a table or figure shows: the label's display name, else the model name."""
        return self.display or self.model

    @property
    def registry_model(self) -> str:
        """The registry entry whose labels the record takes: a finetuned model's base model."""
        return self.base_model or self.model

    @property
    def is_hybrid(self) -> bool:
        return self.fusion is not None

    def metric(self, name: str) -> float:
        """A mean metric; a record without it is an error naming the file and the metric."""
        if name not in self.metrics:
            raise UserError(f"metrics JSON has no '{name}' (the table shows it)", self.source)
        return self.metrics[name]

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or _json_name(f) is None:
                continue
            if isinstance(value, Setting):
                value = value.to_json()
            elif isinstance(value, RunFile):
                value = dataclasses.asdict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[_json_name(f)] = value
        return out

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def from_json(cls, obj: Any, path: Path | None = None) -> RunRecord:
        """The record in ``obj`` (a parsed metrics.json); anything else is one line naming ``path``."""
        check_record(obj, path)
        values: dict[str, Any] = {"source": None if path is None else Path(path)}
        for f in dataclasses.fields(cls):
            name = _json_name(f)
            if name is not None and name in obj:
                values[f.name] = obj[name]
        if "run_file" in values:
            values["run_file"] = RunFile(**values["run_file"])
        if "setting" in values:
            values["setting"] = Setting(**values["setting"])
        if "runs" in values:
            values["runs"] = tuple(values["runs"])
        return cls(**values)


_JSON_TYPES = {"object": "an object", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number"}


def _requirement(error) -> str:
    """What the schema asks of a value, in words that never quote the value (it may be long or unprintable)."""
    expected = error.validator_value
    if error.validator == "type":
        return f"must be {_JSON_TYPES.get(expected, expected)}"
    if error.validator == "minimum":
        return f"must be at least {expected}"
    if error.validator == "maximum":
        return f"must be at most {expected}"
    if error.validator in ("minItems", "maxItems"):
        return f"must hold {error.schema.get('minItems', expected)} items"
    if error.validator == "pattern":
        return "must be 64 lowercase hex digits (a SHA-256)"
    if error.validator in ("enum", "const"):
        return f"must be one of {', '.join(map(repr, error.schema.get('enum', [expected])))}"
    return "is not valid"


def check_record(obj: Any, path: Path | None) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    if not isinstance(obj, dict):
        raise UserError("not a metrics JSON (benchmark, model, metrics)", path)
    error = best_match(Draft202012Validator(SCHEMA).iter_errors(obj))
    if error is not None:
        where = [*map(str, error.absolute_path)]
        if error.validator == "required":
            missing = next(name for name in error.validator_value if name not in error.instance)
            raise UserError(f"metrics JSON lacks field '{shown('.'.join([*where, missing]))}'", path)
        if error.validator == "additionalProperties":
            extra = next(name for name in error.instance if name not in error.schema.get("properties", {}))
            raise UserError(f"metrics JSON has an unknown field '{shown('.'.join([*where, extra]))}'", path)
        if error.validator == "dependentRequired":
            given = next(name for name in error.validator_value if name in error.instance)
            needed = " and ".join(f"'{name}'" for name in error.validator_value[given])
            raise UserError(f"metrics JSON has '{given}' without {needed}", path)
        raise UserError(f"metrics JSON field '{shown('.'.join(where))}' {_requirement(error)}", path)
    for key in ("metrics", "ndcg@10_by_type", "macro_prf_within_run"):
        for name, value in obj.get(key, {}).items():
            if isinstance(value, float) and not math.isfinite(value):  # the schema's bounds let NaN pass
                raise UserError(f"metrics JSON field '{shown(f'{key}.{name}')}' must be a finite number", path)


def add_run_outputs(parser) -> None:
    """The outputs of a step that makes a run: its TREC file and its record."""
    parser.add_argument("--run", required=True, type=Path, help="output TREC run")
    parser.add_argument("--metrics", required=True, type=Path, help="output metrics JSON")


def read_run_record(path: Path) -> RunRecord:
    return RunRecord.from_json(read_json(path), path)


def read_checked_run(run_path: Path, record: RunRecord, query_ids: Collection[str]) -> Run:
    """The run in ``run_path`` if it is the run ``record`` was scored on: its queries are the
    benchmark's (``query_ids``), as many as recorded, none deeper than the recorded depth, and its
    bytes have the recorded SHA-256. Anything else is one line naming the run file."""
    digest = record.run_file
    if digest is None:
        raise UserError("records no digest of its run file (written by an older capflow): rerun the job that "
                        "wrote it", record.source)
    run, sha256 = read_trec_and_digest(run_path)
    where = f"its metrics JSON {record.source}" if record.source else "its metrics JSON"
    known = set(query_ids)
    stranger = next((qid for qid in run if qid not in known), None)
    if stranger is not None:
        raise UserError(f"query '{shown(stranger)}' is not in benchmark '{shown(record.benchmark_label)}' (a run of "
                        "another benchmark?)", run_path)
    if len(run) != digest.queries:
        raise UserError(f"ranks {len(run)} queries but {where} records {digest.queries} (a truncated or "
                        "changed run?)", run_path)
    deepest = max(run, key=lambda qid: len(run[qid]), default=None)
    if deepest is not None and len(run[deepest]) > digest.depth:
        raise UserError(f"query '{shown(deepest)}' has {len(run[deepest])} ranked candidates, more than the depth "
                        f"{digest.depth} that {where} records", run_path)
    if sha256 != digest.sha256:
        raise UserError(f"is not the run that {where} scored (the file's SHA-256 differs: changed or "
                        "truncated)", run_path)
    return run
