"""Everything the configured jobs would fetch from the hub, fetched once into the hub caches.

Compute nodes often have no internet: the workflow runs this step where Snakemake runs, and every
job that could touch the network runs after it with ``HF_HUB_OFFLINE=1``, reading the caches only.

What to fetch is a plan, a list of items built from the config by :func:`plan`:

- ``model``: a model repo (an encoder's weights, the generation LLM), ``snapshot_download``-ed;
- ``files``: named files of a dataset repo (a benchmark's JSONL files), ``hf_hub_download``-ed;
- ``dataset``: configurations and splits of a dataset repo read with ``datasets.load_dataset`` (MTEB
  tasks, hub pools), which downloads them and prepares its own cache for offline reloads.

Each item carries the revision its jobs ask for (a pinned commit, or a branch), and is looked up in
the caches first, at that revision, with no network: an item the caches hold complete is not asked
for again, so a node with a filled shared cache and no internet passes the step. Only missing items
go to the hub: ``--dry-run`` gives their sizes from the hub API (``repo_info(files_metadata=True)``)
where the hub can be reached, and lists them as missing, size unknown, where it cannot.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from pathlib import Path

from capflow import hub
from capflow.benchmark import SOURCE_TYPES
from capflow.configcheck import zeroshot_models
from capflow.data import HUB_FILES
from capflow.errors import UserError
from capflow.io import write_json
from capflow.mteb_data import CONFIGS as MTEB_CONFIGS

log = logging.getLogger(__name__)

ITEM_KINDS = ("model", "files", "dataset")


def _add(items: dict, item: dict, used_by: str) -> None:
    """One item per kind, repo and revision, listing each use (and each dataset load) once."""
    key = (item["kind"], item["repo"], item["revision"])
    fresh = {**item, "used_by": [], **({"loads": []} if "loads" in item else {})}
    entry = items.setdefault(key, fresh)
    for value, field in [(load, "loads") for load in item.get("loads", [])] + [(used_by, "used_by")]:
        if value not in entry[field]:
            entry[field].append(value)


def _hub_recipe(recipe) -> bool:
    """Whether a recipe's weights come from the hub (not a local folder or an installed package)."""
    if recipe.kind != "dense" or recipe.path or not recipe.hub_id:
        return False
    return not (recipe.package and importlib.util.find_spec(recipe.package) is not None)


def plan(config: dict, recipes: dict, local_benchmarks: set[str]) -> list[dict]:
    """The hub items the configured jobs need, in a fixed order. ``config`` carries the schema's
    defaults; ``local_benchmarks`` are the benchmarks read from a local copy (nothing to fetch)."""
    items: dict = {}
    finetune, evaluate = config["finetune"], config["evaluate"]
    models = [(m, "zeroshot.models") for m in zeroshot_models(config, recipes)]
    models += [(finetune["base_model"], "finetune.base_model")]
    models += [(m, "evaluate.zeroshot_models") for m in evaluate["zeroshot_models"]]
    for name, key in models:
        recipe = recipes[name]
        if _hub_recipe(recipe):
            _add(items, {"kind": "model", "repo": recipe.hub_id, "revision": recipe.revision}, f"{key}: {name}")

    generate = config["generate"]
    if generate["backend"] in ("vllm", "transformers") and not Path(generate["model"]).exists():
        _add(items, {"kind": "model", "repo": generate["model"], "revision": generate["revision"]},
             f"generate.model ({generate['backend']})")

    for name in used_benchmarks(config):
        repo = config["benchmarks"][name].get("repo")
        if name in local_benchmarks or not repo:
            continue
        revision = config["data"]["revision"]
        item = {"kind": "files", "repo": repo, "revision": revision, "endpoint": config["data"]["endpoint"],
                "files": list(HUB_FILES), "optional": [SOURCE_TYPES]}
        _add(items, item, f"benchmarks.{name}")

    datasets = []  # (repo, revision, [[config, split], ...], used by)
    for name in [b["name"] for b in evaluate["benchmarks"] if b.get("view") == "mteb"]:
        source = evaluate["mteb"][name]
        loads = [[config_name, source["split"]] for config_name in MTEB_CONFIGS]
        datasets.append((source["repo"], source["revision"], loads, f"evaluate.mteb.{name}"))
    for name in config["trainsets"]["pools"]:
        source = config["pools"][name]["source"]
        if source["kind"] == "hub" and source.get("dataset"):
            datasets.append((source["dataset"], source.get("revision"), [[source.get("config"), source["split"]]],
                             f"pools.{name}.source"))
    for repo, revision, loads, used_by in datasets:
        if not Path(repo).exists():  # a local dataset folder has nothing to fetch
            _add(items, {"kind": "dataset", "repo": repo, "revision": revision, "loads": loads}, used_by)
    return list(items.values())


