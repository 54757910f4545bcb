# Training sets {pool} x {mix} from the generated queries, and their statistics (the paper's Table 6).


rule trainset:
    input:
        passages=generation_pool,
        queries=trainset_queries,
        stats=trainset_shard_stats,
    output:
        train=f"{trainset_dir('{pool}', '{mix}')}/train.jsonl",
        heldout=f"{trainset_dir('{pool}', '{mix}')}/heldout.jsonl",
        stats=f"{trainset_dir('{pool}', '{mix}')}/stats.json",
    wildcard_constraints:
        pool=r"[a-z0-9_]+",
        mix=r"sm|kw|smkw",
    params:
        language=GENERATE["language"],
        fraction=config["trainsets"]["heldout_fraction"],
        seed=config["trainsets"]["seed"],
        out_dir=output_dir,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/trainsets/{{pool}}-{{mix}}.log",
    shell:
        "capflow trainset --pool {wildcards.pool} --mix {wildcards.mix} --passages {input.passages}"
        " --queries {input.queries} --stats {input.stats} --language {params.language}"
        " --heldout-fraction {params.fraction} --seed {params.seed} --out-dir {params.out_dir} > {log} 2>&1"


rule table_trainsets:
    input:
        trainset_stats_files(),
    output:
        table_files("trainsets"),
    params:
        prefix=output_prefix,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/tables/trainsets.log",
    shell:
        "capflow tables trainsets --inputs {input} --out-prefix {params.prefix} > {log} 2>&1"
