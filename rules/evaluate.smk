# Evaluation of the finetuned models (and of the zero-shot models beside them) through the same
# `capflow retrieve` as zero-shot, on every configured evaluation benchmark.


ruleorder: mteb_data > benchmark_data


rule mteb_data:
    input:
        prefetched=of(PLAN.prefetched_mteb, "benchmark"),
    output:
        **PATHS.mteb().files,
    log:
        PATHS.mteb().log,
    wildcard_constraints:
        benchmark=one_of(PLAN.mteb_benchmarks),
    conda:
        "../workflow/envs/core.yaml"
    params:
        offline=HUB_OFFLINE,
        source=of(PLAN.mteb_options, "benchmark"),
    shell:
        "{params.offline} capflow --log {log:q} mteb-data {params.source} --candidates {output.candidates:q}"
        " --queries {output.queries:q} --types {output.query_types:q} --stats {output.stats:q}"


rule evaluate:
    input:
        unpack(of(PLAN.evaluation_inputs, "benchmark", "run")),
        prefetched=of(PLAN.prefetched_evaluation, "run"),
    output:
        **PATHS.evaluation().files,
    log:
        PATHS.evaluation().log,
    benchmark:
        PATHS.evaluation().timing
    wildcard_constraints:
        run=one_of(PLAN.evaluation_runs),
    conda:
        "../workflow/envs/core.yaml"
    threads: of(PLAN.evaluation_threads, "run")
    resources:
        **job_resources(of(PLAN.evaluation_gpus, "run")),
        compute_threads=compute_threads,
        encode_batch_size=of(PLAN.evaluation_batch_size, "run"),
    params:
        offline=HUB_OFFLINE,
        recipe=of(PLAN.evaluation_recipe_json, "run"),
        model=of(PLAN.evaluation_model_options, "run"),
        benchmark_dir=input_benchmark_dir,
        view=of(PLAN.evaluation_view_options, "benchmark"),
        language=of(PLAN.benchmark_language, "benchmark"),
        depth=config["evaluate"]["depth"],
        cache=PATHS.embedding_cache,
        flags=of(PLAN.evaluation_flags, "benchmark"),
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} --"
        " capflow --threads {resources.compute_threads} --log {log:q} retrieve"
        " --benchmark {params.benchmark_dir:q} --benchmark-name {wildcards.benchmark:q} {params.view}"
        " --recipe-json {params.recipe:q}"
        " --batch-size {resources.encode_batch_size} {params.model} --language {params.language:q}"
        " --depth {params.depth} --cache {params.cache:q}"
        " {params.flags} --run {output.run:q} --metrics {output.metrics:q} --errors {output.errors:q}"
