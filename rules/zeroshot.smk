# Zero-shot retrieval: every configured model on every configured benchmark (the paper's Table 2).


rule zeroshot:
    input:
        **PATHS.data().files,
        prefetched=of(PLAN.prefetched_model, "model"),
    output:
        **PATHS.zeroshot().files,
    log:
        PATHS.zeroshot().log,
    benchmark:
        PATHS.zeroshot().timing
    conda:
        "../workflow/envs/core.yaml"
    threads: of(PLAN.zeroshot_threads, "model")
    resources:
        **job_resources(of(PLAN.zeroshot_gpus, "model")),
        compute_threads=compute_threads,
        encode_batch_size=of(PLAN.encode_batch_size, "model"),
    params:
        offline=HUB_OFFLINE,
        recipe=of(PLAN.recipe_json, "model"),
        language=of(PLAN.benchmark_language, "benchmark"),
        depth=config["zeroshot"]["depth"],
        cache=PATHS.embedding_cache,
        benchmark_dir=input_benchmark_dir,
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} --"
        " capflow --threads {resources.compute_threads} --log {log:q} retrieve"
        " --benchmark {params.benchmark_dir:q} --benchmark-name {wildcards.benchmark:q}"
        " --recipe-json {params.recipe:q} --batch-size {resources.encode_batch_size}"
        " --language {params.language:q} --depth {params.depth}"
        " --cache {params.cache:q} --run {output.run:q} --metrics {output.metrics:q} --errors {output.errors:q}"
