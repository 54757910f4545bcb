"""The retrieve step: rank a benchmark's candidates for every query, then score the ranking.

One code path serves zero-shot models, BM25 and finetuned models alike; it writes a TREC run, a
metrics JSON and an error report (missed positives, top-ranked negatives) per (benchmark, model).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from capflow import bm25, metrics
from capflow.benchmark import Benchmark, load_benchmark
from capflow.errors import UserError
from capflow.io import atomic_open, read_json, write_json, write_jsonl
from capflow.recipes import Recipe, load_recipes

log = logging.getLogger(__name__)

Run = dict[str, list[tuple[str, float]]]  # query id -> [(candidate id, score)], best first
REPORT_KS = (1, 5, 10, 20, 100)
ERROR_REPORT_NEGATIVES = 5
# Recipe fields that change what an encoder outputs for an already-prepared text.
_EMBEDDING_FIELDS = ("pooling", "padding_side", "max_length", "dtype", "trust_remote_code")


def cosine_top_k(queries: np.ndarray, passages: np.ndarray, depth: int,
                 chunk: int = 256) -> list[list[tuple[int, float]]]:
    """Exact top-``depth`` by inner product of normalised vectors; ties keep candidate order."""
    depth = min(depth, passages.shape[0])
    results: list[list[tuple[int, float]]] = []
    for start in range(0, queries.shape[0], chunk):
        scores = queries[start:start + chunk] @ passages.T
        if depth < scores.shape[1]:
            top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        else:
            top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        for row, cols in zip(scores, top):
            cols = np.sort(cols)
            ordered = cols[np.argsort(-row[cols], kind="stable")]
            results.append([(int(c), float(row[c])) for c in ordered])
    return results


def embed(recipe: Recipe, texts: Sequence[str], role: str, cache_root: Path | None,
          device: str | None = None, state: dict | None = None) -> np.ndarray:
    """Embeddings for ``texts`` as ``role``, served from the cache where possible.

    ``state`` carries the loaded model between calls so queries and passages share one load; the
    model is loaded only if some text is missing from the cache.
    """
    from capflow import embcache, encoders

    state = state if state is not None else {}
    if "weights" not in state:
        state["weights"] = encoders.resolve_weights(recipe)
        relevant = {k: getattr(recipe, k) for k in _EMBEDDING_FIELDS}
        state["key"] = embcache.model_key(encoders.fingerprint(state["weights"]),
                                          json.dumps(relevant, sort_keys=True))
    eos = state.get("eos")
    if recipe.append_eos and eos is None:
        from transformers import AutoTokenizer

        eos = state["eos"] = AutoTokenizer.from_pretrained(state["weights"]).eos_token
    prepared = encoders.prepared_texts(recipe, texts, role, eos)
    keys = [embcache.text_key(t) for t in prepared]
    cache = embcache.EmbeddingCache(cache_root, state["key"]) if cache_root else None
    found = cache.lookup(keys) if cache else {}
    missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
    log.info("%s, %s texts: %d, cached %d, to encode %d", recipe.name, role, len(texts),
             len(texts) - len(missing), len(missing))
    if missing:
        if "model" not in state:
            state["model"] = encoders.load_encoder(recipe, device=device, weights=state["weights"])
        fresh = encoders.encode(state["model"], [prepared[i] for i in missing], recipe.batch_size)
        new = {keys[i]: fresh[j] for j, i in enumerate(missing)}
        if cache:
            cache.store(list(new), np.stack(list(new.values())))
        found.update(new)
    state["encoded"] = state.get("encoded", 0) + len(missing)
    return np.stack([found[k] for k in keys]).astype(np.float32)


def retrieve(benchmark: Benchmark, recipe: Recipe, *, language: str, depth: int,
             cache_root: Path | None = None, device: str | None = None,
             ignore_identical_ids: bool = False) -> Run:
    """Rank every query's candidates; with ``ignore_identical_ids`` a candidate whose id equals the
    query's id is never ranked for it (as MTEB scores its retrieval tasks)."""
    query_texts = [q.text for q in benchmark.queries]
    search_depth = depth + 1 if ignore_identical_ids else depth
    if recipe.kind == "bm25":
        if language not in bm25.TOKENIZERS:
            raise UserError(f"BM25 has no tokenizer for language '{language}' (known: zh, en)")
        ranked = bm25.search(benchmark.candidate_texts, query_texts, language, search_depth)
    else:
        state: dict = {}
        passages = embed(recipe, benchmark.candidate_texts, "passage", cache_root, device, state)
        queries = embed(recipe, query_texts, "query", cache_root, device, state)
        ranked = cosine_top_k(queries, passages, search_depth)
    ids = benchmark.candidate_ids
    return {q.id: [(ids[i], s) for i, s in hits if not (ignore_identical_ids and ids[i] == q.id)][:depth]
            for q, hits in zip(benchmark.queries, ranked)}


def write_trec(path: Path, run: Run, tag: str) -> None:
    with atomic_open(path) as handle:
        for qid, hits in run.items():
            for rank, (cid, score) in enumerate(hits, start=1):
                handle.write(f"{qid} Q0 {cid} {rank} {score:.6f} {tag}\n")


def read_trec(path: Path) -> Run:
    run: Run = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError("run file not found", path) from None
    for lineno, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != 6:
            raise UserError("expected 'qid Q0 docid rank score tag'", path, lineno)
        try:
            run.setdefault(parts[0], []).append((parts[2], float(parts[4])))
        except ValueError:
            raise UserError(f"score '{parts[4]}' is not a number", path, lineno) from None
    return run


