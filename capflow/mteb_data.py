"""``capflow mteb-data``: an MTEB retrieval dataset (e.g. C-MTEB EcomRetrieval, VideoRetrieval) as a
benchmark directory, so ``capflow retrieve`` scores it unchanged.

MTEB publishes a retrieval task on the hub as three configurations of one dataset repo: ``corpus``
({_id or id, text, title?}), ``queries`` ({_id or id, text}) and ``default`` (the qrels: {query-id,
corpus-id, score}), each with the evaluation split (``dev`` for Ecom/Video). A document's text is
its title and text joined by a space, as MTEB embeds it. Qrels with score 0 are not positives;
queries without a positive are kept (and, as for every benchmark, left out of ranking metrics).

MTEB leaves a document out of a query's ranking when both carry the same id; the evaluate rule does
the same with ``capflow retrieve --ignore-identical-ids``. The conversion's stats list such
query ids and count them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from capflow import benchmark as bm
from capflow import hub, slicing, worklog
from capflow.errors import UserError
from capflow.io import write_json

log = logging.getLogger(__name__)

ID_COLUMNS = ("_id", "id")
QRELS_COLUMNS = ("query-id", "corpus-id", "score")


# The configurations of an MTEB retrieval dataset: documents, queries and qrels.
CONFIGS = ("corpus", "queries", "default")


def load_config(source: str, config: str, split: str, revision: str | None, cache_dir: str | None = None):
    return hub.load_dataset(source, config, split=split, revision=revision, cache_dir=cache_dir,
                            what=f"cannot load {source} ({config}, {split})")


def id_column(rows, label: str) -> str:
    for column in ID_COLUMNS:
        if column in rows.column_names:
            return column
    raise UserError(f"{label} has no id column ({' or '.join(ID_COLUMNS)}); columns: {', '.join(rows.column_names)}")


def require_columns(rows, columns, label: str) -> None:
    missing = [c for c in columns if c not in rows.column_names]
    if missing:
        raise UserError(f"{label} lacks column(s) {', '.join(missing)}; columns: {', '.join(rows.column_names)}")


def document_text(row: dict) -> str:
    title = row.get("title") or ""
    return f"{title} {row['text'] or ''}".strip()


def read_texts(rows, label: str, with_title: bool, max_chars: int | None = None) -> tuple[list[str], list[str]]:
    column = id_column(rows, label)
    require_columns(rows, ["text"], label)
    ids, texts, seen = [], [], set()
    for index, row in enumerate(rows):
        rid = str(row[column])
        if rid in seen:
            raise UserError(f"{label}: duplicate id '{rid}' (row {index})")
        seen.add(rid)
        text = document_text(row) if with_title else (row["text"] or "").strip()
        if not text:
            raise UserError(f"{label}: empty text for id '{rid}' (row {index})")
        bm.check_text_length(text, f"{label}: row {index}: the text of id '{rid}'", None, None, max_chars)
        ids.append(rid)
        texts.append(text)
    if not ids:
        raise UserError(f"{label} is empty")
    return ids, texts


def read_qrels(rows, label: str, query_ids: set[str], corpus_ids: set[str]) -> dict[str, dict[str, int]]:
    require_columns(rows, QRELS_COLUMNS, label)
    qrels: dict[str, dict[str, int]] = {}
    for index, row in enumerate(rows):
        qid, cid = str(row["query-id"]), str(row["corpus-id"])
        try:
            score = int(float(row["score"]))
        except (TypeError, ValueError):
            raise UserError(f"{label}: row {index}: score {row['score']!r} is not a number") from None
        if qid not in query_ids:
            raise UserError(f"{label}: row {index}: query '{qid}' is not among the queries")
        if cid not in corpus_ids:
            raise UserError(f"{label}: row {index}: document '{cid}' is not in the corpus")
        if score > 0:
            qrels.setdefault(qid, {})[cid] = score
    return qrels


def load_mteb_retrieval(source: str, split: str = "dev", revision: str | None = None,
                        cache_dir: str | None = None, max_chars: int = bm.MAX_TEXT_CHARS) -> bm.Benchmark:
    """The three configurations of an MTEB retrieval dataset (a hub id or a local dataset dir); a text
    longer than ``max_chars`` characters is an error naming its row."""
    corpus, queries, qrels_rows = (load_config(source, config, split, revision, cache_dir) for config in CONFIGS)
    doc_ids, doc_texts = read_texts(corpus, f"{source} corpus", with_title=True, max_chars=max_chars)
    query_ids, query_texts = read_texts(queries, f"{source} queries", with_title=False, max_chars=max_chars)
    qrels = read_qrels(qrels_rows, f"{source} qrels", set(query_ids), set(doc_ids))
    judged = [bm.Query(qid, text, qrels.get(qid, {})) for qid, text in zip(query_ids, query_texts)]
    return bm.Benchmark(doc_ids, doc_texts, judged)


def identical_ids(benchmark: bm.Benchmark) -> list[str]:
    """Query ids that are also document ids (MTEB drops that document from that query's ranking)."""
    docs = set(benchmark.candidate_ids)
    return [q.id for q in benchmark.queries if q.id in docs]


def configure_parser(parser) -> None:
    parser.add_argument("--source", required=True,
                        help="hub dataset id (e.g. mteb/EcomRetrieval) or a local dataset directory")
    parser.add_argument("--split", default="dev", help="evaluation split (default %(default)s)")
    parser.add_argument("--revision", help="dataset revision (a commit pins the data)")
    parser.add_argument("--candidates", required=True, type=Path, help="output candidates JSONL {id, text}")
    parser.add_argument("--queries", required=True, type=Path, help="output queries JSONL {id, query, positives}")
    parser.add_argument("--types", required=True, type=Path, help="output query-type map JSON (empty: MTEB has none)")
    parser.add_argument("--stats", required=True, type=Path,
                        help="output stats JSON (sizes, and the query ids that are also document ids)")
    bm.add_text_limit_argument(parser)
    slicing.add_arguments(parser)


def conversion_stats(benchmark: bm.Benchmark, source: str, split: str, revision: str | None) -> dict:
    collisions = identical_ids(benchmark)
    if collisions:
        log.warning("%d queries share their id with a document (listed in the stats)", len(collisions))
    return {
        "source": source, "split": split, "revision": revision,
        "candidates": len(benchmark.candidate_ids), "queries": len(benchmark.queries),
        "queries_with_positives": sum(1 for q in benchmark.queries if q.qrels),
        "positives": sum(len(q.qrels) for q in benchmark.queries),
        "identical_query_document_ids": len(collisions), "identical_ids": collisions,
    }


def main(args) -> None:
    with worklog.timed() as seconds:
        full = load_mteb_retrieval(args.source, args.split, args.revision, max_chars=args.max_text_chars)
    benchmark = slicing.from_args(args).apply(full)
    stats = conversion_stats(benchmark, args.source, args.split, args.revision)
    bm.write_benchmark(benchmark, args.candidates, args.queries)
    write_json(args.types, {})
    write_json(args.stats, stats)
    worklog.write(worklog.WorkRecord("mteb-data", slicing.sizes(benchmark), seconds(), full=slicing.sizes(full)))
    log.info("%s: %d documents, %d queries (%d with positives, %d positives)", args.source, stats["candidates"],
             stats["queries"], stats["queries_with_positives"], stats["positives"])
