# Hub downloads, one job per item (a model, a benchmark's files, a dataset), each where Snakemake runs
# (a local rule): it goes into the hub caches, and the jobs that read it run after it, offline. A new
# model fetches that model and reruns only the jobs that read it.


rule prefetch_item:
    output:
        **PATHS.prefetch().files,
    log:
        PATHS.prefetch().log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        plan=of(PLAN.prefetch_item_json, "item"),
    shell:
        "capflow --log {log:q} prefetch --plan-json {params.plan:q} --manifest {output.manifest:q}"


# `snakemake --cores 1 prefetch` on a machine with internet (a login node) fetches everything the
# configured jobs need, so compute nodes without it run the rest.
rule prefetch:
    input:
        TARGETS["prefetch"],
