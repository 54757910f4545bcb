# Paths, targets and input functions: the one place where the workflow's layout is decided.
import json
from pathlib import Path

from capflow.errors import UserError
from capflow.recipes import load_recipes

RESULTS = config["results"]


def load_model_registry():
    try:
        return load_recipes(config["models_file"])
    except UserError as exc:
        raise WorkflowError(str(exc)) from None


RECIPES = load_model_registry()


def check_known(kind, names, known, key):
    unknown = [n for n in names if n not in known]
    if unknown:
        raise WorkflowError(f"config {key}: unknown {kind} {', '.join(unknown)} (known: {', '.join(sorted(known))})")


check_known("model(s)", config["zeroshot"]["models"], RECIPES, "zeroshot.models")
check_known("benchmark(s)", config["zeroshot"]["benchmarks"], config["benchmarks"], "zeroshot.benchmarks")


wildcard_constraints:
    benchmark=r"[^/]+",
    model=r"[^/]+",


def output_dir(wildcards, output):
    """The folder of a rule's first output, for steps that write several files into one folder."""
    return str(Path(output[0]).parent)


def output_prefix(wildcards, output):
    """A rule's first output without its extension (table writers add .tex/.md/.csv)."""
    return str(Path(output[0]).with_suffix(""))


# --- data ---
def benchmark_dir(benchmark):
    return f"{RESULTS}/data/{benchmark}"


def benchmark_files(benchmark):
    base = benchmark_dir(benchmark)
    return {
        "candidates": f"{base}/candidates.jsonl",
        "queries": f"{base}/queries.jsonl",
        "types": f"{base}/query_types.json",
    }


def benchmark_dir_of(wildcards):
    return benchmark_dir(wildcards.benchmark)


def benchmark_inputs(wildcards):
    return benchmark_files(wildcards.benchmark)


def benchmark_language(wildcards):
    return config["benchmarks"][wildcards.benchmark]["language"]


def benchmark_repo(wildcards):
    repo = config["benchmarks"][wildcards.benchmark].get("repo")
    return f"--repo {repo}" if repo else ""


def hub_endpoint_arg(wildcards):
    endpoint = config["data"]["endpoint"]
    return f"--endpoint {endpoint}" if endpoint else ""


# --- zero-shot ---
def recipe_json(wildcards):
    """The recipe as a param, so that changing one model's recipe reruns only that model's jobs."""
    return RECIPES[wildcards.model].to_json()


def embedding_cache():
    return f"{RESULTS}/cache/embeddings"


def zeroshot_gpus(wildcards):
    return 0 if RECIPES[wildcards.model].kind == "bm25" else config["zeroshot"]["gpus"]


def zeroshot_metrics(benchmarks=None, models=None):
    return expand(
        f"{RESULTS}/zeroshot/{{benchmark}}/{{model}}/metrics.json",
        benchmark=benchmarks or config["zeroshot"]["benchmarks"],
        model=models or config["zeroshot"]["models"],
    )


# --- tables ---
def table_files(name):
    return [f"{RESULTS}/tables/{name}.{ext}" for ext in ("tex", "md", "csv")]


def table_targets():
    """Every table: what `snakemake tables` and `snakemake all` build."""
    return table_files("zeroshot") + trainset_targets() + finetune_targets()


def all_targets():
    return table_targets()


# --- generate ---
GENERATE = config["generate"]
TRAINSET_KINDS = {"sm": ["sm"], "kw": ["kw"], "smkw": ["sm", "kw"]}


def generation_pool(wildcards):
    return f"{RESULTS}/pools/{wildcards.pool}/passages.jsonl"


def generation_prompt_files(wildcards):
    """The prompt file and its answer schema: LLM backends rerun when either changes."""
    if GENERATE["backend"] == "heuristic":
        return []
    prompts = Path(GENERATE["prompts"])
    return [str(prompts), str(prompts.parent / "queries.schema.json")]


