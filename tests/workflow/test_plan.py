"""The workflow's plan in Python (capflow.plan): what it decides, and that Snakemake plans the same jobs."""

import json
import re
from pathlib import Path

import pytest

from capflow.errors import UserError
from capflow.plan import Runtime
from capflow.plan.build import plan_from_files
from capflow.plan.jobs import job_counts, job_parts, planned_jobs
from capflow.plan.report import all_targets
from capflow.runtime.cpus import ThreadPolicy

from conftest import REPO, run_snakemake

PAPER_OOD = ["config/paper.yaml", "config/paper-ood.yaml"]


def snakemake_jobs(output: str) -> set[tuple[str, tuple[str, ...]]]:
    """(rule, sorted outputs) of every job block of a dry run."""
    jobs = set()
    for match in re.finditer(r"^(?:local)?rule (\w+):\n((?:    .*\n?)+)", output, flags=re.MULTILINE):
        fields = dict(line.strip().split(": ", 1) for line in match.group(2).splitlines() if ": " in line)
        outputs = tuple(sorted(fields["output"].split(", "))) if "output" in fields else ()
        jobs.add((match.group(1), outputs))
    return jobs


@pytest.fixture(scope="module")
def paper():
    return plan_from_files([REPO / f for f in PAPER_OOD], REPO)


# --- the jobs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("configs, total, split", [
    # the embedded default: 15 mteb results, one per model and benchmark (the zero-shot MiniLM and BM25 rows
    # of the test view share their model's file with its full-benchmark run), and a card per finetuned model
    ([], 81, {"compute": 40, "prefetch": 0, "report": 41}),
    (PAPER_OOD, 208, {"compute": 52, "prefetch": 17, "report": 139}),
    # the knobs beyond the paper on one setting: mining, a finetune, its evaluation, MTEB result and card
    (["config/beyond.yaml"], 86, {"compute": 43, "prefetch": 0, "report": 43}),
], ids=["embedded-default", "paper-ood", "beyond"])
def test_the_plan_lists_the_jobs_snakemake_plans(workflow_copy, configs, total, split):
    plan, report = plan_from_files([workflow_copy / f for f in configs], workflow_copy)
    jobs = planned_jobs(plan, report)
    assert job_counts(jobs)["total"] == total
    assert job_parts(jobs) == split

    extra = ["--configfile", *configs] if configs else []
    dry = run_snakemake(workflow_copy, "-n", "-p", "--cores", "2", "--workflow-profile", "none", "all", *extra)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert snakemake_jobs(dry.stdout) == {(j.rule, tuple(sorted(j.outputs))) for j in jobs}

    # the params the plan decides are the ones the jobs run with
    commands = dry.stdout
    for kind in plan.config["generate"]["queries_per_passage"]:
        if plan.trainset_pools:
            assert plan.generation_options(kind) in commands
    assert plan.finetune_options() in commands
    for pool in plan.trainset_pools:
        assert plan.pool_options(pool) in commands
    for run in plan.evaluation_runs:
        assert plan.evaluation_model_options(run) in commands
    for pool, mix in plan.mined_trainsets():
        assert plan.negatives_options() in commands and plan.finetune_knob_options(pool, mix) in commands
    assert f"model-card --model results/finetune/{plan.finetuned_runs[0]}/model" in commands
    assert commands.count(plan.model_card_options()) == len(plan.finetuned_runs)
    assert f"--numbers {' '.join(report.table_numbers().values())} --figures" in commands


def test_each_hub_item_is_one_prefetch_job_read_by_the_jobs_that_need_it(paper):
    plan, _ = paper
    keys = list(plan.prefetch_items)
    assert len(keys) == 17 and all("/" not in key for key in keys)  # the two English BGE models among them
    assert "model--BAAI--bge-base-zh-v1.5@f03589ceff5aac7111bd60cfc7d497ca17ecac65" in keys
    bge = plan.prefetched_model("bge-base-zh-v1.5")
    assert bge == ["results/prefetch/model--BAAI--bge-base-zh-v1.5@f03589ceff5aac7111bd60cfc7d497ca17ecac65.json"]
    assert plan.prefetched_evaluation("ood-kw/seed-0") == bge  # a finetuned run encodes with the base model
    assert plan.prefetched_base_model() == bge
    assert [p.split("/")[-1] for p in plan.prefetched_generation()] == [
        f"{key}.json" for key in keys if key.startswith("model--Qwen--Qwen3-32B")]
    assert plan.prefetched_mteb("EcomRetrieval")[0].startswith("results/prefetch/dataset--mteb--EcomRetrieval@")
    assert plan.prefetched_pool("ood")[0].startswith("results/prefetch/dataset--C-MTEB--DuRetrieval@")
    assert plan.prefetched_model("bm25") == []
    item = json.loads(plan.prefetch_item_json(keys[0]))
    assert [i["repo"] for i in item] == ["BAAI/bge-base-zh-v1.5"]


