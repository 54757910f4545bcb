# The one place where the workflow's layout is decided: every results path, every input function,
# every target list and the checks that run when the workflow is planned, in pipeline order (data,
# zero-shot, pools, generation, training sets, finetuning, evaluation, tables).
import json
import os
import shlex
from pathlib import Path
from types import SimpleNamespace

from capflow import benchmark as bm
from capflow.configcheck import check_planned_config
from capflow.cpus import available_cpus
from capflow.data import QUERY_TYPES, local_source_files
from capflow.errors import UserError
from capflow.recipes import load_recipes
from capflow.slurm import SlurmSite
from capflow.train import TrainSettings
from capflow.vocabulary import KINDS, MIXES, NAME_PATTERN, POOLS, one_of, setting_label

RESULTS = config["results"]
GENERATE = config["generate"]
POOL_CONFIG = config["pools"]
LEAKAGE = config["leakage"]
FINETUNE = config["finetune"]
EVALUATE = config["evaluate"]
EVALUATION_VIEWS = {b["name"]: b["view"] for b in EVALUATE["benchmarks"]}
MTEB_BENCHMARKS = [name for name, view in EVALUATION_VIEWS.items() if view == "mteb"]

try:
    RECIPES = load_recipes(config["models_file"], workflow.source_path("../workflow/schemas/models.schema.yaml"))
    check_planned_config(config, RECIPES)
except UserError as exc:
    raise WorkflowError(str(exc)) from None


def job_paths(rule, key, folder, files):
    """Where one job of `rule` writes: `files` (name -> file) under results/<folder>/, its log
    results/logs/<rule>/<key>.log and its time and memory results/benchmarks/<rule>/<key>.tsv."""
    return SimpleNamespace(
        files={name: f"{RESULTS}/{folder}/{file}" for name, file in files.items()},
        log=f"{RESULTS}/logs/{rule}/{key}.log",
        timing=f"{RESULTS}/benchmarks/{rule}/{key}.tsv",
    )


def cli_options(options):
    """`--key value` words, each value shell-quoted; None values are left out."""
    return " ".join(f"--{key} {shlex.quote(str(value))}" for key, value in options.items() if value is not None)


# --- CPU threads -------------------------------------------------------------------------------------
# `--cores` may name more cores than the machine has (`snakemake --cores 8 all` on a 2-core laptop);
# Snakemake would then run jobs whose threads add up to 8 on 2 CPUs, and torch jobs slow each other
# down far more than they gain. Then each CPU counts as CORES_PER_CPU cores: a torch job declares one
# CPU's worth of cores and computes with one thread, so no more torch jobs run together than there are
# CPUs. Profiles' set-threads replace the declared threads (on Slurm: the job's CPUs).
LOCAL_CPUS = available_cpus()
TORCH_THREADS = {"encode": 4, "train": 8}


