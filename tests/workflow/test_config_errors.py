"""Config and recipe mistakes stop the workflow when it is planned, in one line naming the key; hostile
values never reach a shell unquoted."""

from __future__ import annotations

import argparse

import pytest
import yaml

from capflow.configcheck import check_config, check_recipes
from capflow.errors import UserError
from capflow.plan.build import plan_from_files

from conftest import REPO, run_snakemake, write_jsonl

CONFIG_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
MODELS_SCHEMA = REPO / "workflow" / "schemas" / "models.schema.yaml"


def plan_with(workdir, config: dict | None = None, models: dict | None = None):
    """A dry run of the workflow with ``config`` on top of the embedded default (and ``models`` as the registry)."""
    args = ["-n", "--cores", "1"]
    if models is not None:
        (workdir / "bad_models.yaml").write_text(yaml.safe_dump(models, allow_unicode=True))
        config = {**(config or {}), "models_file": "bad_models.yaml"}
    if config is not None:
        (workdir / "bad.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
        args.append("--configfile=bad.yaml")
    return run_snakemake(workdir, *args, "all")


# config value -> the line the plan must stop with
CONFIG_CASES = {
    "threshold-zero": ({"leakage": {"threshold": 0}}, "config leakage.threshold must be in (0, 1], got 0"),
    "threshold-above-one": ({"leakage": {"threshold": 1.5}}, "config leakage.threshold must be in (0, 1], got 1.5"),
    "threshold-text": ({"leakage": {"threshold": "abc"}},
                       "config leakage.threshold must be a number in (0, 1], got 'abc'"),
    "exact-from-zero": ({"leakage": {"exact_from": 0}}, "config leakage.exact_from must be in (0, 1], got 0"),
    "base-model-bm25": ({"finetune": {"base_model": "bm25"}},
                        "config finetune.base_model: 'bm25' is not a dense encoder and cannot be finetuned"),
    "no-zeroshot-models": ({"zeroshot": {"models": []}}, "config zeroshot.models: [] should be non-empty"),
    "no-mixes": ({"trainsets": {"mixes": []}}, "config trainsets.mixes: [] should be non-empty"),
    "no-pools": ({"trainsets": {"pools": []}}, "config trainsets.pools: [] should be non-empty"),
    "unknown-mix": ({"trainsets": {"mixes": ["kw", "both"]}}, "config trainsets.mixes.1: 'both' is not one of"),
    "empty-results": ({"results": ""}, "config results: '' should be non-empty"),
    "root-results": ({"results": "/"},
                     "config results: must name a folder other than the file system root, got '/'"),
    "hostile-benchmark-name": ({"benchmarks": {"x$(touch pwned)": {"language": "en"}}},
                               "config benchmarks: 'x$(touch pwned)' does not match"),
    "hostile-model-name": ({"zeroshot": {"models": ["bm25", "m;rm -rf x"]}},
                           "config zeroshot.models.1: 'm;rm -rf x' does not match"),
    "regex-benchmark-name": ({"evaluate": {"benchmarks": [{"name": "Cap.*", "view": "mteb"}],
                                           "mteb": {"Cap.*": {"repo": "x/y"}}}},
                             "config evaluate.mteb: 'Cap.*' does not match"),
    "no-evaluation-benchmarks": ({"evaluate": {"benchmarks": []}},
                                 "config evaluate.benchmarks: empty; name the benchmarks the finetuned models"),
    "unknown-featured-model": ({"report": {"featured_model": "bge-m3"}},
                               "config report.featured_model: 'bge-m3' is not a dense model of zeroshot.models "
                               "(choose from all-MiniLM-L6-v2)"),
    "bm25-featured-model": ({"report": {"featured_model": "bm25"}},
                            "config report.featured_model: 'bm25' is not a dense model of zeroshot.models"),
    "threshold-not-swept": ({"report": {"classification": {"threshold": 0.57}}},
                            "config report.classification.threshold: 0.57 is not among "
                            "report.classification.thresholds"),
    "holdout-larger-than-benchmark": ({"pools": {"id": {"source": {"holdout": 5000}}}},
                                      "config pools.id.source.holdout: 5000 captions held out of CapRetrievalEn, "
                                      "which has 3024: its test view would be empty"),
    "max-text-chars-zero": ({"data": {"max_text_chars": 0}}, "config data.max_text_chars: 0 is less than the minimum "
                                                             "of 1"),
    "max-text-chars-text": ({"data": {"max_text_chars": "100k"}},
                            "config data.max_text_chars: '100k' is not of type 'integer'"),
    "max-text-chars-fraction": ({"data": {"max_text_chars": 1.5}},
                                "config data.max_text_chars: 1.5 is not of type 'integer'"),
    "max-text-chars-below-pool-minimum": ({"data": {"max_text_chars": 30}},
                                          "config data.max_text_chars: 30 is less than pools.ood.min_chars (40): "
                                          "every passage of that pool would be refused or dropped"),
    "testview-without-holdout": ({"evaluate": {"benchmarks": [{"name": "CapRetrieval", "view": "testview"}]}},
                                 "config evaluate.benchmarks: no test view of CapRetrieval"),
    "negatives-beyond-the-ranks": ({"finetune": {"hard_negatives": {"count": 8, "range_min": 45}}},
                                   "config finetune.hard_negatives: 8 hard negatives per pair cannot come from "
                                   "ranks 45 to 50"),
    "unknown-miner": ({"finetune": {"hard_negatives": {"miner": "tfidf"}}},
                      "config finetune.hard_negatives.miner: 'tfidf' is not one of ['bm25', 'dense']"),
    "eval-without-steps": ({"finetune": {"eval": {"keep_best": True}}},
                           "config finetune.eval: 'steps' is a required property"),
    "eval-without-heldout": ({"finetune": {"eval": {"steps": 5}}, "trainsets": {"heldout_fraction": 0}},
                             "config finetune.eval: the dev view is the held-out pairs, but "
                             "trainsets.heldout_fraction is 0"),
    "unknown-knob-setting": ({"finetune": {"eval": {"steps": 5}, "knob_settings": ["ood-qa"]}},
                             "config finetune.knob_settings: unknown setting(s) ood-qa (known: id-kw, id-sm, "
                             "id-smkw, ood-kw, ood-sm, ood-smkw)"),
    "no-model-for-a-language": ({"zeroshot": {"models": ["bm25-nltk"]}},
                                "config zeroshot.models: none runs on CapRetrieval (language zh); each has "
                                "languages in the models file that leave zh out"),
    "authors-bm25-evaluated-on-chinese": ({"evaluate": {"zeroshot_models": ["bm25-nltk"],
                                                        "benchmarks": [{"name": "CapRetrieval"}]}},
                                          "config evaluate.zeroshot_models: model 'bm25-nltk' (BM25 tokenizer "
                                          "nltk-porter) is for English, but evaluate.benchmarks has 'CapRetrieval' "
                                          "in 'zh'"),
    "misspelt-knob": ({"finetune": {"hard_negatives": {"counts": 2}}},
                      "unknown config key 'finetune.hard_negatives.counts' (did you mean "
                      "'finetune.hard_negatives.count'?)"),
}


def check_as_planned(overrides: dict) -> None:
    """The plan the Snakefile builds at planning, without Snakemake."""
    plan_from_files([], REPO, overrides=overrides)


@pytest.mark.parametrize("config, message", CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_config_errors_are_found_at_planning_in_one_line(config, message):
    with pytest.raises(UserError) as error:
        check_as_planned(config)
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("case", ["threshold-text", "hostile-benchmark-name"])
def test_a_config_error_stops_snakemake_before_any_job(workflow_copy, case):
    config, message = CONFIG_CASES[case]
    result = plan_with(workflow_copy, config)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert message in out, out[-2000:]
    assert "Traceback" not in out
    assert not (workflow_copy / "pwned").exists() and not (workflow_copy / "results").exists()


def minilm(**changes) -> dict:
    recipes = yaml.safe_load((REPO / "config" / "models.yaml").read_text())
    recipes["all-MiniLM-L6-v2"].update(changes)
    return recipes


RECIPE_CASES = {
    "misspelt-key": (minilm(polling="cls"),
                     "model 'all-MiniLM-L6-v2': unknown recipe key 'polling' (did you mean 'pooling'?)"),
    "batch-size-zero": (minilm(batch_size=0),
                        "model 'all-MiniLM-L6-v2': batch_size: 0 is less than the minimum of 1"),
    "batch-size-negative": (minilm(batch_size=-1),
                            "model 'all-MiniLM-L6-v2': batch_size: -1 is less than the minimum of 1"),
    "max-length-text": (minilm(max_length="abc"),
                        "model 'all-MiniLM-L6-v2': max_length: 'abc' is not of type 'integer'"),
    "lowercase-no-string": (minilm(lowercase="no"),
                            "model 'all-MiniLM-L6-v2': lowercase: 'no' is not of type 'boolean'"),
    "entry-not-a-mapping": ({**minilm(), "bm25": "oops"},
                            "model 'bm25': the entry must be a mapping of recipe keys, got 'oops'"),
    "hostile-model-name": ({**minilm(), "a b": {"kind": "bm25"}}, "model name 'a b' does not match"),
}


@pytest.mark.parametrize("models, message", RECIPE_CASES.values(), ids=RECIPE_CASES.keys())
def test_recipe_errors_name_the_model_and_the_key(tmp_path, models, message):
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(models, allow_unicode=True))
    with pytest.raises(UserError, match=None) as error:
        check_recipes(models, MODELS_SCHEMA, path)
    assert str(error.value).startswith(f"{path}: {message}"), str(error.value)


def test_a_recipe_error_stops_the_plan(workflow_copy):
    result = plan_with(workflow_copy, models=minilm(batch_size=0))
    assert result.returncode != 0
    assert "bad_models.yaml: model 'all-MiniLM-L6-v2': batch_size: 0 is less than the minimum of 1" in (
        result.stdout + result.stderr)


def test_schema_defaults_agree_with_the_code():
    """The defaults live in the schemas; the dataclasses that CLI users get must say the same."""
    import dataclasses

    from capflow.recipes import Recipe
    from capflow.train import TrainSettings

    models = yaml.safe_load(MODELS_SCHEMA.read_text())["additionalProperties"]["properties"]
    recipe_defaults = {f.name: f.default for f in dataclasses.fields(Recipe) if f.name != "name"}
    assert {key: spec["default"] for key, spec in models.items()} == recipe_defaults
    from capflow.benchmark import MAX_TEXT_CHARS

    data = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["data"]["properties"]
    assert data["max_text_chars"]["default"] == MAX_TEXT_CHARS  # the steps' --max-text-chars default
    finetune = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["finetune"]["properties"]
    for field in dataclasses.fields(TrainSettings):
        if field.name != "seed":
            assert finetune[field.name]["default"] == field.default, field.name
    from capflow.settingflags import defaults_of
    from capflow.train.negatives import MiningSettings

    assert schema_defaults(finetune["hard_negatives"]["then"]) == defaults_of(MiningSettings)
    assert finetune["hard_negatives"]["default"] is None and finetune["eval"]["default"] is None  # off, as the paper


def schema_defaults(section: dict) -> dict:
    return {key: spec["default"] for key, spec in section["properties"].items()}


def test_generation_defaults_are_the_backend_dataclasses():
    """Every generation setting is a field of its dataclass, with the schema's default; the CLI's
    defaults are the dataclasses' (capflow.settingflags)."""
    from capflow.generate import DEFAULTS, configure_parser, settings_from_args
    from capflow.generate.backend import GeneratorSettings, OpenAIOptions, Sampling, TransformersOptions, VllmOptions
    from capflow.settingflags import defaults_of

    generate = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["generate"]
    for section, cls in {"sampling": Sampling, "vllm": VllmOptions, "openai": OpenAIOptions,
                         "transformers": TransformersOptions}.items():
        assert schema_defaults(generate["properties"][section]) == defaults_of(cls), section
    top = schema_defaults(generate)
    for name in ("backend", "model", "revision", "language", "max_query_chars", "chat_template_kwargs",
                 "structured_output"):
        assert top[name] == getattr(DEFAULTS, name), name
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    parsed = parser.parse_args(["--passages", "p", "--kind", "sm", "--out", "o", "--stats", "s", "--rejects", "r"])
    assert settings_from_args(parsed) == GeneratorSettings()


def test_retrieval_and_fusion_defaults_are_the_dataclasses():
    from capflow.report.hybrid import FusionSettings
    from capflow.retrieve import RetrievalSettings
    from capflow.settingflags import defaults_of

    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]
    fusion = schema_defaults(schema["report"]["properties"]["hybrid"])
    assert {key: fusion[key] for key in defaults_of(FusionSettings)} == defaults_of(FusionSettings)
    for stage in ("zeroshot", "evaluate"):
        depth = schema[stage]["properties"]["depth"]["default"]
        assert depth == RetrievalSettings().depth, stage


