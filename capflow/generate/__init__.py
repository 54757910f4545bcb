"""``capflow generate``: training queries of one kind (SM or KW) for one shard of a passage pool.

Backends: ``heuristic`` (no LLM, deterministic), ``vllm`` (offline batched), ``openai`` (any
OpenAI-compatible server) and ``transformers`` (a local causal LM). See :mod:`capflow.generate.shards`
for the sharding and output contract and :mod:`capflow.generate.parsing` for answer parsing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from capflow.errors import UserError
from capflow.generate.backend import (
    BACKENDS,
    GeneratorSettings,
    OpenAIOptions,
    Sampling,
    TransformersOptions,
    VllmOptions,
)
from capflow.prompts import DEFAULT_COUNTS, LANGUAGES, load_prompts
from capflow.vocabulary import KINDS


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def configure_parser(parser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--passages", required=True, type=Path, help="pool passages.jsonl {id, text, source}")
    io.add_argument("--kind", required=True, choices=KINDS, help="sm: overall summaries; kw: salient keywords")
    io.add_argument("--shard", type=int, default=0, help="which shard of the pool (0-based)")
    io.add_argument("--shards", type=int, default=1, help="how many shards the pool is split into")
    io.add_argument("--out", required=True, type=Path, help="queries JSONL {passage_id, kind, query}")
    io.add_argument("--stats", required=True, type=Path, help="shard stats JSON")
    io.add_argument("--rejects", required=True, type=Path,
                    help="rejected answers JSONL {passage_id, kind, reason, text}")
    io.add_argument("--partial", type=Path,
                    help="where raw answers are kept as they arrive, for a rerun to resume from; deleted once the "
                         "outputs are written (default: the --out path plus .partial)")

    gen = parser.add_argument_group("generator")
    gen.add_argument("--backend", choices=BACKENDS, default="heuristic")
    gen.add_argument("--model", help="hub id or local path of the LLM (not for heuristic)")
    gen.add_argument("--model-revision", help="hub commit of the LLM (vllm, transformers backends)")
    gen.add_argument("--language", choices=LANGUAGES, default="en", help="passage language (heuristic)")
    gen.add_argument("--prompts", type=Path, help="prompt file, e.g. config/prompts/zh.yaml (LLM backends)")
    gen.add_argument("--queries-per-passage", type=int, default=None, metavar="N",
                     help=f"queries the prompt asks for per passage, its {{count}} (default: sm "
                          f"{DEFAULT_COUNTS['sm']}, kw {DEFAULT_COUNTS['kw']}; LLM backends only)")
    gen.add_argument("--max-query-chars", type=int, default=GeneratorSettings.max_query_chars)
    gen.add_argument("--no-structured-output", dest="structured_output", action="store_false",
                     help="do not constrain answers to the JSON schema")
    gen.add_argument("--chat-template-kwargs", type=_json_object, default={"enable_thinking": False},
                     help='JSON passed to the chat template (default {"enable_thinking": false})')

    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--temperature", type=float, default=Sampling.temperature)
    sampling.add_argument("--top-p", type=float, default=Sampling.top_p)
    sampling.add_argument("--max-tokens", type=int, default=Sampling.max_tokens)
    sampling.add_argument("--seed", type=int, default=Sampling.seed)

    vllm = parser.add_argument_group("vllm backend")
    vllm.add_argument("--tensor-parallel-size", type=int, default=VllmOptions.tensor_parallel_size)
    vllm.add_argument("--gpu-memory-utilization", type=float, default=VllmOptions.gpu_memory_utilization)
    vllm.add_argument("--max-model-len", type=int, default=VllmOptions.max_model_len)
    vllm.add_argument("--dtype", default=VllmOptions.dtype)

    openai = parser.add_argument_group("openai backend")
    openai.add_argument("--base-url", default=OpenAIOptions.base_url, help="e.g. http://host:8000/v1")
    openai.add_argument("--api-key-env", default=OpenAIOptions.api_key_env,
                        help="environment variable holding the API key (unset: no Authorization header)")
    openai.add_argument("--concurrency", type=int, default=OpenAIOptions.concurrency)
    openai.add_argument("--timeout-s", type=float, default=OpenAIOptions.timeout_s)
    openai.add_argument("--max-retries", type=int, default=OpenAIOptions.max_retries)
    openai.add_argument("--backoff-s", type=float, default=OpenAIOptions.backoff_s)
    openai.add_argument("--extra-body", type=_json_object, default={}, help="JSON merged into each request body")
    openai.add_argument("--send-chat-template-kwargs", action="store_true",
                        help="send --chat-template-kwargs as the request field of that name (vLLM-style servers; "
                             "the OpenAI API rejects it)")

    hf = parser.add_argument_group("transformers backend")
    hf.add_argument("--batch-size", type=int, default=TransformersOptions.batch_size)
    hf.add_argument("--device", help="torch device (default: cuda, then mps, then cpu)")


def settings_from_args(args) -> GeneratorSettings:
    return GeneratorSettings(
        backend=args.backend, model=args.model, revision=args.model_revision, language=args.language,
        max_query_chars=args.max_query_chars,
        sampling=Sampling(args.temperature, args.top_p, args.max_tokens, args.seed),
        chat_template_kwargs=args.chat_template_kwargs, structured_output=args.structured_output,
        vllm=VllmOptions(args.tensor_parallel_size, args.gpu_memory_utilization, args.max_model_len, args.dtype),
        openai=OpenAIOptions(args.base_url, args.api_key_env, args.concurrency, args.timeout_s, args.max_retries,
                             args.backoff_s, args.extra_body, args.send_chat_template_kwargs),
        transformers=TransformersOptions(args.batch_size, args.device),
    )


def main(args) -> None:
    from capflow.generate.journal import AnswerJournal, journal_path
    from capflow.generate.shards import load_pool, run_shard, write_shard

    settings = settings_from_args(args)
    settings.check()
    counts = None if args.queries_per_passage is None else {args.kind: args.queries_per_passage}
    prompts = load_prompts(args.prompts, counts) if args.prompts else None
    if prompts is None and settings.backend != "heuristic":
        raise UserError(f"generation backend '{settings.backend}' needs --prompts")
    passages = load_pool(args.passages)
    journal = AnswerJournal(args.partial or journal_path(args.out))
    result = run_shard(passages, args.kind, args.shard, args.shards, settings, prompts, journal=journal)
    write_shard(result, args.out, args.stats, args.rejects, journal)
