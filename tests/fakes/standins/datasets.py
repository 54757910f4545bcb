"""Stand-in hub datasets in the layouts ``datasets.load_dataset`` reads from the hub: parquet files per
split, named in the dataset card's ``configs`` so each configuration loads by name.

The files lie at the repo's top level: the loopback hub's tree listing names files only (no folder
entries), so ``datasets`` could not glob a pattern inside a folder there."""

from __future__ import annotations

import random
from pathlib import Path

from fakes.standins import corpus

MTEB_DOCUMENTS = 300
MTEB_QUERIES = 30
POOL_PASSAGES = 400


def _write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    pq.write_table(pa.table(columns), path)


def _card(configs: dict[str, dict[str, str]]) -> str:
    """A dataset card whose YAML header declares each configuration's split files."""
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {path}" for split, path in splits.items()]
    return "\n".join([*lines, "---", "", "A stand-in dataset for offline tests.", ""])


def mteb_retrieval(folder: Path, repo: str, split: str, *, documents: int = MTEB_DOCUMENTS,
                   queries: int = MTEB_QUERIES) -> dict:
    """An MTEB retrieval dataset: configurations corpus {id, text}, queries {id, text} and default (the
    qrels {query-id, corpus-id, score}), each with ``split``; every query has one positive, and its
    text is words of that document. Returns the counts."""
    seed = sum(repo.encode())
    texts = corpus.passages(seed, documents, (4, 40))
    rng = random.Random(seed)
    docs = [{"id": f"doc{i}", "text": text} for i, text in enumerate(texts)]
    positives = rng.sample(range(documents), queries)
    rows = []
    for index, doc in enumerate(positives):
        words = [w for w in corpus.WORDS if w in texts[doc]]
        rows.append({"id": f"q{index}", "text": "".join(rng.sample(words, min(3, len(words))))})
    qrels = [{"query-id": f"q{i}", "corpus-id": f"doc{doc}", "score": 1} for i, doc in enumerate(positives)]
    for name, table in (("corpus", docs), ("queries", rows), ("qrels", qrels)):
        _write_parquet(folder / f"{name}-{split}-00000-of-00001.parquet", table)
    configs = {"corpus": {split: f"corpus-{split}-*.parquet"}, "queries": {split: f"queries-{split}-*.parquet"},
               "default": {split: f"qrels-{split}-*.parquet"}}
    (folder / "README.md").write_text(_card(configs), encoding="utf-8")
    return {"documents": documents, "queries": queries, "positives": queries}


def passage_pool(folder: Path, repo: str, config: str | None, split: str, *, text_field: str = "text",
                 id_field: str | None = "id", passages: int = POOL_PASSAGES) -> dict:
    """A passage corpus as one split of one configuration (None: the default), with ``text_field`` and
    ``id_field`` columns; passages of 20 to about 200 characters. Returns the counts."""
    texts = corpus.passages(sum(repo.encode()), passages, (10, 60))
    rows = [{**({id_field: str(i)} if id_field else {}), text_field: text} for i, text in enumerate(texts)]
    _write_parquet(folder / f"{split}-00000-of-00001.parquet", rows)
    (folder / "README.md").write_text(_card({config or "default": {split: f"{split}-*.parquet"}}),
                                      encoding="utf-8")
    return {"passages": passages, "chars": [min(map(len, texts)), max(map(len, texts))]}
