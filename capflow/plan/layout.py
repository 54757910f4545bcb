"""Where every job writes: one method per stage, each returning the job's files, log and benchmark file.

A method called without arguments gives the rule's path templates (``{benchmark}`` and so on); called
with values, one job's paths. Rules and input functions both use it, so a path is decided once.
"""

from __future__ import annotations

from dataclasses import dataclass

from capflow import benchmark as bm
from capflow.model_card import CARD, SCORED_CARD_FOLDER
from capflow.vocabulary import setting_folder, setting_name

TABLE_FORMATS = ("tex", "md", "csv", "html")  # html: the page the Snakemake report shows
RUN_FILES = {"run": "run.trec", "metrics": "metrics.json", "errors": "errors.jsonl"}


@dataclass(frozen=True)
class JobPaths:
    """One job's files (name -> path), its log and its time-and-memory benchmark file."""

    files: dict[str, str]
    log: str
    timing: str


@dataclass(frozen=True)
class Layout:
    """Every results path under ``results``."""

    results: str

    def job(self, rule: str, key: str, folder: str, files: dict[str, str]) -> JobPaths:
        """`files` under results/<folder>/, the log results/logs/<rule>/<key>.log and the benchmark
        file results/benchmarks/<rule>/<key>.tsv."""
        return JobPaths(
            files={name: f"{self.results}/{folder}/{file}" for name, file in files.items()},
            log=f"{self.results}/logs/{rule}/{key}.log",
            timing=f"{self.results}/benchmarks/{rule}/{key}.tsv",
        )

    def stage_root(self, stage: str) -> str:
        return f"{self.results}/{stage}/"

    @property
    def embedding_cache(self) -> str:
        return f"{self.results}/cache/embeddings"

    # --- prefetch and data -------------------------------------------------------------------------
    def prefetch(self, item: str = "{item}") -> JobPaths:
        return self.job("prefetch", item, "prefetch", {"manifest": f"{item}.json"})

    def data(self, benchmark: str = "{benchmark}") -> JobPaths:
        names = {"candidates": bm.CANDIDATES, "queries": bm.QUERIES, "query_types": bm.QUERY_TYPES}
        return self.job("data", benchmark, f"data/{benchmark}", names)

    def mteb(self, benchmark: str = "{benchmark}") -> JobPaths:
        paths = self.data(benchmark)
        return JobPaths({**paths.files, "stats": f"{self.results}/data/{benchmark}/mteb.json"}, paths.log, paths.timing)

    def qrels(self, benchmark: str = "{benchmark}", root: str = "{root}") -> JobPaths:
        """A view's judgements as TREC qrels, beside its files: under data/ (a full benchmark, an MTEB
        view) or testview/."""
        return self.job("qrels", f"{root}/{benchmark}", f"{root}/{benchmark}", {"qrels": "qrels.trec"})

    # --- retrieval ---------------------------------------------------------------------------------
    def zeroshot(self, benchmark: str = "{benchmark}", model: str = "{model}") -> JobPaths:
        return self.job("zeroshot", f"{benchmark}/{model}", f"zeroshot/{benchmark}/{model}", RUN_FILES)

    def evaluation(self, benchmark: str = "{benchmark}", run: str = "{run}") -> JobPaths:
        return self.job("evaluate", f"{benchmark}/{run}", f"evaluate/{benchmark}/{run}", RUN_FILES)

    # --- pools and generation ----------------------------------------------------------------------
    def testview(self, benchmark: str = "{benchmark}") -> JobPaths:
        names = {
            "candidates": bm.CANDIDATES,
            "queries": bm.QUERIES,
            "query_types": bm.QUERY_TYPES,
            "stats": "testview.json",
            "heldout": "heldout.jsonl",
        }
        return self.job("testview", benchmark, f"testview/{benchmark}", names)

    def pool_source(self, pool: str = "{pool}") -> JobPaths:
        return self.job("pools", pool, f"pools/{pool}", {"passages": "source.jsonl", "stats": "source_stats.json"})

    def leakage(self, pool: str = "{pool}") -> JobPaths:
        names = {"passages": "passages.jsonl", "report": "leakage.json", "histogram": "leakage_histogram.csv"}
        return self.job("leakage", pool, f"pools/{pool}", names)

    def generation(self, pool: str = "{pool}", kind: str = "{kind}", shard: str | int = "{shard}") -> JobPaths:
        names = {
            "queries": f"shard-{shard}.jsonl",
            "stats": f"shard-{shard}.stats.json",
            "rejects": f"shard-{shard}.rejects.jsonl",
        }
        return self.job("generate", f"{pool}/{kind}/shard-{shard}", f"generate/{pool}/{kind}", names)

    # --- training ----------------------------------------------------------------------------------
    def trainset(self, pool: str = "{pool}", mix: str = "{mix}") -> JobPaths:
        names = {"train": "train.jsonl", "heldout": "heldout.jsonl", "stats": "stats.json"}
        name = setting_name(pool, mix)
        return self.job("trainsets", name, f"trainsets/{name}", names)

    def negatives(self, pool: str = "{pool}", mix: str = "{mix}") -> JobPaths:
        name = setting_name(pool, mix)
        return self.job("negatives", name, f"negatives/{name}", {"negatives": "negatives.jsonl", "stats": "stats.json"})

    def finetune(self, pool: str = "{pool}", mix: str = "{mix}", seed: str | int = "{seed}",
                 variant: str = "") -> JobPaths:
        job = setting_folder(pool, mix, seed, variant)
        return self.job(
            "finetune", job, f"finetune/{job}", {"model": "model", "loss": "loss.csv", "summary": "train.json"}
        )

    def model_card(self, run: str = "{run}") -> JobPaths:
        """A finetuned run's card with its benchmark scores, in a folder beside its model folder (which is
        the finetune job's output, so no later job writes into it): the README.md to publish with it."""
        return self.job("model_card", run, f"finetune/{run}/{SCORED_CARD_FOLDER}", {"card": CARD})

    # --- report ------------------------------------------------------------------------------------
    def table(self, table: str) -> JobPaths:
        return self.job("tables", table, "tables", {ext: f"{table}.{ext}" for ext in TABLE_FORMATS})

    def figure(self, figure: str) -> JobPaths:
        return self.job("figures", figure, "figures", {ext: f"{figure}.{ext}" for ext in ("png", "pdf")})

    def batch_log(self, kind: str, batch: str) -> str:
        return self.job(kind, batch, kind, {}).log

    def caption(self, kind: str, builder: str) -> str:
        """The caption of a registry builder's files, as the Snakemake report shows it (a batch job writes it)."""
        return f"{self.results}/captions/{kind}/{builder}.rst"

    def analysis(self, analysis: str, benchmark: str = "{benchmark}", extra: tuple[str, ...] = ()) -> JobPaths:
        """An analysis CSV of one benchmark (plus extra CSVs, e.g. the annotation sheet)."""
        files = {"csv": f"{benchmark}.csv", **{name: f"{benchmark}.{name}.csv" for name in extra}}
        return self.job(analysis, benchmark, f"analysis/{analysis}", files)

    def hybrid(self, benchmark: str = "{benchmark}", method: str = "{method}", model: str = "{model}") -> JobPaths:
        job = f"{benchmark}/{method}-{model}"
        return self.job("hybrid", job, f"hybrid/{job}", {"run": "run.trec", "metrics": "metrics.json"})

    def mteb_result(self, model_folder: str = "{mteb_model}", revision: str = "{revision}",
                    task: str = "{task}") -> JobPaths:
        """A model's mteb result on one benchmark, where mteb keeps it below a cache folder (here
        results/mteb/, read by ``mteb.ResultCache``): results/<model folder>/<revision>/<task>.json
        (capflow.report.mtebjson)."""
        key = f"{model_folder}/{revision}/{task}"
        return self.job("mteb_json", key, f"mteb/results/{model_folder}/{revision}", {"json": f"{task}.json"})

    @property
    def per_query(self) -> JobPaths:
        return self.job("per_query", "per_query", "tables", {"csv": "per_query.csv"})

    @property
    def latex(self) -> JobPaths:
        return self.job("latex", "all", "tables", {"tex": "all.tex"})
