"""Partial reruns: after a complete run, each kind of change or request redoes only what it must.

The workflow runs for real on small synthetic benchmarks (so every job takes seconds); what a rerun
would do is then read from Snakemake's dry-run plan: which rules, how many jobs, which wildcards.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import copy_workflow, job_stats, run_snakemake, write_jsonl

COLOURS_EN = ["red", "blue", "white", "black"]
ANIMALS_EN = ["cat", "dog", "bird", "horse", "rabbit"]
PLACES_EN = ["on the sofa", "on the grass", "by the river", "next to the table"]
COLOURS_ZH = ["红色的", "蓝色的", "白色的", "黑色的"]
ANIMALS_ZH = ["猫", "狗", "鸟", "马", "兔子"]
PLACES_ZH = ["在沙发上", "在草地上", "在河边", "在桌子旁"]


def write_benchmark(root: Path, colours, animals, places, caption) -> None:
    """80 captions (colour x animal x place); queries for each animal and each colour+animal pair."""
    rows = [{"id": f"c{i}", "text": caption(c, a, p), "parts": (c, a)}
            for i, (c, a, p) in enumerate(itertools.product(colours, animals, places))]
    write_jsonl(root / "candidates.jsonl", [{"id": r["id"], "text": r["text"]} for r in rows])
    queries = []
    for a in animals:
        queries.append({"id": f"q{len(queries)}", "query": a,
                        "positives": [{"id": r["id"], "score": 1} for r in rows if r["parts"][1] == a]})
    for c, a in itertools.product(colours[:2], animals):
        queries.append({"id": f"q{len(queries)}", "query": f"{c} {a}",
                        "positives": [{"id": r["id"], "score": 2} for r in rows if r["parts"] == (c, a)]})
    write_jsonl(root / "queries.jsonl", queries)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_benchmark(root / "CapRetrievalEn", COLOURS_EN, ANIMALS_EN, PLACES_EN,
                    lambda c, a, p: f"A {c} {a} is resting {p}. The afternoon light is soft.")
    write_benchmark(root / "CapRetrieval", COLOURS_ZH, ANIMALS_ZH, PLACES_ZH,
                    lambda c, a, p: f"一只{c}{a}{p}休息。午后的光线很柔和。")
    return root


def snakemake(workdir: Path, data: Path, *args):
    return run_snakemake(workdir, *args, env={"CAPFLOW_DATA_DIR": str(data)}, timeout=600)


def plan(workdir: Path, data: Path, *args) -> dict:
    """Jobs a dry run would start: {"jobs": {rule: count}, "wildcards": {rule: [wildcards line]}}."""
    result = snakemake(workdir, data, "-n", "--cores", "1", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    if "Nothing to be done" in out:
        return {"jobs": {}, "wildcards": {}, "text": out}
    jobs = job_stats(out)
    wildcards: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=(?:localrule|rule) \w+:)", out):
        head = re.match(r"(?:localrule|rule) (\w+):", block)
        found = re.search(r"^\s+wildcards: (.+)$", block, re.M)
        if head and found:
            wildcards.setdefault(head.group(1), []).append(found.group(1).strip())
    return {"jobs": jobs, "wildcards": wildcards, "text": out}


# The embedded default, sized to the small benchmarks: small pools, the KW setting of each, two
# training steps; the captions differ by a word or two, so only identical ones count as leaked.
SMALL_CONFIG = """
leakage:
  threshold: 0.99
pools:
  ood:
    size: 60
  id:
    source: {kind: holdout, benchmark: CapRetrievalEn, holdout: 30}
trainsets:
  mixes: [kw]
finetune:
  max_steps: 2
  batch_size: 8
