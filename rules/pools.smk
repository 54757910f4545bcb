# Passage pools: the test view a hold-out leaves, each pool built from its source, and the leakage
# filter that turns it into the results/pools/<pool>/passages.jsonl generation reads.


rule testview:
    input:
        unpack(benchmark_inputs),
    output:
        **testview_files("{benchmark}"),
    params:
        benchmark_dir=benchmark_dir_of,
        options=holdout_options,
        out_dir=output_dir,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/testview/{{benchmark}}.log",
    shell:
        "capflow pool --kind holdout --benchmark-dir {params.benchmark_dir} {params.options}"
        " --testview-out {params.out_dir} --out {output.heldout} --stats {output.heldout_stats} > {log} 2>&1"


rule pool:
    input:
        pool_source_input,
    output:
        passages=f"{RESULTS}/pools/{{pool}}/source.jsonl",
        stats=f"{RESULTS}/pools/{{pool}}/source_stats.json",
    wildcard_constraints:
        pool=r"ood|id",
    params:
        options=pool_options,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/pools/{{pool}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pools/{{pool}}.tsv"
    shell:
        "capflow pool {params.options} --out {output.passages} --stats {output.stats} > {log} 2>&1"


rule leakage:
    input:
        pool=f"{RESULTS}/pools/{{pool}}/source.jsonl",
        test=leakage_test_candidates,
    output:
        passages=f"{RESULTS}/pools/{{pool}}/passages.jsonl",
        report=f"{RESULTS}/pools/{{pool}}/leakage.json",
        histogram=f"{RESULTS}/pools/{{pool}}/leakage_histogram.csv",
    wildcard_constraints:
        pool=r"ood|id",
    params:
        test_dir=leakage_test_dir,
        threshold=LEAKAGE["threshold"],
        exact_from=LEAKAGE["exact_from"],
    threads: 2
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/leakage/{{pool}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/leakage/{{pool}}.tsv"
    shell:
        "capflow leakage --pool {input.pool} --test {params.test_dir} --threshold {params.threshold:q}"
        " --exact-from {params.exact_from:q} --workers {threads} --out-passages {output.passages}"
        " --report {output.report} --histogram {output.histogram} > {log} 2>&1"
