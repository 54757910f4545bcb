"""``capflow generate``: training queries of one kind (SM or KW) for one shard of a passage pool.

Backends: ``heuristic`` (no LLM, deterministic), ``vllm`` (offline batched), ``openai`` (any
OpenAI-compatible server) and ``transformers`` (a local causal LM). See :mod:`capflow.generate.shards`
for the sharding and output contract and :mod:`capflow.generate.parsing` for answer parsing.
"""

from __future__ import annotations

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
from capflow.settingflags import add_options, from_args, json_object
from capflow.vocabulary import KINDS

DEFAULTS = GeneratorSettings()


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
    gen.add_argument("--backend", choices=BACKENDS, default=DEFAULTS.backend)
    gen.add_argument("--model", help="hub id or local path of the LLM (not for heuristic)")
    gen.add_argument("--model-revision", help="hub commit of the LLM (vllm, transformers backends)")
    gen.add_argument("--language", choices=LANGUAGES, default=DEFAULTS.language, help="passage language (heuristic)")
    gen.add_argument("--prompts", type=Path, help="prompt file, e.g. config/prompts/zh.yaml (LLM backends)")
    gen.add_argument("--queries-per-passage", type=int, default=None, metavar="N",
                     help=f"queries the prompt asks for per passage, its {{count}} (default: sm "
                          f"{DEFAULT_COUNTS['sm']}, kw {DEFAULT_COUNTS['kw']}; LLM backends only)")
    gen.add_argument("--max-query-chars", type=int, default=DEFAULTS.max_query_chars)
    gen.add_argument("--no-structured-output", dest="structured_output", action="store_false",
                     help="do not constrain answers to the JSON schema")
    gen.add_argument("--chat-template-kwargs", type=json_object, default=DEFAULTS.chat_template_kwargs,
                     help=f"JSON passed to the chat template (default {json.dumps(DEFAULTS.chat_template_kwargs)})")
    for title, cls in BACKEND_GROUPS.items():
        add_options(parser.add_argument_group(title), cls)


# The nested settings of GeneratorSettings, each a group of flags named after its fields.
BACKEND_GROUPS = {"sampling": Sampling, "vllm backend": VllmOptions, "openai backend": OpenAIOptions,
                  "transformers backend": TransformersOptions}


def settings_from_args(args) -> GeneratorSettings:
    return GeneratorSettings(
        backend=args.backend, model=args.model, revision=args.model_revision, language=args.language,
        max_query_chars=args.max_query_chars, chat_template_kwargs=args.chat_template_kwargs,
        structured_output=args.structured_output, sampling=from_args(Sampling, args),
        vllm=from_args(VllmOptions, args), openai=from_args(OpenAIOptions, args),
        transformers=from_args(TransformersOptions, args),
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
