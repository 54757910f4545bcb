# Passage pools: the test view a hold-out leaves, each pool built from its source, and the leakage
# filter that turns it into the passages generation reads.


rule testview:
    input:
        unpack(benchmark_inputs),
    output:
        **testview_paths().files,
    log:
        testview_paths().log,
    conda:
        "../workflow/envs/core.yaml"
    resources:
        **job_resources(0),
    params:
        benchmark_dir=input_benchmark_dir,
        options=testview_options,
    shell:
        "capflow --log {log:q} testview --benchmark-dir {params.benchmark_dir:q} {params.options}"
        " --candidates {output.candidates:q} --queries {output.queries:q} --types {output.types:q}"
        " --stats {output.stats:q} --heldout {output.heldout:q}"


rule pool:
    input:
        pool_source_input,
        prefetched=PREFETCHED,
    output:
        **pool_source_paths().files,
    log:
        pool_source_paths().log,
    benchmark:
        pool_source_paths().timing
    conda:
        "../workflow/envs/core.yaml"
    resources:
        **job_resources(0),
    params:
        offline=HUB_OFFLINE,
        options=pool_options,
    shell:
        "{params.offline} capflow --log {log:q} pool {params.options} --out {output.passages:q}"
        " --stats {output.stats:q}"


rule leakage:
    input:
        pool=pool_source_paths().files["passages"],
        test=leakage_test_captions,
    output:
        **leakage_paths().files,
    log:
        leakage_paths().log,
    benchmark:
        leakage_paths().timing
    conda:
        "../workflow/envs/core.yaml"
    threads: job_threads("leakage")
    resources:
        **job_resources(0),
        compute_threads=compute_threads,
    params:
        threshold=LEAKAGE["threshold"],
        exact_from=LEAKAGE["exact_from"],
    shell:
        "capflow --log {log:q} leakage --pool {input.pool:q} --test-captions {input.test:q}"
        " --threshold {params.threshold:q} --exact-from {params.exact_from:q} --workers {resources.compute_threads}"
        " --out-passages {output.passages:q} --report {output.report:q} --histogram {output.histogram:q}"
