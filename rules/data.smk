# Benchmarks: each validated from its local copy or downloaded from the hub (capflow.plan says where
# each file goes; the local copy's files are inputs, so editing one reruns the job).


rule benchmark_data:
    input:
        of(PLAN.benchmark_source, "benchmark"),
        prefetched=of(PLAN.prefetched_benchmark, "benchmark"),
    output:
        **PATHS.data().files,
    log:
        PATHS.data().log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        offline=HUB_OFFLINE,
        local_dirs=config["data"]["local_dirs"],
        options=of(PLAN.benchmark_data_options, "benchmark"),
    shell:
        "{params.offline} capflow --log {log:q} data --name {wildcards.benchmark:q} --local-dirs {params.local_dirs:q}"
        " {params.options} --candidates {output.candidates:q} --queries {output.queries:q}"
        " --types {output.query_types:q}"