def test_each_finetuned_model_has_a_card_job_that_reads_its_evaluations(paper):
    plan, report = paper
    cards = [job for job in planned_jobs(plan, report) if job.rule == "model_card"]
    assert [job.wildcard("run") for job in cards] == ["ood-sm/seed-0", "ood-kw/seed-0", "ood-smkw/seed-0"]
    assert cards[1].outputs == ("results/finetune/ood-kw/seed-0/card/README.md",)  # beside the model folder
    evaluations = {job.outputs for job in planned_jobs(plan, report) if job.rule == "evaluate"}
    inputs = plan.model_card_inputs("ood-kw/seed-0")
    benchmarks = ("CapRetrieval", "EcomRetrieval", "VideoRetrieval")
    assert inputs == {"model": "results/finetune/ood-kw/seed-0/model",
                      "metrics": [f"results/evaluate/{b}/ood-kw/seed-0/metrics.json" for b in benchmarks]}
    assert all(any(metrics in outputs for outputs in evaluations) for metrics in inputs["metrics"])
    assert plan.model_card_options() == " ".join(f"--dataset {b}={repo}" for b, repo in zip(benchmarks, (
        "lxucs/CapRetrieval", "mteb/EcomRetrieval", "mteb/VideoRetrieval")))
    assert set(plan.model_cards()) <= set(all_targets(plan, report)["all"])


# --- runtime: threads and GPUs ------------------------------------------------------------------------
@pytest.mark.parametrize("cores, cpus, work, declared, computed", [
    (8, 2, "train", 4, 1),  # --cores 8 on a 2-CPU laptop: one CPU's worth, one thread
    (2, 2, "train", 2, 2),
    (16, 16, "encode", 4, 4),
    (16, 16, "leakage", 8, 8),
    (None, 64, "train", 8, 8),  # a cluster executor: the rule's own count
])
def test_thread_policy(cores, cpus, work, declared, computed):
    policy = ThreadPolicy.for_run(cores, True, cpus)
    assert policy.job_threads(work) == declared
    assert policy.compute_threads(declared) == computed


def test_a_vllm_plan_needs_its_tensor_parallel_gpus_where_they_are_counted():
    with pytest.raises(UserError) as error:
        plan_from_files([REPO / f for f in PAPER_OOD], REPO, runtime=Runtime(gpus=1))
    assert str(error.value) == (
        "config generate.vllm.tensor_parallel_size is 2, but this run may use 1 GPU(s) (resources gpu=1): "
        "lower it, or run where 2 GPUs are visible or on a cluster profile")
    for runtime in (Runtime(gpus=2), Runtime(gpus=None)):
        plan, _ = plan_from_files([REPO / f for f in PAPER_OOD], REPO, runtime=runtime)
        assert plan.generation_gpus() == 2
    transformers = {"generate": {"backend": "transformers", "transformers": {"device": "cpu"}}}
    plan, _ = plan_from_files([REPO / f for f in PAPER_OOD], REPO, overrides=transformers, runtime=Runtime(gpus=0))
    assert plan.generation_gpus() == 0


# --- the report's registry ----------------------------------------------------------------------------
def test_every_report_entry_declares_a_batch_that_matches_what_it_reads(paper):
    """The batch is declared in the registry; this holds each declaration against the files read."""
    plan, report = paper
    finetune_roots = tuple(f"{plan.layout.results}/{stage}/" for stage in
                           ("pools", "generate", "trainsets", "finetune", "evaluate"))
    per_query = plan.layout.per_query.files["csv"]
    for kind in ("tables", "figures"):
        for entry in report.registry(kind).values():
            reads_finetuning = any(f == per_query or f.startswith(finetune_roots) for f in entry.inputs)
            assert entry.batch == ("finetune" if reads_finetuning else "zeroshot"), entry.name
    assert len(report.tables) == 22 and len(report.figures) == 11
    # all.tex in the registry's order: the paper's tables first, in its order
    assert list(report.tables)[:6] == ["datasets", "zeroshot", "query_types-CapRetrieval", "query_types-CapRetrievalEn",
                                       "finetune", "generated"]