"""
MINILM_EN = "results/zeroshot/CapRetrievalEn/all-MiniLM-L6-v2/metrics.json"
ID_KW = "results/finetune/id-kw/seed-0/train.json"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, small_data) -> Path:
    """Every target of the embedded default, run once to completion on the small data."""
    workdir = copy_workflow(tmp_path_factory.mktemp("run") / "wf")
    (workdir / "small.yaml").write_text(SMALL_CONFIG)
    result = snakemake(workdir, small_data, "--cores", "2", "--configfile=small.yaml", "all")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.fixture
def done(finished_run, tmp_path) -> Path:
    """A private copy of the finished run (outputs, their times and Snakemake's records of them)."""
    return shutil.copytree(finished_run, tmp_path / "wf", symlinks=True)


def plan_small(workdir: Path, data: Path, *args) -> dict:
    return plan(workdir, data, "--configfile=small.yaml", *args)


def test_a_finished_run_plans_nothing(done, small_data):
    assert plan_small(done, small_data, "all")["jobs"] == {}


def test_one_finetune_setting_alone(done, small_data):
    planned = plan_small(done, small_data, "--forcerun", "finetune", "--", ID_KW)
    assert planned["jobs"] == {"finetune": 1}
    assert planned["wildcards"]["finetune"] == ["pool=id, mix=kw, seed=0"]


def test_one_finetune_setting_and_what_depends_on_it(done, small_data):
    planned = plan_small(done, small_data, "--forcerun", ID_KW, "--", "all")
    # its evaluation and card, the per-query frame, and the report's tables and figures of the finetuning
    # stages; not those that need only the zero-shot stages (Table 2 and its analyses)
    assert planned["jobs"] == {"finetune": 1, "evaluate": 1, "model_card": 1, "mteb_json": 1, "per_query": 1,
                               "tables_finetune": 1, "figures_finetune": 1, "latex": 1, "all": 1}
    assert planned["wildcards"]["evaluate"] == ["benchmark=CapRetrievalEn, run=id-kw/seed-0"]


def test_each_finetuned_model_has_a_card_with_its_scores_beside_its_folder(done, small_data):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import metadata_load

    runs = ("ood-kw/seed-0", "id-kw/seed-0")
    cards = [done / "results" / "finetune" / run / "card" / "README.md" for run in runs]
    for run, card in zip(runs, cards):
        record = json.loads((done / "results" / "evaluate" / "CapRetrievalEn" / run / "metrics.json").read_text())
        ndcg10 = record["metrics"]["ndcg@10"]
        [index] = metadata_load(card)["model-index"]
        scores = {r["dataset"]["name"]: m["value"] for r in index["results"] for m in r["metrics"]
                  if m["type"] == "ndcg_at_10"}
        assert scores == {"CapRetrievalEn (test view)": round(ndcg10, 4)}, run
        assert f"{100 * scores['CapRetrievalEn (test view)']:.2f}" == f"{100 * ndcg10:.2f}"  # the tables' digits
        assert ModelCard.load(card).data.datasets == ["lxucs/CapRetrievalEn"]
        model_card = (done / "results" / "finetune" / run / "model" / "README.md").read_text(encoding="utf-8")
        assert "Not evaluated yet" in model_card  # the finetune job's own folder, as it wrote it
    written = [card.read_bytes() for card in cards]
    again = snakemake(done, small_data, "--cores", "1", "--configfile=small.yaml", "--forcerun", "model_card",
                      "--", "all")
    assert again.returncode == 0, again.stderr[-3000:]
    assert job_stats(again.stdout + again.stderr) == {"model_card": 2, "all": 1}
    assert [card.read_bytes() for card in cards] == written


def test_one_models_zeroshot(done, small_data):
    alone = plan_small(done, small_data, "--forcerun", "zeroshot", "--", MINILM_EN)
    assert alone["jobs"] == {"zeroshot": 1}
    # with what depends on it: only this model's jobs (its zero-shot row of the evaluation, which
    # waits for the zero-shot job's embeddings, may follow) and the tables
    downstream = plan_small(done, small_data, "--forcerun", MINILM_EN, "--", "all")
    jobs, wildcards = downstream["jobs"], downstream["wildcards"]
    assert jobs["zeroshot"] == 1 and jobs["hybrid"] == 2, jobs
    # nothing upstream and nothing of the other model or the other benchmark's zero-shot stage
    assert not set(jobs) & {"benchmark_data", "testview", "pool", "leakage", "generate", "trainset", "finetune"}
    assert wildcards["zeroshot"] == ["benchmark=CapRetrievalEn, model=all-MiniLM-L6-v2"]
    assert sorted(wildcards["hybrid"]) == ["benchmark=CapRetrievalEn, method=minmax, model=all-MiniLM-L6-v2",
                                           "benchmark=CapRetrievalEn, method=rrf, model=all-MiniLM-L6-v2"]
    assert all(w.endswith("run=zeroshot/all-MiniLM-L6-v2") for w in wildcards.get("evaluate", []))
    for analysis in ("classification_sweep", "inversions", "error_analysis"):
        assert wildcards[analysis] == ["benchmark=CapRetrievalEn"], analysis


def test_only_the_tables(done, small_data):
    tables = done / "results" / "tables"
    before = {p.name: p.read_bytes() for p in tables.iterdir()}
    for path in tables.iterdir():
        path.unlink()
    planned = plan_small(done, small_data, "tables")["jobs"]
    assert planned == {"per_query": 1, "tables_zeroshot": 1, "tables_finetune": 1, "tables": 1}, planned
    # and the real run brings back the same bytes
    result = snakemake(done, small_data, "--cores", "1", "--configfile=small.yaml", "all")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name: p.read_bytes() for p in tables.iterdir()} == before


