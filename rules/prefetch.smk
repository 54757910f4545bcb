# Hub downloads, all in one job that runs where Snakemake runs (a local rule): models, benchmark
# files and hub datasets go into the hub caches, and the jobs after it read them offline.


rule prefetch:
    output:
        **prefetch_paths().files,
    log:
        prefetch_paths().log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        plan=prefetch_plan_json(),
    shell:
        "capflow --log {log:q} prefetch --plan-json {params.plan:q} --manifest {output.manifest:q}"
