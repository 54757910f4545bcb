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


# Training knobs beyond the paper (finetune.hard_negatives, finetune.eval): the chosen settings train
# again with them, beside the plain ones, into finetune/POOL-MIX+KNOBS/.
rule negatives:
    input:
        unpack(of(PLAN.negatives_inputs, "pool", "mix")),
        prefetched=PLAN.prefetched_miner(),
    output:
        **PATHS.negatives().files,
    log:
        PATHS.negatives().log,
    benchmark:
        PATHS.negatives().timing
    conda:
        "../workflow/envs/core.yaml"
    threads: PLAN.job_threads("train")
    resources:
        **job_resources(PLAN.negatives_gpus()),
        compute_threads=compute_threads,
    params:
        offline=HUB_OFFLINE,
        options=of(PLAN.negatives_options),
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} --"
        " capflow --threads {resources.compute_threads} --log {log:q} negatives"
        " --train {input.train:q} --passages {input.passages:q} --test-captions {input.test_captions:q}"
        " {params.options} --out {output.negatives:q} --stats {output.stats:q}"


use rule finetune as finetune_knobs with:
    input:
        unpack(of(PLAN.finetune_knob_inputs, "pool", "mix")),
        prefetched=PLAN.prefetched_base_model(),
    output:
        model=directory(PATHS.finetune(variant="{variant}").files["model"]),
        loss=PATHS.finetune(variant="{variant}").files["loss"],
        summary=PATHS.finetune(variant="{variant}").files["summary"],
    log:
        PATHS.finetune(variant="{variant}").log,
    benchmark:
        PATHS.finetune(variant="{variant}").timing
    wildcard_constraints:
        variant=one_of([PLAN.knob_variant] if PLAN.knob_variant else []),
    params:
        offline=HUB_OFFLINE,
        recipe=of(PLAN.finetune_recipe_json),
        options=of(PLAN.finetune_knob_options, "pool", "mix"),
