"""The data stage: materialise a benchmark from a local directory or the hub, validated.

Nothing is written unless every file validates; outputs are normalised JSONL plus a query-type map.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from capflow import benchmark as bm
from capflow import hub, slicing, worklog
from capflow.errors import UserError
from capflow.io import write_json

log = logging.getLogger(__name__)

DATA_DIR_ENV = "CAPFLOW_DATA_DIR"
UNKNOWN_TYPES_SHOWN = 5


def source_dir(name: str, local_dirs: list[str]) -> Path | None:
    """The local copy of benchmark ``name``: ``$CAPFLOW_DATA_DIR`` wins over the config's dirs."""
    roots = [os.environ[DATA_DIR_ENV]] if os.environ.get(DATA_DIR_ENV) else list(local_dirs)
    for root in roots:
        candidate = Path(root) / name
        if candidate.is_dir():
            missing = [f for f in (bm.CANDIDATES, bm.QUERIES) if not (candidate / f).exists()]
            if missing:
                raise UserError(f"local copy of benchmark '{name}' is incomplete: {' and '.join(missing)} missing "
                                "(complete it or remove the directory to download it)", candidate)
            return candidate
    return None


def local_source_files(name: str, local_dirs: list[str]) -> list[str]:
    """The files of benchmark ``name``'s local copy that the data step reads (none: from the hub)."""
    local = source_dir(name, local_dirs)
    if local is None:
        return []
    return [str(local / f) for f in (bm.CANDIDATES, bm.QUERIES, bm.SOURCE_TYPES) if (local / f).is_file()]


HUB_FILES = (bm.CANDIDATES, bm.QUERIES)  # a benchmark repo must hold these; bm.SOURCE_TYPES is optional


def fetch_from_hub(repo: str, revision: str, endpoint: str | None, into: Path) -> None:
    """The benchmark's files from the hub cache (downloaded there unless present) copied into ``into``."""
    for filename in HUB_FILES:
        shutil.copyfile(hub.download_file(repo, filename, revision=revision, endpoint=endpoint), into / filename)
    try:
        types = hub.download_file(repo, bm.SOURCE_TYPES, revision=revision, endpoint=endpoint)
    except UserError as exc:
        log.info("no %s in %s (%s)", bm.SOURCE_TYPES, repo, exc)
        return
    shutil.copyfile(types, into / bm.SOURCE_TYPES)


def materialise(name: str, *, local_dirs: list[str], repo: str | None, revision: str = "main",
                endpoint: str | None = None, max_chars: int = bm.MAX_TEXT_CHARS) -> tuple[bm.Benchmark, dict[str, str]]:
    """The validated benchmark and its query-type map, from the local copy or else the hub; a text longer
    than ``max_chars`` characters is an error naming its file and line."""
    local = source_dir(name, local_dirs)
    if local is not None:
        log.info("source of %s: the local copy %s", name, local)
        benchmark = bm.load_benchmark(local, max_chars)
    elif repo:
        log.info("source of %s: the hub repo %s (revision %s), no local copy found", name, repo, revision)
        with tempfile.TemporaryDirectory(prefix=f"capflow-{name}.download.") as tmp:
            fetch_from_hub(repo, revision, endpoint, Path(tmp))
            benchmark = bm.load_benchmark(tmp, max_chars)
    else:
        raise UserError(f"benchmark '{name}' is neither under data.local_dirs (or ${DATA_DIR_ENV}) "
                        "nor given a hub repo")

    query_types, unmatched = bm.match_types(benchmark.queries, benchmark.types)
    if benchmark.types:
        log.info("query types: %d matched, %d unmatched", len(query_types), len(unmatched))
        for q in unmatched:
            log.warning("query without a type: %s %r", q.id, q.text)
        unknown = bm.unknown_type_entries(benchmark.queries, benchmark.types)
        if unknown:
            log.warning("%s: %d entries name no query of the benchmark, e.g. %s", bm.SOURCE_TYPES, len(unknown),
                        ", ".join(repr(t) for t in unknown[:UNKNOWN_TYPES_SHOWN]))
    return benchmark, query_types


def write_outputs(benchmark: bm.Benchmark, query_types: dict[str, str], candidates: Path, queries: Path,
                  types: Path) -> None:
    """The three outputs, or none of them: a failure after the first leaves no mix of old and new files."""
    try:
        bm.write_benchmark(benchmark, candidates, queries)
        write_json(types, query_types)
    except BaseException:
        for path in (candidates, queries, types):
            if Path(path).is_file():
                Path(path).unlink()
        raise


def configure_parser(parser) -> None:
    parser.add_argument("--name", required=True, help="benchmark name, e.g. CapRetrieval")
    parser.add_argument("--local-dirs", nargs="*", default=[],
                        help=f"directories searched for <name>/ in order (${DATA_DIR_ENV} replaces them)")
    parser.add_argument("--repo", help="hub dataset repo to download from when no local copy exists")
    parser.add_argument("--revision", default="main")
    parser.add_argument("--endpoint", help="hub endpoint (default $HF_ENDPOINT or huggingface.co)")
    parser.add_argument("--candidates", required=True, type=Path, help="output candidates JSONL {id, text}")
    parser.add_argument("--queries", required=True, type=Path, help="output queries JSONL {id, query, positives}")
    parser.add_argument("--types", required=True, type=Path, help="output query-type map JSON {query id: type}")
    bm.add_text_limit_argument(parser)
    slicing.add_arguments(parser)


def main(args) -> None:
    with worklog.timed() as seconds:
        full, query_types = materialise(args.name, local_dirs=args.local_dirs, repo=args.repo,
                                        revision=args.revision, endpoint=args.endpoint, max_chars=args.max_text_chars)
    benchmark = slicing.from_args(args).apply(full)
    kept = {q.id for q in benchmark.queries}
    query_types = {qid: name for qid, name in query_types.items() if qid in kept}
    write_outputs(benchmark, query_types, args.candidates, args.queries, args.types)
    worklog.write(worklog.WorkRecord("data", slicing.sizes(benchmark), seconds(), full=slicing.sizes(full)))
    log.info("%s: %d candidates, %d queries (%d with positives)", args.name, len(benchmark.candidate_ids),
             len(benchmark.queries), sum(1 for q in benchmark.queries if q.qrels))
