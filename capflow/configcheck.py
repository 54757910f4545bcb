"""Config and recipe checks that run when the workflow is planned, each failing with one line that
names the key: unknown keys (with a suggestion), schema violations, and what the schema cannot say
(names that must exist, a base model that must be dense, thresholds that must be fractions)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import yaml

from capflow.errors import UserError


def unknown_keys(config, schema: dict, prefix: str = "") -> list[str]:
    """Dotted paths of keys the schema does not allow, each with a suggestion where one is close."""
    types = schema.get("type")
    if not isinstance(config, dict) or "object" not in (types if isinstance(types, list) else [types]):
        return []
    if "then" in schema:  # a section that may be null keeps its keys under if: {type: object}, then: ...
        schema = schema["then"]
    known = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    problems = []
    for key, value in config.items():
        path = f"{prefix}{key if str(key).isprintable() else repr(str(key))[1:-1]}"  # a line break stays one line
        if key in known:
            problems += unknown_keys(value, known[key], path + ".")
        elif isinstance(extra, dict):
            problems += unknown_keys(value, extra, path + ".")
        elif extra is False:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else f" (known: {', '.join(known)})"
            problems.append(f"'{path}'{hint}")
    return problems


def schema_error(instance, schema: dict) -> tuple[list, str] | None:
    """The most relevant schema violation as (path, message), or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(instance))
    return None if error is None else (list(error.absolute_path), error.message)


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def check_config(config: dict, schema_path: str | Path) -> None:
    """Unknown keys and schema violations of the user's config, before defaults are filled in."""
    schema = load_schema(schema_path)
    problems = unknown_keys(config, schema)
    if problems:
        raise UserError(f"unknown config key {'; '.join(problems)}")
    found = schema_error(config, schema)
    if found:
        path, message = found
        raise UserError(f"config {'.'.join(map(str, path)) or '(top level)'}: {message}")


def check_recipes(raw, schema_path: str | Path, source: str | Path) -> None:
    """The model registry against its schema: one line naming the model and the key."""
    schema = load_schema(schema_path)
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of model name -> recipe", source)
    for name, recipe in raw.items():
        if recipe is not None and not isinstance(recipe, dict):
            raise UserError(f"model '{name}': the entry must be a mapping of recipe keys, got {recipe!r}", source)
        problems = unknown_keys(recipe or {}, schema["additionalProperties"])
        if problems:
            raise UserError(f"model '{name}': unknown recipe key {'; '.join(problems)}", source)
    found = schema_error({k: v or {} for k, v in raw.items()}, schema)
    if found:
        path, message = found
        if len(path) < 2:
            raise UserError(f"model name {message}", source)
        raise UserError(f"model '{path[0]}': {'.'.join(map(str, path[1:]))}: {message}", source)


def _check_known(kind: str, names, known, key: str) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"config {key}: unknown {kind} {', '.join(unknown)} (known: {', '.join(sorted(known))})")


def benchmark_zeroshot_models(config: dict, recipes: dict, benchmark: str) -> list[str]:
    """The models of zeroshot.models run on ``benchmark``: those whose recipe's languages hold its language."""
    language = config["benchmarks"][benchmark]["language"]
    return [m for m in config["zeroshot"]["models"] if recipes[m].runs_on(language)]


def zeroshot_models(config: dict, recipes: dict) -> list[str]:
    """The models of zeroshot.models that run on at least one zero-shot benchmark."""
    run = {m for b in config["zeroshot"]["benchmarks"] for m in benchmark_zeroshot_models(config, recipes, b)}
    return [m for m in config["zeroshot"]["models"] if m in run]


def _check_zeroshot_languages(config: dict, recipes: dict) -> None:
    """Each zero-shot benchmark has a model its language is among (a model's `languages` in the registry)."""
    for benchmark in config["zeroshot"]["benchmarks"]:
        if not benchmark_zeroshot_models(config, recipes, benchmark):
            language = config["benchmarks"][benchmark]["language"]
            raise UserError(f"config zeroshot.models: none runs on {benchmark} (language {language}); each has "
                            f"languages in the models file that leave {language} out")


def _check_evaluated_tokenizers(config: dict, recipes: dict) -> None:
    evaluate = config["evaluate"]
    for model in evaluate["zeroshot_models"]:
        tokenizer = recipes[model].tokenizer
        for entry in evaluate["benchmarks"] if tokenizer is not None else ():
            name = entry["name"]
            source = evaluate["mteb"] if entry.get("view") == "mteb" else config["benchmarks"]
            language = source.get(name, {}).get("language")
            if language != "en":
                raise UserError(f"config evaluate.zeroshot_models: model '{model}' (BM25 tokenizer {tokenizer}) is "
                                f"for English, but evaluate.benchmarks has '{name}' in '{language}'")