def test_changing_one_recipe_reruns_only_that_models_jobs(done, small_data):
    models_file = done / "config" / "models.yaml"
    models = yaml.safe_load(models_file.read_text())
    models["all-MiniLM-L6-v2"]["max_length"] = 128
    models_file.write_text(yaml.safe_dump(models, sort_keys=False, allow_unicode=True))

    planned = plan_small(done, small_data, "--rerun-triggers", "params", "--", "all")
    # MiniLM is a zero-shot model on both benchmarks, the base of both finetunes and, beside them, a
    # zero-shot row of the evaluation (in its CapRetrievalEn mteb result, with the zero-shot run); BM25, the
    # pools, generation and the training sets stay as they are
    assert planned["jobs"] == {"zeroshot": 2, "finetune": 2, "evaluate": 3, "model_card": 2, "hybrid": 4,
                               "mteb_json": 8,
                               "per_query": 1, "classification_sweep": 2, "inversions": 2, "error_analysis": 2,
                               "tables_zeroshot": 1, "tables_finetune": 1, "figures_zeroshot": 1,
                               "figures_finetune": 1, "latex": 1, "all": 1}, planned["jobs"]
    assert sorted(planned["wildcards"]["zeroshot"]) == ["benchmark=CapRetrieval, model=all-MiniLM-L6-v2",
                                                        "benchmark=CapRetrievalEn, model=all-MiniLM-L6-v2"]
    assert "run=zeroshot/bm25" not in " ".join(planned["wildcards"]["evaluate"])
    # the recipe is a param of the jobs, not a file they read: modification times alone see no change
    assert plan_small(done, small_data, "--rerun-triggers", "mtime", "--", "all")["jobs"] == {}


def test_a_new_table_label_or_batch_size_reruns_only_the_report(done, small_data):
    models_file = done / "config" / "models.yaml"
    models = yaml.safe_load(models_file.read_text())
    models["all-MiniLM-L6-v2"].update(display="MiniLM (renamed)", group="renamed", params="23M", batch_size=16)
    models_file.write_text(yaml.safe_dump(models, sort_keys=False, allow_unicode=True))
    planned = plan_small(done, small_data, "--rerun-triggers", "params", "--", "all")
    # no zero-shot, finetune, evaluation or hybrid job: only the jobs that print labels and what reads them
    assert planned["jobs"] == {"per_query": 1, "classification_sweep": 2,
                               "inversions": 2, "error_analysis": 2, "tables_zeroshot": 1, "tables_finetune": 1,
                               "figures_zeroshot": 1, "figures_finetune": 1, "latex": 1,
                               "all": 1}, planned["jobs"]
    result = snakemake(done, small_data, "--cores", "2", "--configfile=small.yaml", "all")
    assert result.returncode == 0, result.stderr[-3000:]
    table = (done / "results" / "tables" / "zeroshot.md").read_text(encoding="utf-8")
    assert "| MiniLM (renamed) | 23M |" in table
    assert "| BM25 + MiniLM (renamed) (RRF k=60) | 23M |" in table


