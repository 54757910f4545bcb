"""A config change that alters what is fetched plans, in one call, the fetch and every job it feeds.

Real Snakemake runs in a used workdir, against a loopback hub that answers only the revisions it holds."""

import hashlib
import json
import re
import shutil

import pytest

from conftest import build_tiny_bert, run_snakemake
from fakes.hub_server import LocalHub

FIRST = hashlib.sha1(b"first").hexdigest()
SECOND = hashlib.sha1(b"second").hexdigest()
TARGET = "results/tables/zeroshot.md"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """acme/tiny-encoder and acme/other-encoder, each at one pinned commit only."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with LocalHub(tmp_path / "hub") as served:
        for repo, commit, seed in (("acme/tiny-encoder", FIRST, 0), ("acme/other-encoder", SECOND, 1)):
            build_tiny_bert(tmp_path / repo, list("abcdefghijklmnopqrstuvwxyz0123456789.,"), seed=seed)
            shutil.copytree(tmp_path / repo, served.add("models", repo, commit=commit), dirs_exist_ok=True)
        yield served


def ran(result) -> list[str]:
    """The rules of the jobs a real run started, in order."""
    return re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, re.M)


def test_adding_a_hub_model_fetches_it_and_runs_everything_it_feeds(workflow_copy, tiny_benchmark, hub):
    models = (workflow_copy / "config/models.yaml").read_text()
    (workflow_copy / "models.yaml").write_text(
        models
        + f"\ntiny:\n  hub_id: acme/tiny-encoder\n  revision: {FIRST}\n  pooling: mean\n  max_length: 64\n"
        + f"\nother:\n  hub_id: acme/other-encoder\n  revision: {SECOND}\n  pooling: cls\n  max_length: 64\n")
    config = ("models_file: models.yaml\n"
              f"data: {{local_dirs: ['{tiny_benchmark.parent}']}}\n"
              "benchmarks:\n  Tiny: {language: en}\n"
              "zeroshot:\n  benchmarks: [Tiny]\n  models: [bm25, tiny")
    (workflow_copy / "one.yaml").write_text(config + "]\n")
    (workflow_copy / "two.yaml").write_text(config + ", other]\n")
    env = {"HF_ENDPOINT": hub.endpoint, "CAPFLOW_DATA_DIR": ""}

    first = run_snakemake(workflow_copy, "--cores", "1", "--configfile", "one.yaml", "--", TARGET, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert ran(first).count("prefetch_item") == 1 and "zeroshot" in ran(first)

    # the used workdir, one more hub model: one call runs its fetch, its jobs and the tables, nothing else
    second = run_snakemake(workflow_copy, "--cores", "1", "--configfile", "two.yaml", "--", TARGET, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    jobs = ran(second)
    assert jobs.count("prefetch_item") == 1 and jobs.count("zeroshot") == 1, jobs
    assert "tables_zeroshot" in jobs
    manifest = json.loads((workflow_copy / f"results/prefetch/model--acme--other-encoder@{SECOND}.json").read_text())
    assert [(i["repo"], i["commit"]) for i in manifest["items"]] == [("acme/other-encoder", SECOND)]
    metrics = json.loads((workflow_copy / "results/zeroshot/Tiny/other/metrics.json").read_text())
    assert metrics["queries_evaluated"] == 2
    assert "other" in (workflow_copy / TARGET).read_text()

    # and then nothing is left to do
    third = run_snakemake(workflow_copy, "-n", "--cores", "1", "--configfile", "two.yaml", "--", TARGET, env=env)
    assert third.returncode == 0 and "Nothing to be done" in third.stdout + third.stderr, third.stdout[-2000:]