def test_all_tex_numbers_the_papers_tables_as_the_paper_does(paper):
    """A caption's "the paper's Table 4" is printed as Table 4, whatever tables come before it."""
    _, report = paper
    assert list(report.table_numbers().items())[:10] == [
        ("datasets", "1"), ("zeroshot", "2"), ("query_types-CapRetrieval", "3a"), ("query_types-CapRetrievalEn", "3b"),
        ("finetune", "4"), ("generated", "5"), ("trainsets", "6"), ("inversions-CapRetrieval", "7a"),
        ("inversions-CapRetrievalEn", "7b"), ("inversions_paired-CapRetrieval-CapRetrievalEn", "8")]
    bm25_only = {"zeroshot": {"benchmarks": ["CapRetrieval"], "models": ["bm25", "all-MiniLM-L6-v2"]}}
    _, report = plan_from_files([], REPO, overrides=bm25_only)  # one benchmark: one of each, unlettered
    numbers = report.table_numbers()
    assert [numbers[name] for name in ("query_types-CapRetrieval", "finetune", "inversions-CapRetrieval")] == \
        ["3", "4", "7"]
    _, report = plan_from_files([], REPO)  # two benchmarks: two query-type and two inversion tables
    numbers = report.table_numbers()
    assert [numbers[name] for name in ("query_types-CapRetrieval", "query_types-CapRetrievalEn", "finetune",
                                       "inversions-CapRetrievalEn", "inversions_paired-CapRetrieval-CapRetrievalEn",
                                       "query_groups-CapRetrieval")] == ["3a", "3b", "4", "7b", "8", "A1"]
    assert list(numbers) == list(report.tables) and len(set(numbers.values())) == len(numbers)


def test_every_builder_has_its_own_caption_which_its_batch_writes_for_the_report(paper):
    from capflow.report.registry import BATCHES, BUILDERS

    plan, report = paper
    captions = [b.caption for builders in BUILDERS.values() for b in builders.values()]
    assert len(captions) == len(set(captions)) == 23 and all(captions)
    assert not (REPO / "workflow" / "report" / "tables").exists()  # no caption files beside the registry
    for kind, builders in BUILDERS.items():
        for builder in builders.values():
            assert builder.batch in BATCHES
            if any(entry.builder is builder for entry in report.registry(kind).values()):
                caption = (plan.layout.caption(kind, builder.name), builder.caption)
                assert caption in report.batch_captions(kind, builder.batch), builder.name
                assert caption[0] in report.batch_outputs(kind, builder.batch)
                assert caption[0] == f"results/captions/{kind}/{builder.name}.rst"
                assert caption[0] in report.targets(kind)  # results from before it existed get it too


def test_a_new_figure_is_one_registry_entry(paper, tmp_path):
    """Its module and one entry: the plan then builds it in the declared batch, with its caption."""
    from capflow.plan.report import Report
    from capflow.report.figures import positives
    from capflow.report.registry import FIGURES, Item, figure

    plan, _ = paper
    try:
        @figure("positives-again", positives, "finetune", help="a second positives figure", caption="Again.")
        def _again(plan):
            data = plan.layout.data("CapRetrieval").files
            yield Item("again", list(data.values()), {"benchmark": str(tmp_path)})

        report = Report(plan)
        assert [i.name for i in report.batch_items("figures", "finetune")][-1] == "again"
        assert "results/figures/again.png" in report.batch_outputs("figures", "finetune")
        assert ("results/captions/figures/positives-again.rst", "Again.") in report.batch_captions("figures",
                                                                                                   "finetune")
        with pytest.raises(ValueError, match="figures positives-again is registered twice"):
            figure("positives-again", positives, "finetune", help="", caption="")(_again)
        with pytest.raises(ValueError, match="batch 'later' is not one of zeroshot, finetune"):
            figure("positives-later", positives, "later", help="", caption="")
    finally:
        FIGURES.pop("positives-again", None)


