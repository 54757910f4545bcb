"""Every hub item a configuration's prefetch plan lists, built as a tiny stand-in (cached on disk) and
served by the loopback hub at the repo id and revision the plan pins."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from fakes.hub_server import LocalHub
from fakes.standins import corpus
from fakes.standins import datasets as standin_datasets
from fakes.standins.llm import build_llm
from fakes.standins.models import NEW_IMPL_REPO, build_encoder, family_of, write_new_impl

# Bump whenever a builder changes what it writes: caches of other versions are then not reused.
STANDINS_VERSION = "1"
REPO_ROOT = Path(__file__).resolve().parents[3]
_COMMIT = re.compile("[0-9a-f]{40}")


def planned(config_files, root: Path = REPO_ROOT):
    """The plan of ``config_files`` (merged over the default config, as Snakemake merges them) and its
    prefetch items; planned in ``root``, where the config's relative paths point."""
    from capflow.plan.build import plan_from_files

    with contextlib.chdir(root):
        plan, _ = plan_from_files([Path(f).resolve() for f in config_files], root)
        return plan, list(plan.prefetch_items.values())


def _served(plan, items: list[dict], root: Path) -> list[dict]:
    """What the hub must hold: each item as {kind, repo, revision, build}, plus the code repos of
    custom-code encoders (on main, as their ``auto_map`` names them)."""
    served = []
    for item in items:
        entry = {"kind": "datasets" if item["kind"] in ("files", "dataset") else "models", "repo": item["repo"],
                 "revision": item.get("revision") or "main"}
        if item["kind"] == "model" and any(use.startswith("generate.model") for use in item["used_by"]):
            prompts = plan.config["generate"]["prompts"]
            build = {"what": "llm", "prompts": prompts, "prompts_sha256": _sha256(root / prompts)}
            served.append({**entry, "build": build})
        elif item["kind"] == "model":
            pooling = next(r.pooling for r in plan.recipes.values() if r.hub_id == item["repo"])
            served.append({**entry, "build": {"what": "encoder", "pooling": pooling}})
            if family_of(item["repo"]) == "new":
                served.append({"kind": "models", "repo": NEW_IMPL_REPO, "revision": "main",
                               "build": {"what": "new-impl"}})
        elif item["kind"] == "files":
            name = next(use.removeprefix("benchmarks.") for use in item["used_by"] if use.startswith("benchmarks."))
            served.append({**entry, "build": {"what": "benchmark", "name": name,
                                              "files": [*item["files"], *item.get("optional", [])]}})
        elif {config for config, _ in item["loads"]} == {"corpus", "queries", "default"}:
            served.append({**entry, "build": {"what": "mteb", "split": item["loads"][0][1]}})
        else:
            source = next(pool["source"] for pool in plan.config["pools"].values()
                          if pool["source"].get("dataset") == item["repo"])
            served.append({**entry, "build": {"what": "pool", "config": source.get("config"), "split": source["split"],
                                              "text_field": source.get("text_field", "text"),
                                              "id_field": source.get("id_field")}})
    return list({(e["kind"], e["repo"], e["revision"]): e for e in served}.values())


def _sha256(path: Path) -> str:
    """The digest of the prompt file: the LLM is trained on its prompts, so other prompts mean another build."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key(entry: dict) -> str:
    """A stand-in's folder name: its repo, revision and a digest of how it is built."""
    recipe = hashlib.sha256(json.dumps(entry["build"], sort_keys=True).encode()).hexdigest()[:10]
    return f"{entry['repo']}@{entry['revision']}-{recipe}"