def generation_options(wildcards):
    """`capflow generate` options from config: a param, so changing any of them reruns generation."""
    import shlex

    sampling, vllm, openai = GENERATE["sampling"], GENERATE["vllm"], GENERATE["openai"]
    options = {
        "backend": GENERATE["backend"], "language": GENERATE["language"],
        "max-query-chars": GENERATE["max_query_chars"],
    }
    if GENERATE["backend"] != "heuristic":
        options.update({
            "model": GENERATE["model"], "prompts": GENERATE["prompts"],
            "chat-template-kwargs": json.dumps(GENERATE["chat_template_kwargs"], sort_keys=True),
            "temperature": sampling["temperature"], "top-p": sampling["top_p"],
            "max-tokens": sampling["max_tokens"], "seed": sampling["seed"],
        })
    if GENERATE["backend"] == "vllm":
        options.update({"tensor-parallel-size": vllm["tensor_parallel_size"],
                        "gpu-memory-utilization": vllm["gpu_memory_utilization"],
                        "max-model-len": vllm["max_model_len"], "dtype": vllm["dtype"]})
    if GENERATE["backend"] == "openai":
        options.update({"base-url": openai["base_url"], "api-key-env": openai["api_key_env"],
                        "concurrency": openai["concurrency"], "timeout-s": openai["timeout_s"],
                        "max-retries": openai["max_retries"], "backoff-s": openai["backoff_s"],
                        "extra-body": json.dumps(openai["extra_body"], sort_keys=True)})
    if GENERATE["backend"] == "transformers":
        options["batch-size"] = GENERATE["transformers"]["batch_size"]
        if GENERATE["transformers"]["device"]:
            options["device"] = GENERATE["transformers"]["device"]
    flags = [f"--{key} {shlex.quote(str(value))}" for key, value in options.items()]
    if GENERATE["backend"] != "heuristic" and not GENERATE["structured_output"]:
        flags.append("--no-structured-output")
    if GENERATE["backend"] == "openai" and openai["send_chat_template_kwargs"]:
        flags.append("--send-chat-template-kwargs")
    return " ".join(flags)


def generation_env(wildcards):
    """vLLM pins its own torch, so its jobs get their own conda env (used with --sdm conda)."""
    return "../workflow/envs/vllm.yaml" if GENERATE["backend"] == "vllm" else "../workflow/envs/core.yaml"


def generation_gpus(wildcards):
    if GENERATE["backend"] == "vllm":
        return GENERATE["vllm"]["tensor_parallel_size"]
    if GENERATE["backend"] == "transformers" and GENERATE["transformers"]["device"] != "cpu":
        return 1
    return 0


def generation_shards(pool, kind, suffix=".jsonl"):
    return [f"{RESULTS}/generate/{pool}/{kind}/shard-{i}{suffix}" for i in range(GENERATE["shards"])]


def trainset_queries(wildcards):
    return [f for kind in TRAINSET_KINDS[wildcards.mix] for f in generation_shards(wildcards.pool, kind)]


def trainset_shard_stats(wildcards):
    return [f for kind in TRAINSET_KINDS[wildcards.mix]
            for f in generation_shards(wildcards.pool, kind, ".stats.json")]


def trainset_dir(pool, mix):
    return f"{RESULTS}/trainsets/{pool}-{mix}"


def trainset_stats_files():
    return expand(f"{trainset_dir('{pool}', '{mix}')}/stats.json",
                  pool=config["trainsets"]["pools"], mix=config["trainsets"]["mixes"])


def trainset_targets():
    return table_files("trainsets")


# --- finetune/evaluate ---
from capflow.train import TrainSettings, setting_label

FINETUNE = config["finetune"]
EVALUATE = config["evaluate"]
EVALUATION_VIEWS = {b["name"]: b["view"] for b in EVALUATE["benchmarks"]}
check_known("model", [FINETUNE["base_model"]], RECIPES, "finetune.base_model")
check_known("model(s)", EVALUATE["zeroshot_models"], RECIPES, "evaluate.zeroshot_models")
check_known("benchmark(s)", [b for b, view in EVALUATION_VIEWS.items() if view != "mteb"], config["benchmarks"],
            "evaluate.benchmarks")
check_known("benchmark(s)", [b for b, view in EVALUATION_VIEWS.items() if view == "mteb"], EVALUATE["mteb"],
            "evaluate.benchmarks (view mteb)")


def finetune_dir(pool, mix, seed):
    return f"{RESULTS}/finetune/{pool}-{mix}/seed-{seed}"


def finetune_inputs(wildcards):
    trainset = trainset_dir(wildcards.pool, wildcards.mix)
    return {"train": f"{trainset}/train.jsonl", "heldout": f"{trainset}/heldout.jsonl",
            "passages": generation_pool(wildcards)}


def finetune_recipe_json(wildcards):
    return RECIPES[FINETUNE["base_model"]].to_json()


