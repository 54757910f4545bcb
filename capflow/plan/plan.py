"""The plan of one workflow run: what each stage's jobs read, write, pass and ask for.

Every method answers one question a rule asks, from the validated config, the recipe registry and the
run's :class:`Runtime`. Methods take wildcard values as plain arguments; ``rules/common.smk`` binds
them to Snakemake's wildcards. Changing what a job computes changes one of its params (a rule reruns);
labels and batch sizes reach only the report or the resources (nothing reruns).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path

from capflow import prefetch
from capflow.benchmark import MAX_TEXT_CHARS
from capflow.configcheck import benchmark_zeroshot_models, zeroshot_models
from capflow.data import local_source_files
from capflow.errors import UserError
from capflow.generate.backend import OpenAIOptions, Sampling, TransformersOptions, VllmOptions
from capflow.plan.layout import JobPaths, Layout
from capflow.plan.options import cli_options, words
from capflow.report import mtebjson
from capflow.runtime.cpus import ThreadPolicy
from capflow.runtime.slurm import SlurmSite
from capflow.settingflags import switches, valued_options
from capflow.slicing import BenchmarkSlice
from capflow.train import TrainSettings
from capflow.train.deveval import DevEvaluation
from capflow.train.negatives import MiningSettings
from capflow.vocabulary import KINDS, MIXES, TESTVIEW, Setting, benchmark_label, setting_name, setting_variant

# The config section of each LLM backend's options, and the dataclass that defines them.
BACKEND_SECTIONS = {"vllm": VllmOptions, "openai": OpenAIOptions, "transformers": TransformersOptions}
HUB_OFFLINE = "env HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1"


@dataclass(frozen=True)
class Runtime:
    """What the run's machine and executor decide: CPU threads, GPUs a local run may use (None: no
    limit, e.g. on a cluster), and the Slurm site's placement."""

    threads: ThreadPolicy = field(default_factory=lambda: ThreadPolicy(cpus=1))
    gpus: int | None = None
    site: SlurmSite = field(default_factory=SlurmSite)


@dataclass(frozen=True)
class EvaluationRun:
    """A row of the evaluation: a zero-shot model, or a finetuned setting and seed."""

    name: str  # the run's folder under evaluate/<benchmark>/
    model: str | None = None  # zero-shot
    setting: Setting | None = None  # finetuned

    @property
    def finetuned(self) -> bool:
        return self.setting is not None


@dataclass(frozen=True)
class ScoredRun:
    """A ranking some report step reads: its benchmark (name and label) and its files."""

    benchmark: str
    label: str
    view: dict[str, str]  # the benchmark files it ranked
    metrics: str
    run: str
    model: str | None = None
    mteb_model: tuple[str, str] = ("", "")  # the model's name and revision folder in mteb's results


@dataclass(frozen=True)
class MtebResult:
    """One model's mteb result on one benchmark: the metrics JSON scored on each split."""

    model: str  # mteb's name for the model, e.g. sentence-transformers/all-MiniLM-L6-v2 or capflow/bm25
    revision: str
    task: str
    runs: tuple[tuple[str, str], ...]  # (split, metrics JSON)


