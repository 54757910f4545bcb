"""``capflow mteb-json``: a model's results on one benchmark as an mteb ``TaskResult``, in mteb's results
layout, so that mteb loads them as it loads its own (``mteb.ResultCache("results/mteb").load_results``).

mteb keeps a model's result on a task at ``results/<model>/<revision>/<Task>.json`` below its cache
folder, ``<model>`` being the model's name with ``/`` written ``__``; capflow writes the same below
``results/mteb/``. One file holds every split a model was scored on: ``test`` for the full benchmark,
``testview`` for capflow's test view, an MTEB dataset's own split (``dev``) for an MTEB view. A dense model
from the hub is named by its hub id and revision (as mteb names it); BM25, hybrid and finetuned runs,
and a second recipe over the same weights, are ``capflow/<label>`` without a revision. The scores
use mteb's metric names (``ndcg_at_10``, ``main_score`` = nDCG@10) as fractions, as mteb writes them.

This module does not import mteb: the workflow's env writes the files without it; capflow.mtebtasks
and the tests load them with mteb.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from capflow.errors import UserError
from capflow.io import write_json
from capflow.runrecord import RunRecord, read_run_record

# the mteb release whose TaskResult layout the files follow (constraints.txt pins it; a test holds them equal)
MTEB_VERSION = "2.26.24"
# mteb's language-script codes (ISO 639-3 and ISO 15924), as its C-MTEB tasks spell Chinese
LANGUAGES = {"zh": "cmn-Hans", "en": "eng-Latn"}
TEST_SPLIT = "test"
TESTVIEW_SPLIT = "testview"  # a test view (vocabulary.TESTVIEW) in mteb's split names
DEFAULT_REVISION = "main"  # config data.revision's default: the dataset revision of a local copy
NO_REVISION = "no_revision_available"  # mteb's folder for a model without a revision
CAPFLOW_MODELS = "capflow"  # the organisation of models that only capflow names (BM25, hybrid, finetuned)
MTEB_MEASURES = {"ndcg": "ndcg", "map": "map", "mrr": "mrr", "recall": "recall", "precision": "precision",
                 "hit": "hit_rate"}


def model_folder(name: str) -> str:
    """A model's folder under mteb's results: its name with ``/`` as ``__`` (and spaces as ``_``)."""
    return name.replace("/", "__").replace(" ", "_")


def capflow_model(label: str) -> tuple[str, str]:
    return f"{CAPFLOW_MODELS}/{label}", NO_REVISION


def registry_models(recipes: Mapping) -> dict[str, tuple[str, str]]:
    """Registry name -> (mteb model name, revision folder): a dense recipe with a hub id is that hub id at
    its revision, unless an earlier recipe of the registry uses the same weights (e.g. a "-card" format),
    which leaves the later one ``capflow/<name>``; any other recipe is ``capflow/<name>``."""
    names: dict[str, tuple[str, str]] = {}
    taken: set[tuple[str, str]] = set()
    for key, recipe in recipes.items():
        if recipe.kind == "dense" and recipe.hub_id:
            identity = (recipe.hub_id, recipe.revision or NO_REVISION)
            if identity not in taken:
                taken.add(identity)
                names[key] = identity
                continue
        names[key] = capflow_model(key)
    return names


def result_path(root: str, model: str, revision: str, task: str) -> str:
    """``<root>/results/<model folder>/<revision>/<task>.json``: mteb's layout below a cache folder ``root``."""
    return f"{root}/results/{model_folder(model)}/{revision}/{task}.json"


def scores_entry(record: RunRecord, languages: list[str]) -> dict:
    """One split's scores in mteb's names, for the subset ``default``."""
    scores = {}
    for name, value in sorted(record.metrics.items()):
        measure, _, k = name.partition("@")
        if measure in MTEB_MEASURES:
            scores[f"{MTEB_MEASURES[measure]}_at_{k}"] = value
    if "ndcg_at_10" not in scores:
        raise UserError("metrics JSON has no ndcg@10, MTEB's main score", record.source)
    return {**scores, "main_score": scores["ndcg_at_10"], "hf_subset": "default", "languages": languages,
            "mteb_version": MTEB_VERSION}


def mteb_result(runs: list[tuple[str, RunRecord]], dataset_revision: str, languages: list[str]) -> dict:
    """The ``TaskResult`` of one model on one benchmark: ``runs`` are (split, record), one per split."""
    if not languages:
        raise UserError("an mteb result needs the benchmark's languages (e.g. cmn-Hans, eng-Latn)")
    tasks = sorted({record.benchmark for _, record in runs})
    if len(tasks) != 1:
        raise UserError(f"one mteb result holds one benchmark, not {', '.join(tasks)}", runs[-1][1].source)
    scores: dict[str, list[dict]] = {}
    for split, record in runs:
        if split in scores:
            raise UserError(f"two runs for split '{split}'", record.source)
        scores[split] = [scores_entry(record, languages)]
    seconds = [record.evaluation_seconds for _, record in runs]
    return {"dataset_revision": dataset_revision, "task_name": tasks[0], "mteb_version": MTEB_VERSION,
            "scores": scores, "evaluation_time": None if None in seconds else round(sum(seconds), 3),
            "kg_co2_emissions": None}


def configure_parser(parser) -> None:
    parser.add_argument("--run", nargs=2, action="append", required=True, metavar=("SPLIT", "METRICS"),
                        help="a split's name (test, testview, dev) and the metrics JSON of the run scored on it; "
                             "once per split")
    parser.add_argument("--dataset-revision", default=DEFAULT_REVISION,
                        help="the benchmark's revision (config data.revision; default %(default)s)")
    parser.add_argument("--languages", nargs="+", required=True, help="mteb's codes, e.g. cmn-Hans or eng-Latn")
    parser.add_argument("--out", required=True, type=Path,
                        help="output JSON, at results/<model>/<revision>/<task>.json below an mteb cache folder")


def main(args) -> None:
    runs = [(split, read_run_record(Path(metrics))) for split, metrics in args.run]
    write_json(args.out, mteb_result(runs, args.dataset_revision, args.languages))