def finetune_options(wildcards):
    """`capflow train` settings from config (all but the seed, a wildcard): a param, so a change reruns."""
    import dataclasses
    import shlex

    return " ".join(f"--{f.name.replace('_', '-')} {shlex.quote(str(FINETUNE[f.name]))}"
                    for f in dataclasses.fields(TrainSettings) if f.name != "seed" and FINETUNE[f.name] is not None)


def finetune_gpus(wildcards):
    return FINETUNE["gpus"]


def finetune_runs():
    """Evaluation run names of the finetuned models: <pool>-<mix>/seed-<seed>."""
    return [f"{pool}-{mix}/seed-{seed}" for pool in config["trainsets"]["pools"]
            for mix in config["trainsets"]["mixes"] for seed in FINETUNE["seeds"]]


def evaluation_runs():
    """Zero-shot reference rows (the base model first), then every finetuned model."""
    models = dict.fromkeys([FINETUNE["base_model"], *EVALUATE["zeroshot_models"]])
    return [f"zeroshot/{m}" for m in models] + finetune_runs()


def parse_evaluation_run(run):
    """('zeroshot', model) or ('finetuned', (pool, mix, seed)) for a run name of evaluation_runs()."""
    if run.startswith("zeroshot/"):
        return "zeroshot", run.split("/", 1)[1]
    setting, seed = run.split("/")
    pool, mix = setting.rsplit("-", 1)
    return "finetuned", (pool, mix, seed.removeprefix("seed-"))


def mteb_benchmark_pattern():
    """Benchmarks the mteb_data rule makes (a pattern that matches nothing when there are none)."""
    names = [b for b, view in EVALUATION_VIEWS.items() if view == "mteb"]
    return "|".join(names) if names else r"(?!x)x"


def mteb_options(wildcards):
    import shlex

    source = EVALUATE["mteb"][wildcards.benchmark]
    options = f"--source {shlex.quote(source['repo'])} --split {shlex.quote(source['split'])}"
    return options + (f" --revision {shlex.quote(source['revision'])}" if source["revision"] else "")


def evaluation_benchmark_dir(wildcards):
    if EVALUATION_VIEWS[wildcards.benchmark] == "testview":
        return testview_dir(wildcards.benchmark)
    return benchmark_dir(wildcards.benchmark)


def evaluation_inputs(wildcards):
    name = wildcards.benchmark
    view = testview_files(name) if EVALUATION_VIEWS[name] == "testview" else benchmark_files(name)
    files = {"candidates": view["candidates"], "queries": view["queries"]}
    kind, what = parse_evaluation_run(wildcards.run)
    if kind == "finetuned":
        files["model"] = f"{finetune_dir(*what)}/model"
    elif (RECIPES[what].kind == "dense" and name in config["zeroshot"]["benchmarks"]
          and what in config["zeroshot"]["models"]):
        # After the zero-shot job on the same texts, whose embeddings then come from the cache.
        files["after"] = zeroshot_metrics([name], [what])
    return files


def evaluation_recipe_json(wildcards):
    kind, what = parse_evaluation_run(wildcards.run)
    return RECIPES[what if kind == "zeroshot" else FINETUNE["base_model"]].to_json()


def evaluation_model_args(wildcards):
    kind, what = parse_evaluation_run(wildcards.run)
    if kind == "zeroshot":
        return ""
    return f"--weights {finetune_dir(*what)}/model --label {setting_label(*what)}"


def evaluation_label(name):
    return f"{name} (test view)" if EVALUATION_VIEWS[name] == "testview" else name


def evaluation_benchmark_label(wildcards):
    return evaluation_label(wildcards.benchmark)


def evaluation_language(wildcards):
    if EVALUATION_VIEWS[wildcards.benchmark] == "mteb":
        return EVALUATE["mteb"][wildcards.benchmark]["language"]
    return config["benchmarks"][wildcards.benchmark]["language"]


def evaluation_identical_ids_flag(wildcards):
    """MTEB never ranks a document for a query with the same id; neither do MTEB-view evaluations."""
    return "--ignore-identical-ids" if EVALUATION_VIEWS[wildcards.benchmark] == "mteb" else ""


def evaluation_gpus(wildcards):
    kind, what = parse_evaluation_run(wildcards.run)
    return 0 if kind == "zeroshot" and RECIPES[what].kind == "bm25" else EVALUATE["gpus"]


def evaluation_metrics():
    return expand(f"{RESULTS}/evaluate/{{benchmark}}/{{run}}/metrics.json",
                  benchmark=EVALUATION_VIEWS, run=evaluation_runs())