def cores_per_cpu():
    cores = workflow.global_resources["_cores"].value
    if workflow.local_exec and cores and cores > LOCAL_CPUS:
        return -(-cores // LOCAL_CPUS)
    return 1


CORES_PER_CPU = cores_per_cpu()


def torch_job_threads(work):
    """Threads to declare for a torch job doing `work` (a key of TORCH_THREADS)."""
    if CORES_PER_CPU > 1:
        return CORES_PER_CPU
    return min(TORCH_THREADS[work], LOCAL_CPUS)


def compute_threads(wildcards, threads):
    """The threads a job computes with (`capflow --threads`): its declared threads counted in CPUs. A
    resource, not a param, so that running with other --cores reruns nothing."""
    return max(1, threads // CORES_PER_CPU)


# --- placement: GPUs and Slurm -----------------------------------------------------------------------
def site_default_resources():
    """The raw --default-resources expressions, where a site profile puts its Slurm settings."""
    resources = workflow.resource_settings.default_resources or {}
    return {name: getattr(value, "raw", value) for name, value in resources.items()}


SLURM_SITE = SlurmSite.resolve(site_default_resources(), os.environ)


def job_resources(gpus):
    """A rule's `gpu` resource (a number, or a function of the wildcards) and the Slurm account,
    partition and GPU model that follow from each job's GPU count (capflow.slurm says why)."""

    def placement(key):
        def value(wildcards):
            return SLURM_SITE.placement(gpus(wildcards) if callable(gpus) else gpus)[key]

        return value

    return {"gpu": gpus, **{key: placement(key) for key in ("slurm_account", "slurm_partition", "gpu_model")}}


wildcard_constraints:
    benchmark=one_of([*config["benchmarks"], *MTEB_BENCHMARKS]),
    model=one_of(RECIPES),
    pool=one_of(POOLS),
    kind=one_of(KINDS),
    mix=one_of(MIXES),
    seed=r"\d+",
    shard=r"\d+",
    table=r"[a-z0-9_]+",


# --- data --------------------------------------------------------------------------------------------
def data_paths(benchmark="{benchmark}"):
    names = {"candidates": bm.CANDIDATES, "queries": bm.QUERIES, "types": QUERY_TYPES}
    return job_paths("data", benchmark, f"data/{benchmark}", names)


def mteb_paths(benchmark="{benchmark}"):
    paths = data_paths(benchmark)
    paths.files["stats"] = f"{RESULTS}/data/{benchmark}/mteb.json"
    return paths


def benchmark_source(wildcards):
    """The local copy's files (so editing one, or pointing $CAPFLOW_DATA_DIR elsewhere, reruns the
    data job); none when the benchmark comes from the hub, whose pinned revision is a param."""
    return local_source_files(wildcards.benchmark, config["data"]["local_dirs"])


def benchmark_source_label(wildcards):
    files = benchmark_source(wildcards)
    if files:
        return f"local:{Path(files[0]).parent.resolve()}"
    repo = config["benchmarks"][wildcards.benchmark].get("repo")
    return f"hub:{repo}@{config['data']['revision']}"


def benchmark_data_options(wildcards):
    return cli_options(
        {
            "repo": config["benchmarks"][wildcards.benchmark].get("repo"),
            "revision": config["data"]["revision"],
            "endpoint": config["data"]["endpoint"],
        }
    )


def benchmark_inputs(wildcards):
    return data_paths(wildcards.benchmark).files


def input_benchmark_dir(wildcards, input):
    """The benchmark dir of a rule's `candidates` input, for steps that read a whole benchmark."""
    return str(Path(input.candidates).parent)


# --- zero-shot ---------------------------------------------------------------------------------------
def zeroshot_paths(benchmark="{benchmark}", model="{model}"):
    names = {"run": "run.trec", "metrics": "metrics.json", "errors": "errors.jsonl"}
    return job_paths("zeroshot", f"{benchmark}/{model}", f"zeroshot/{benchmark}/{model}", names)


EMBEDDING_CACHE = f"{RESULTS}/cache/embeddings"


def recipe_json(wildcards):
    """The model's recipe as a param: editing it reruns the model's jobs."""
    return RECIPES[wildcards.model].to_json()


def zeroshot_gpus(wildcards):
    return 0 if RECIPES[wildcards.model].kind == "bm25" else config["zeroshot"]["gpus"]


def zeroshot_threads(wildcards):
    return 1 if RECIPES[wildcards.model].kind == "bm25" else torch_job_threads("encode")


def zeroshot_metrics(benchmarks=None, models=None):
    return [
        zeroshot_paths(b, m).files["metrics"]
        for b in benchmarks or config["zeroshot"]["benchmarks"]
        for m in models or config["zeroshot"]["models"]
    ]


# --- pools -------------------------------------------------------------------------------------------
def holdout_benchmark():
    """The benchmark whose captions the id pool is held out of (embedded default), else None."""
    source = POOL_CONFIG["id"]["source"]
    return source["benchmark"] if source["kind"] == "holdout" else None


def testview_paths(benchmark="{benchmark}"):
    names = {
        "candidates": bm.CANDIDATES,
        "queries": bm.QUERIES,
        "types": QUERY_TYPES,
        "stats": "testview.json",
        "heldout": "heldout.jsonl",
    }
    return job_paths("testview", benchmark, f"testview/{benchmark}", names)


def testview_options(wildcards):
    source = POOL_CONFIG["id"]["source"]
    return cli_options({"key": "pools.id.source.holdout", "holdout": source["holdout"], "seed": POOL_CONFIG["id"]["seed"]})


def pool_source_paths(pool="{pool}"):
    names = {"passages": "source.jsonl", "stats": "source_stats.json"}
    return job_paths("pools", pool, f"pools/{pool}", names)


def pool_source_input(wildcards):
    """The pool's source file, so that a change to it rebuilds the pool. A missing or unset file is
    left to `capflow pool`, whose error names the config key."""
    source = POOL_CONFIG[wildcards.pool]["source"]
    if source["kind"] == "holdout":
        return [testview_paths(source["benchmark"]).files["heldout"]]
    path = source.get("path")
    return [path] if path and Path(path).is_file() else []


def pool_options(wildcards):
    """`capflow pool` options from config: a param, so changing any of them rebuilds the pool."""
    pool = POOL_CONFIG[wildcards.pool]
    source = pool["source"]
    kind = source["kind"]
    options = {"kind": kind, "key": f"pools.{wildcards.pool}.source"}
    if kind == "holdout":
        options["path"] = pool_source_input(wildcards)[0]
    if kind in ("jsonl", "text", "peoples-daily"):
        options["path"] = source["path"]
    if kind in ("jsonl", "hub"):
        options.update({"text-field": source["text_field"], "id-field": source["id_field"]})
    if kind == "hub":
        options.update({key: source[key] for key in ("dataset", "config", "split", "revision")})
    for key in ("min_chars", "max_chars", "size", "seed"):
        options[key.replace("_", "-")] = pool[key]
    return cli_options(options)


def leakage_paths(pool="{pool}"):
    names = {"passages": "passages.jsonl", "report": "leakage.json", "histogram": "leakage_histogram.csv"}
    return job_paths("leakage", pool, f"pools/{pool}", names)


def leakage_test_captions(wildcards):
    """The test captions: the test view's when the id pool is a hold-out of that benchmark, else
    the whole benchmark's."""
    benchmark = LEAKAGE["benchmark"]
    paths = testview_paths(benchmark) if benchmark == holdout_benchmark() else data_paths(benchmark)
    return paths.files["candidates"]


# --- generation --------------------------------------------------------------------------------------
def generation_paths(pool="{pool}", kind="{kind}", shard="{shard}"):
    names = {
        "queries": f"shard-{shard}.jsonl",
        "stats": f"shard-{shard}.stats.json",
        "rejects": f"shard-{shard}.rejects.jsonl",
    }
    return job_paths("generate", f"{pool}/{kind}/shard-{shard}", f"generate/{pool}/{kind}", names)


def generation_pool(wildcards):
    return leakage_paths(wildcards.pool).files["passages"]


def generation_prompt_files(wildcards):
    """The prompt file and its answer schema: LLM backends rerun when either changes."""
    if GENERATE["backend"] == "heuristic":
        return []
    prompts = Path(GENERATE["prompts"])
    return [str(prompts), str(prompts.parent / "queries.schema.json")]


def generation_options(wildcards):
    """`capflow generate` options from config: a param, so changing any of them reruns generation."""
    backend = GENERATE["backend"]
    sampling, vllm, openai = GENERATE["sampling"], GENERATE["vllm"], GENERATE["openai"]
    options = {"backend": backend, "language": GENERATE["language"], "max-query-chars": GENERATE["max_query_chars"]}
    if backend != "heuristic":
        options.update(
            {
                "model": GENERATE["model"],
                "prompts": GENERATE["prompts"],
                "chat-template-kwargs": json.dumps(GENERATE["chat_template_kwargs"], sort_keys=True),
                "temperature": sampling["temperature"],
                "top-p": sampling["top_p"],
                "max-tokens": sampling["max_tokens"],
                "seed": sampling["seed"],
            }
        )
    if backend == "vllm":
        options.update({key.replace("_", "-"): value for key, value in sorted(vllm.items())})
    if backend == "openai":
        options.update({key.replace("_", "-"): value for key, value in sorted(openai.items()) if key != "extra_body"})
        options["extra-body"] = json.dumps(openai["extra_body"], sort_keys=True)
    if backend == "transformers":
        options.update({key.replace("_", "-"): value for key, value in sorted(GENERATE["transformers"].items())})
    flags = cli_options(options)
    if backend != "heuristic" and not GENERATE["structured_output"]:
        flags += " --no-structured-output"
    return flags


def generation_gpus(wildcards):
    if GENERATE["backend"] == "vllm":
        return GENERATE["vllm"]["tensor_parallel_size"]
    if GENERATE["backend"] == "transformers" and GENERATE["transformers"]["device"] != "cpu":
        return 1
    return 0


def generation_threads(wildcards):
    """The heuristic backend is plain Python; the LLM backends compute with torch."""
    return 1 if GENERATE["backend"] == "heuristic" else torch_job_threads("encode")


# --- training sets -----------------------------------------------------------------------------------
def trainset_paths(pool="{pool}", mix="{mix}"):
    names = {"train": "train.jsonl", "heldout": "heldout.jsonl", "stats": "stats.json"}
    return job_paths("trainsets", f"{pool}-{mix}", f"trainsets/{pool}-{mix}", names)


def trainset_shards(wildcards, name):
    return [
        generation_paths(wildcards.pool, kind, shard).files[name]
        for kind in MIXES[wildcards.mix]
        for shard in range(GENERATE["shards"])
    ]


def trainset_inputs(wildcards):
    return {
        "passages": generation_pool(wildcards),
        "queries": trainset_shards(wildcards, "queries"),
        "stats": trainset_shards(wildcards, "stats"),
    }


def trainset_stats_files():
    return [
        trainset_paths(pool, mix).files["stats"]
        for pool in config["trainsets"]["pools"]
        for mix in config["trainsets"]["mixes"]
    ]


# --- finetuning --------------------------------------------------------------------------------------
def finetune_paths(pool="{pool}", mix="{mix}", seed="{seed}"):
    names = {"model": "model", "loss": "loss.csv", "summary": "train.json"}
    job = f"{pool}-{mix}/seed-{seed}"
    return job_paths("finetune", job, f"finetune/{job}", names)


def finetune_inputs(wildcards):
    trainset = trainset_paths(wildcards.pool, wildcards.mix).files
    return {"train": trainset["train"], "heldout": trainset["heldout"], "passages": generation_pool(wildcards)}


def finetune_recipe_json(wildcards):
    """What training depends on: a new table label or inference batch size retrains nothing."""
    return RECIPES[FINETUNE["base_model"]].vector_json()


def finetune_options(wildcards):
    """`capflow train` settings from config (all but the seed, a wildcard): a param, so a change reruns."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(TrainSettings) if f.name != "seed"]
    return cli_options({name.replace("_", "-"): FINETUNE[name] for name in names})


def finetune_runs():
    """Evaluation run names of the finetuned models: <pool>-<mix>/seed-<seed>."""
    return [
        f"{pool}-{mix}/seed-{seed}"
        for pool in config["trainsets"]["pools"]
        for mix in config["trainsets"]["mixes"]
        for seed in FINETUNE["seeds"]
    ]


# --- evaluation --------------------------------------------------------------------------------------
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


def evaluation_paths(benchmark="{benchmark}", run="{run}"):
    names = {"run": "run.trec", "metrics": "metrics.json", "errors": "errors.jsonl"}
    return job_paths("evaluate", f"{benchmark}/{run}", f"evaluate/{benchmark}/{run}", names)


def mteb_options(wildcards):
    source = EVALUATE["mteb"][wildcards.benchmark]
    return cli_options({"source": source["repo"], "split": source["split"], "revision": source["revision"]})


def evaluation_view_files(benchmark):
    if EVALUATION_VIEWS[benchmark] == "testview":
        return testview_paths(benchmark).files
    return data_paths(benchmark).files


def evaluation_inputs(wildcards):
    name = wildcards.benchmark
    view = evaluation_view_files(name)
    files = {"candidates": view["candidates"], "queries": view["queries"], "types": view["types"]}
    kind, what = parse_evaluation_run(wildcards.run)
    if kind == "finetuned":
        files["model"] = finetune_paths(*what).files["model"]
    elif (
        RECIPES[what].kind == "dense"
        and name in config["zeroshot"]["benchmarks"]
        and what in config["zeroshot"]["models"]
    ):
        # After the zero-shot job on the same texts, whose embeddings then come from the cache.
        files["after"] = zeroshot_metrics([name], [what])
    return files


def evaluation_recipe_json(wildcards):
    kind, what = parse_evaluation_run(wildcards.run)
    return RECIPES[what if kind == "zeroshot" else FINETUNE["base_model"]].to_json()


def evaluation_model_options(wildcards):
    kind, what = parse_evaluation_run(wildcards.run)
    if kind == "zeroshot":
        return ""
    return cli_options({"weights": finetune_paths(*what).files["model"], "label": setting_label(*what)})


def evaluation_label(name):
    return f"{name} (test view)" if EVALUATION_VIEWS[name] == "testview" else name


def evaluation_benchmark_label(wildcards):
    return evaluation_label(wildcards.benchmark)


def evaluation_language(wildcards):
    if EVALUATION_VIEWS[wildcards.benchmark] == "mteb":
        return EVALUATE["mteb"][wildcards.benchmark]["language"]
    return config["benchmarks"][wildcards.benchmark]["language"]


def evaluation_flags(wildcards):
    """MTEB never ranks a document for a query with the same id; neither do MTEB-view evaluations."""
    return "--ignore-identical-ids" if EVALUATION_VIEWS[wildcards.benchmark] == "mteb" else ""


def is_bm25_evaluation(wildcards):
    kind, what = parse_evaluation_run(wildcards.run)
    return kind == "zeroshot" and RECIPES[what].kind == "bm25"


def evaluation_gpus(wildcards):
    return 0 if is_bm25_evaluation(wildcards) else EVALUATE["gpus"]


def evaluation_threads(wildcards):
    return 1 if is_bm25_evaluation(wildcards) else torch_job_threads("encode")


def evaluation_metrics():
    return [evaluation_paths(b, run).files["metrics"] for b in EVALUATION_VIEWS for run in evaluation_runs()]


# --- tables ------------------------------------------------------------------------------------------
def table_paths(table="{table}"):
    return job_paths("tables", table, "tables", {ext: f"{table}.{ext}" for ext in ("tex", "md", "csv")})


def TABLE_PREFIX(wildcards, output):
    return str(Path(output.csv).with_suffix(""))


def finetune_table_inputs():
    return evaluation_metrics() + trainset_stats_files()


def finetune_table_notes():
    views = [b for b, view in EVALUATION_VIEWS.items() if view == "testview"]
    if not views:
        return ""
    note = (
        f"{', '.join(views)} (test view): the benchmark without the captions held out as the in-domain "
        "pool; every row, zero-shot ones included, is evaluated on that same view."
    )
    return cli_options({"note": note})


def table_targets():
    """Every table: what `snakemake tables` and `snakemake all` build."""
    return [file for table in ("zeroshot", "trainsets", "finetune") for file in table_paths(table).files.values()]


def all_targets():
    return table_targets()
