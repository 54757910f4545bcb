# Benchmarks: each validated from its local copy or downloaded from the hub (rules/common.smk says
# where each file goes; the local copy's files are inputs, so editing one reruns the job).


rule benchmark_data:
    input:
        benchmark_source,
        prefetched=PREFETCHED,
    output:
        **data_paths().files,
    log:
        data_paths().log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        offline=HUB_OFFLINE,
        local_dirs=config["data"]["local_dirs"],
        options=benchmark_data_options,
    shell:
        "{params.offline} capflow --log {log:q} data --name {wildcards.benchmark:q} --local-dirs {params.local_dirs:q}"
        " {params.options} --candidates {output.candidates:q} --queries {output.queries:q}"
        " --types {output.types:q}"