class Plan:
    def __init__(self, config: dict, recipes: dict, runtime: Runtime | None = None):
        self.config = config
        self.recipes = recipes
        self.runtime = runtime or Runtime()
        self.layout = Layout(str(config["results"]))
        self.generate = config["generate"]
        self.pools = config["pools"]
        self.leakage = config["leakage"]
        self.finetune = config["finetune"]
        self.evaluate = config["evaluate"]
        self.report = config["report"]
        self.zeroshot_config = config["zeroshot"]
        self.evaluation_views = {b["name"]: b["view"] for b in self.evaluate["benchmarks"]}
        self.mteb_benchmarks = [name for name, view in self.evaluation_views.items() if view == "mteb"]
        self.check_gpus()

    # --- checks that need the runtime ----------------------------------------------------------------
    def check_gpus(self) -> None:
        """vLLM shards its model over exactly tensor_parallel_size GPUs: a local run that cannot give a
        generate job that many would start it and fail, so planning stops instead. (Other GPU jobs run on
        the GPUs there are, or on the CPU.)"""
        needed = self.generation_gpus()
        have = self.runtime.gpus
        if self.generate["backend"] == "vllm" and have is not None and needed > have:
            raise UserError(
                f"config generate.vllm.tensor_parallel_size is {needed}, but this run may use {have} GPU(s) "
                f"(resources gpu={have}): lower it, or run where {needed} GPUs are visible or on a cluster profile"
            )

    # --- runtime: threads and placement ---------------------------------------------------------------
    def job_threads(self, work: str) -> int:
        return self.runtime.threads.job_threads(work)

    def compute_threads(self, threads: int) -> int:
        return self.runtime.threads.compute_threads(threads)

    def placement(self, gpus: int) -> dict:
        """A job's Slurm account, partition and GPU model from its GPU count (capflow.runtime.slurm says why)."""
        return self.runtime.site.placement(gpus)

    # --- prefetch ---------------------------------------------------------------------------------
    @cached_property
    def prefetch_items(self) -> dict[str, dict]:
        """Each hub item the configured jobs need, by its file-name key. One job fetches each item,
        so a new model fetches that model and reruns only the jobs that read it."""
        items = prefetch.plan(self.config, self.recipes, prefetch.local_benchmarks(self.config))
        return {prefetch_key(item): item for item in items}

    def prefetch_item_json(self, item: str) -> str:
        return json.dumps([self.prefetch_items[item]], sort_keys=True)

    def prefetched(self, *repos: str | None) -> list[str]:
        """The manifests of the prefetched items of ``repos``: a job that reads them runs after them."""
        return [
            self.layout.prefetch(key).files["manifest"]
            for key, item in self.prefetch_items.items()
            if item["repo"] in repos
        ]

    def prefetched_benchmark(self, benchmark: str) -> list[str]:
        return self.prefetched(self.benchmark_repo(benchmark))

    def prefetched_mteb(self, benchmark: str) -> list[str]:
        return self.prefetched(self.mteb_repo(benchmark))

    def prefetched_model(self, model: str) -> list[str]:
        return self.prefetched(self.model_repo(model))

    def prefetched_evaluation(self, run: str) -> list[str]:
        return self.prefetched_model(self.evaluation_model(run))

    def prefetched_base_model(self) -> list[str]:
        return self.prefetched_model(self.base_model)

    def prefetched_pool(self, pool: str) -> list[str]:
        return self.prefetched(self.pool_repo(pool))

    def prefetched_generation(self) -> list[str]:
        return self.prefetched(self.generation_model_repo())

    # --- data -------------------------------------------------------------------------------------
    def benchmark_source(self, benchmark: str) -> list[str]:
        """The local copy's files (so editing one, or pointing $CAPFLOW_DATA_DIR elsewhere, reruns the
        data job); none when the benchmark comes from the hub, whose pinned revision is a param."""
        return local_source_files(benchmark, self.config["data"]["local_dirs"])

    def benchmark_repo(self, benchmark: str) -> str | None:
        return self.config["benchmarks"].get(benchmark, {}).get("repo")

    @property
    def benchmark_slice(self) -> BenchmarkSlice:
        cut = self.config["data"]["slice"]
        return BenchmarkSlice(cut["queries"], cut["candidates"])

    def benchmark_data_options(self, benchmark: str) -> str:
        data = self.config["data"]
        options = cli_options(
            {"repo": self.benchmark_repo(benchmark), "revision": data["revision"], "endpoint": data["endpoint"]}
        )
        return " ".join([options, *self.text_limit_options(), *self.benchmark_slice.options()])

    def text_limit_options(self) -> list[str]:
        """`--max-text-chars` for the steps that read texts into the workflow (data, mteb-data, pool).
        Left out at its default, which the steps share: results built before the key existed keep
        their params, and so are not rerun."""
        limit = self.config["data"]["max_text_chars"]
        return [] if limit == MAX_TEXT_CHARS else ["--max-text-chars", str(limit)]

    def benchmark_language(self, benchmark: str) -> str:
        if self.evaluation_views.get(benchmark) == "mteb":
            return self.evaluate["mteb"][benchmark]["language"]
        return self.config["benchmarks"][benchmark]["language"]

    def mteb_repo(self, benchmark: str) -> str:
        return self.evaluate["mteb"][benchmark]["repo"]

    def mteb_options(self, benchmark: str) -> str:
        source = self.evaluate["mteb"][benchmark]
        options = cli_options({"source": source["repo"], "split": source["split"], "revision": source["revision"]})
        return " ".join([options, *self.text_limit_options(), *self.benchmark_slice.options()])

    # --- zero-shot --------------------------------------------------------------------------------
    # A retrieval or training job's recipe param is `Recipe.vector_json()`: what changes vectors. Table
    # labels reach only the report (`model_labels`), and the inference batch size is a resource.
    def recipe_json(self, model: str) -> str:
        return self.recipes[model].vector_json()

    def encode_batch_size(self, model: str) -> int:
        return self.recipes[model].batch_size

    def is_dense(self, model: str) -> bool:
        return self.recipes[model].kind == "dense"

    def model_repo(self, model: str) -> str | None:
        return self.recipes[model].hub_id

    def zeroshot_gpus(self, model: str) -> int:
        return self.zeroshot_config["gpus"] if self.is_dense(model) else 0

    def zeroshot_threads(self, model: str) -> int:
        return self.job_threads("encode") if self.is_dense(model) else 1

    def zeroshot_models(self, benchmark: str) -> list[str]:
        """The zero-shot models run on ``benchmark``: those of zeroshot.models its language is among."""
        return benchmark_zeroshot_models(self.config, self.recipes, benchmark)

    @property
    def all_zeroshot_models(self) -> list[str]:
        """The models of zeroshot.models that run on at least one zero-shot benchmark."""
        return zeroshot_models(self.config, self.recipes)

    def zeroshot_metrics(self, benchmarks=None) -> list[str]:
        return [
            self.layout.zeroshot(b, m).files["metrics"]
            for b in benchmarks or self.zeroshot_config["benchmarks"]
            for m in self.zeroshot_models(b)
        ]

    def dense_models(self, benchmark: str) -> list[str]:
        return [m for m in self.zeroshot_models(benchmark) if self.is_dense(m)]

    def has_bm25_on(self, benchmark: str) -> bool:
        return "bm25" in self.zeroshot_models(benchmark)

    # --- pools ------------------------------------------------------------------------------------
    def holdout_benchmark(self) -> str | None:
        """The benchmark whose captions the id pool is held out of (embedded default), else None."""
        source = self.pools["id"]["source"]
        return source["benchmark"] if source["kind"] == "holdout" else None

    def testview_options(self) -> str:
        source = self.pools["id"]["source"]
        return cli_options(
            {"key": "pools.id.source.holdout", "holdout": source["holdout"], "seed": self.pools["id"]["seed"]}
        )

    def pool_source_input(self, pool: str) -> list[str]:
        """The pool's source file, so that a change to it rebuilds the pool. A missing or unset file is
        left to `capflow pool`, whose error names the config key."""
        source = self.pools[pool]["source"]
        if source["kind"] == "holdout":
            return [self.layout.testview(source["benchmark"]).files["heldout"]]
        path = source.get("path")
        return [path] if path and Path(path).is_file() else []

    def pool_repo(self, pool: str) -> str | None:
        source = self.pools[pool]["source"]
        return source.get("dataset") if source["kind"] == "hub" else None

    def pool_options(self, pool: str) -> str:
        """`capflow pool` options from config: a param, so changing any of them rebuilds the pool."""
        settings = self.pools[pool]
        source = settings["source"]
        kind = source["kind"]
        options = {"kind": kind, "key": f"pools.{pool}.source"}
        if kind == "holdout":
            options["path"] = self.pool_source_input(pool)[0]
        if kind in ("jsonl", "text", "peoples-daily"):
            options["path"] = source["path"]
        if kind in ("jsonl", "hub"):
            options.update({"text-field": source["text_field"], "id-field": source["id_field"]})
        if kind == "hub":
            options.update({key: source[key] for key in ("dataset", "config", "split", "revision")})
        for key in ("min_chars", "max_chars", "size", "seed"):
            options[key.replace("_", "-")] = settings[key]
        return " ".join([cli_options(options), *self.text_limit_options()])

    def leakage_test_captions(self) -> str:
        """The test captions: the test view's when the id pool is a hold-out of that benchmark, else
        the whole benchmark's."""
        benchmark = self.leakage["benchmark"]
        paths = (
            self.layout.testview(benchmark) if benchmark == self.holdout_benchmark() else self.layout.data(benchmark)
        )
        return paths.files["candidates"]

    # --- generation -------------------------------------------------------------------------------
    def generation_pool(self, pool: str) -> str:
        return self.layout.leakage(pool).files["passages"]

    def generation_prompt_files(self) -> list[str]:
        """The prompt file and its answer schema: LLM backends rerun when either changes."""
        if self.generate["backend"] == "heuristic":
            return []
        prompts = Path(self.generate["prompts"])
        return [str(prompts), str(prompts.parent / "queries.schema.json")]

    def generation_model_repo(self) -> str | None:
        return None if self.generate["backend"] == "heuristic" else self.generate["model"]

    def generation_options(self, kind: str) -> str:
        """`capflow generate` options from config: a param, so changing any of them reruns generation."""
        generate = self.generate
        backend = generate["backend"]
        sampling = valued_options(Sampling, generate["sampling"])
        options = {"backend": backend, "language": generate["language"], "max-query-chars": generate["max_query_chars"]}
        if backend != "heuristic":
            options.update(
                {
                    "model": generate["model"],
                    "model-revision": generate["revision"],
                    "prompts": generate["prompts"],
                    "queries-per-passage": generate["queries_per_passage"][kind],
                    "chat-template-kwargs": json.dumps(generate["chat_template_kwargs"], sort_keys=True),
                    **sampling,
                }
            )
        section = BACKEND_SECTIONS.get(backend)
        if section is not None:
            options.update(valued_options(section, generate[backend]))
        flags = cli_options(options)
        if backend != "heuristic" and not generate["structured_output"]:
            flags += " --no-structured-output"
        if section is not None:
            flags = " ".join([flags, *switches(section, generate[backend])])
        return flags

    def generation_gpus(self) -> int:
        backend = self.generate["backend"]
        if backend == "vllm":
            return self.generate["vllm"]["tensor_parallel_size"]
        if backend == "transformers" and self.generate["transformers"]["device"] != "cpu":
            return 1
        return 0

    def generation_threads(self) -> int:
        """The heuristic backend is plain Python; the LLM backends compute with torch."""
        return 1 if self.generate["backend"] == "heuristic" else self.job_threads("encode")

    def generation_shards(self, pool: str, kinds, name: str) -> list[str]:
        return [
            self.layout.generation(pool, kind, shard).files[name]
            for kind in kinds
            for shard in range(self.generate["shards"])
        ]

    # --- training sets and finetuning -------------------------------------------------------------
    @property
    def trainset_pools(self) -> list[str]:
        return self.config["trainsets"]["pools"]

    def trainset_inputs(self, pool: str, mix: str) -> dict:
        return {
            "passages": self.generation_pool(pool),
            "leakage": self.layout.leakage(pool).files["report"],
            "queries": self.generation_shards(pool, MIXES[mix], "queries"),
            "stats": self.generation_shards(pool, MIXES[mix], "stats"),
        }

    def trainset_stats_files(self) -> list[str]:
        return [
            self.layout.trainset(pool, mix).files["stats"]
            for pool in self.trainset_pools
            for mix in self.config["trainsets"]["mixes"]
        ]

    def finetune_inputs(self, pool: str, mix: str) -> dict:
        trainset = self.layout.trainset(pool, mix).files
        return {"train": trainset["train"], "heldout": trainset["heldout"], "passages": self.generation_pool(pool)}

    @property
    def base_model(self) -> str:
        return self.finetune["base_model"]

    def finetune_recipe_json(self) -> str:
        return self.recipe_json(self.base_model)

    def finetune_options(self) -> str:
        """`capflow train` settings from config (all but the seed, a wildcard): a param, so a change reruns."""
        names = [f.name for f in dataclasses.fields(TrainSettings) if f.name != "seed"]
        return cli_options({name.replace("_", "-"): self.finetune[name] for name in names})

    def finetuned_settings(self) -> list[Setting]:
        """Every setting and seed; those of knob_settings a second time with the knobs (variant)."""
        return [
            Setting(pool, mix, seed, variant)
            for pool in self.trainset_pools
            for mix in self.config["trainsets"]["mixes"]
            for variant in dict.fromkeys(("", self.knob_variant))
            if variant == "" or self.has_knobs(pool, mix)
            for seed in self.finetune["seeds"]
        ]

    # --- training knobs beyond the paper ----------------------------------------------------------------
    @property
    def knob_variant(self) -> str:
        """The knobbed settings' variant (vocabulary.setting_variant); "" while every knob is off."""
        dev = self.finetune["eval"]
        return setting_variant(self.finetune["hard_negatives"] is not None, dev is not None,
                               bool(dev and dev["keep_best"]))

    def has_knobs(self, pool: str, mix: str) -> bool:
        chosen = self.finetune["knob_settings"]
        return bool(self.knob_variant) and (chosen is None or setting_name(pool, mix) in chosen)

    def dev_evaluated_settings(self) -> list[Setting]:
        """The settings whose loss files hold dev nDCG@10 (finetune.eval): the knobbed ones."""
        if self.finetune["eval"] is None:
            return []
        return [s for s in self.finetuned_settings() if s.variant]

    def mined_trainsets(self) -> list[tuple[str, str]]:
        """(pool, mix) of each training set hard negatives are mined for."""
        if self.finetune["hard_negatives"] is None:
            return []
        return [(pool, mix) for pool in self.trainset_pools for mix in self.config["trainsets"]["mixes"]
                if self.has_knobs(pool, mix)]

    def negatives_inputs(self, pool: str, mix: str) -> dict:
        """The training set, its pool, and every evaluation view's captions (never negatives)."""
        views = [self.evaluation_view_files(b)["candidates"] for b in self.evaluation_views]
        return {"train": self.layout.trainset(pool, mix).files["train"], "passages": self.generation_pool(pool),
                "test_captions": list(dict.fromkeys(views))}

    def negatives_options(self) -> str:
        """`capflow negatives` settings: a param, so a change re-mines (and retrains what reads it)."""
        mining = self.finetune["hard_negatives"]
        options = cli_options(valued_options(MiningSettings, mining))
        if self.dense_miner:  # the base model, its embeddings in the shared cache
            recipe, cache = self.finetune_recipe_json(), self.layout.embedding_cache
            options += f" --recipe-json {words(recipe)} --cache {words(cache)}"
        return f"--language {words(self.generate['language'])} {options}"

    @property
    def dense_miner(self) -> bool:
        """Hard negatives mined with the base model (which then needs its weights and GPUs)."""
        mining = self.finetune["hard_negatives"]
        return mining is not None and mining["miner"] == "dense"

    def negatives_gpus(self) -> int:
        """The dense miner encodes the pool with the base model: on the GPUs a finetune job gets."""
        return self.finetune["gpus"] if self.dense_miner else 0

    def prefetched_miner(self) -> list[str]:
        return self.prefetched_base_model() if self.dense_miner else []

    def finetune_knob_inputs(self, pool: str, mix: str) -> dict:
        files = self.finetune_inputs(pool, mix)
        if self.finetune["hard_negatives"] is not None:
            files["negatives"] = self.layout.negatives(pool, mix).files["negatives"]
        return files

    def finetune_knob_options(self, pool: str, mix: str) -> str:
        """`capflow train` settings of a knobbed setting: the plain ones, then the knobs."""
        parts = [self.finetune_options()]
        if self.finetune["hard_negatives"] is not None:
            parts.append(cli_options({"negatives": self.layout.negatives(pool, mix).files["negatives"]}))
        dev = self.finetune["eval"]
        if dev is not None:
            values = {"dev_eval_steps": dev["steps"], "keep_best": dev["keep_best"]}
            parts += [cli_options(valued_options(DevEvaluation, values)), *switches(DevEvaluation, values)]
        return " ".join(parts)

    # --- evaluation -------------------------------------------------------------------------------
    @cached_property
    def evaluation_runs(self) -> dict[str, EvaluationRun]:
        """Zero-shot reference rows (the base model first), then every finetuned model, by run name."""
        models = dict.fromkeys([self.base_model, *self.evaluate["zeroshot_models"]])
        runs = [EvaluationRun(f"zeroshot/{m}", model=m) for m in models]
        runs += [EvaluationRun(s.folder, setting=s) for s in self.finetuned_settings()]
        return {run.name: run for run in runs}

    # --- qrels -------------------------------------------------------------------------------------
    QRELS_ROOTS = ("data", "testview")

    def qrels_views(self) -> list[tuple[str, str]]:
        """(root, benchmark) of every view a run is scored on: the zero-shot benchmarks and each
        evaluation view (a test view under testview/, an MTEB or full view under data/)."""
        views = [("data", b) for b in self.zeroshot_config["benchmarks"]]
        views += [("testview" if view == "testview" else "data", b) for b, view in self.evaluation_views.items()]
        return list(dict.fromkeys(views))

    def qrels_inputs(self, root: str, benchmark: str) -> dict[str, str]:
        files = self.layout.testview(benchmark).files if root == "testview" else self.layout.data(benchmark).files
        return {"candidates": files["candidates"], "queries": files["queries"]}

    def evaluation_view_files(self, benchmark: str) -> dict[str, str]:
        if self.evaluation_views[benchmark] == "testview":
            return self.layout.testview(benchmark).files
        return self.layout.data(benchmark).files

    def evaluation_view(self, benchmark: str) -> str | None:
        """The view an evaluation scores, as its record and tables name it: the test view, else None (full)."""
        return TESTVIEW if self.evaluation_views.get(benchmark) == "testview" else None

    def evaluation_view_options(self, benchmark: str) -> str:
        view = self.evaluation_view(benchmark)
        return f"--view {words(view)}" if view else ""

    def evaluation_label(self, benchmark: str) -> str:
        """The benchmark as the tables name it: a test view says so."""
        return benchmark_label(benchmark, self.evaluation_view(benchmark))

    def evaluation_inputs(self, benchmark: str, run: str) -> dict:
        view = self.evaluation_view_files(benchmark)
        files = {"candidates": view["candidates"], "queries": view["queries"], "query_types": view["query_types"]}
        row = self.evaluation_runs[run]
        if row.finetuned:
            files["model"] = self.finetuned_model(row.setting)
        elif (
            self.is_dense(row.model)
            and benchmark in self.zeroshot_config["benchmarks"]
            and row.model in self.zeroshot_models(benchmark)
        ):
            # After the zero-shot job on the same texts, whose embeddings then come from the cache.
            files["after"] = [self.layout.zeroshot(benchmark, row.model).files["metrics"]]
        return files

    def evaluation_model(self, run: str) -> str:
        """The recipe a run encodes with: its zero-shot model, or the finetuned base model's."""
        row = self.evaluation_runs[run]
        return self.base_model if row.finetuned else row.model

    def evaluation_recipe_json(self, run: str) -> str:
        return self.recipe_json(self.evaluation_model(run))

    def evaluation_batch_size(self, run: str) -> int:
        return self.encode_batch_size(self.evaluation_model(run))

    def evaluation_model_options(self, run: str) -> str:
        row = self.evaluation_runs[run]
        if not row.finetuned:
            return ""
        variant = f" --variant {words(row.setting.variant)}" if row.setting.variant else ""
        return f"--weights {words(self.finetuned_model(row.setting))} --setting {words(*row.setting.words)}{variant}"

    def finetuned_model(self, setting: Setting) -> str:
        return self.finetune_job(setting).files["model"]

    def finetune_job(self, setting: Setting) -> JobPaths:
        return self.layout.finetune(*setting.words, setting.variant)

    def evaluation_flags(self, benchmark: str) -> str:
        """MTEB never ranks a document for a query with the same id; neither do MTEB-view evaluations."""
        return "--ignore-identical-ids" if self.evaluation_views[benchmark] == "mteb" else ""

    def evaluation_gpus(self, run: str) -> int:
        return self.evaluate["gpus"] if self.is_dense(self.evaluation_model(run)) else 0

    def evaluation_threads(self, run: str) -> int:
        return self.job_threads("encode") if self.is_dense(self.evaluation_model(run)) else 1

    def evaluation_metrics(self) -> list[str]:
        return [
            self.layout.evaluation(b, run).files["metrics"]
            for b in self.evaluation_views
            for run in self.evaluation_runs
        ]

    # --- model cards ------------------------------------------------------------------------------
    @property
    def finetuned_runs(self) -> list[str]:
        """The evaluation runs of finetuned models: each has a card with its benchmark scores."""
        return [name for name, row in self.evaluation_runs.items() if row.finetuned]

    def model_card_inputs(self, run: str) -> dict:
        """The model folder (its card) and the metrics of the run's evaluation on every evaluation view."""
        return {
            "model": self.finetuned_model(self.evaluation_runs[run].setting),
            "metrics": [self.layout.evaluation(b, run).files["metrics"] for b in self.evaluation_views],
        }

    def evaluation_repo(self, benchmark: str) -> str | None:
        """The hub dataset an evaluation view comes from; None for a benchmark that is only local."""
        if self.evaluation_views[benchmark] == "mteb":
            return self.mteb_repo(benchmark)
        return self.benchmark_repo(benchmark)

    def model_card_options(self) -> str:
        """`--dataset BENCHMARK=REPO` of each evaluation view from the hub, which the card names. Labels are
        not among them: the card names a benchmark as its run record does, so a relabel reruns no card."""
        pairs = [(b, self.evaluation_repo(b)) for b in self.evaluation_views]
        return " ".join(f"--dataset {words(f'{b}={repo}')}" for b, repo in pairs if repo)

    def model_cards(self) -> list[str]:
        return [self.layout.model_card(run).files["card"] for run in self.finetuned_runs]

    # --- report inputs ----------------------------------------------------------------------------
    def model_labels(self) -> str:
        """The table labels of every model the report names (`--labels`): a param of the report jobs
        alone, so a renamed model reruns them and nothing upstream."""
        names = dict.fromkeys([*self.all_zeroshot_models, self.base_model, *self.evaluate["zeroshot_models"]])
        return json.dumps({n: self.recipes[n].labels() for n in names}, sort_keys=True, ensure_ascii=False)

    def featured_model(self, benchmark: str) -> str | None:
        """Table 3's dense model on ``benchmark``: the configured one where that benchmark runs it, else
        the benchmark's first dense zero-shot model; none without one."""
        dense = self.dense_models(benchmark)
        if not dense:
            return None
        return self.report["featured_model"] if self.report["featured_model"] in dense else dense[0]

    def hybrid_runs(self) -> list[tuple[str, str, str]]:
        """(benchmark, method, dense model): BM25 fused with each dense zero-shot model."""
        return [
            (b, method, m)
            for b in self.zeroshot_config["benchmarks"]
            if self.has_bm25_on(b)
            for method in self.report["hybrid"]["methods"]
            for m in self.dense_models(b)
        ]

    def hybrid_inputs(self, benchmark: str, model: str) -> dict:
        lexical = self.layout.zeroshot(benchmark, "bm25").files
        dense = self.layout.zeroshot(benchmark, model).files
        return {
            "candidates": self.layout.data(benchmark).files["candidates"],
            "lexical_run": lexical["run"],
            "lexical_metrics": lexical["metrics"],
            "dense_run": dense["run"],
            "dense_metrics": dense["metrics"],
        }

    def hybrid_options(self, method: str, model: str) -> str:
        hybrid = self.report["hybrid"]
        return cli_options(
            {
                "method": method,
                "rrf-k": hybrid["rrf_k"],
                "weight": hybrid["weight"],
                "depth": self.zeroshot_config["depth"],
                "label": f"{method}-{model}",
            }
        )

    def types_source(self, benchmark: str) -> str:
        """The benchmark whose query types apply to ``benchmark`` (itself, or its `types_from`)."""
        return self.config["benchmarks"].get(benchmark, {}).get("types_from") or benchmark

    def types_file(self, benchmark: str) -> str:
        return self.layout.data(self.types_source(benchmark)).files["query_types"]

    def scored_runs(self) -> list[ScoredRun]:
        """Every scored run, each (benchmark label, model) once."""
        runs, seen = [], set()
        names = self.mteb_models
        for b in self.zeroshot_config["benchmarks"]:
            view = self.layout.data(b).files
            for m in self.zeroshot_models(b):
                files = self.layout.zeroshot(b, m).files
                runs.append(ScoredRun(b, b, view, files["metrics"], files["run"], m, names[m]))
                seen.add((b, m))
            for _, method, m in [r for r in self.hybrid_runs() if r[0] == b]:
                files = self.layout.hybrid(b, method, m).files
                mteb_model = mtebjson.capflow_model(f"{method}-{m}")
                runs.append(ScoredRun(b, b, view, files["metrics"], files["run"], mteb_model=mteb_model))
        for b in self.evaluation_views:
            label = self.evaluation_label(b)
            for row in self.evaluation_runs.values():
                if not row.finetuned and (label, row.model) in seen:
                    continue  # the same ranking as the zero-shot job's
                files = self.layout.evaluation(b, row.name).files
                mteb_model = mtebjson.capflow_model(row.setting.label) if row.finetuned else names[row.model]
                runs.append(ScoredRun(b, label, self.evaluation_view_files(b), files["metrics"], files["run"],
                                      row.model, mteb_model))
        return runs

    # --- mteb results ------------------------------------------------------------------------------
    @cached_property
    def mteb_models(self) -> dict[str, tuple[str, str]]:
        """Registry name -> the model's name and revision folder in mteb's results."""
        return mtebjson.registry_models(self.recipes)

    def mteb_split(self, run: ScoredRun) -> str:
        """The split an mteb result gives a run: test (a full benchmark), testview, or an MTEB view's own."""
        if self.evaluation_views.get(run.benchmark) == "mteb":
            return self.evaluate["mteb"][run.benchmark]["split"]
        return mtebjson.TESTVIEW_SPLIT if run.label != run.benchmark else mtebjson.TEST_SPLIT

    @cached_property
    def mteb_results(self) -> dict[str, MtebResult]:
        """Each model's mteb result per benchmark, by its file: every scored run in the file of its model
        and benchmark, under its split."""
        grouped: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        for run in self.scored_runs():
            grouped.setdefault((*run.mteb_model, run.benchmark), []).append((self.mteb_split(run), run.metrics))
        results = {}
        for (model, revision, task), runs in grouped.items():
            splits = [split for split, _ in runs]
            if len(set(splits)) < len(splits):
                raise UserError(f"two runs of {model} on {task} share a split: {', '.join(splits)}")
            path = self.layout.mteb_result(mtebjson.model_folder(model), revision, task).files["json"]
            results[path] = MtebResult(model, revision, task, tuple(runs))
        return results

    def mteb_result(self, model_folder: str, revision: str, task: str) -> MtebResult:
        return self.mteb_results[self.layout.mteb_result(model_folder, revision, task).files["json"]]

    def mteb_wildcards(self) -> dict[str, list[str]]:
        """The values the mteb_json rule's wildcards take: model folders, revisions and tasks."""
        results = self.mteb_results.values()
        return {"mteb_model": sorted({mtebjson.model_folder(r.model) for r in results}),
                "revision": sorted({r.revision for r in results}), "task": sorted({r.task for r in results})}

    def mteb_inputs(self, model_folder: str, revision: str, task: str) -> list[str]:
        return [metrics for _, metrics in self.mteb_result(model_folder, revision, task).runs]

    def mteb_json_options(self, model_folder: str, revision: str, task: str) -> str:
        result = self.mteb_result(model_folder, revision, task)
        if self.evaluation_views.get(task) == "mteb":
            dataset_revision = self.evaluate["mteb"][task]["revision"] or mtebjson.DEFAULT_REVISION
        else:
            dataset_revision = self.config["data"]["revision"]
        language = mtebjson.LANGUAGES[self.benchmark_language(task)]
        runs = " ".join(f"--run {words(split, metrics)}" for split, metrics in result.runs)
        return f"{runs} {cli_options({'dataset-revision': dataset_revision, 'languages': language})}"

    def benchmark_label_words(self) -> list[str]:
        """`--benchmark LABEL DIR` and `--query-types LABEL FILE` for every benchmark label of the scored runs."""
        options, done = [], set()
        for run in self.scored_runs():
            if run.label in done:
                continue
            done.add(run.label)
            options += ["--benchmark", run.label, str(Path(run.view["candidates"]).parent)]
            options += ["--query-types", run.label, self.types_file(run.benchmark)]
        return options

    def per_query_inputs(self) -> dict:
        runs = self.scored_runs()
        return {
            "metrics": [r.metrics for r in runs],
            "runs": [r.run for r in runs],
            "query_types": sorted({self.types_file(r.benchmark) for r in runs}),
            "benchmarks": sorted({f for r in runs for f in (r.view["candidates"], r.view["queries"])}),
        }

    def dense_analysis_inputs(self, benchmark: str) -> dict:
        """The dense zero-shot runs of a benchmark, its candidates and its query types."""
        runs = [self.layout.zeroshot(benchmark, m).files for m in self.dense_models(benchmark)]
        return {
            "metrics": [r["metrics"] for r in runs],
            "runs": [r["run"] for r in runs],
            "candidates": self.layout.data(benchmark).files["candidates"],
            "query_types": self.types_file(benchmark),
        }

    def testview_note(self) -> str | None:
        views = [b for b, view in self.evaluation_views.items() if view == "testview"]
        if not views:
            return None
        return (
            f"{benchmark_label(', '.join(views), TESTVIEW)}: the benchmark without the captions held out as the "
            "in-domain pool; every row, zero-shot ones included, is evaluated on that same view."
        )

    def leakage_threshold(self) -> float:
        return float(Fraction(str(self.leakage["threshold"])))


def prefetch_key(item: dict) -> str:
    """A prefetch item's name in file names: kind, repo and revision, e.g. model--BAAI--bge-m3@abc123."""
    name = f"{item['kind']}--{item['repo'].replace('/', '--')}"
    return f"{name}@{item['revision']}" if item.get("revision") else name


__all__ = ["HUB_OFFLINE", "EvaluationRun", "Plan", "Runtime", "ScoredRun", "KINDS", "prefetch_key"]
