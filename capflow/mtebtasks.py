"""CapRetrieval and CapRetrievalEn as mteb retrieval tasks, so that mteb evaluates any model on them
(``pip install "capflow[mteb]"``).

The tasks read a benchmark directory as capflow does (``candidates.jsonl``, ``queries.jsonl``), never
the hub: by default the dataset's own copy, found where the data step looks ($CAPFLOW_DATA_DIR, else
``data/`` and ``../shared/data``); or any benchmark folder the workflow wrote, e.g.
``results/data/CapRetrievalEn``, or the test view ``results/testview/CapRetrievalEn`` with
``split="testview"`` (the split name capflow's results give a test view)::

    import mteb
    from capflow.mtebtasks import CapRetrievalEn

    model = mteb.get_model("sentence-transformers/all-MiniLM-L6-v2")
    mteb.evaluate(model, CapRetrievalEn(), cache=mteb.ResultCache("mteb-cache"))

mteb embeds the texts as the files hold them; ``prepare`` (a function of the text and its role,
``"query"`` or ``"passage"``, such as a capflow recipe's :meth:`~capflow.recipes.Recipe.prepare`) gives
the encoder the strings capflow's retrieve step gives it. Queries without a positive are left out of
the scores by both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Dataset
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata

from capflow import benchmark as bm
from capflow.data import source_dir
from capflow.errors import UserError
from capflow.report.mtebjson import DEFAULT_REVISION, LANGUAGES, TEST_SPLIT
from capflow.slicing import BenchmarkSlice

# where the data step looks when $CAPFLOW_DATA_DIR is unset (config/config.yaml data.local_dirs)
LOCAL_DIRS = ["data", "../shared/data"]


def _metadata(name: str, repo: str, language: str, description: str) -> TaskMetadata:
    return TaskMetadata(
        name=name,
        description=description,
        reference=f"https://huggingface.co/datasets/{repo}",
        dataset={"path": repo, "revision": DEFAULT_REVISION},
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=[TEST_SPLIT],
        eval_langs=[LANGUAGES[language]],
        main_score="ndcg_at_10",
        license="apache-2.0",
        annotations_creators="human-annotated",
        dialect=[],
        sample_creation="found",
    )


class _CapRetrievalTask(AbsTaskRetrieval):
    """A capflow benchmark directory as an mteb retrieval task (one split, subset ``default``)."""

    def __init__(self, directory: str | Path | None = None, *, split: str = TEST_SPLIT,
                 revision: str = DEFAULT_REVISION, prepare: Callable[[str, str], str] | None = None,
                 cut: BenchmarkSlice | None = None, **kwargs: Any) -> None:
        # per instance: the split and revision are this copy's, not every instance's
        self.metadata = self.metadata.model_copy(
            update={"eval_splits": [split], "dataset": {**self.metadata.dataset, "revision": revision}})
        super().__init__(**kwargs)
        self.directory = Path(directory) if directory is not None else None
        self.split = split
        self.prepare = prepare
        self.cut = cut or BenchmarkSlice()

    def benchmark_dir(self) -> Path:
        if self.directory is not None:
            return self.directory
        found = source_dir(self.metadata.name, LOCAL_DIRS)
        if found is None:
            raise UserError(f"no local copy of {self.metadata.name}: set $CAPFLOW_DATA_DIR or pass its directory")
        return found

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        benchmark = self.cut.apply(bm.load_benchmark(self.benchmark_dir()))
        passages = benchmark.candidate_texts
        queries = [q.text for q in benchmark.queries]
        if self.prepare is not None:
            passages = [self.prepare(text, "passage") for text in passages]
            queries = [self.prepare(text, "query") for text in queries]
        corpus = Dataset.from_dict({"id": benchmark.candidate_ids, "text": passages})
        self.dataset = {"default": {self.split: {
            "corpus": corpus,
            "queries": Dataset.from_dict({"id": [q.id for q in benchmark.queries], "text": queries}),
            "relevant_docs": {q.id: dict(q.qrels) for q in benchmark.queries if q.qrels},
            "top_ranked": None,
        }}}
        self.data_loaded = True


class CapRetrieval(_CapRetrievalTask):
    metadata = _metadata("CapRetrieval", "lxucs/CapRetrieval", "zh",
                         "Chinese image captions retrieved by short queries of entities and events, with graded "
                         "labels (2 relevant, 1 partly relevant).")


class CapRetrievalEn(_CapRetrievalTask):
    metadata = _metadata("CapRetrievalEn", "lxucs/CapRetrievalEn", "en",
                         "CapRetrieval translated into English: the same captions, queries and labels.")


TASKS = {task.metadata.name: task for task in (CapRetrieval, CapRetrievalEn)}