def used_benchmarks(config: dict) -> list[str]:
    """Benchmarks some job reads through the data step (zero-shot, evaluation, leakage, a hold-out)."""
    names = list(config["zeroshot"]["benchmarks"])
    names += [b["name"] for b in config["evaluate"]["benchmarks"] if b.get("view", "data") != "mteb"]
    names.append(config["leakage"]["benchmark"])
    source = config["pools"]["id"]["source"]
    if source["kind"] == "holdout" and "id" in config["trainsets"]["pools"]:
        names.append(source["benchmark"])
    return list(dict.fromkeys(names))


# --- the cache first, then the hub ------------------------------------------------------------------------

def _repo_type(item: dict) -> str:
    return "model" if item["kind"] == "model" else "dataset"


def _label(item: dict) -> str:
    return f"{item['kind']} {item['repo']}@{item.get('revision') or 'main'}"


def _folder_sizes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def cached(item: dict) -> dict | None:
    """The item as the hub caches hold it at its revision ({commit, files, bytes}), or None where
    anything it needs is absent. Reads the caches only: no network."""
    repo, revision = item["repo"], item.get("revision")
    if item["kind"] == "model":
        snapshot = hub.cached_snapshot(repo, revision=revision)
        if snapshot is None or any(hub.cached_snapshot(code) is None for code in code_repos(snapshot, repo)):
            return None
        sizes = _folder_sizes(snapshot)
        return {"commit": snapshot.name, "files": len(sizes), "bytes": sum(sizes.values())}
    if item["kind"] == "files":
        found = {name: hub.cached_file(repo, name, revision=revision) for name in [*item["files"],
                                                                                 *item.get("optional", [])]}
        if any(found[name] in (None, False) for name in item["files"]) or None in found.values():
            return None  # a needed file is absent, or the cache cannot tell whether an optional one exists
        paths = {name: path for name, path in found.items() if path}
        commit = next(path.parents[len(Path(name).parts) - 1].name for name, path in paths.items())
        return {"commit": commit, "files": len(paths), "bytes": sum(p.stat().st_size for p in paths.values())}
    commits, total = set(), 0
    for config_name, split in item["loads"]:
        found = hub.cached_dataset_split(repo, config_name, split=split)
        if found is None or (_is_commit(revision) and found[0] != revision):
            return None
        commits.add(found[0])
        total += found[1]
    return {"commit": commits.pop() if len(commits) == 1 else None, "files": None, "bytes": total}


def _is_commit(revision: str | None) -> bool:
    """Whether a revision is a commit sha (a branch such as main may move)."""
    return re.fullmatch(r"[0-9a-f]{40}", revision or "") is not None


def listed_in_cache(item: dict) -> dict:
    """A missing item's sizes where the cache knows them without the hub: a partly downloaded snapshot's
    tree listing."""
    sizes = hub.cached_listing(item["repo"], revision=item.get("revision")) if item["kind"] == "model" else None
    if sizes is None:
        return {"commit": None, "files": None, "bytes": None}
    return {"commit": None, "files": len(sizes), "bytes": sum(sizes.values())}


def measure(item: dict, endpoint: str | None) -> dict:
    """The item's commit and the sizes of the files it fetches, from the hub API."""
    commit, sizes = hub.repo_files(item["repo"], repo_type=_repo_type(item), revision=item.get("revision"),
                                   endpoint=item.get("endpoint") or endpoint)
    if item["kind"] == "files":
        missing = [f for f in item["files"] if f not in sizes]
        if missing:
            raise UserError(f"dataset '{item['repo']}' has no {', '.join(missing)} (needed by "
                            f"{', '.join(item['used_by'])})")
        wanted = {*item["files"], *item.get("optional", [])}
        sizes = {name: size for name, size in sizes.items() if name in wanted}
    return {"commit": commit, "files": len(sizes), "bytes": sum(sizes.values())}


