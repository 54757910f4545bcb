# Training sets {pool} x {mix} from the generated queries, and their statistics (the paper's Table 6).


rule trainset:
    input:
        unpack(of(PLAN.trainset_inputs, "pool", "mix")),
    output:
        **PATHS.trainset().files,
    log:
        PATHS.trainset().log,
    conda:
        "../workflow/envs/core.yaml"
    resources:
        **job_resources(0),
    params:
        language=config["generate"]["language"],
        fraction=config["trainsets"]["heldout_fraction"],
        seed=config["trainsets"]["seed"],
    shell:
        "capflow --log {log:q} trainset --pool {wildcards.pool:q} --mix {wildcards.mix:q}"
        " --passages {input.passages:q} --queries {input.queries:q} --stats {input.stats:q}"
        " --leakage-report {input.leakage:q} --language {params.language:q}"
        " --heldout-fraction {params.fraction} --seed {params.seed}"
        " --train {output.train:q} --heldout {output.heldout:q} --out-stats {output.stats:q}"
