# Evaluation of the finetuned models (and of the zero-shot models beside them) through the same
# `capflow retrieve` as zero-shot, on every configured evaluation benchmark; and Table 4.


ruleorder: mteb_data > benchmark_data


rule mteb_data:
    output:
        **benchmark_files("{benchmark}"),
    wildcard_constraints:
        benchmark=mteb_benchmark_pattern(),
    params:
        source=mteb_options,
        out_dir=output_dir,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/data/{{benchmark}}.log",
    shell:
        "capflow mteb-data {params.source} --out {params.out_dir} > {log} 2>&1"


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        run=f"{RESULTS}/evaluate/{{benchmark}}/{{run}}/run.trec",
        metrics=f"{RESULTS}/evaluate/{{benchmark}}/{{run}}/metrics.json",
        errors=f"{RESULTS}/evaluate/{{benchmark}}/{{run}}/errors.jsonl",
    wildcard_constraints:
        run=r"zeroshot/[^/]+|[a-z0-9_]+-(?:sm|kw|smkw)/seed-\d+",
    params:
        recipe=evaluation_recipe_json,
        model=evaluation_model_args,
        benchmark_dir=evaluation_benchmark_dir,
        label=evaluation_benchmark_label,
        language=evaluation_language,
        depth=EVALUATE["depth"],
        cache=embedding_cache(),
        identical_ids=evaluation_identical_ids_flag,
    resources:
        gpu=evaluation_gpus,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/evaluate/{{benchmark}}/{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{benchmark}}/{{run}}.tsv"
    shell:
        "capflow gpu-run --gpus {resources.gpu} -- capflow retrieve --benchmark {params.benchmark_dir}"
        " --benchmark-label {params.label:q} --recipe-json {params.recipe:q} {params.model}"
        " --language {params.language} --depth {params.depth} --cache {params.cache} {params.identical_ids}"
        " --run {output.run} --metrics {output.metrics} --errors {output.errors} > {log} 2>&1"


rule table_finetune:
    input:
        finetune_table_inputs(),
    output:
        table_files("finetune"),
    params:
        prefix=output_prefix,
        benchmarks=finetune_table_benchmarks(),
        ks=EVALUATE["table_ks"],
        notes=finetune_table_note_args(),
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/tables/finetune.log",
    shell:
        "capflow tables finetune --inputs {input} --benchmarks {params.benchmarks:q} --ks {params.ks}"
        " {params.notes} --out-prefix {params.prefix} > {log} 2>&1"