def code_repos(snapshot: Path, repo: str) -> list[str]:
    """Other repos whose code the model's ``auto_map`` names (``owner/name--module.Class``):
    transformers loads that code from the named repo's main branch, so it is fetched with the model."""
    found: list[str] = []
    for name in ("config.json", "tokenizer_config.json"):
        path = snapshot / name
        auto_map = (json.loads(path.read_text(encoding="utf-8")).get("auto_map") or {}) if path.is_file() else {}
        for target in auto_map.values():
            for reference in target if isinstance(target, list) else [target]:
                if isinstance(reference, str) and "--" in reference:
                    other = reference.split("--")[0]
                    if other != repo and other not in found:
                        found.append(other)
    return found


def fetch(item: dict, endpoint: str | None) -> dict:
    """Download the item into the caches: what the caches then hold of it ({commit, files, bytes})."""
    repo, revision, endpoint = item["repo"], item.get("revision"), item.get("endpoint") or endpoint
    if item["kind"] == "model":
        snapshot = hub.download_snapshot(repo, revision=revision, endpoint=endpoint)
        for code in code_repos(snapshot, repo):
            hub.download_snapshot(code, endpoint=endpoint)
        sizes = _folder_sizes(snapshot)
        return {"commit": snapshot.name, "files": len(sizes), "bytes": sum(sizes.values())}
    if item["kind"] == "files":
        paths = [hub.download_file(repo, name, revision=revision, endpoint=endpoint) for name in item["files"]]
        paths += [path for name in item.get("optional", [])
                  if (path := hub.download_optional_file(repo, name, revision=revision, endpoint=endpoint))]
        return {"commit": paths[0].parent.name, "files": len(paths), "bytes": sum(p.stat().st_size for p in paths)}
    # Asked first: without the hub, datasets would quietly reload whatever copy it prepared last.
    commit = measure(item, endpoint)["commit"]
    for config_name, split in item["loads"]:
        label = f"{repo}/{config_name}/{split}" if config_name else f"{repo}/{split}"
        hub.load_dataset(repo, config_name, split=split, revision=revision, what=f"cannot prefetch '{label}'")
    found = cached(item)
    if found is None:
        raise UserError(f"{_label(item)}: the newest copy in the datasets cache is not of commit {commit}, and "
                        "offline jobs reload the newest (HF_ENDPOINT and --endpoint name different hubs?)")
    return found


def human_bytes(size: int) -> str:
    """Decimal units, as the hub shows sizes: 512 B, 1.5 kB, 438.0 MB, 65.5 GB."""
    if size < 1000:
        return f"{size} B"
    scaled, unit = next((size / 1000 ** power, unit) for power, unit in ((3, "GB"), (2, "MB"), (1, "kB"))
                        if size >= 1000 ** power)
    return f"{scaled:.1f} {unit}"


def _missing_offline(item: dict, missing: list[dict]) -> UserError:
    """One line for the first missing item the hub could not be asked for, counting the others."""
    others = len(missing) - 1
    more = f"; {others} more item{'s' if others > 1 else ''} missing too (--dry-run lists them)" if others else ""
    reason = "HF_HUB_OFFLINE is set" if _offline_mode() else "no network"
    return UserError(f"{_label(item)} is not in the hub cache and the hub cannot be reached ({reason}){more}")


def _offline_mode() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def run(items: list[dict], *, dry_run: bool, endpoint: str | None = None) -> dict:
    """Each item from the caches where they hold it; the rest measured (dry run) or downloaded. Offline,
    a dry run lists the missing items without sizes, and a real run fails on the first."""
    found = [cached(item) for item in items]
    missing = [item for item, hit in zip(items, found, strict=True) if hit is None]
    entries = []
    for item, hit in zip(items, found, strict=True):
        if hit is not None:
            state, figures = "cached", hit
        elif dry_run:
            state = "missing"
            try:
                figures = measure(item, endpoint)
            except hub.HubUnreachableError:
                figures = listed_in_cache(item)
        else:
            state = "downloaded"
            try:
                figures = fetch(item, endpoint)
            except hub.HubUnreachableError:
                raise _missing_offline(item, missing[missing.index(item):]) from None
        entries.append({"kind": item["kind"], "repo": item["repo"], "revision": item.get("revision") or "main",
                        "state": state, **{key: figures[key] for key in ("commit", "files", "bytes")},
                        **({"loads": item["loads"]} if item["kind"] == "dataset" else {}),
                        "used_by": item["used_by"]})
        log.info("%s", _line(entries[-1]))
    return {"downloaded": not dry_run, "items": entries,
            "total_bytes": sum(e["bytes"] or 0 for e in entries)}


