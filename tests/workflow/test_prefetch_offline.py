"""The prefetch step reads the hub caches before the hub: with a cache filled from the loopback hub it
needs no network (HF_HUB_OFFLINE=1, or an endpoint that refuses connections), and offline its dry run
lists every item as cached or missing."""

import json
import shutil
from pathlib import Path

import pytest

from capflow.prefetch import human_bytes

from conftest import run_capflow
from fakes.hub_server import LocalHub, commit_of, repo_listing
from fakes.loopback import closed_endpoint

PINNED = "9216db5781bf21249d130ec9da846c4624c16137"
ABSENT = "0123456789abcdef0123456789abcdef01234567"
OFFLINE = {"HF_HUB_OFFLINE": "1"}


def model_item(repo="acme/encoder", revision=PINNED):
    return {"kind": "model", "repo": repo, "revision": revision, "used_by": [f"zeroshot.models: {repo}"]}


def files_item(repo):
    return {"kind": "files", "repo": repo, "revision": "main", "files": ["candidates.jsonl", "queries.jsonl"],
            "optional": ["types.json"], "used_by": [f"benchmarks.{repo.split('/')[1]}"]}


PLAN = [model_item(), files_item("someone/Tiny"), files_item("someone/NoTypes")]


@pytest.fixture
def filled(tmp_path, tiny_benchmark, monkeypatch):
    """A loopback hub (acme/encoder at PINNED beside a newer main; someone/Tiny; someone/NoTypes, which has
    no types.json) and a hub cache that a prefetch of PLAN filled from it."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with LocalHub(tmp_path / "hub") as hub:
        pinned = hub.add("models", "acme/encoder", commit=PINNED)
        (pinned / "config.json").write_text('{"hidden_size": 8}')
        (pinned / "sub").mkdir()
        (pinned / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 4)
        (hub.add("models", "acme/encoder") / "config.json").write_text('{"hidden_size": 16}')
        shutil.copytree(tiny_benchmark, hub.add("datasets", "someone/Tiny"), dirs_exist_ok=True)
        no_types = hub.add("datasets", "someone/NoTypes")
        shutil.copytree(tiny_benchmark, no_types, dirs_exist_ok=True)
        (no_types / "types.json").unlink()
        result = prefetch(hub.endpoint, PLAN, manifest=tmp_path / "filled.json")
        assert result.returncode == 0, result.stderr
        yield hub


def prefetch(endpoint, plan, *, manifest=None, env=None):
    where = ["--manifest", manifest] if manifest else ["--dry-run"]
    return run_capflow("prefetch", "--plan-json", json.dumps(plan), "--endpoint", endpoint, *where, env=env)


def served(hub, folder):
    files = repo_listing(hub.root / folder)
    return commit_of(files), len(files), sum(map(len, files.values()))


def expected_lines(hub, state):
    _, model_files, model_bytes = served(hub, f"models/acme/encoder@{PINNED}")
    _, tiny_files, tiny_bytes = served(hub, "datasets/someone/Tiny")
    _, bare_files, bare_bytes = served(hub, "datasets/someone/NoTypes")
    return [f"model    acme/encoder@{PINNED}  {state:<10}  {model_files} files  {human_bytes(model_bytes)}  "
            "(zeroshot.models: acme/encoder)",
            f"files    someone/Tiny@main  {state:<10}  {tiny_files} files  {human_bytes(tiny_bytes)}  "
            "(benchmarks.Tiny)",
            f"files    someone/NoTypes@main  {state:<10}  {bare_files} files  {human_bytes(bare_bytes)}  "
            "(benchmarks.NoTypes)"]


def no_network():
    """The two ways a node lacks the hub: HF_HUB_OFFLINE, or an endpoint whose port refuses connections."""
    return pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE", "refused"])


def endpoint_and_env(hub, offline):
    return (hub.endpoint, OFFLINE) if offline == "HF_HUB_OFFLINE" else (closed_endpoint(), {})


def test_the_fill_downloaded_the_pinned_commit_and_recorded_absent_optional_files(filled, tmp_path):
    manifest = json.loads((tmp_path / "filled.json").read_text())
    assert [(e["repo"], e["state"], e["commit"]) for e in manifest["items"]] == [
        ("acme/encoder", "downloaded", PINNED),
        ("someone/Tiny", "downloaded", served(filled, "datasets/someone/Tiny")[0]),
        ("someone/NoTypes", "downloaded", served(filled, "datasets/someone/NoTypes")[0])]
    assert [e["files"] for e in manifest["items"]] == [2, 3, 2]


def test_a_second_prefetch_asks_the_hub_nothing(filled, tmp_path):
    before = len(filled.requests)
    result = prefetch(filled.endpoint, PLAN, manifest=tmp_path / "again.json")
    assert result.returncode == 0, result.stderr
    assert filled.requests[before:] == []
    assert result.stdout.splitlines()[:3] == expected_lines(filled, "cached")


@no_network()
def test_offline_dry_run_lists_each_item_cached_with_its_size(filled, offline):
    endpoint, env = endpoint_and_env(filled, offline)
    before = len(filled.requests)
    result = prefetch(endpoint, PLAN, env=env)
    assert result.returncode == 0, result.stderr
    total = sum(served(filled, f)[2] for f in (f"models/acme/encoder@{PINNED}", "datasets/someone/Tiny",
                                                 "datasets/someone/NoTypes"))
    assert result.stdout.splitlines() == [
        *expected_lines(filled, "cached"),
        f"total: 3 items: 3 cached ({human_bytes(total)}) (dry run: nothing downloaded)"]
    assert filled.requests[before:] == []


@no_network()
def test_offline_prefetch_passes_when_the_cache_holds_everything(filled, tmp_path, offline):
    endpoint, env = endpoint_and_env(filled, offline)
    result = prefetch(endpoint, PLAN, manifest=tmp_path / "manifest.json", env=env)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    model = served(filled, f"models/acme/encoder@{PINNED}")
    assert [(e["state"], e["commit"], e["files"], e["bytes"]) for e in manifest["items"]] == [
        ("cached", PINNED, *model[1:]), ("cached", *served(filled, "datasets/someone/Tiny")),
        ("cached", *served(filled, "datasets/someone/NoTypes"))]


@pytest.mark.parametrize(("offline", "reason"), [("HF_HUB_OFFLINE", "HF_HUB_OFFLINE is set"),
                                                 ("refused", "no network")])
def test_an_item_missing_offline_is_listed_and_stops_the_real_run_in_one_line(filled, tmp_path, offline, reason):
    endpoint, env = endpoint_and_env(filled, offline)
    plan = [*PLAN, model_item("acme/absent", ABSENT), model_item(revision=ABSENT)]
    listed = prefetch(endpoint, plan, env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[:3] == expected_lines(filled, "cached")
    assert lines[3:5] == [
        f"model    acme/absent@{ABSENT}  missing     size unknown (the hub cannot be reached)  "
        "(zeroshot.models: acme/absent)",
        f"model    acme/encoder@{ABSENT}  missing     size unknown (the hub cannot be reached)  "
        "(zeroshot.models: acme/encoder)"]
    assert lines[5].startswith("total: 5 items: 3 cached (") and lines[5].endswith(
        "), 2 missing (size unknown) (dry run: nothing downloaded)")

    manifest = tmp_path / "manifest.json"
    failed = prefetch(endpoint, plan, manifest=manifest, env=env)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1] == (
        f"capflow prefetch: error: model acme/absent@{ABSENT} is not in the hub cache and the hub cannot be "
        f"reached ({reason}); 1 more item missing too (--dry-run lists them)")
    assert "Traceback" not in failed.stderr and not manifest.exists()


def test_a_partly_cached_snapshot_is_missing_and_completed_from_the_hub(filled, tmp_path):
    snapshot = tmp_path / "hf-home" / "hub" / "models--acme--encoder" / "snapshots" / PINNED
    (snapshot / "sub" / "weights.bin").unlink()
    listed = prefetch(filled.endpoint, PLAN[:1], env=OFFLINE)
    # the sizes from the tree listing the cache keeps beside the partial snapshot
    assert listed.stdout.splitlines()[0] == expected_lines(filled, "missing")[0]
    result = prefetch(filled.endpoint, PLAN[:1], manifest=tmp_path / "manifest.json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == expected_lines(filled, "downloaded")[0]
    assert (snapshot / "sub" / "weights.bin").read_bytes() == bytes(range(256)) * 4


def test_paper_dry_run_offline_lists_every_item_missing(repo_root, tmp_path):
    result = run_capflow("prefetch", "--dry-run", "--configfile", "config/paper.yaml", "config/paper-ood.yaml",
                         cwd=repo_root, env={**OFFLINE, "HF_HOME": str(tmp_path / "empty-hf-home"),
                                             "CAPFLOW_DATA_DIR": str(tmp_path / "no-local-copies")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    unknown = "  missing     size unknown (the hub cannot be reached)  ("
    # 13 encoders (the English BGE models among them), the LLM, both benchmarks and three MTEB datasets
    assert len(lines) == 20 and all(unknown in line for line in lines[:19])
    assert lines[13].startswith("model    Qwen/Qwen3-32B@9216db5781bf21249d130ec9da846c4624c16137  missing ")
    assert lines[19] == "total: 19 items: 19 missing (size unknown) (dry run: nothing downloaded)"
    assert not Path(tmp_path / "empty-hf-home").exists() or not any(Path(tmp_path / "empty-hf-home").rglob("*.json"))


MTEB_CARD = """---
configs:
- config_name: corpus
  data_files: [{split: dev, path: corpus/dev.jsonl}]
