"""The plan from config files, as the Snakefile builds it at planning, for code and tests without Snakemake."""

from __future__ import annotations

from pathlib import Path

from capflow.configcheck import check_config, check_keys_one_line, check_name_patterns, check_planned_config
from capflow.plan.plan import Plan, Runtime
from capflow.plan.report import Report
from capflow.recipes import load_recipes

CONFIG_SCHEMA = "workflow/schemas/config.schema.yaml"
MODELS_SCHEMA = "workflow/schemas/models.schema.yaml"
DEFAULT_CONFIG = "config/config.yaml"


def validated_config(config: dict, root: str | Path) -> dict:
    """The user's config checked (unknown keys and schema violations, one line each), then its defaults
    filled in from the schema."""
    from snakemake.utils import validate

    schema = Path(root) / CONFIG_SCHEMA
    check_keys_one_line(config)
    check_name_patterns(config, schema)
    check_config(config, schema)
    validate(config, str(schema))
    return config


def load_plan(config: dict, root: str | Path, runtime: Runtime | None = None) -> tuple[Plan, Report]:
    """The plan of a validated config: the recipe registry loaded and the config checked against it."""
    recipes = load_recipes(config["models_file"], Path(root) / MODELS_SCHEMA)
    check_planned_config(config, recipes)
    plan = Plan(config, recipes, runtime)
    return plan, Report(plan)


def check_job_software(plan: Plan) -> None:
    """What jobs need installed beyond Python packages, checked where Snakemake plans (the jobs' own
    environment unless Snakemake builds conda envs, whose post-deploy script installs it): NLTK's
    English Punkt model, for the dataset authors' English BM25."""
    models = [*plan.all_zeroshot_models, *plan.evaluate["zeroshot_models"]]
    if any(plan.recipes[m].tokenizer == "nltk-porter" for m in models):
        from capflow import nltkdata

        nltkdata.require()


def plan_from_files(
    config_files=(), root: str | Path = ".", overrides: dict | None = None, runtime: Runtime | None = None
) -> tuple[Plan, Report]:
    """The plan of `snakemake --configfile config_files` run in `root` (the default config first, each
    file merged over it as Snakemake merges them, then `overrides`)."""
    import yaml
    from snakemake.utils import update_config

    config: dict = {}
    for path in [Path(root) / DEFAULT_CONFIG, *map(Path, config_files)]:
        update_config(config, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    update_config(config, overrides or {})
    return load_plan(validated_config(config, root), root, runtime)
