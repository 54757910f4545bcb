# Training-query generation: one job per (pool, kind, shard), so a cluster runs the shards in
# parallel and a rerun redoes only the shards that are missing (each output is written atomically).


rule generate:
    input:
        passages=generation_pool,
        prompts=generation_prompt_files,
        prefetched=PREFETCHED,
    output:
        **generation_paths().files,
    params:
        offline=HUB_OFFLINE,
        shards=GENERATE["shards"],
        options=generation_options,
    threads: generation_threads
    resources:
        compute_threads=compute_threads,
        **job_resources(generation_gpus),
    conda:
        branch(
            GENERATE["backend"] == "vllm",
            then="../workflow/envs/vllm.yaml",
            otherwise="../workflow/envs/core.yaml",
        )
    log:
        generation_paths().log,
    benchmark:
        generation_paths().timing
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} -- capflow --threads {resources.compute_threads} --log {log:q}"
        " generate --passages {input.passages:q} --kind {wildcards.kind:q} --shard {wildcards.shard:q}"
        " --shards {params.shards} {params.options} --out {output.queries:q} --stats {output.stats:q}"
        " --rejects {output.rejects:q}"
