rule benchmark_data:
    output:
        **benchmark_files("{benchmark}"),
    params:
        local_dirs=config["data"]["local_dirs"],
        repo=benchmark_repo,
        endpoint=hub_endpoint_arg,
        revision=config["data"]["revision"],
        out_dir=output_dir,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/data/{{benchmark}}.log",
    shell:
        "capflow data --name {wildcards.benchmark} --local-dirs {params.local_dirs:q} {params.repo}"
        " {params.endpoint} --revision {params.revision} --out {params.out_dir}"
        " > {log} 2>&1"
