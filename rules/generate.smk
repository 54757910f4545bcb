# Training-query generation: one job per (pool, kind, shard), so a cluster runs the shards in
# parallel and a rerun redoes only the shards that are missing (each output is written atomically).


rule generate:
    input:
        passages=generation_pool,
        prompts=generation_prompt_files,
        prefetched=PREFETCHED,
    output:
        **generation_paths().files,
    log:
        generation_paths().log,
    benchmark:
        generation_paths().timing
    conda:
        branch(
            GENERATE["backend"] == "vllm",
            then="../workflow/envs/vllm.yaml",
            otherwise="../workflow/envs/core.yaml",
        )
    threads: generation_threads
    resources:
        **job_resources(generation_gpus),
        compute_threads=compute_threads,
    params:
        offline=HUB_OFFLINE,
        shards=GENERATE["shards"],
        options=generation_options,
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} -- capflow --threads {resources.compute_threads} --log {log:q}"
        " generate --passages {input.passages:q} --kind {wildcards.kind:q} --shard {wildcards.shard:q}"
        " --shards {params.shards} {params.options} --out {output.queries:q} --stats {output.stats:q}"
        " --rejects {output.rejects:q}"