def finetune_table_inputs():
    return evaluation_metrics() + trainset_stats_files()


def finetune_table_benchmarks():
    return [evaluation_label(b) for b in EVALUATION_VIEWS]


def finetune_table_note_args():
    import shlex

    views = [b for b, view in EVALUATION_VIEWS.items() if view == "testview"]
    if not views:
        return ""
    note = (f"{', '.join(views)} (test view): the benchmark without the captions held out as the in-domain "
            "pool; every row, zero-shot ones included, is evaluated on that same view.")
    return f"--note {shlex.quote(note)}"


def finetune_targets():
    return table_files("finetune")


# --- pools ---
POOLS = config["pools"]
LEAKAGE = config["leakage"]


def holdout_benchmark():
    """The benchmark whose captions the id pool is held out of (embedded default), else None."""
    source = POOLS["id"]["source"]
    return source["benchmark"] if source["kind"] == "holdout" else None


def check_pool_config():
    held = holdout_benchmark()
    if held is not None:
        check_known("benchmark", [held], config["benchmarks"], "pools.id.source.benchmark")
        if LEAKAGE["benchmark"] != held:
            raise WorkflowError(f"config leakage.benchmark: must be '{held}', the benchmark the id pool is held out "
                                f"of (its test view holds the test captions), not '{LEAKAGE['benchmark']}'")
    if POOLS["ood"]["source"]["kind"] == "holdout":
        raise WorkflowError("config pools.ood.source.kind: 'holdout' is for the id pool only")
    check_known("benchmark", [LEAKAGE["benchmark"]], config["benchmarks"], "leakage.benchmark")


check_pool_config()


def testview_dir(benchmark):
    return f"{RESULTS}/testview/{benchmark}"


def testview_files(benchmark):
    """The test view (a benchmark dir) plus the held-out captions and the hold-out's stats."""
    base = testview_dir(benchmark)
    return {
        "candidates": f"{base}/candidates.jsonl",
        "queries": f"{base}/queries.jsonl",
        "types": f"{base}/query_types.json",
        "view_stats": f"{base}/testview.json",
        "heldout": f"{base}/heldout.jsonl",
        "heldout_stats": f"{base}/heldout_stats.json",
    }


def holdout_options(wildcards):
    if wildcards.benchmark != holdout_benchmark():
        raise WorkflowError(f"no test view of {wildcards.benchmark}: pools.id.source holds no captions out of it")
    return f"--key pools.id.source --holdout {POOLS['id']['source']['holdout']} --seed {POOLS['id']['seed']}"


def pool_source_input(wildcards):
    """The pool's source file, so that a change to it rebuilds the pool. A missing or unset file is
    left to `capflow pool`, whose error names the config key."""
    source = POOLS[wildcards.pool]["source"]
    if source["kind"] == "holdout":
        return testview_files(source["benchmark"])["heldout"]
    path = source["path"] if source["kind"] in ("jsonl", "text", "peoples-daily") else None
    return [path] if path and Path(path).is_file() else []


def pool_options(wildcards):
    """`capflow pool` options from config: a param, so changing any of them rebuilds the pool."""
    import shlex

    pool = POOLS[wildcards.pool]
    source = pool["source"]
    kind = source["kind"]
    options = {"kind": kind, "key": f"pools.{wildcards.pool}.source"}
    if kind == "holdout":  # the held-out captions, written with the test view
        options.update({"kind": "jsonl", "path": pool_source_input(wildcards)})
    if kind in ("jsonl", "text", "peoples-daily"):
        options["path"] = source["path"]
    if kind in ("jsonl", "hub"):
        options.update({"text-field": source["text_field"], "id-field": source["id_field"]})
    if kind == "hub":
        options.update({key: source[key] for key in ("dataset", "config", "split", "revision")})
    options.update({"min-chars": pool["min_chars"], "max-chars": pool["max_chars"], "size": pool["size"],
                    "seed": pool["seed"]})
    return " ".join(f"--{key} {shlex.quote(str(value))}" for key, value in options.items() if value is not None)


def leakage_test_dir(wildcards):
    """The test captions: the test view when the id pool is a hold-out, else the whole benchmark."""
    benchmark = LEAKAGE["benchmark"]
    return testview_dir(benchmark) if benchmark == holdout_benchmark() else benchmark_dir(benchmark)


def leakage_test_candidates(wildcards):
    return f"{leakage_test_dir(wildcards)}/candidates.jsonl"