- config_name: queries
  data_files: [{split: dev, path: queries/dev.jsonl}]
---
"""


def test_a_prepared_dataset_counts_as_cached_only_at_its_pinned_commit(filled, tmp_path):
    folder = filled.add("datasets", "mteb/EcomRetrieval", commit=PINNED)
    (folder / "README.md").write_text(MTEB_CARD)
    for config, rows in (("corpus", [{"_id": "d1", "text": "a cat"}, {"_id": "d2", "text": "a dog"}]),
                         ("queries", [{"_id": "q1", "text": "cat"}])):
        (folder / config).mkdir()
        (folder / config / "dev.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    item = {"kind": "dataset", "repo": "mteb/EcomRetrieval", "revision": PINNED,
            "loads": [["corpus", "dev"], ["queries", "dev"]], "used_by": ["evaluate.mteb.EcomRetrieval"]}
    # datasets reads the endpoint from HF_ENDPOINT only
    fill = prefetch(filled.endpoint, [item], manifest=tmp_path / "fill.json", env={"HF_ENDPOINT": filled.endpoint})
    assert fill.returncode == 0, fill.stderr
    assert json.loads((tmp_path / "fill.json").read_text())["items"][0]["commit"] == PINNED

    result = prefetch(closed_endpoint(), [item, {**item, "revision": ABSENT}], manifest=tmp_path / "m.json",
                      env={**OFFLINE, "HF_ENDPOINT": closed_endpoint()})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"capflow prefetch: error: dataset mteb/EcomRetrieval@{ABSENT} is not in the hub cache and the hub cannot "
        "be reached (HF_HUB_OFFLINE is set)")
    listed = prefetch(closed_endpoint(), [item], env={**OFFLINE, "HF_ENDPOINT": closed_endpoint()})
    assert listed.returncode == 0, listed.stderr
    line = listed.stdout.splitlines()[0]
    assert line.startswith(f"dataset  mteb/EcomRetrieval@{PINNED}  cached      ") and line.endswith(
        " B  (evaluate.mteb.EcomRetrieval)")