def test_changed_benchmark_data_reruns_the_data_jobs(done, small_data, tmp_path):
    # The same files at another place ($CAPFLOW_DATA_DIR moved): the source changed, so both data jobs rerun.
    moved = shutil.copytree(small_data, tmp_path / "moved")
    planned = plan(done, moved, "--configfile=small.yaml", "--rerun-triggers", "input", "--", "all")
    assert planned["jobs"].get("benchmark_data") == 2, planned["jobs"]
    # Editing one label where the run read it: that benchmark's data job reruns, and what follows it.
    queries = small_data / "CapRetrieval" / "queries.jsonl"
    private = shutil.copytree(small_data, tmp_path / "private")  # copy2 keeps the modification times
    lines = (private / "CapRetrieval" / "queries.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace('"score": 1', '"score": 0', 1)
    (private / "CapRetrieval" / "queries.jsonl").write_text("\n".join(lines) + "\n")
    assert queries.read_text() != (private / "CapRetrieval" / "queries.jsonl").read_text()
    planned = plan(done, private, "--configfile=small.yaml", "--rerun-triggers", "mtime", "--", "all")
    assert planned["wildcards"]["benchmark_data"] == ["benchmark=CapRetrieval"], planned["wildcards"]


def test_the_report_page_holds_every_figure_and_table(done, small_data):
    result = snakemake(done, small_data, "--configfile=small.yaml", "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    page = (done / "report.html").read_text(encoding="utf-8")
    figures = sorted(p.name for p in (done / "results" / "figures").glob("*.png"))
    tables = sorted(p.name for p in (done / "results" / "tables").glob("*.csv") if p.name != "per_query.csv")
    assert figures and tables
    assert [name for name in figures + tables if name not in page] == []
    # each table and figure shows its builder's caption, which the registry holds and the batch wrote
    assert "grouped by model size, with BM25 + dense hybrid rows" in page  # Table 2's
    assert "all labels and by label (2: relevant, 1: partly relevant), in widening bins" in page  # Figure 2's


# Under Snakemake's default rerun triggers (mtime, params, input, software-env, code), as users run it.
def test_a_leakage_threshold_change_reruns_the_filter_and_everything_after_it(done, small_data):
    (done / "threshold.yaml").write_text("leakage:\n  threshold: 0.98\n")
    planned = plan(done, small_data, "--configfile", "small.yaml", "threshold.yaml", "--", "all")
    # both pools' filters, their 2 kinds x 2 shards, the KW training sets and finetunes, and their
    # evaluation on the test view and cards
    assert planned["jobs"] == {"leakage": 2, "generate": 8, "trainset": 2, "finetune": 2, "evaluate": 2,
                               "model_card": 2, "mteb_json": 2, "per_query": 1, "tables_finetune": 1,
                               "figures_finetune": 1, "latex": 1, "all": 1}, planned["jobs"]


def test_a_pool_change_reruns_that_pool_alone(done, small_data):
    (done / "pool.yaml").write_text("pools:\n  ood:\n    size: 50\n")
    planned = plan(done, small_data, "--configfile", "small.yaml", "pool.yaml", "--", "all")
    assert planned["jobs"] == {"pool": 1, "leakage": 1, "generate": 4, "trainset": 1, "finetune": 1,
                               "evaluate": 1, "model_card": 1, "mteb_json": 1, "per_query": 1, "tables_finetune": 1,
                               "figures_finetune": 1, "latex": 1, "all": 1}, planned["jobs"]
    assert planned["wildcards"]["pool"] == ["pool=ood"]


def test_a_prompt_change_reruns_nothing_the_heuristic_generator_made(done, small_data):
    prompts = done / "config" / "prompts" / "en.yaml"
    prompts.write_text(prompts.read_text() + "\n# edited\n")
    assert plan_small(done, small_data, "--", "all")["jobs"] == {}


KNOBS = """
finetune:
  hard_negatives: {miner: bm25, count: 1, range_max: 20}
  eval: {steps: 1, keep_best: true}
"""


def test_the_training_knobs_add_their_jobs_and_a_mining_change_reruns_only_them(done, small_data):
    (done / "knobs.yaml").write_text(KNOBS)
    knobs = ("--configfile", "small.yaml", "knobs.yaml", "--")
    planned = plan(done, small_data, *knobs, "all")
    # mining and a knobbed finetune per training set, their evaluations and cards; the plain settings stay
    added = {"negatives": 2, "finetune_knobs": 2, "evaluate": 2, "model_card": 2, "mteb_json": 2, "per_query": 1,
             "tables_finetune": 1, "figures_finetune": 1, "latex": 1, "all": 1}
    assert planned["jobs"] == added, planned["jobs"]
    assert sorted(planned["wildcards"]["finetune_knobs"]) == ["pool=id, mix=kw, variant=hn+best, seed=0",
                                                              "pool=ood, mix=kw, variant=hn+best, seed=0"]
    result = snakemake(done, small_data, "--cores", "2", *knobs, "all")
    assert result.returncode == 0, result.stderr[-3000:]
    (done / "more.yaml").write_text("finetune:\n  hard_negatives: {count: 2}\n")
    replanned = plan(done, small_data, "--configfile", "small.yaml", "knobs.yaml", "more.yaml", "--", "all")
    assert replanned["jobs"] == added, replanned["jobs"]
