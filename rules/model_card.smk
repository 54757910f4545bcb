# Each finetuned model's card with its benchmark scores (nDCG@10 of each evaluation view), written beside
# its model folder: the folder is the finetune job's output, which no later job may change.


rule model_card:
    input:
        unpack(of(PLAN.model_card_inputs, "run")),
    output:
        **PATHS.model_card().files,
    log:
        PATHS.model_card().log,
    wildcard_constraints:
        run=one_of(PLAN.finetuned_runs),
    conda:
        "../workflow/envs/core.yaml"
    params:
        datasets=PLAN.model_card_options(),
    shell:
        "capflow --log {log:q} model-card --model {input.model:q} --metrics {input.metrics:q}"
        " {params.datasets} --out {output.card:q}"
