# Finetuning: one job per training set ({pool} x {mix}) and seed, each a standard
# sentence-transformers model directory plus its per-step losses (the paper's Table 4 rows).


rule finetune:
    input:
        unpack(finetune_inputs),
        prefetched=PREFETCHED,
    output:
        model=directory(finetune_paths().files["model"]),
        loss=finetune_paths().files["loss"],
        summary=finetune_paths().files["summary"],
    log:
        finetune_paths().log,
    benchmark:
        finetune_paths().timing
    conda:
        "../workflow/envs/core.yaml"
    threads: job_threads("train")
    resources:
        **job_resources(FINETUNE["gpus"]),
        compute_threads=compute_threads,
    params:
        offline=HUB_OFFLINE,
        recipe=finetune_recipe_json,
        options=finetune_options,
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} -- capflow --threads {resources.compute_threads} --log {log:q} train"
        " --recipe-json {params.recipe:q} --train {input.train:q} --heldout {input.heldout:q}"
        " --passages {input.passages:q} --seed {wildcards.seed} {params.options} --out {output.model:q}"
        " --loss-csv {output.loss:q} --summary {output.summary:q}"