def test_report_defaults_are_the_dataclasses():
    from capflow.report.classification import SweepSettings
    from capflow.report.erroranalysis import ErrorExampleSettings
    from capflow.report.inversions import InversionSettings
    from capflow.settingflags import defaults_of

    report = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["report"]["properties"]
    for section, cls in {"classification": SweepSettings, "inversions": InversionSettings,
                         "errors": ErrorExampleSettings}.items():
        defaults = schema_defaults(report[section])
        ours = {name: list(value) if isinstance(value, tuple) else value for name, value in defaults_of(cls).items()}
        assert {name: defaults[name] for name in ours} == ours, section


def test_schema_enums_are_the_vocabulary():
    from capflow.vocabulary import HYBRID_METHODS, MIXES, POOLS

    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]
    trainsets = schema["trainsets"]["properties"]
    assert trainsets["mixes"]["items"]["enum"] == list(MIXES)
    assert trainsets["pools"]["items"]["enum"] == list(POOLS)
    methods = schema["report"]["properties"]["hybrid"]["properties"]["methods"]
    assert methods["items"]["enum"] == methods["default"] == list(HYBRID_METHODS)


def test_unknown_key_is_found_before_the_schema():
    with pytest.raises(UserError, match=r"unknown config key 'zeroshot.model' \(did you mean 'zeroshot.models'\?\)"):
        check_config({"zeroshot": {"model": ["bm25"]}}, CONFIG_SCHEMA)


