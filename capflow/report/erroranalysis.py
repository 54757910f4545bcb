"""Error analysis of a run against BM25's run on the same benchmark (top 10).

For each judged query and each positive the model misses in its top 10:

* **literal**: BM25 ranks it in its top 10, or it contains a query term verbatim: lexical matching
  would have found it;
* **semantic**: every other miss, so BM25 misses it too and it shares no query term: finding it
  takes understanding (a hypernym, a paraphrase, commonsense).

And for each caption not judged relevant that the model ranks in its top 10 above a positive
(any positive it ranks lower or misses): a **false positive**, split by whether it shares a query
term (``fp_shared_term``) or not (``fp_other``).

Query terms: Chinese queries are cut with jieba (as BM25 cuts them), keeping the words of two or
more characters (all words when the query has none); English queries keep words of three or more
letters. Matching is on lower-cased text.

``capflow error-analysis`` writes every error as a row, and an annotation sheet of the misses with
empty ``taxonomy`` and ``commonsense`` columns for a person to fill in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from capflow.benchmark import load_benchmark, normalise_whitespace
from capflow.errors import UserError
from capflow.report.csvframes import read_frame_csv, write_frame_csv
from capflow.report.labels import add_labels_option, read_labelled, record_columns
from capflow.report.perquery import load_benchmark_queries, read_run
from capflow.report.querygroups import SHORT, group_of, ordered_groups
from capflow.report.table import Cell, Column, Row, Table
from capflow.runrecord import read_checked_run
from capflow.settingflags import add_options

TOP = 10
CATEGORIES = ("literal", "semantic", "fp_shared_term", "fp_shared_char", "fp_other")
CATEGORY_HEADERS = {"literal": "literal miss", "semantic": "semantic miss", "fp_shared_term": "FP, shared term",
                    "fp_shared_char": "FP, shared character", "fp_other": "FP, no shared term"}
COLUMNS = ["benchmark", "view", "model", "display", "query_id", "query", "query_group", "category", "candidate_id",
           "label", "rank", "bm25_rank", "text"]
SHEET_COLUMNS = ["model", "query_id", "query", "candidate_id", "label", "category", "text", "taxonomy", "commonsense"]
ANNOTATIONS = ("taxonomy", "commonsense")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def english_words(text: str) -> list[str]:
    """Words as English BM25 sees them: its tokens, Snowball-stemmed (so "cats" shares "cat")."""
    from capflow.bm25 import english_tokenizers

    return english_tokenizers()[0](normalise_whitespace(text))


def query_terms(text: str, language: str) -> set[str]:
    if language == "en":
        return {w for w in english_words(text) if len(w) >= 3}
    from capflow.bm25 import chinese_tokenizers

    words = [w for w in chinese_tokenizers()[1](text) if re.search(r"\w", w)]
    long_words = [w for w in words if len(w) >= 2]
    return set(long_words or words)


def shares_term(caption: str, terms: set[str], language: str) -> bool:
    if language == "en":
        return bool(terms & set(english_words(caption)))
    caption = caption.lower()
    return any(term in caption for term in terms)


def shares_character(caption: str, terms: set[str], language: str) -> bool:
    """Chinese: a character of a query word in the caption (西红柿 or 西梅 for 西瓜: the paper's shared tokens)."""
    return language == "zh" and bool({c for term in terms for c in _CJK.findall(term)} & set(caption))


def query_errors(qrels: dict[str, int], hits: list[str], bm25_hits: list[str], terms: set[str],
                 text_of: dict[str, str], language: str) -> list[dict]:
    """The errors of one query: each missed positive and each top-10 false positive above a positive."""
    rank = {cid: r for r, cid in enumerate(hits, start=1)}
    bm25_rank = {cid: r for r, cid in enumerate(bm25_hits, start=1)}
    errors = []
    for cid, label in qrels.items():
        if rank.get(cid, TOP + 1) <= TOP:
            continue
        literal = bm25_rank.get(cid, TOP + 1) <= TOP or shares_term(text_of[cid], terms, language)
        errors.append({"category": "literal" if literal else "semantic", "candidate_id": cid, "label": label,
                       "rank": rank.get(cid), "bm25_rank": bm25_rank.get(cid)})
    lowest_positive = max((rank.get(cid, len(hits) + 1) for cid in qrels), default=0)
    for r, cid in enumerate(hits[:TOP], start=1):
        if cid not in qrels and r < lowest_positive:
            if shares_term(text_of[cid], terms, language):
                category = "fp_shared_term"
            elif shares_character(text_of[cid], terms, language):
                category = "fp_shared_char"
            else:
                category = "fp_other"
            errors.append({"category": category, "candidate_id": cid, "label": 0, "rank": r,
                           "bm25_rank": bm25_rank.get(cid)})
    return errors


def analyse(metrics_paths, run_paths, lexical_run: Path, benchmark_dir: Path, types_path: Path | None,
            language: str, labels: dict | None = None):
    import pandas as pd

    if len(metrics_paths) != len(run_paths):
        raise UserError(f"{len(metrics_paths)} metrics files but {len(run_paths)} run files")
    benchmark = load_benchmark(benchmark_dir)
    types = load_benchmark_queries(benchmark_dir, types_path).types
    text_of = dict(zip(benchmark.candidate_ids, benchmark.candidate_texts))
    bm25 = {qid: [cid for cid, _ in hits] for qid, hits in read_run(lexical_run).items()}
    terms = {q.id: query_terms(q.text, language) for q in benchmark.queries}
    rows = []
    for metrics_path, run_path in zip(metrics_paths, run_paths):
        record = read_labelled(metrics_path, labels or {})
        query_ids = [q.id for q in benchmark.queries]
        run = {qid: [cid for cid, _ in hits] for qid, hits in read_checked_run(run_path, record, query_ids).items()}
        for q in benchmark.queries:
            if not q.qrels:
                continue
            for error in query_errors(q.qrels, run.get(q.id, []), bm25.get(q.id, []), terms[q.id], text_of, language):
                rows.append({**record_columns(record), "query_id": q.id,
                             "query": q.text, "query_group": group_of(types.get(q.id)), **error,
                             "text": text_of[error["candidate_id"]]})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("rank", "bm25_rank"):
        frame[column] = frame[column].astype("Int64")
    return frame


def annotation_sheet(frame):
    misses = frame[frame.category.isin(["literal", "semantic"])]
    return misses.assign(taxonomy="", commonsense="")[SHEET_COLUMNS]


def read_errors(path: Path):
    return read_frame_csv(path, COLUMNS, "error analysis", na_values={"rank": [""], "bm25_rank": [""]},
                          dtype={"query_id": str, "query": str, "rank": "Int64", "bm25_rank": "Int64"})


def _rank_text(value) -> str:
    import pandas as pd

    return "-" if pd.isna(value) else str(int(value))


def configure_parser(parser) -> None:
    parser.add_argument("--benchmark", required=True, type=Path, help="validated benchmark dir")
    parser.add_argument("--language", required=True, choices=("zh", "en"), help="how query terms are cut")
    parser.add_argument("--query-types", type=Path, help="query_types.json instead of the dir's own")
    parser.add_argument("--lexical-run", required=True, type=Path, help="BM25's run.trec on the benchmark")
    parser.add_argument("--metrics", nargs="+", required=True, type=Path, help="metrics JSON of the runs analysed")
    parser.add_argument("--runs", nargs="+", required=True, type=Path, help="their run.trec files, in the same order")
    add_labels_option(parser)
    parser.add_argument("--out", required=True, type=Path, help="output errors CSV (one row per error)")
    parser.add_argument("--sheet", required=True, type=Path, help="output annotation sheet CSV of the misses")


def main(args) -> None:
    frame = analyse(args.metrics, args.runs, args.lexical_run, args.benchmark, args.query_types, args.language,
                    args.labels)
    write_frame_csv(frame, args.out)
    write_frame_csv(annotation_sheet(frame), args.sheet)


# --- tables (`capflow tables error-analysis | error-examples | error-annotations`) --------------------------

@dataclass(frozen=True)
class ErrorExampleSettings:
    """How many errors Table error-examples shows (config report.errors.examples)."""

    examples: int = field(default=2, metadata={"help": "error-examples: examples per model and category"})


def add_arguments(parser) -> None:
    parser.add_argument("--errors", type=Path, help="errors CSV (error-analysis, error-examples)")
    parser.add_argument("--benchmark", help="benchmark name (error-analysis, error-examples)")
    parser.add_argument("--view", default="full")
    add_options(parser, ErrorExampleSettings)
    parser.add_argument("--sheet", type=Path, help="error-annotations: a filled annotation sheet")


def _errors_of(args):
    if not args.errors or not args.benchmark:
        raise UserError("needs --errors FILE and --benchmark NAME")
    frame = read_errors(args.errors)
    frame = frame[(frame.benchmark == args.benchmark) & (frame.view == args.view)]
    if frame.empty:
        raise UserError(f"no errors for {args.benchmark} ({args.view})", args.errors)
    return frame


def build_counts(args) -> Table:
    """Per model (a block) and query group (a row): how many errors of each category."""
    frame = _errors_of(args)
    columns = [Column(c, CATEGORY_HEADERS[c], best="none") for c in CATEGORIES]
    groups = []
    for _model, part in frame.groupby("model", sort=False):
        counts = part.groupby(["query_group", "category"]).size()
        rows = [Row(SHORT.get(g, g), {c: Cell(str(int(counts.get((g, c), 0)))) for c in CATEGORIES})
                for g in ordered_groups(set(part.query_group))]
        totals = part.category.value_counts()
        rows.append(Row("All", {c: Cell(str(int(totals.get(c, 0)))) for c in CATEGORIES}))
        groups.append((part.display.iloc[0], rows))
    notes = ["Misses: positives outside the model's top 10, literal when BM25 ranks them in its top 10 or they "
             "contain a query term (English: after BM25's stemming), else semantic. FP: captions not judged relevant "
             "in the top 10 above a positive, sharing a query term, else (Chinese) a character of one, or "
             "neither."] + list(args.note or [])
    caption = args.caption or f"Errors by query group on {args.benchmark}"
    return Table(caption=caption, label="tab:errors", columns=columns, groups=groups, notes=notes, scale=1.0,
                 row_header="Query group")


def build_examples(args) -> Table:
    """A few errors of each category per model, in query order."""
    frame = _errors_of(args)
    columns = [Column("rank", "rank", best="none"), Column("bm25", "BM25 rank", best="none")]
    groups = []
    for _model, part in frame.groupby("model", sort=False):
        rows = []
        for category in CATEGORIES:
            for r in part[part.category == category].head(args.examples).itertuples():
                text = r.text if len(r.text) <= 40 else r.text[:39] + "…"
                rows.append(Row(r.query, {"rank": Cell(_rank_text(r.rank)), "bm25": Cell(_rank_text(r.bm25_rank))},
                                {"Error": CATEGORY_HEADERS[category], "Caption": text}))
        groups.append((part.display.iloc[0], rows))
    caption = args.caption or f"Examples of errors on {args.benchmark}"
    return Table(caption=caption, label="tab:error-examples", columns=columns, groups=groups,
                 text_columns=["Error", "Caption"], notes=list(args.note or []), scale=1.0, row_header="Query",
                 text_width="6cm")


def build_annotations(args) -> Table:
    """Counts of each filled-in category of an annotation sheet, per model."""
    if not args.sheet:
        raise UserError("error-annotations needs --sheet FILE")
    sheet = read_frame_csv(args.sheet, SHEET_COLUMNS, "annotation sheet", dtype=str)
    models = list(dict.fromkeys(sheet.model))
    columns = [Column(m, m, best="none") for m in models]
    rows = []
    for annotation in ANNOTATIONS:
        filled = sheet[sheet[annotation].str.strip() != ""]
        counts = filled.groupby([annotation, "model"]).size()
        for value in sorted(set(filled[annotation].str.strip())):
            rows.append(Row(f"{annotation}: {value}", {m: Cell(str(int(counts.get((value, m), 0)))) for m in models}))
        rows.append(Row(f"{annotation}: (not annotated)",
                        {m: Cell(str(int(((sheet.model == m) & (sheet[annotation].str.strip() == "")).sum())))
                         for m in models}))
    caption = args.caption or "Annotated error categories"
    return Table(caption=caption, label="tab:error-annotations", columns=columns, groups=[("", rows)],
                 notes=list(args.note or []), scale=1.0, row_header="Category")
