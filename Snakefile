# capflow: the CapRetrieval study as a workflow. This file only wires; see rules/ and capflow/.
from snakemake.utils import min_version

from capflow.configcheck import check_config_files
from capflow.errors import UserError
from capflow.plan.build import validated_config

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# One line naming the key for a mistyped key or a bad value; then validation fills in the defaults.
try:
    check_config_files(workflow.configfiles)
    validated_config(config, workflow.basedir)
except UserError as exc:
    raise WorkflowError(str(exc)) from None


include: "rules/common.smk"
include: "rules/prefetch.smk"
include: "rules/data.smk"
include: "rules/zeroshot.smk"
include: "rules/pools.smk"
include: "rules/generate.smk"
include: "rules/trainsets.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/model_card.smk"
include: "rules/report.smk"


# Downloads need the internet, which cluster nodes often lack, and tables, figures, model cards and light
# analyses take a second: these run where Snakemake runs, never as cluster jobs.
localrules:
    prefetch_item,
    prefetch,
    benchmark_data,
    mteb_data,
    qrels,
    mteb_json,
    hybrid,
    per_query,
    tables_zeroshot,
    tables_finetune,
    figures_zeroshot,
    figures_finetune,
    latex,
    model_card,
    tables,
    figures,
    all,


rule all:
    default_target: True
    input:
        TARGETS["all"],