def score_run(benchmark: Benchmark, run: Run, query_types: dict[str, str],
              threshold: float | None = None) -> tuple[dict, dict[str, dict[str, float]]]:
    rankings = {qid: [cid for cid, _ in hits] for qid, hits in run.items()}
    mean, per_query = metrics.evaluate(rankings, benchmark.qrels, REPORT_KS)
    by_type: dict[str, list[float]] = {}
    for qid, values in per_query.items():
        by_type.setdefault(query_types.get(qid, "untyped"), []).append(values["ndcg@10"])
    summary = {
        "queries": len(benchmark.queries),
        "queries_evaluated": len(per_query),
        "candidates": len(benchmark.candidate_ids),
        "metrics": {k: round(v, 6) for k, v in mean.items()},
        "ndcg@10_by_type": {t: round(sum(v) / len(v), 6) for t, v in sorted(by_type.items())} if query_types else {},
    }
    if threshold is not None:
        summary["threshold"] = {"score": threshold, **{k: round(v, 6) for k, v in
                                                       metrics.threshold_scores(run, benchmark.qrels, threshold).items()}}
    return summary, per_query


def error_report(benchmark: Benchmark, run: Run, per_query: dict[str, dict[str, float]],
                 query_types: dict[str, str]):
    """Per judged query: positives missing from the top 10 and the negatives ranked highest."""
    text_of = dict(zip(benchmark.candidate_ids, benchmark.candidate_texts))
    for q in benchmark.queries:
        if q.id not in per_query:
            continue
        hits = run.get(q.id, [])
        rank_of = {cid: r for r, (cid, _) in enumerate(hits, start=1)}
        missed = [{"id": cid, "label": label, "rank": rank_of.get(cid), "text": text_of[cid]}
                  for cid, label in sorted(q.qrels.items(), key=lambda kv: (-kv[1], rank_of.get(kv[0], 10**9)))
                  if rank_of.get(cid, 10**9) > 10]
        negatives = [{"id": cid, "rank": r, "score": round(s, 6), "text": text_of[cid]}
                     for r, (cid, s) in enumerate(hits, start=1) if cid not in q.qrels][:ERROR_REPORT_NEGATIVES]
        yield {"id": q.id, "query": q.text, "type": query_types.get(q.id),
               "ndcg@10": round(per_query[q.id]["ndcg@10"], 6), "positives": len(q.qrels),
               "missed_positives": missed, "top_negatives": negatives}


def select_recipe(args) -> Recipe:
    if args.recipe_json:
        recipe = Recipe.from_json(args.recipe_json)
    else:
        recipes = load_recipes(args.models)
        if args.model not in recipes:
            raise UserError(f"model '{args.model}' is not in the registry", args.models)
        recipe = recipes[args.model]
    if args.weights:
        recipe = recipe.with_path(args.weights, args.label or recipe.name)
    return recipe


def configure_parser(parser) -> None:
    parser.add_argument("--benchmark", required=True, type=Path, help="benchmark directory (data stage output)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--recipe-json", help="the model's recipe as JSON")
    which.add_argument("--model", help="a model name from --models")
    parser.add_argument("--models", type=Path, default=Path("config/models.yaml"), help="recipe registry")
    parser.add_argument("--weights", help="use these weights (e.g. a finetuned model directory) with the recipe")
    parser.add_argument("--benchmark-label", help="benchmark name written into the outputs (default: the directory name)")
    parser.add_argument("--label", help="model label written into the outputs (default: the recipe name)")
    parser.add_argument("--language", required=True, help="benchmark language (BM25 tokenizer): zh or en")
    parser.add_argument("--depth", type=int, default=100, help="ranked candidates kept per query")
    parser.add_argument("--cache", type=Path, help="embedding cache directory")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--ignore-identical-ids", action="store_true",
                        help="never rank a candidate whose id equals the query's id (MTEB's convention)")
    parser.add_argument("--score-threshold", type=float, help="also report precision/recall/F1 at this score")
    parser.add_argument("--run", required=True, type=Path, help="output TREC run")
    parser.add_argument("--metrics", required=True, type=Path, help="output metrics JSON")
    parser.add_argument("--errors", required=True, type=Path, help="output error report (JSONL)")


def main(args) -> None:
    recipe = select_recipe(args)
    benchmark = load_benchmark(args.benchmark)
    types_path = args.benchmark / "query_types.json"
    query_types = read_json(types_path) if types_path.exists() else {}
    run = retrieve(benchmark, recipe, language=args.language, depth=args.depth, cache_root=args.cache,
                   device=args.device, ignore_identical_ids=args.ignore_identical_ids)
    summary, per_query = score_run(benchmark, run, query_types, args.score_threshold)
    label = args.label or recipe.name
    write_trec(args.run, run, label)
    write_jsonl(args.errors, error_report(benchmark, run, per_query, query_types))
    write_json(args.metrics, {"benchmark": args.benchmark_label or args.benchmark.name, "model": label, "display": recipe.display,
                              "group": recipe.group, "params": recipe.params,
                              "recipe": dataclasses.asdict(recipe), **summary})
    m = summary["metrics"]
    log.info("%s on %s: nDCG@1 %.2f  @5 %.2f  @10 %.2f  (%d queries)", label, args.benchmark_label or args.benchmark.name,
             100 * m["ndcg@1"], 100 * m["ndcg@5"], 100 * m["ndcg@10"], summary["queries_evaluated"])
