"""Partial reruns: after a complete run, each kind of change or request redoes only what it must.

The workflow runs for real on small synthetic benchmarks (so every job takes seconds); what a rerun
would do is then read from Snakemake's dry-run plan: which rules, how many jobs, which wildcards.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, WORKFLOW_PARTS, run_snakemake, write_jsonl

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
                    lambda c, a, p: f"A {c} {a} is resting {p} in the afternoon.")
    write_benchmark(root / "CapRetrieval", COLOURS_ZH, ANIMALS_ZH, PLACES_ZH,
                    lambda c, a, p: f"一只{c}{a}{p}休息。")
    return root


def snakemake(workdir: Path, data: Path, *args):
    env = {"CAPFLOW_DATA_DIR": str(data), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return run_snakemake(workdir, *args, env=env, timeout=600)


def plan(workdir: Path, data: Path, *args) -> dict:
    """Jobs a dry run would start: {"jobs": {rule: count}, "wildcards": {rule: [wildcards line]}}."""
    result = snakemake(workdir, data, "-n", "--cores", "1", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    if "Nothing to be done" in out:
        return {"jobs": {}, "wildcards": {}, "text": out}
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}
    wildcards: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=(?:localrule|rule) \w+:)", out):
        head = re.match(r"(?:localrule|rule) (\w+):", block)
        found = re.search(r"^\s+wildcards: (.+)$", block, re.M)
        if head and found:
            wildcards.setdefault(head.group(1), []).append(found.group(1).strip())
    return {"jobs": jobs, "wildcards": wildcards, "text": out}


@pytest.fixture(scope="module")
def zeroshot_run(tmp_path_factory, small_data) -> Path:
    """The embedded default's zero-shot stage and its table, run once to completion on the small data."""
    workdir = tmp_path_factory.mktemp("zeroshot") / "wf"
    workdir.mkdir()
    for part in WORKFLOW_PARTS:
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy2)(REPO / part, workdir / part)
    result = snakemake(workdir, small_data, "--cores", "2", "table_zeroshot")
    assert result.returncode == 0, result.stderr[-3000:]
    assert plan(workdir, small_data, "table_zeroshot")["jobs"] == {}
    return workdir


@pytest.fixture
def zeroshot_done(zeroshot_run, tmp_path) -> Path:
    """A private copy of the finished run (outputs, their times and Snakemake's records of them)."""
    return shutil.copytree(zeroshot_run, tmp_path / "wf", symlinks=True)


def test_forcing_one_models_zeroshot_reruns_it_and_the_table(zeroshot_done, small_data):
    target = "results/zeroshot/CapRetrievalEn/all-MiniLM-L6-v2/metrics.json"
    planned = plan(zeroshot_done, small_data, "--forcerun", target, "--", "table_zeroshot")
    assert planned["jobs"] == {"zeroshot": 1, "table_zeroshot": 1}
    assert planned["wildcards"]["zeroshot"] == ["benchmark=CapRetrievalEn, model=all-MiniLM-L6-v2"]


def test_tables_alone_recompute_nothing_else(zeroshot_done, small_data):
    planned = plan(zeroshot_done, small_data, "--forcerun", "table_zeroshot", "--", "tables")
    assert planned["jobs"] == {"table_zeroshot": 1, "tables": 1}


def test_changing_one_recipe_reruns_only_that_models_jobs(zeroshot_done, small_data):
    models_file = zeroshot_done / "config" / "models.yaml"
    models = yaml.safe_load(models_file.read_text())
    models["all-MiniLM-L6-v2"]["max_length"] = 128
    models_file.write_text(yaml.safe_dump(models, sort_keys=False, allow_unicode=True))

    planned = plan(zeroshot_done, small_data, "--rerun-triggers", "params", "--", "table_zeroshot")
    assert planned["jobs"] == {"zeroshot": 2, "table_zeroshot": 1}
    assert sorted(planned["wildcards"]["zeroshot"]) == ["benchmark=CapRetrieval, model=all-MiniLM-L6-v2",
                                                        "benchmark=CapRetrievalEn, model=all-MiniLM-L6-v2"]
    # the recipe is a param of the job, not a file it reads: modification times alone see no change
    assert plan(zeroshot_done, small_data, "--rerun-triggers", "mtime", "--", "table_zeroshot")["jobs"] == {}
