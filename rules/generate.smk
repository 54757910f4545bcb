# Training-query generation: one job per (pool, kind, shard), so a cluster runs the shards in
# parallel and a rerun redoes only the shards that are missing (each output is written atomically).


rule generate:
    input:
        passages=generation_pool,
        prompts=generation_prompt_files,
    output:
        queries=f"{RESULTS}/generate/{{pool}}/{{kind}}/shard-{{shard}}.jsonl",
        stats=f"{RESULTS}/generate/{{pool}}/{{kind}}/shard-{{shard}}.stats.json",
        rejects=f"{RESULTS}/generate/{{pool}}/{{kind}}/shard-{{shard}}.rejects.jsonl",
    wildcard_constraints:
        pool=r"[a-z0-9_]+",
        kind=r"sm|kw",
        shard=r"\d+",
    params:
        shards=GENERATE["shards"],
        options=generation_options,
    resources:
        gpu=generation_gpus,
    conda:
        generation_env
    log:
        f"{RESULTS}/logs/generate/{{pool}}/{{kind}}/shard-{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate/{{pool}}/{{kind}}/shard-{{shard}}.tsv"
    shell:
        "capflow gpu-run --gpus {resources.gpu} -- capflow generate --passages {input.passages}"
        " --kind {wildcards.kind} --shard {wildcards.shard} --shards {params.shards} {params.options}"
        " --out {output.queries} --stats {output.stats} --rejects {output.rejects} > {log} 2>&1"
