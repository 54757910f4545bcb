# Training-query generation: one job per (pool, kind, shard), so a cluster runs the shards in
# parallel and a rerun redoes only the shards that are missing (each output is written atomically).


rule generate:
    input:
        passages=of(PLAN.generation_pool, "pool"),
        prompts=PLAN.generation_prompt_files(),
        prefetched=PLAN.prefetched_generation(),
    output:
        **PATHS.generation().files,
    log:
        PATHS.generation().log,
    benchmark:
        PATHS.generation().timing
    conda:
        branch(
            config["generate"]["backend"] == "vllm",
            then="../workflow/envs/vllm.yaml",
            otherwise="../workflow/envs/core.yaml",
        )
    threads: PLAN.generation_threads()
    resources:
        **job_resources(PLAN.generation_gpus()),
        compute_threads=compute_threads,
    params:
        offline=HUB_OFFLINE,
        shards=config["generate"]["shards"],
        options=of(PLAN.generation_options, "kind"),
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} --"
        " capflow --threads {resources.compute_threads} --log {log:q}"
        " generate --passages {input.passages:q} --kind {wildcards.kind:q} --shard {wildcards.shard:q}"
        " --shards {params.shards} {params.options} --out {output.queries:q} --stats {output.stats:q}"
        " --rejects {output.rejects:q}"
