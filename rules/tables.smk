rule table_zeroshot:
    input:
        zeroshot_metrics(),
    output:
        table_files("zeroshot"),
    params:
        prefix=output_prefix,
        benchmarks=config["zeroshot"]["benchmarks"],
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/tables/zeroshot.log",
    shell:
        "capflow tables zeroshot --inputs {input} --benchmarks {params.benchmarks}"
        " --out-prefix {params.prefix} > {log} 2>&1"


rule tables:
    input:
        table_targets(),
