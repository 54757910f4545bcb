# The one place where the workflow's layout is decided: every results path, every input function,
# every target list and the checks that run when the workflow is planned, in pipeline order (data,
# zero-shot, pools, generation, training sets, finetuning, evaluation, tables).
import json
import os
import shlex
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

from capflow import benchmark as bm
from capflow import prefetch
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
# down far more than they gain. Then each CPU counts as CORES_PER_CPU cores: a multi-threaded job
# declares one CPU's worth of cores and computes with one thread, so no more of them run together than
# there are CPUs. Profiles' set-threads replace the declared threads (on Slurm: the job's CPUs); the
# local profile sets none, so these declarations hold on a laptop and a workstation alike.
LOCAL_CPUS = available_cpus()
JOB_THREADS = {"encode": 4, "train": 8, "leakage": 8}


def cores_per_cpu():
    cores = workflow.global_resources["_cores"].value
    if workflow.local_exec and cores and cores > LOCAL_CPUS:
        return -(-cores // LOCAL_CPUS)
    return 1


CORES_PER_CPU = cores_per_cpu()


def job_threads(work):
    """Threads to declare for a multi-threaded job doing `work` (a key of JOB_THREADS)."""
    if CORES_PER_CPU > 1:
        return CORES_PER_CPU
    return min(JOB_THREADS[work], LOCAL_CPUS)


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


# --- prefetch ----------------------------------------------------------------------------------------
def prefetch_paths():
    return job_paths("prefetch", "manifest", "prefetch", {"manifest": "manifest.json"})


def prefetch_plan_json():
    """What the configured jobs would fetch from the hub: a param, so a new model refetches."""
    return json.dumps(prefetch.plan(config, RECIPES, prefetch.local_benchmarks(config)), sort_keys=True)


# Every job that could touch the network waits for the prefetch and then reads the hub caches only,
# so a compute node never downloads. The manifest is `ancient`: fetching a newly configured model
# reruns no job that did not need it (a job's own model or source is its param).
PREFETCHED = ancient(prefetch_paths().files["manifest"])
HUB_OFFLINE = "env HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1"


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
    try:
        return local_source_files(wildcards.benchmark, config["data"]["local_dirs"])
    except UserError as exc:
        raise WorkflowError(str(exc)) from None


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


# A retrieval or training job's recipe param is `Recipe.vector_json()`: what changes vectors. Table
# labels reach only the report (`model_labels`), and the inference batch size is a resource, so
# editing either reruns no encoding.
def recipe_json(wildcards):
    return RECIPES[wildcards.model].vector_json()


def encode_batch_size(wildcards):
    return RECIPES[wildcards.model].batch_size


def zeroshot_gpus(wildcards):
    return 0 if RECIPES[wildcards.model].kind == "bm25" else config["zeroshot"]["gpus"]


def zeroshot_threads(wildcards):
    return 1 if RECIPES[wildcards.model].kind == "bm25" else job_threads("encode")


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
    return cli_options(
        {"key": "pools.id.source.holdout", "holdout": source["holdout"], "seed": POOL_CONFIG["id"]["seed"]}
    )


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
                "model-revision": GENERATE["revision"],
                "prompts": GENERATE["prompts"],
                "queries-per-passage": GENERATE["queries_per_passage"][wildcards.kind],
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
        flags_only = ("extra_body", "send_chat_template_kwargs")
        options.update({key.replace("_", "-"): value for key, value in sorted(openai.items()) if key not in flags_only})
        options["extra-body"] = json.dumps(openai["extra_body"], sort_keys=True)
    if backend == "transformers":
        options.update({key.replace("_", "-"): value for key, value in sorted(GENERATE["transformers"].items())})
    flags = cli_options(options)
    if backend != "heuristic" and not GENERATE["structured_output"]:
        flags += " --no-structured-output"
    if backend == "openai" and openai["send_chat_template_kwargs"]:
        flags += " --send-chat-template-kwargs"  # a vLLM-server field the OpenAI API refuses
    return flags


def generation_gpus(wildcards):
    if GENERATE["backend"] == "vllm":
        return GENERATE["vllm"]["tensor_parallel_size"]
    if GENERATE["backend"] == "transformers" and GENERATE["transformers"]["device"] != "cpu":
        return 1
    return 0


def generation_threads(wildcards):
    """The heuristic backend is plain Python; the LLM backends compute with torch."""
    return 1 if GENERATE["backend"] == "heuristic" else job_threads("encode")


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
        "leakage": leakage_paths(wildcards.pool).files["report"],
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


def evaluation_recipe(wildcards):
    kind, what = parse_evaluation_run(wildcards.run)
    return RECIPES[what if kind == "zeroshot" else FINETUNE["base_model"]]


def evaluation_recipe_json(wildcards):
    return evaluation_recipe(wildcards).vector_json()


def evaluation_batch_size(wildcards):
    return evaluation_recipe(wildcards).batch_size


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
    return 1 if is_bm25_evaluation(wildcards) else job_threads("encode")


def evaluation_metrics():
    return [evaluation_paths(b, run).files["metrics"] for b in EVALUATION_VIEWS for run in evaluation_runs()]


# --- report: tables, analyses and figures from finished results ------------------------------------
REPORT = config["report"]


def model_labels():
    """The table labels of every model the report names (`--labels`): a param of the report jobs
    alone, so a renamed model reruns them and nothing upstream."""
    names = dict.fromkeys([*config["zeroshot"]["models"], FINETUNE["base_model"], *EVALUATE["zeroshot_models"]])
    return json.dumps({n: RECIPES[n].labels() for n in names}, sort_keys=True, ensure_ascii=False)


MODEL_LABELS = model_labels()


def table_paths(table):
    """A table's files (the job of its batch writes them; its log is batch_log)."""
    return job_paths("tables", table, "tables", {ext: f"{table}.{ext}" for ext in ("tex", "md", "csv")})


def figure_paths(figure):
    return job_paths("figures", figure, "figures", {ext: f"{figure}.{ext}" for ext in ("png", "pdf")})


def analysis_paths(analysis, benchmark="{benchmark}", extra=()):
    """An analysis CSV of one benchmark (plus extra CSVs, e.g. the annotation sheet)."""
    files = {"csv": f"{benchmark}.csv", **{name: f"{benchmark}.{name}.csv" for name in extra}}
    return job_paths(analysis, benchmark, f"analysis/{analysis}", files)


def qrels_paths(benchmark="{benchmark}"):
    return job_paths("qrels", benchmark, f"data/{benchmark}", {"qrels": "qrels.trec"})


def hybrid_paths(benchmark="{benchmark}", method="{method}", model="{model}"):
    job = f"{benchmark}/{method}-{model}"
    return job_paths("hybrid", job, f"hybrid/{job}", {"run": "run.trec", "metrics": "metrics.json"})


def mteb_json_paths(scored="{scored}"):
    """The MTEB-shaped result beside the metrics JSON of a zero-shot, evaluation or hybrid run."""
    return job_paths("mteb_json", scored, scored, {"json": "mteb.json"})


def scored_metrics(wildcards):
    return f"{RESULTS}/{wildcards.scored}/metrics.json"


def scored_folder(metrics_file):
    return str(Path(metrics_file).parent.relative_to(RESULTS))


def dense_zeroshot_models():
    return [m for m in config["zeroshot"]["models"] if RECIPES[m].kind == "dense"]


def featured_model():
    return REPORT["featured_model"] or next(iter(dense_zeroshot_models()), None)


def hybrid_runs():
    """(benchmark, method, dense model): BM25 fused with each dense zero-shot model."""
    if "bm25" not in config["zeroshot"]["models"]:
        return []
    return [
        (b, method, m)
        for b in config["zeroshot"]["benchmarks"]
        for method in REPORT["hybrid"]["methods"]
        for m in dense_zeroshot_models()
    ]


def hybrid_inputs(wildcards):
    lexical = zeroshot_paths(wildcards.benchmark, "bm25").files
    dense = zeroshot_paths(wildcards.benchmark, wildcards.model).files
    return {
        "candidates": data_paths(wildcards.benchmark).files["candidates"],
        "lexical_run": lexical["run"],
        "lexical_metrics": lexical["metrics"],
        "dense_run": dense["run"],
        "dense_metrics": dense["metrics"],
    }


def hybrid_options(wildcards):
    hybrid = REPORT["hybrid"]
    return cli_options(
        {
            "method": wildcards.method,
            "rrf-k": hybrid["rrf_k"],
            "weight": hybrid["weight"],
            "depth": config["zeroshot"]["depth"],
            "label": f"{wildcards.method}-{wildcards.model}",
        }
    )


def types_source(benchmark):
    """The benchmark whose query types apply to ``benchmark`` (itself, or its `types_from`)."""
    return config["benchmarks"].get(benchmark, {}).get("types_from") or benchmark


def types_file(benchmark):
    return data_paths(types_source(benchmark)).files["types"]


def scored_runs():
    """(benchmark label, benchmark dir files, metrics, run) of every scored run, each (label, model) once."""
    runs, seen = [], set()
    for b in config["zeroshot"]["benchmarks"]:
        for m in config["zeroshot"]["models"]:
            files = zeroshot_paths(b, m).files
            runs.append((b, data_paths(b).files, files["metrics"], files["run"]))
            seen.add((b, m))
        for _, method, m in [r for r in hybrid_runs() if r[0] == b]:
            files = hybrid_paths(b, method, m).files
            runs.append((b, data_paths(b).files, files["metrics"], files["run"]))
    for b in EVALUATION_VIEWS:
        for run in evaluation_runs():
            kind, what = parse_evaluation_run(run)
            if kind == "zeroshot" and (evaluation_label(b), what) in seen:
                continue  # the same ranking as the zero-shot job's
            files = evaluation_paths(b, run).files
            runs.append((evaluation_label(b), evaluation_view_files(b), files["metrics"], files["run"]))
    return runs


def benchmark_label_options(runs):
    """`--benchmark LABEL DIR` and `--query-types LABEL FILE` for every benchmark label of ``runs``."""
    options, done = [], set()
    for label, files, _, _ in runs:
        if label in done:
            continue
        done.add(label)
        name = label.split(" (")[0]
        options += [
            "--benchmark",
            label,
            str(Path(files["candidates"]).parent),
            "--query-types",
            label,
            types_file(name),
        ]
    return " ".join(shlex.quote(word) for word in options)


def per_query_inputs():
    runs = scored_runs()
    types = sorted({types_file(label.split(" (")[0]) for label, _, _, _ in runs})
    return {
        "metrics": [r[2] for r in runs],
        "runs": [r[3] for r in runs],
        "types": types,
        "benchmarks": sorted({f for r in runs for f in (r[1]["candidates"], r[1]["queries"])}),
    }


PER_QUERY_PATHS = job_paths("per_query", "per_query", "tables", {"csv": "per_query.csv"})
PER_QUERY = PER_QUERY_PATHS.files["csv"]


def dense_analysis_inputs(wildcards):
    """The dense zero-shot runs of a benchmark, its candidates and its query types."""
    runs = [zeroshot_paths(wildcards.benchmark, m).files for m in dense_zeroshot_models()]
    return {
        "metrics": [r["metrics"] for r in runs],
        "runs": [r["run"] for r in runs],
        "candidates": data_paths(wildcards.benchmark).files["candidates"],
        "types": types_file(wildcards.benchmark),
    }


def lexical_run(wildcards):
    return zeroshot_paths(wildcards.benchmark, "bm25").files["run"]


def benchmark_words(wildcards, input):
    """`LABEL DIR` of the benchmark a rule reads."""
    return words(wildcards.benchmark, Path(input.candidates).parent)


def types_words(wildcards, input):
    """`LABEL FILE` of the query types that apply to the benchmark a rule reads."""
    return words(wildcards.benchmark, input.types)


def words(*values):
    return " ".join(shlex.quote(str(v)) for v in values)


def finetune_table_notes():
    views = [b for b, view in EVALUATION_VIEWS.items() if view == "testview"]
    if not views:
        return ""
    note = (
        f"{', '.join(views)} (test view): the benchmark without the captions held out as the in-domain "
        "pool; every row, zero-shot ones included, is evaluated on that same view."
    )
    return cli_options({"note": note})


def finetune_report_selection():
    """Table 4's inputs (metrics of every evaluation, the training sets' stats) and its selection."""
    inputs = evaluation_metrics() + trainset_stats_files()
    labels = [evaluation_label(b) for b in EVALUATION_VIEWS]
    return inputs, (
        f"--inputs {words(*inputs)} --benchmarks {words(*labels)} --ks {words(*EVALUATE['table_ks'])}"
        f" --labels {words(MODEL_LABELS)}"
    )


def report_tables():
    """Every table of the report: name -> (inputs, `capflow tables` arguments). Names are file names."""
    zeroshot = config["zeroshot"]
    featured = featured_model()
    zeroshot_inputs = zeroshot_metrics() + [hybrid_paths(*r).files["metrics"] for r in hybrid_runs()]
    finetune_inputs, finetune_selection = finetune_report_selection()
    tables = {
        "zeroshot": (
            zeroshot_inputs,
            f"zeroshot --inputs {words(*zeroshot_inputs)} --benchmarks {words(*zeroshot['benchmarks'])}"
            f" --labels {words(MODEL_LABELS)}",
        ),
        "trainsets": (trainset_stats_files(), f"trainsets --inputs {words(*trainset_stats_files())}"),
        "finetune": (finetune_inputs, f"finetune {finetune_selection} {finetune_table_notes()}"),
        "datasets": (
            [f for b in zeroshot["benchmarks"] for f in data_paths(b).files.values()],
            " ".join(
                f"--benchmark {words(b, str(Path(data_paths(b).files['candidates']).parent), config['benchmarks'][b]['language'])}"
                for b in zeroshot["benchmarks"]
            ).join(["datasets ", ""]),
        ),
        "generated": (
            [leakage_paths(pool).files["passages"] for pool in config["trainsets"]["pools"]]
            + [
                generation_paths(pool, kind, shard).files[name]
                for pool in config["trainsets"]["pools"]
                for kind in KINDS
                for shard in range(GENERATE["shards"])
                for name in ("queries", "stats")
            ],
            "generated "
            + " ".join(
                [
                    f"--pool {words(pool, leakage_paths(pool).files['passages'])}"
                    for pool in config["trainsets"]["pools"]
                ]
                + [
                    f"--queries {words(pool, generation_paths(pool, kind, shard).files['queries'])}"
                    f" --stats {words(pool, generation_paths(pool, kind, shard).files['stats'])}"
                    for pool in config["trainsets"]["pools"]
                    for kind in KINDS
                    for shard in range(GENERATE["shards"])
                ]
            ),
        ),
    }
    views = [(b, "full", b) for b in zeroshot["benchmarks"]]
    views += [(b, "test view", f"{b}-testview") for b, view in EVALUATION_VIEWS.items() if view == "testview"]
    for benchmark, view, name in views:
        selection = f"--per-query {words(PER_QUERY)} --benchmark {words(benchmark)} --view {words(view)}"
        tables[f"query_groups-{name}"] = ([PER_QUERY], f"query-groups {selection}")
        if "bm25" in zeroshot["models"]:
            tables[f"query_wins-{name}"] = ([PER_QUERY], f"query-wins {selection}")
            if featured and view == "full":
                tables[f"query_types-{name}"] = ([PER_QUERY], f"query-types {selection} --featured {words(featured)}")
    for benchmark in zeroshot["benchmarks"] if dense_zeroshot_models() else []:
        sweep = analysis_paths("classification", benchmark).files["csv"]
        tables[f"classification-{benchmark}"] = (
            [sweep],
            f"classification --sweep {words(sweep)} --benchmark {words(benchmark)}"
            f" --threshold {REPORT['classification']['threshold']}",
        )
        inversions = analysis_paths("inversions", benchmark).files["csv"]
        selection = (
            f"--inversions {words(inversions)} --benchmark {words(benchmark)} --top {REPORT['inversions']['top']}"
            f" --always {words(*REPORT['inversions']['always'])}"
        )
        tables[f"inversions-{benchmark}"] = ([inversions], f"inversions {selection}")
        tables[f"inversion_counts-{benchmark}"] = ([inversions], f"inversion-counts {selection}")
        source = types_source(benchmark)
        if source != benchmark and source in zeroshot["benchmarks"]:
            both = analysis_paths("inversions", source).files["csv"]
            tables[f"inversions_paired-{source}-{benchmark}"] = (
                [both, inversions],
                f"inversions-paired --inversions {words(both, inversions)} --benchmark {words(source)}"
                f" --other {words(benchmark)}"
                f" --top {REPORT['inversions']['top']} --always {words(*REPORT['inversions']['always'])}",
            )
    if "bm25" in zeroshot["models"]:
        for benchmark in zeroshot["benchmarks"]:
            errors = analysis_paths("errors", benchmark, ["sheet"]).files["csv"]
            selection = f"--errors {words(errors)} --benchmark {words(benchmark)}"
            tables[f"error_analysis-{benchmark}"] = ([errors], f"error-analysis {selection}")
            tables[f"error_examples-{benchmark}"] = (
                [errors],
                f"error-examples {selection} --examples {REPORT['errors']['examples']}",
            )
    if REPORT["errors"]["annotations"]:
        sheet = REPORT["errors"]["annotations"]
        tables["error_annotations"] = ([sheet], f"error-annotations --sheet {words(sheet)}")
    return tables


def report_figures():
    """Every figure of the report: name -> (inputs, `capflow figures` arguments)."""
    zeroshot = config["zeroshot"]
    figures = {}
    for b in zeroshot["benchmarks"]:
        benchmark_dir = str(Path(data_paths(b).files["candidates"]).parent)
        figures[f"query_types-{b}"] = (
            [*data_paths(b).files.values(), types_file(b)],
            f"query-types --benchmark {words(benchmark_dir)} --query-types {words(types_file(b))}",
        )
        figures[f"positives-{b}"] = (
            list(data_paths(b).files.values()),
            f"positives --benchmark {words(benchmark_dir)}",
        )
        figures[f"query_groups-{b}"] = (
            [PER_QUERY],
            f"query-groups --per-query {words(PER_QUERY)} --benchmark {words(b)}",
        )
        if dense_zeroshot_models():
            sweep = analysis_paths("classification", b).files["csv"]
            figures[f"classification-{b}"] = ([sweep], f"classification --sweep {words(sweep)} --benchmark {words(b)}")
    runs = [parse_evaluation_run(run)[1] for run in finetune_runs()]
    figures["loss"] = (
        [finetune_paths(*run).files["loss"] for run in runs],
        " ".join(f"--loss {words(setting_label(*run), finetune_paths(*run).files['loss'])}" for run in runs).join(
            ["loss ", ""]
        ),
    )
    pools = config["trainsets"]["pools"]
    figures["leakage"] = (
        [leakage_paths(pool).files["histogram"] for pool in pools],
        " ".join(f"--histogram {words(pool, leakage_paths(pool).files['histogram'])}" for pool in pools).join(
            ["leakage ", ""]
        )
        + f" --threshold {float(Fraction(str(LEAKAGE['threshold'])))}",
    )
    finetune_inputs, finetune_selection = finetune_report_selection()
    figures["finetune"] = (finetune_inputs, f"finetune {finetune_selection}")
    return figures


REPORT_TABLES = report_tables()
REPORT_FIGURES = report_figures()


# The tables are two jobs, and the figures two (`capflow each`): each builds in well under a second,
# and as one process apiece they spent most of their time starting Python. One job of each kind holds
# what needs only the zero-shot stages, so Table 2 never waits for finetuning; the other the rest. A
# changed input or argument rebuilds its job's set, in seconds.
REPORT_BATCHES = ("zeroshot", "finetune")


def stage_root(paths):
    """The folder under which a stage writes, e.g. results/pools/: its path template up to the first wildcard."""
    return next(iter(paths.files.values())).split("{")[0]


FINETUNE_STAGE_ROOTS = tuple(
    stage_root(paths)
    for paths in (pool_source_paths(), generation_paths(), trainset_paths(), finetune_paths(), evaluation_paths())
)


def report_batch(inputs):
    """ "finetune" when an input comes from the finetuning stages or is the per-query frame (it holds
    every run), else "zeroshot"."""
    return "finetune" if any(f == PER_QUERY or f.startswith(FINETUNE_STAGE_ROOTS) for f in inputs) else "zeroshot"


def in_batch(registry, batch):
    return {name: entry for name, entry in registry.items() if report_batch(entry[0]) == batch}


def batch_inputs(registry, batch):
    return list(dict.fromkeys(file for inputs, _ in in_batch(registry, batch).values() for file in inputs))


def batch_spec(registry, paths, batch):
    """`capflow each` items: every entry's arguments, then its output files."""
    return json.dumps(
        [f"{arguments} {cli_options(paths(name).files)}" for name, (_, arguments) in in_batch(registry, batch).items()],
        ensure_ascii=False,
    )


def batch_log(kind, batch):
    return job_paths(kind, batch, kind, {}).log


def shown_in_report(path, caption, category, labels):
    return report(path, caption=caption, category=category, labels=labels)


def table_outputs(batch):
    """The batch's tables: .tex, .md and .csv; the CSV is what the report page shows."""
    outputs = []
    for name in in_batch(REPORT_TABLES, batch):
        files = table_paths(name).files
        csv = shown_in_report(files["csv"], "../workflow/report/table.rst", "Tables", {"table": name})
        outputs += [files["tex"], files["md"], csv]
    return outputs


def figure_outputs(batch):
    outputs = []
    for name in in_batch(REPORT_FIGURES, batch):
        files = figure_paths(name).files
        caption = f"../workflow/report/figures/{name.split('-')[0]}.rst"
        outputs += [shown_in_report(files["png"], caption, "Figures", {"figure": name}), files["pdf"]]
    return outputs


def table_targets():
    """Every table: what `snakemake tables` builds."""
    return [file for table in REPORT_TABLES for file in table_paths(table).files.values()] + [PER_QUERY]


def figure_targets():
    return [file for figure in REPORT_FIGURES for file in figure_paths(figure).files.values()]


def extra_result_targets():
    """Results others can load: qrels per benchmark, an MTEB-shaped JSON beside every metrics JSON."""
    scored = [r[2] for r in scored_runs()]
    return [qrels_paths(b).files["qrels"] for b in config["zeroshot"]["benchmarks"]] + [
        mteb_json_paths(scored_folder(m)).files["json"] for m in scored
    ]


LATEX_PATHS = job_paths("latex", "all", "tables", {"tex": "all.tex"})
LATEX = LATEX_PATHS.files["tex"]


def all_targets():
    return table_targets() + figure_targets() + extra_result_targets() + [LATEX]
