"""Run in a fresh process with the hub unreachable (``HF_HUB_OFFLINE=1``), after the prefetch: encodes
a few texts with each named recipe through capflow's dense path, beside an oracle (the transformers
model run on each text alone, pooled as the recipe says), and asks the generation LLM for queries of
each kind through capflow's transformers backend. Writes what it saw as JSON.

    python -m fakes.standins.probe --out probe.json [--encoders NAME ...] [--llm]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TEXTS = ["图片中显示了一只小猫", "A cat, 一只猫 sitting on the sofa.", "天空"]
PASSAGES = ["图片中显示了一只小猫坐在沙发上，旁边有一本书。", "国资委要求国企推行退出制度。",
            "跑了5.22公里，用时35:03。"]


def oracle(recipe, weights: Path, prepared: list[str]):
    """Each text embedded alone (no padding), pooled by the recipe's pooling ('model': CLS, as the
    stand-ins' own modules say), L2-normalised."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(weights, trust_remote_code=recipe.trust_remote_code)
    model = AutoModel.from_pretrained(weights, trust_remote_code=recipe.trust_remote_code, dtype=torch.float32).eval()
    rows, last_tokens = [], []
    with torch.inference_mode():
        for text in prepared:
            features = tokenizer(text, return_tensors="pt")
            hidden = model(**features).last_hidden_state[0]
            pooled = {"cls": hidden[0], "model": hidden[0], "mean": hidden.mean(0), "last": hidden[-1]}[recipe.pooling]
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
            last_tokens.append(tokenizer.convert_ids_to_tokens(int(features["input_ids"][0, -1])))
    return rows, last_tokens


def probe_encoder(recipe) -> dict:
    import numpy as np

    from capflow import dense, encoders

    state: dict = {}
    embeddings = dense.embed(recipe, TEXTS, "query", None, device="cpu", state=state)
    model = state["model"]
    prepared = encoders.prepared_texts(recipe, TEXTS, "query", state["eos"])
    expected, last_tokens = oracle(recipe, state["weights"], prepared)
    return {"shape": list(embeddings.shape), "max_difference": float(np.abs(embeddings - np.stack(expected)).max()),
            "pooling_mode": getattr(model[1], "pooling_mode", None), "padding_side": model.tokenizer.padding_side,
            "last_tokens": last_tokens, "weights": str(state["weights"]),
            "dtype": str(next(model.parameters()).dtype).removeprefix("torch.")}


def probe_llm(config: dict, root: Path) -> dict:
    """Each kind's answers for ``PASSAGES`` at the configuration's sampling, parsed and cleaned."""
    from capflow.generate.backend import GenerationRequest, GeneratorSettings, Sampling
    from capflow.generate.parsing import clean_queries, parse_answer
    from capflow.generate.transformers_backend import TransformersBackend
    from capflow.prompts import load_prompts

    generate = config["generate"]
    sampling = generate["sampling"]
    settings = GeneratorSettings(backend="transformers", model=generate["model"], revision=generate["revision"],
                                 language=generate["language"], max_query_chars=generate["max_query_chars"],
                                 sampling=Sampling(sampling["temperature"], sampling["top_p"], 64, sampling["seed"]),
                                 chat_template_kwargs=generate["chat_template_kwargs"])
    backend = TransformersBackend(settings)
    prompts = load_prompts(root / generate["prompts"])
    found = {}
    for kind in ("sm", "kw"):
        requests = [GenerationRequest(str(i), p, kind, prompts.messages(kind, p)) for i, p in enumerate(PASSAGES)]
        answers = backend.generate(requests)
        cleaned = [clean_queries(parse_answer(answer).items, passage, settings.max_query_chars)
                   for answer, passage in zip(answers, PASSAGES, strict=True)]
        found[kind] = {"answers": answers, "kept": [c.kept for c in cleaned],
                       "rejected": [c.rejected for c in cleaned]}
    found["rendered"] = backend.render(requests[0])
    return found


def main() -> None:
    import contextlib

    from fakes.standins.hub import REPO_ROOT, planned

    parser = argparse.ArgumentParser()
    parser.add_argument("--config", nargs="+", required=True, type=Path)
    parser.add_argument("--encoders", nargs="*", default=[])
    parser.add_argument("--llm", action="store_true")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    plan, _ = planned(args.config)
    results: dict = {"encoders": {}}
    with contextlib.chdir(REPO_ROOT):
        for name in args.encoders:
            try:
                results["encoders"][name] = probe_encoder(plan.recipes[name])
            except Exception as exc:  # recorded for the test to report, one recipe failing the others not
                results["encoders"][name] = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"}
        if args.llm:
            results["llm"] = probe_llm(plan.config, REPO_ROOT)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