def _check_pool_files(pools: dict, used) -> None:
    """A pool read from the user's own file needs that file named before 88 jobs are planned around it."""
    for name in used:
        source = pools[name]["source"]
        if source["kind"] in ("jsonl", "text") and not source.get("path"):
            raise UserError(f"pools.{name}.source.path is not set: point it at your passage file "
                            f"(source kind '{source['kind']}'), or leave '{name}' out of trainsets.pools "
                            "(config/paper-ood.yaml runs the paper without the in-domain pool)")


def check_planned_config(config: dict, recipes: dict) -> None:
    """What the schema cannot say, checked once defaults are in: every name must exist, and values
    that only a later job would trip over must make sense now."""
    from capflow.leakage import parse_fraction

    results = str(config["results"]).strip()
    if not results or Path(results).resolve() == Path("/"):
        raise UserError(f"config results: must name a folder other than the file system root, got {results!r}")
    zeroshot, evaluate, finetune = config["zeroshot"], config["evaluate"], config["finetune"]
    _check_known("model(s)", zeroshot["models"], recipes, "zeroshot.models")
    _check_known("benchmark(s)", zeroshot["benchmarks"], config["benchmarks"], "zeroshot.benchmarks")
    _check_zeroshot_languages(config, recipes)
    _check_evaluated_tokenizers(config, recipes)
    _check_known("model", [finetune["base_model"]], recipes, "finetune.base_model")
    if recipes[finetune["base_model"]].kind != "dense":
        raise UserError(f"config finetune.base_model: '{finetune['base_model']}' is not a dense encoder "
                        "and cannot be finetuned")
    _check_known("model(s)", evaluate["zeroshot_models"], recipes, "evaluate.zeroshot_models")
    views = {b["name"]: b.get("view", "data") for b in evaluate["benchmarks"]}
    _check_known("benchmark(s)", [b for b, v in views.items() if v != "mteb"], config["benchmarks"],
                 "evaluate.benchmarks")
    _check_known("benchmark(s)", [b for b, v in views.items() if v == "mteb"], evaluate["mteb"],
                 "evaluate.benchmarks (view mteb)")

    pools, leakage = config["pools"], config["leakage"]
    held = pools["id"]["source"]["benchmark"] if pools["id"]["source"]["kind"] == "holdout" else None
    if held is not None:
        _check_known("benchmark", [held], config["benchmarks"], "pools.id.source.benchmark")
        if leakage["benchmark"] != held:
            raise UserError(f"config leakage.benchmark: must be '{held}', the benchmark the id pool is held out "
                            f"of (its test view holds the test captions), not '{leakage['benchmark']}'")
    if pools["ood"]["source"]["kind"] == "holdout":
        raise UserError("config pools.ood.source.kind: 'holdout' is for the id pool only")
    testviews = [b for b, v in views.items() if v == "testview" and b != held]
    if testviews:
        raise UserError(f"config evaluate.benchmarks: no test view of {', '.join(testviews)} "
                        "(pools.id.source holds no captions out of it)")
    _check_known("benchmark", [leakage["benchmark"]], config["benchmarks"], "leakage.benchmark")
    if not views:
        raise UserError("config evaluate.benchmarks: empty; name the benchmarks the finetuned models are "
                        "evaluated on (Table 4)")
    if held is not None:
        _check_holdout_size(pools["id"]["source"], config["data"]["local_dirs"])
    _check_knobs(finetune, config["trainsets"])
    _check_report(config["report"], zeroshot_models(config, recipes), recipes)
    _check_pool_files(pools, config["trainsets"]["pools"])
    _check_text_limit(config["data"]["max_text_chars"], pools, config["trainsets"]["pools"])
    for key in ("threshold", "exact_from"):
        parse_fraction(leakage[key], f"config leakage.{key}")


def _check_holdout_size(source: dict, local_dirs: list[str]) -> None:
    """A hold-out must leave captions for the test view (checked where the benchmark has a local copy)."""
    from capflow.benchmark import CANDIDATES
    from capflow.data import local_source_files

    files = [f for f in local_source_files(source["benchmark"], local_dirs) if Path(f).name == CANDIDATES]
    if not files:
        return
    with open(files[0], "rb") as handle:
        size = sum(1 for line in handle if line.strip())
    # an empty file is the data step's to refuse, naming it
    if size and source["holdout"] >= size:
        raise UserError(f"config pools.id.source.holdout: {source['holdout']} captions held out of "
                        f"{source['benchmark']}, which has {size}: its test view would be empty")


