# Passage pools: the test view a hold-out leaves, each pool built from its source, and the leakage
# filter that turns it into the passages generation reads.


rule testview:
    input:
        **PATHS.data().files,
    output:
        **PATHS.testview().files,
    log:
        PATHS.testview().log,
    conda:
        "../workflow/envs/core.yaml"
    resources:
        **job_resources(0),
    params:
        benchmark_dir=input_benchmark_dir,
        options=PLAN.testview_options(),
    shell:
        "capflow --log {log:q} testview --benchmark-dir {params.benchmark_dir:q} {params.options}"
        " --candidates {output.candidates:q} --queries {output.queries:q} --types {output.query_types:q}"
        " --stats {output.stats:q} --heldout {output.heldout:q}"


rule pool:
    input:
        of(PLAN.pool_source_input, "pool"),
        prefetched=of(PLAN.prefetched_pool, "pool"),
    output:
        **PATHS.pool_source().files,
    log:
        PATHS.pool_source().log,
    benchmark:
        PATHS.pool_source().timing
    conda:
        "../workflow/envs/core.yaml"
    resources:
        **job_resources(0),
    params:
        offline=HUB_OFFLINE,
        options=of(PLAN.pool_options, "pool"),
    shell:
        "{params.offline} capflow --log {log:q} pool {params.options} --out {output.passages:q}"
        " --stats {output.stats:q}"


rule leakage:
    input:
        pool=PATHS.pool_source().files["passages"],
        test=PLAN.leakage_test_captions(),
    output:
        **PATHS.leakage().files,
    log:
        PATHS.leakage().log,
    benchmark:
        PATHS.leakage().timing
    conda:
        "../workflow/envs/core.yaml"
    threads: PLAN.job_threads("leakage")
    resources:
        **job_resources(0),
        compute_threads=compute_threads,
    params:
        threshold=config["leakage"]["threshold"],
        exact_from=config["leakage"]["exact_from"],
    shell:
        "capflow --log {log:q} leakage --pool {input.pool:q} --test-captions {input.test:q}"
        " --threshold {params.threshold:q} --exact-from {params.exact_from:q} --workers {resources.compute_threads}"
        " --out-passages {output.passages:q} --report {output.report:q} --histogram {output.histogram:q}"