def _size(entry: dict) -> str:
    if entry["bytes"] is None:
        return "size unknown (the hub cannot be reached)" if entry["state"] == "missing" else "size unknown"
    files = "" if entry["files"] is None else f"{entry['files']} files  "
    return files + human_bytes(entry["bytes"])


def _line(entry: dict) -> str:
    return (f"{entry['kind']:<8} {entry['repo']}@{entry['revision']}  {entry['state']:<10}  {_size(entry)}  "
            f"({'; '.join(entry['used_by'])})")


def _group_total(state: str, group: list[dict]) -> str:
    known = [e["bytes"] for e in group if e["bytes"] is not None]
    unknown = len(group) - len(known)
    if not known:
        return f"{len(group)} {state} (size unknown)"
    return f"{len(group)} {state} ({human_bytes(sum(known))}{f', {unknown} of unknown size' if unknown else ''})"


def listing(manifest: dict) -> str:
    """What the step prints: one line per item, then the totals by state (cached, downloaded, missing)."""
    entries = manifest["items"]
    groups = {state: [e for e in entries if e["state"] == state] for state in ("cached", "downloaded", "missing")}
    totals = ", ".join(_group_total(state, group) for state, group in groups.items() if group)
    return "\n".join([*map(_line, entries), f"total: {len(entries)} items" + (f": {totals}" if totals else "")
                      + ("" if manifest["downloaded"] else " (dry run: nothing downloaded)")])


def parse_plan(text: str) -> list[dict]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--plan-json: malformed JSON: {exc}") from None
    if not isinstance(items, list):
        raise UserError("--plan-json: expected a list of items")
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("kind") not in ITEM_KINDS or not item.get("repo"):
            raise UserError(f"--plan-json: item {index}: needs a kind ({', '.join(ITEM_KINDS)}) and a repo, "
                            f"got {item!r}")
        item.setdefault("used_by", [])
    return items


DEFAULT_CONFIG = "config/config.yaml"
CONFIG_SCHEMA = "workflow/schemas/config.schema.yaml"
MODELS_SCHEMA = "workflow/schemas/models.schema.yaml"


def local_benchmarks(config: dict) -> set[str]:
    from capflow.data import local_source_files

    return {name for name in config["benchmarks"] if local_source_files(name, config["data"]["local_dirs"])}


def plan_from_config_files(paths: list[Path]) -> list[dict]:
    """The plan of a workflow started with ``--configfile paths`` in this folder: the files merged
    over config/config.yaml as Snakemake merges them, checked, with the schema's defaults."""
    import yaml
    from snakemake.utils import update_config, validate

    from capflow.configcheck import check_config, check_planned_config
    from capflow.recipes import load_recipes

    config: dict = {}
    for path in [Path(DEFAULT_CONFIG), *paths]:
        try:
            update_config(config, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"cannot read the config: {' '.join(str(exc).split())}", path) from None
    check_config(config, CONFIG_SCHEMA)
    validate(config, str(Path(CONFIG_SCHEMA).resolve()))
    recipes = load_recipes(config["models_file"], MODELS_SCHEMA)
    check_planned_config(config, recipes)
    return plan(config, recipes, local_benchmarks(config))


def configure_parser(parser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--plan-json", help="the items to fetch, as JSON (the workflow builds it from the config)")
    what.add_argument("--configfile", nargs="+", type=Path,
                      help="plan from these config files over config/config.yaml, as Snakemake would "
                           "(run in the workflow's folder)")
    parser.add_argument("--manifest", type=Path, help="output manifest JSON: each item's revision, commit and bytes")
    parser.add_argument("--endpoint", help="hub endpoint (default $HF_ENDPOINT or huggingface.co)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be fetched and its size; fetch nothing")


def main(args) -> None:
    if not args.dry_run and args.manifest is None:
        raise UserError("--manifest is required unless --dry-run")
    items = plan_from_config_files(args.configfile) if args.configfile else parse_plan(args.plan_json)
    manifest = run(items, dry_run=args.dry_run, endpoint=args.endpoint)
    print(listing(manifest))
    if args.manifest is not None:
        write_json(args.manifest, manifest)
