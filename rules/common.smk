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
    return table_files("zeroshot")


def all_targets():
    return table_targets()