@pytest.fixture
def tiny_data(tmp_path):
    root = tmp_path / "data"
    for name in ("CapRetrieval", "CapRetrievalEn"):
        write_jsonl(root / name / "candidates.jsonl",
                    [{"id": "c1", "text": "a red cat"}, {"id": "c2", "text": "a dog"}])
        write_jsonl(root / name / "queries.jsonl",
                    [{"id": "q1", "query": "cat", "positives": [{"id": "c1", "score": 2}]}])
    return root


def test_hostile_values_are_quoted_not_run(workflow_copy, tiny_data):
    """A revision and a results folder holding shell syntax reach the commands as plain words."""
    results = "my results $(touch pwned)"
    (workflow_copy / "hostile.yaml").write_text(yaml.safe_dump({
        "results": results, "data": {"revision": "main$(touch pwned)", "local_dirs": ["nowhere"]},
        "pools": {"id": {"source": {"holdout": 1}}}}))
    result = run_snakemake(workflow_copy, "--cores", "1", "--configfile=hostile.yaml", "--",
                           f"{results}/zeroshot/CapRetrieval/bm25/metrics.json",
                           env={"CAPFLOW_DATA_DIR": str(tiny_data)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (workflow_copy / "pwned").exists()
    assert (workflow_copy / results / "zeroshot" / "CapRetrieval" / "bm25" / "metrics.json").is_file()
    assert sorted(p.name for p in workflow_copy.iterdir() if p.name not in (
        "Snakefile", "rules", "workflow", "config", "profiles", "hostile.yaml", ".snakemake")) == [results]


def test_the_text_limit_reaches_every_step_that_reads_texts_in():
    """data.max_text_chars is passed to capflow data, mteb-data and pool; at its default it is left out,
    so that results built before the key existed keep their params."""
    paper = [REPO / "config" / name for name in ("paper.yaml", "paper-ood.yaml")]
    mteb, _ = plan_from_files(paper, REPO, overrides={"data": {"max_text_chars": 500}})
    assert mteb.mteb_options("EcomRetrieval").endswith(" --max-text-chars 500")
    limited, _ = plan_from_files([], REPO, overrides={"data": {"max_text_chars": 500}})
    assert limited.benchmark_data_options("CapRetrieval").endswith(" --max-text-chars 500")
    assert all(limited.pool_options(pool).endswith(" --max-text-chars 500") for pool in ("ood", "id"))
    default, _ = plan_from_files([], REPO)
    options = [default.benchmark_data_options("CapRetrieval"), default.pool_options("ood"), default.pool_options("id")]
    assert not any("--max-text-chars" in o for o in options)