def _check_knobs(finetune: dict, trainsets: dict) -> None:
    """The training knobs beyond the paper: mining settings that can yield negatives, a dev view that
    exists, and knobbed settings that are trained."""
    from capflow.train.negatives import MiningSettings
    from capflow.vocabulary import setting_name

    if finetune["hard_negatives"] is not None:
        try:
            MiningSettings(**finetune["hard_negatives"]).check()
        except UserError as exc:
            raise UserError(f"config finetune.hard_negatives: {exc}") from None
    if finetune["eval"] is not None and trainsets["heldout_fraction"] <= 0:
        raise UserError("config finetune.eval: the dev view is the held-out pairs, but trainsets.heldout_fraction "
                        "is 0; hold some out or set finetune.eval to null")
    trained = [setting_name(pool, mix) for pool in trainsets["pools"] for mix in trainsets["mixes"]]
    _check_known("setting(s)", finetune["knob_settings"] or [], trained, "finetune.knob_settings")


def _check_text_limit(limit: int, pools: dict, used: list[str]) -> None:
    """A pool whose shortest kept passage is longer than any text a source may hold would be empty."""
    for pool in used:
        if pools[pool]["min_chars"] > limit:
            raise UserError(f"config data.max_text_chars: {limit} is less than pools.{pool}.min_chars "
                            f"({pools[pool]['min_chars']}): every passage of that pool would be refused or dropped")


def _check_report(report: dict, models: list[str], recipes: dict) -> None:
    dense = [m for m in models if recipes[m].kind == "dense"]
    featured = report["featured_model"]
    # without a dense model Table 3 is left out, and the featured model with it
    if featured is not None and dense and featured not in dense:
        raise UserError(f"config report.featured_model: '{featured}' is not a dense model of zeroshot.models "
                        f"(choose from {', '.join(dense)})")
    classification = report["classification"]
    if classification["threshold"] not in classification["thresholds"]:
        raise UserError(f"config report.classification.threshold: {classification['threshold']} is not among "
                        f"report.classification.thresholds {classification['thresholds']}")


def check_config_files(paths) -> None:
    """Each config file read again, strictly: Snakemake's own loader lets the last of two equal keys win
    and expands aliases without bound. A duplicate key, an alias bomb, bad UTF-8 or a folder in place
    of the file is one line naming the file."""
    from capflow.yamlfiles import load_config_file

    for path in paths:
        load_config_file(path)


def _resolve(schema: dict, root: dict) -> dict:
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        target = root
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def pattern_mismatches(instance, schema: dict, root: dict | None = None, path: tuple = ()) -> list:
    """(path, value, pattern) of each string that the schema gives a pattern but that does not match it
    whole. JSON Schema only searches for a pattern, and ``$`` also matches before a final newline."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return []
    found = []
    pattern = schema.get("pattern")
    if (isinstance(instance, str) and isinstance(pattern, str) and re.search(pattern, instance)
            and not re.fullmatch(pattern, instance)):
        found.append((path, instance, pattern))
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        names = schema.get("propertyNames")
        for key, value in instance.items():
            if isinstance(names, dict):
                found += pattern_mismatches(key, names, root, path)
            if key in properties:
                found += pattern_mismatches(value, properties[key], root, path + (key,))
            elif isinstance(extra, dict):
                found += pattern_mismatches(value, extra, root, path + (key,))
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            found += pattern_mismatches(item, schema["items"], root, path + (index,))
    return found


def check_name_patterns(config: dict, schema_path: str | Path) -> None:
    """Names (benchmarks, models, pools) must match their pattern whole: a trailing newline would pass
    the schema and fail much later, as a missing input."""
    found = pattern_mismatches(config, load_schema(schema_path))
    if found:
        path, value, _ = found[0]
        raise UserError(f"config {'.'.join(map(str, path))}: {value!r} is not a valid name (letters, digits and "
                        ". _ + - only, starting with a letter or digit)")


def check_keys_one_line(config, prefix: str = "") -> None:
    """A key with a line break (legal YAML) would split every message that names it: refused first."""
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(key, str) and key.splitlines() != [key]:
                raise UserError(f"config {prefix}{key!r}: a key may not be empty or hold a line break")
            check_keys_one_line(value, f"{prefix}{key}.")
    elif isinstance(config, list):
        for index, item in enumerate(config):
            check_keys_one_line(item, f"{prefix}{index}.")
