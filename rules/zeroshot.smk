rule zeroshot:
    input:
        unpack(benchmark_inputs),
    output:
        run=f"{RESULTS}/zeroshot/{{benchmark}}/{{model}}/run.trec",
        metrics=f"{RESULTS}/zeroshot/{{benchmark}}/{{model}}/metrics.json",
        errors=f"{RESULTS}/zeroshot/{{benchmark}}/{{model}}/errors.jsonl",
    params:
        recipe=recipe_json,
        language=benchmark_language,
        depth=config["zeroshot"]["depth"],
        cache=embedding_cache(),
        benchmark_dir=benchmark_dir_of,
    resources:
        gpu=zeroshot_gpus,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/zeroshot/{{benchmark}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/zeroshot/{{benchmark}}/{{model}}.tsv"
    shell:
        "capflow retrieve --benchmark {params.benchmark_dir} --benchmark-label {wildcards.benchmark}"
        " --recipe-json {params.recipe:q} --language {params.language} --depth {params.depth}"
        " --cache {params.cache} --run {output.run} --metrics {output.metrics} --errors {output.errors}"
        " > {log} 2>&1"
