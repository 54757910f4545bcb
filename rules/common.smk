# Adapts the workflow's plan (capflow.plan) to Snakemake: builds it once from the validated config and
# the run's runtime facts, and binds its methods to wildcards. Every decision lives in capflow.plan.
import os

from snakemake_interface_executor_plugins.settings import DeploymentMethod

from capflow.benchmark import benchmark_dir
from capflow.runtime.cpus import ThreadPolicy, available_cpus
from capflow.errors import UserError
from capflow.plan import Runtime
from capflow.plan.build import check_job_software, load_plan
from capflow.plan.options import words
from capflow.plan.plan import HUB_OFFLINE
from capflow.plan.report import BATCHES, all_targets
from capflow.runtime.slurm import SlurmSite
from capflow.vocabulary import HYBRID_METHODS, KINDS, MIXES, POOLS, one_of


def resource_value(name):
    resource = workflow.global_resources.get(name)
    return getattr(resource, "value", resource)


def runtime():
    """Threads from --cores and the CPUs; a local run's GPU count; the Slurm site's placement."""
    defaults = workflow.resource_settings.default_resources or {}
    site = SlurmSite.resolve({name: getattr(value, "raw", value) for name, value in defaults.items()}, os.environ)
    gpus = resource_value("gpu") if workflow.local_exec else None
    threads = ThreadPolicy.for_run(resource_value("_cores"), workflow.local_exec, available_cpus())
    return Runtime(threads=threads, gpus=gpus if isinstance(gpus, int) else None, site=site)


try:
    PLAN, REPORT = load_plan(config, workflow.basedir, runtime())
    if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
        check_job_software(PLAN)
except UserError as exc:
    raise WorkflowError(str(exc)) from None

PATHS = PLAN.layout
MODEL_LABELS = PLAN.model_labels()
MTEB_WILDCARDS = PLAN.mteb_wildcards()


def of(method, *names):
    """A plan method as an input, params or resources function of the wildcards `names`."""

    def of_wildcards(wildcards):
        try:
            return method(*(getattr(wildcards, name) for name in names))
        except UserError as exc:
            raise WorkflowError(str(exc)) from None

    return of_wildcards


def compute_threads(wildcards, threads):
    """The threads a job computes with: a resource, not a param, so other --cores rerun nothing."""
    return PLAN.compute_threads(threads)


def job_resources(gpus):
    """A rule's `gpu` resource (a number, or a function of the wildcards) and its Slurm placement."""

    def placement(key):
        def value(wildcards):
            return PLAN.placement(gpus(wildcards) if callable(gpus) else gpus)[key]

        return value

    return {"gpu": gpus, **{key: placement(key) for key in ("slurm_account", "slurm_partition", "gpu_model")}}


def input_benchmark_dir(wildcards, input):
    """The benchmark dir of a rule's `candidates` input, for steps that read a whole benchmark."""
    return benchmark_dir({"candidates": input.candidates})


def benchmark_words(wildcards, input):
    """`LABEL DIR` of the benchmark a rule reads."""
    return words(wildcards.benchmark, benchmark_dir({"candidates": input.candidates}))


def types_words(wildcards, input):
    """`LABEL FILE` of the query types that apply to the benchmark a rule reads."""
    return words(wildcards.benchmark, input.query_types)


wildcard_constraints:
    benchmark=one_of([*config["benchmarks"], *PLAN.mteb_benchmarks]),
    model=one_of(PLAN.recipes),
    pool=one_of(POOLS),
    kind=one_of(KINDS),
    mix=one_of(MIXES),
    seed=r"\d+",
    shard=r"\d+",
    item=one_of(PLAN.prefetch_items) if PLAN.prefetch_items else r"(?!x)x",


def report_outputs(kind, batch, category):
    """A batch's files; the one the report page shows (a table's HTML page, a figure's PNG) is marked for
    it, with its builder's caption (which the batch writes under the results)."""
    shown = "html" if kind == "tables" else "png"
    entries = {REPORT.paths(kind, e.name).files[shown]: e for e in REPORT.in_batch(kind, batch)}
    outputs = REPORT.batch_outputs(kind, batch)
    for i, path in enumerate(outputs):
        if path in entries:
            caption = os.path.abspath(PATHS.caption(kind, entries[path].builder.name))
            labels = {kind[:-1]: entries[path].name}
            outputs[i] = report(path, caption=caption, category=category, labels=labels)
    return outputs


TARGETS = all_targets(PLAN, REPORT)
