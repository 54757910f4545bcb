"""The prefetch step against a hub on 127.0.0.1: what the configs plan, what a dry run lists without
downloading, and jobs that read the hub cache afterwards while the hub is unreachable."""

import json
import re
import shutil
from pathlib import Path

import pytest
from huggingface_hub import snapshot_download

from capflow import prefetch
from capflow.recipes import load_recipes

from conftest import build_tiny_bert, run_capflow, run_snakemake
from fakes.hub_server import LocalHub, commit_of, repo_listing
from fakes.loopback import closed_endpoint

NETWORK_RULES = ("benchmark_data", "zeroshot", "evaluate", "finetune", "generate", "pool", "mteb_data")
TINY_FILES = ["candidates.jsonl", "queries.jsonl"]
PINNED = "9216db5781bf21249d130ec9da846c4624c16137"




@pytest.fixture
def local_hub(tmp_path, tiny_benchmark, monkeypatch):
    """A hub holding the model acme/tiny-encoder and the benchmark repo someone/Tiny; an empty cache."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with LocalHub(tmp_path / "hub") as hub:
        model = hub.add("models", "acme/tiny-encoder")
        build_tiny_bert(tmp_path / "tiny", list("abcdefghijklmnopqrstuvwxyz0123456789.,"))
        shutil.copytree(tmp_path / "tiny", model, dirs_exist_ok=True)
        shutil.copytree(tiny_benchmark, hub.add("datasets", "someone/Tiny"), dirs_exist_ok=True)
        yield hub


def plan_items():
    return [{"kind": "model", "repo": "acme/tiny-encoder", "revision": None, "used_by": ["zeroshot.models: tiny"]},
            {"kind": "files", "repo": "someone/Tiny", "revision": "main", "files": TINY_FILES,
             "optional": ["types.json"], "used_by": ["benchmarks.Tiny"]}]


def test_paper_plan_lists_every_hub_model_and_dataset(repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("CAPFLOW_DATA_DIR", str(tmp_path / "no-local-copies"))
    items = prefetch.plan_from_config_files([repo_root / "config/paper.yaml", repo_root / "config/paper-ood.yaml"])
    models = [i["repo"] for i in items if i["kind"] == "model"]
    assert len(models) == 14 and models[0] == "BAAI/bge-base-zh-v1.5" and models[-1] == "Qwen/Qwen3-32B"
    assert items[0]["used_by"] == ["zeroshot.models: bge-base-zh-v1.5", "finetune.base_model: bge-base-zh-v1.5"]
    # the English BGE models, which run on CapRetrievalEn alone (their languages), are fetched too
    by_repo = {i["repo"]: i["used_by"] for i in items}
    assert by_repo["BAAI/bge-base-en-v1.5"] == ["zeroshot.models: bge-base-en-v1.5"]
    assert [i["repo"] for i in items if i["kind"] == "files"] == ["lxucs/CapRetrieval", "lxucs/CapRetrievalEn"]
    datasets = {i["repo"]: i for i in items if i["kind"] == "dataset"}
    assert list(datasets) == ["mteb/EcomRetrieval", "mteb/VideoRetrieval", "C-MTEB/DuRetrieval"]
    assert datasets["mteb/EcomRetrieval"]["loads"] == [["corpus", "dev"], ["queries", "dev"], ["default", "dev"]]
    assert datasets["mteb/EcomRetrieval"]["revision"] == "fa705ce5418e91636b1eaeaf43f34c15aa3f5a8a"

    # The embedded default: MiniLM comes from its package, the benchmarks from a local copy if any.
    assert [i["repo"] for i in prefetch.plan_from_config_files([])] == ["lxucs/CapRetrieval", "lxucs/CapRetrievalEn"]
    for name in ("CapRetrieval", "CapRetrievalEn"):
        (tmp_path / "copies" / name).mkdir(parents=True)
        (tmp_path / "copies" / name / "candidates.jsonl").write_text("")
        (tmp_path / "copies" / name / "queries.jsonl").write_text("")
    monkeypatch.setenv("CAPFLOW_DATA_DIR", str(tmp_path / "copies"))
    assert prefetch.plan_from_config_files([]) == []


def test_paper_plan_pins_each_item_at_the_revision_its_jobs_ask_for(repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("CAPFLOW_DATA_DIR", str(tmp_path / "no-local-copies"))
    items = prefetch.plan_from_config_files([repo_root / "config/paper.yaml", repo_root / "config/paper-ood.yaml"])
    recipes = load_recipes("config/models.yaml", prefetch.MODELS_SCHEMA)
    revisions = {(i["kind"], i["repo"]): i["revision"] for i in items}
    assert len(items) == len(revisions) == 19
    assert revisions.pop(("model", "Qwen/Qwen3-32B")) == "9216db5781bf21249d130ec9da846c4624c16137"
    encoders = {recipes[use.split(": ")[1]].hub_id: recipes[use.split(": ")[1]].revision
                for i in items if i["kind"] == "model" for use in i["used_by"] if ": " in use}
    assert len(encoders) == 13 and all(revisions.pop(("model", repo)) == rev for repo, rev in encoders.items())
    assert revisions == {("files", "lxucs/CapRetrieval"): "main", ("files", "lxucs/CapRetrievalEn"): "main",
                         ("dataset", "mteb/EcomRetrieval"): "fa705ce5418e91636b1eaeaf43f34c15aa3f5a8a",
                         ("dataset", "mteb/VideoRetrieval"): "146a9d5e4fd7a9c182b6b92cccb6a3753994305c",
                         ("dataset", "C-MTEB/DuRetrieval"): "a1a333e290fe30b10f3f56498e3a0d911a693ced"}
    assert all(re.fullmatch("[0-9a-f]{40}", i["revision"]) for i in items if i["kind"] != "files")


def test_the_llm_is_prefetched_at_the_commit_the_generate_jobs_load(repo_root, local_hub, tmp_path, tiny_benchmark,
                                                                   monkeypatch):
    """The hub holds the pinned commit and a newer main: only the pinned one serves the generate jobs."""
    (local_hub.add("models", "acme/tiny-llm", commit=PINNED) / "config.json").write_text('{"commit": "pinned"}')
    (local_hub.add("models", "acme/tiny-llm") / "config.json").write_text('{"commit": "newer"}')
    for repo in ("lxucs/CapRetrieval", "lxucs/CapRetrievalEn"):
        shutil.copytree(tiny_benchmark, local_hub.add("datasets", repo), dirs_exist_ok=True)
    llm = f"generate: {{backend: transformers, model: acme/tiny-llm, revision: {PINNED}}}\n"
    (tmp_path / "llm.yaml").write_text(llm)
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("CAPFLOW_DATA_DIR", str(tmp_path / "no-local-copies"))
    items = prefetch.plan_from_config_files([tmp_path / "llm.yaml"])
    result = run_capflow("prefetch", "--plan-json", json.dumps(items), "--endpoint", local_hub.endpoint,
                         "--manifest", tmp_path / "manifest.json")
    assert result.returncode == 0, result.stderr
    # What the transformers and vLLM backends do with HF_HUB_OFFLINE=1: the pinned snapshot from the cache.
    snapshot = snapshot_download("acme/tiny-llm", revision=PINNED, cache_dir=tmp_path / "hf-home" / "hub",
                                 local_files_only=True)
    assert json.loads((Path(snapshot) / "config.json").read_text()) == {"commit": "pinned"}


def test_dry_run_lists_sizes_and_downloads_nothing(local_hub, tmp_path):
    result = run_capflow("prefetch", "--plan-json", json.dumps(plan_items()), "--endpoint", local_hub.endpoint,
                         "--dry-run")
    assert result.returncode == 0, result.stderr
    model_bytes = sum(map(len, repo_listing(local_hub.root / "models/acme/tiny-encoder").values()))
    tiny = repo_listing(local_hub.root / "datasets/someone/Tiny")
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("model    acme/tiny-encoder@main  missing     ")
    assert lines[1] == (f"files    someone/Tiny@main  missing     {len(tiny)} files  "
                        f"{prefetch.human_bytes(sum(map(len, tiny.values())))}  (benchmarks.Tiny)")
    total = prefetch.human_bytes(model_bytes + sum(map(len, tiny.values())))
    assert lines[2] == f"total: 2 items: 2 missing ({total}) (dry run: nothing downloaded)"
    assert not (tmp_path / "hf-home").exists()
    assert all(not r.startswith("GET /acme") and "/resolve/" not in r for r in local_hub.requests)
    assert model_bytes > 0


def test_prefetched_benchmark_loads_with_the_hub_unreachable(local_hub, tmp_path, tiny_benchmark):
    manifest = tmp_path / "prefetch" / "manifest.json"
    result = run_capflow("prefetch", "--plan-json", json.dumps(plan_items()), "--endpoint", local_hub.endpoint,
                         "--manifest", manifest)
    assert result.returncode == 0, result.stderr
    written = json.loads(manifest.read_text())
    model_files = repo_listing(local_hub.root / "models/acme/tiny-encoder")
    tiny_files = repo_listing(local_hub.root / "datasets/someone/Tiny")
    assert [(i["repo"], i["commit"], i["bytes"]) for i in written["items"]] == [
        ("acme/tiny-encoder", commit_of(model_files), sum(map(len, model_files.values()))),
        ("someone/Tiny", commit_of(tiny_files), sum(map(len, tiny_files.values())))]
    assert written["total_bytes"] == sum(i["bytes"] for i in written["items"]) and written["downloaded"]

    offline = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": closed_endpoint()}
    out = tmp_path / "out"
    data = run_capflow("data", "--name", "Tiny", "--local-dirs", tmp_path / "empty", "--repo", "someone/Tiny",
                       "--candidates", out / "candidates.jsonl", "--queries", out / "queries.jsonl",
                       "--types", out / "query_types.json", env={"CAPFLOW_DATA_DIR": "", **offline})
    assert data.returncode == 0, data.stderr
    assert json.loads((out / "query_types.json").read_text()) == {"q1": "animal", "q2": "document"}
    missing = run_capflow("data", "--name", "Tiny", "--local-dirs", tmp_path / "empty", "--repo", "someone/Other",
                          "--candidates", out / "c.jsonl", "--queries", out / "q.jsonl", "--types", out / "t.json",
                          env={"CAPFLOW_DATA_DIR": "", **offline})
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith(
        "capflow data: error: download failed: "
        f"{offline['HF_ENDPOINT']}/datasets/someone/Other/resolve/main/candidates.jsonl is not in the hub cache")


def test_workflow_prefetches_then_runs_with_the_hub_unreachable(local_hub, workflow_copy, tmp_path):
    """The recipe pins a commit that main has moved past: the zero-shot job, offline, finds that commit."""
    shutil.copytree(tmp_path / "tiny", local_hub.add("models", "acme/tiny-encoder", commit=PINNED), dirs_exist_ok=True)
    (local_hub.root / "models/acme/tiny-encoder/config.json").write_text("{}")  # main: no longer this model
    models = (workflow_copy / "config/models.yaml").read_text()
    (workflow_copy / "models.yaml").write_text(models + "\ntiny:\n  hub_id: acme/tiny-encoder\n  pooling: mean\n"
                                               f"  max_length: 64\n  revision: {PINNED}\n")
    (workflow_copy / "tiny.yaml").write_text(
        "models_file: models.yaml\n"
        "benchmarks:\n  Tiny: {repo: someone/Tiny, language: en}\n"
        "zeroshot:\n  benchmarks: [Tiny]\n  models: [bm25, tiny]\n")
    first = run_snakemake(workflow_copy, "--cores", "1", "--workflow-profile", "none", "--configfile", "tiny.yaml",
                          "--", "prefetch", env={"HF_ENDPOINT": local_hub.endpoint})
    assert first.returncode == 0, first.stderr[-3000:]
    manifests = sorted((workflow_copy / "results/prefetch").glob("*.json"))
    assert [m.name for m in manifests] == ["files--someone--Tiny@main.json",
                                           f"model--acme--tiny-encoder@{PINNED}.json"]
    assert [json.loads(m.read_text())["items"][0]["commit"] for m in manifests] == [
        commit_of(repo_listing(local_hub.root / "datasets/someone/Tiny")), PINNED]

    local_hub.__exit__()
    second = run_snakemake(workflow_copy, "--cores", "1", "--workflow-profile", "none", "results/tables/zeroshot.md",
                           "--configfile", "tiny.yaml", env={"HF_ENDPOINT": closed_endpoint()})
    assert second.returncode == 0, second.stderr[-3000:]
    metrics = json.loads((workflow_copy / "results/zeroshot/Tiny/tiny/metrics.json").read_text())
    assert metrics["queries_evaluated"] == 2
    assert "prefetch_item" not in re.findall(r"^(?:local)?rule (\w+):", second.stdout + second.stderr, re.M)


def test_paper_jobs_read_the_prefetched_revision_they_ask_for(workflow_copy):
    """Each job that reads a hub item waits for that item's prefetch job, whose revision is the one the
    job's own command asks for, and runs offline."""
    result = run_snakemake(workflow_copy, "-n", "-p", "--cores", "2", "--workflow-profile", "none", "all",
                           "--configfile", "config/paper.yaml", "config/paper-ood.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.split(r"^(?=(?:local)?rule \w+:)", result.stdout.split("Job stats:", 1)[1], flags=re.M)[1:]
    names = [re.match(r"(?:local)?rule (\w+):", job).group(1) for job in jobs]
    fetched = {re.search(r"output: results/prefetch/(\S+)\.json", job).group(1)
               for name, job in zip(names, jobs, strict=True) if name == "prefetch_item"}
    assert len(fetched) == names.count("prefetch_item") == 17
    assert "model--Qwen--Qwen3-32B@9216db5781bf21249d130ec9da846c4624c16137" in fetched
    assert {name for name in names if name in NETWORK_RULES} == set(NETWORK_RULES)
    read = set()
    for name, job in zip(names, jobs, strict=True):
        if name not in NETWORK_RULES:
            continue
        assert "Shell command: env HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 capflow " in job, job
        command = job.split("Shell command: ", 1)[1]
        for key in re.findall(r"results/prefetch/(\S+?)\.json", re.search(r"input: (.*)", job).group(1)):
            assert "@" in key and key.split("@")[1] in command, (key, command)
            read.add(key)
    assert read == fetched