def _build(entry: dict, folder: Path, chars: list[str], texts: list[str], data_root: Path | None,
           root: Path) -> dict:
    build = entry["build"]
    what = build["what"]
    if what == "encoder":
        return {"family": build_encoder(folder, entry["repo"], pooling=build["pooling"], chars=chars, texts=texts)}
    if what == "new-impl":
        write_new_impl(folder)
        return {}
    if what == "llm":
        build_llm(folder, prompts_file=root / build["prompts"], texts=texts)
        return {"family": "qwen3-causal-lm"}
    if what == "benchmark":
        source = Path(data_root or "") / build["name"]
        copied = [name for name in build["files"] if (source / name).is_file()]
        if not data_root or not copied:
            raise FileNotFoundError(f"the benchmark {build['name']} is planned from the hub, but {source} lacks it")
        folder.mkdir(parents=True)
        for name in copied:
            shutil.copyfile(source / name, folder / name)
        return {"files": copied}
    if what == "mteb":
        return standin_datasets.mteb_retrieval(folder, entry["repo"], build["split"])
    return standin_datasets.passage_pool(folder, entry["repo"], build["config"], build["split"],
                                         text_field=build["text_field"], id_field=build["id_field"])


def _training_texts(data_root: Path | None) -> list[str]:
    """Passages the tokenizers are trained on and the LLM learns to answer about."""
    return corpus.reference_texts(data_root)[:3000] + corpus.passages(0, 500, (5, 60))


def build_standins(cache_root: Path, config_files, *, root: Path = REPO_ROOT,
                   data_root: Path | None = None) -> list[dict]:
    """Each hub item of the configuration's prefetch plan as a stand-in folder under ``cache_root``
    (built once per version, character set and item; later calls reuse it): a list of {kind, repo,
    revision, folder, facts}. ``data_root`` holds local benchmark copies (CapRetrieval), served where the
    plan fetches them from the hub and read for the tokenizers' characters."""
    data_root = Path(data_root) if data_root else None
    plan, items = planned(config_files, root)
    chars = corpus.charset(data_root)
    store = Path(cache_root) / f"v{STANDINS_VERSION}-{corpus.digest(chars)}"
    store.mkdir(parents=True, exist_ok=True)
    texts = None
    built = []
    with open(store / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (parallel test sessions)
        for entry in _served(plan, items, root):
            folder = store / entry["kind"] / _key(entry)
            facts_file = folder.parent / f"{folder.name}.json"
            if not facts_file.exists():
                texts = texts if texts is not None else _training_texts(data_root)
                staging = Path(tempfile.mkdtemp(dir=store, prefix=".build-"))
                try:
                    facts = _build(entry, staging / "repo", chars, texts, data_root, root)
                    folder.parent.mkdir(parents=True, exist_ok=True)
                    shutil.rmtree(folder, ignore_errors=True)
                    os.replace(staging / "repo", folder)
                    facts_file.write_text(json.dumps(facts, sort_keys=True))
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            built.append({**{k: entry[k] for k in ("kind", "repo", "revision")}, "folder": folder,
                          "facts": json.loads(facts_file.read_text())})
    return built


def serve(hub_root: Path, built: list[dict]) -> LocalHub:
    """A started loopback hub holding each stand-in: a pinned commit by its sha only (as on the hub, where
    main has moved on since), a branch as that branch."""
    hub = LocalHub(hub_root)
    for entry in built:
        revision = entry["revision"]
        pinned = bool(_COMMIT.fullmatch(revision))
        target = hub.add(entry["kind"], entry["repo"], commit=revision if pinned else None,
                         branches=() if pinned else (revision,))
        shutil.copytree(entry["folder"], target, dirs_exist_ok=True)
    hub.standins = built
    return hub.__enter__()


def paper_standins_hub(hub_root: Path, config_files, *, cache_root: Path, root: Path = REPO_ROOT,
                       data_root: Path | None = None) -> LocalHub:
    """A started loopback hub serving a stand-in of everything the prefetch plan of ``config_files``
    downloads, at the pinned revisions; the caller stops it (``hub.__exit__()``). ``hub.standins``
    lists what it serves."""
    return serve(hub_root, build_standins(cache_root, config_files, root=root, data_root=data_root))
