"""Encoding throughput: capflow's encoder against plain ``SentenceTransformer.encode``.

Same model (all-MiniLM-L6-v2 from its offline package), same texts (the 3,024 CapRetrievalEn
captions, prepared by the recipe), same batch size and torch threads, alternating runs in one process.

    python benchmarks/encode_throughput.py [--data ../shared/data] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from capflow.benchmark import load_benchmark
from capflow.encoders import encode, load_encoder, prepared_texts, resolve_weights
from capflow.recipes import load_recipes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    recipe = load_recipes(Path(__file__).resolve().parents[1] / "config" / "models.yaml")["all-MiniLM-L6-v2"]
    texts = prepared_texts(recipe, load_benchmark(args.data / "CapRetrievalEn").candidate_texts, "passage", None)
    ours = load_encoder(recipe, device="cpu")
    plain = SentenceTransformer(str(resolve_weights(recipe)), device="cpu")
    plain.max_seq_length = ours.max_seq_length

    timings: dict[str, list[float]] = {"capflow": [], "sentence-transformers": []}
    for _ in range(args.rounds):
        start = time.perf_counter()
        encode(ours, texts, recipe.batch_size, show_progress=False)
        timings["capflow"].append(time.perf_counter() - start)
        start = time.perf_counter()
        plain.encode(texts, batch_size=recipe.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        timings["sentence-transformers"].append(time.perf_counter() - start)
    for name, values in timings.items():
        print(f"{name:>22}: median {statistics.median(values):6.2f} s  "
              f"{len(texts) / statistics.median(values):7.1f} texts/s  runs {[round(v, 2) for v in values]}")
    ratios = [b / a for a, b in zip(timings["capflow"], timings["sentence-transformers"])]
    print(f"throughput ratio capflow / sentence-transformers: median {statistics.median(ratios):.3f} "
          f"(per round {[round(r, 3) for r in ratios]})")


if __name__ == "__main__":
    main()
