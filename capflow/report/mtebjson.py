"""``capflow mteb-json``: a metrics JSON in MTEB's result layout (``main_score`` = nDCG@10, metric names
such as ``ndcg_at_10``), so MTEB tooling and leaderboards can read capflow's results."""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.io import write_json
from capflow.runrecord import RunRecord, read_run_record

MTEB_MEASURES = {"ndcg": "ndcg", "map": "map", "mrr": "mrr", "recall": "recall", "precision": "precision"}


def mteb_result(record: RunRecord, split: str, languages: list[str]) -> dict:
    """MTEB's result layout: ``scores[split]`` holds one entry with ``main_score`` = nDCG@10."""
    scores = {}
    for name, value in sorted(record.metrics.items()):
        measure, _, k = name.partition("@")
        if measure in MTEB_MEASURES:
            scores[f"{MTEB_MEASURES[measure]}_at_{k}"] = value
    if "ndcg_at_10" not in scores:
        raise UserError("metrics JSON has no ndcg@10, MTEB's main score", record.source)
    entry = {**scores, "main_score": scores["ndcg_at_10"], "hf_subset": "default", "languages": languages}
    return {"task_name": record.benchmark, "model_name": record.model,
            "dataset_revision": None, "mteb_version": None, "evaluation_time": None, "scores": {split: [entry]}}


def configure_parser(parser) -> None:
    parser.add_argument("--metrics", required=True, type=Path, help="a run's metrics JSON")
    parser.add_argument("--split", default="test", help="split name in the result (default test)")
    parser.add_argument("--languages", nargs="*", default=[], help="e.g. cmn-Hans")
    parser.add_argument("--out", required=True, type=Path, help="output MTEB-shaped JSON")


def main(args) -> None:
    write_json(args.out, mteb_result(read_run_record(args.metrics), args.split, args.languages))