@pytest.mark.parametrize("configs", [[], PAPER_OOD], ids=["embedded-default", "paper-ood"])
def test_every_batch_item_is_what_its_builder_reads(configs):
    """At planning: each table's and figure's options, outputs included, are its builder's own, with
    every required one given, so a batch job cannot fail on a misnamed option hours later."""
    from capflow.report.batch import options_namespace
    from capflow.report.registry import BUILDERS

    plan, report = plan_from_files([REPO / f for f in configs], REPO)
    for kind in ("tables", "figures"):
        for batch in ("zeroshot", "finetune"):
            for item in report.batch_items(kind, batch):
                args = options_namespace(BUILDERS[kind][item.builder], dict(item.options))
                outputs = report.paths(kind, item.name).files
                assert {ext: str(getattr(args, ext)) for ext in outputs} == outputs, item.name
    labels = [dict(item.options)["label"] for batch in ("zeroshot", "finetune")
              for item in report.batch_items("tables", batch)]
    assert len(labels) == len(report.tables) == len(set(labels))  # all.tex refers to each table once
    table4 = options_namespace(BUILDERS["tables"]["finetune"], report.tables["finetune"].options)
    assert table4.ks == plan.evaluate["table_ks"] and table4.labels == json.loads(plan.model_labels())
    assert all(isinstance(path, Path) for path in table4.inputs)


def test_a_bm25_only_config_leaves_out_what_needs_a_dense_model_and_builds_table_2(workflow_copy):
    (workflow_copy / "bm25.yaml").write_text("zeroshot:\n  models: [bm25]\n  benchmarks: [CapRetrieval]\n")
    plan, report = plan_from_files([workflow_copy / "bm25.yaml"], workflow_copy)
    rules = {job.rule for job in planned_jobs(plan, report)}
    assert not rules & {"error_analysis", "classification_sweep", "inversions", "hybrid"}
    assert [e.name for e in report.in_batch("tables", "zeroshot")] == ["datasets", "zeroshot"]
    run = run_snakemake(workflow_copy, "--cores", "2", "--configfile", "bm25.yaml", "--", "results/tables/zeroshot.md")
    assert run.returncode == 0, run.stderr[-3000:]
    table = (workflow_copy / "results/tables/zeroshot.md").read_text()
    assert "| BM25 | - | **74.40** | **69.30** | **66.54** |" in table


def test_each_benchmark_runs_the_models_of_its_language_and_their_analyses(paper):
    """The paper's Table 2 on CapRetrieval; on CapRetrievalEn the dataset authors' English table."""
    plan, report = paper
    zeroshot = {(job.wildcard("benchmark"), job.wildcard("model"))
                for job in planned_jobs(plan, report) if job.rule == "zeroshot"}
    chinese, english = plan.zeroshot_models("CapRetrieval"), plan.zeroshot_models("CapRetrievalEn")
    assert len(chinese) == 12 and "Conan-embedding-v1" in chinese and "bge-base-en-v1.5" not in chinese
    assert "bm25-nltk" not in chinese
    assert english == ["bm25", "bm25-nltk", "bge-base-en-v1.5", "gte-multilingual-base", "multilingual-e5-base",
                       "bge-large-en-v1.5", "multilingual-e5-large", "Qwen3-Embedding-0.6B", "gte-Qwen2-1.5B-instruct",
                       "gte-Qwen2-7B-instruct", "e5-mistral-7b-instruct", "Qwen3-Embedding-8B"]
    assert zeroshot == {("CapRetrieval", m) for m in chinese} | {("CapRetrievalEn", m) for m in english}
    # fused, analysed and featured with its own dense models; the authors' BM25 is a row, not a dense model
    assert {m for b, _, m in plan.hybrid_runs() if b == "CapRetrievalEn"} == set(english[2:])
    assert plan.featured_model("CapRetrieval") == "bge-base-zh-v1.5"
    assert plan.featured_model("CapRetrievalEn") == "bge-base-en-v1.5"
    assert report.tables["query_types-CapRetrievalEn"].options["featured"] == "bge-base-en-v1.5"
    assert len(plan.dense_analysis_inputs("CapRetrievalEn")["runs"]) == 10
    embedded, _ = plan_from_files([], REPO)
    assert embedded.zeroshot_models("CapRetrieval") == ["bm25", "all-MiniLM-L6-v2"]
    assert embedded.zeroshot_models("CapRetrievalEn") == ["bm25", "bm25-nltk", "all-MiniLM-L6-v2"]
    # a config that lists its own models gets them on every benchmark their languages allow
    mine, _ = plan_from_files([], REPO, overrides={"zeroshot": {"models": ["bm25", "bge-base-zh-v1.5"]}})
    assert mine.zeroshot_models("CapRetrievalEn") == ["bm25"]
