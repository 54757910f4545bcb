# Finetuning: one job per training set ({pool} x {mix}) and seed, each a standard
# sentence-transformers model directory plus its per-step losses (the paper's Table 4 rows).


rule finetune:
    input:
        unpack(of(PLAN.finetune_inputs, "pool", "mix")),
        prefetched=PLAN.prefetched_base_model(),
    output:
        model=directory(PATHS.finetune().files["model"]),
        loss=PATHS.finetune().files["loss"],
        summary=PATHS.finetune().files["summary"],
    log:
        PATHS.finetune().log,
    benchmark:
        PATHS.finetune().timing
    conda:
        "../workflow/envs/core.yaml"
    threads: PLAN.job_threads("train")
    resources:
        **job_resources(config["finetune"]["gpus"]),
        compute_threads=compute_threads,
    params:
        offline=HUB_OFFLINE,
        recipe=of(PLAN.finetune_recipe_json),
        options=of(PLAN.finetune_options),
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} --"
        " capflow --threads {resources.compute_threads} --log {log:q} train"
        " --recipe-json {params.recipe:q} --train {input.train:q} --heldout {input.heldout:q}"
        " --passages {input.passages:q} --seed {wildcards.seed} {params.options} --out {output.model:q}"
        " --loss-csv {output.loss:q} --summary {output.summary:q}"
