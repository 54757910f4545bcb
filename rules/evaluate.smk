# Evaluation of the finetuned models (and of the zero-shot models beside them) through the same
# `capflow retrieve` as zero-shot, on every configured evaluation benchmark.


ruleorder: mteb_data > benchmark_data


rule mteb_data:
    input:
        prefetched=PREFETCHED,
    output:
        **mteb_paths().files,
    log:
        mteb_paths().log,
    wildcard_constraints:
        benchmark=one_of(MTEB_BENCHMARKS),
    conda:
        "../workflow/envs/core.yaml"
    params:
        offline=HUB_OFFLINE,
        source=mteb_options,
    shell:
        "{params.offline} capflow --log {log:q} mteb-data {params.source} --candidates {output.candidates:q}"
        " --queries {output.queries:q} --types {output.types:q} --stats {output.stats:q}"


rule evaluate:
    input:
        unpack(evaluation_inputs),
        prefetched=PREFETCHED,
    output:
        **evaluation_paths().files,
    log:
        evaluation_paths().log,
    benchmark:
        evaluation_paths().timing
    wildcard_constraints:
        run=one_of(evaluation_runs()),
    conda:
        "../workflow/envs/core.yaml"
    threads: evaluation_threads
    resources:
        **job_resources(evaluation_gpus),
        compute_threads=compute_threads,
        encode_batch_size=evaluation_batch_size,
    params:
        offline=HUB_OFFLINE,
        recipe=evaluation_recipe_json,
        model=evaluation_model_options,
        benchmark_dir=input_benchmark_dir,
        label=evaluation_benchmark_label,
        language=evaluation_language,
        depth=EVALUATE["depth"],
        cache=EMBEDDING_CACHE,
        flags=evaluation_flags,
    shell:
        "{params.offline} capflow gpu-run --gpus {resources.gpu} -- capflow --threads {resources.compute_threads} --log {log:q} retrieve"
        " --benchmark {params.benchmark_dir:q} --benchmark-label {params.label:q} --recipe-json {params.recipe:q}"
        " --batch-size {resources.encode_batch_size} {params.model} --language {params.language:q}"
        " --depth {params.depth} --cache {params.cache:q}"
        " {params.flags} --run {output.run:q} --metrics {output.metrics:q} --errors {output.errors:q}"
