# Tables from the metrics and statistics JSON alone: Table 2 (zero-shot), Table 6 (training data)
# and Table 4 (finetuning).


rule table_zeroshot:
    input:
        zeroshot_metrics(),
    output:
        **table_paths("zeroshot").files,
    params:
        benchmarks=config["zeroshot"]["benchmarks"],
        prefix=TABLE_PREFIX,
    conda:
        "../workflow/envs/core.yaml"
    log:
        table_paths("zeroshot").log,
    shell:
        "capflow --log {log:q} tables zeroshot --inputs {input:q} --benchmarks {params.benchmarks:q}"
        " --out-prefix {params.prefix:q}"


rule table_trainsets:
    input:
        trainset_stats_files(),
    output:
        **table_paths("trainsets").files,
    params:
        prefix=TABLE_PREFIX,
    conda:
        "../workflow/envs/core.yaml"
    log:
        table_paths("trainsets").log,
    shell:
        "capflow --log {log:q} tables trainsets --inputs {input:q} --out-prefix {params.prefix:q}"


rule table_finetune:
    input:
        finetune_table_inputs(),
    output:
        **table_paths("finetune").files,
    params:
        benchmarks=[evaluation_label(b) for b in EVALUATION_VIEWS],
        ks=EVALUATE["table_ks"],
        notes=finetune_table_notes(),
        prefix=TABLE_PREFIX,
    conda:
        "../workflow/envs/core.yaml"
    log:
        table_paths("finetune").log,
    shell:
        "capflow --log {log:q} tables finetune --inputs {input:q} --benchmarks {params.benchmarks:q}"
        " --ks {params.ks} {params.notes} --out-prefix {params.prefix:q}"


rule tables:
    input:
        table_targets(),
