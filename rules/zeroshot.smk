# Zero-shot retrieval: every configured model on every configured benchmark (the paper's Table 2).


rule zeroshot:
    input:
        unpack(benchmark_inputs),
        prefetched=PREFETCHED,
    output:
        **zeroshot_paths().files,
    log:
        zeroshot_paths().log,
    benchmark:
        zeroshot_paths().timing
    conda:
        "../workflow/envs/core.yaml"
    threads: zeroshot_threads
    resources:
        **job_resources(zeroshot_gpus),
        compute_threads=compute_threads,
        encode_batch_size=encode_batch_size,
    params:
        offline=HUB_OFFLINE,
        recipe=recipe_json,
        language=lookup(dpath="benchmarks/{benchmark}/language", within=config),
        depth=config["zeroshot"]["depth"],
        cache=EMBEDDING_CACHE,
        benchmark_dir=input_benchmark_dir,
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} -- capflow --threads {resources.compute_threads} --log {log:q} retrieve"
        " --benchmark {params.benchmark_dir:q} --benchmark-label {wildcards.benchmark:q}"
        " --recipe-json {params.recipe:q} --batch-size {resources.encode_batch_size}"
        " --language {params.language:q} --depth {params.depth}"
        " --cache {params.cache:q} --run {output.run:q} --metrics {output.metrics:q} --errors {output.errors:q}"
