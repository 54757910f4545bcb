# The report: every table and figure, the analyses they read (per-query frame, classification sweep,
# inversions, error analysis), hybrid runs, qrels and MTEB-shaped results. Built from finished
# results alone: no job here loads a model (cosines beyond a run's depth come from the cache).


rule qrels:
    input:
        unpack(benchmark_inputs),
    output:
        **qrels_paths().files,
    log:
        qrels_paths().log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark_dir=input_benchmark_dir,
    shell:
        "capflow --log {log:q} qrels --benchmark {params.benchmark_dir:q} --out {output.qrels:q}"


rule mteb_json:
    input:
        metrics=scored_metrics,
    output:
        **mteb_json_paths().files,
    log:
        mteb_json_paths().log,
    wildcard_constraints:
        scored=r"(zeroshot|evaluate|hybrid)/.+",
    conda:
        "../workflow/envs/core.yaml"
    shell:
        "capflow --log {log:q} mteb-json --metrics {input.metrics:q} --out {output.json:q}"


rule hybrid:
    input:
        unpack(hybrid_inputs),
    output:
        **hybrid_paths().files,
    log:
        hybrid_paths().log,
    wildcard_constraints:
        method="rrf|minmax",
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark_dir=input_benchmark_dir,
        options=hybrid_options,
    shell:
        "capflow --log {log:q} hybrid --benchmark {params.benchmark_dir:q}"
        " --lexical {input.lexical_run:q} {input.lexical_metrics:q} --dense {input.dense_run:q} {input.dense_metrics:q}"
        " {params.options} --run {output.run:q} --metrics {output.metrics:q}"


rule per_query:
    input:
        **per_query_inputs(),
    output:
        **PER_QUERY_PATHS.files,
    log:
        PER_QUERY_PATHS.log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmarks=benchmark_label_options(scored_runs()),
        labels=MODEL_LABELS,
    shell:
        "capflow --log {log:q} per-query --metrics {input.metrics:q} --runs {input.runs:q} {params.benchmarks}"
        " --labels {params.labels:q}"
        " --out {output.csv:q}"


rule classification_sweep:
    input:
        unpack(dense_analysis_inputs),
    output:
        **analysis_paths("classification").files,
    log:
        analysis_paths("classification").log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark=benchmark_words,
        thresholds=REPORT["classification"]["thresholds"],
        cache=EMBEDDING_CACHE,
        labels=MODEL_LABELS,
    shell:
        "capflow --log {log:q} classification --metrics {input.metrics:q} --benchmark {params.benchmark}"
        " --labels {params.labels:q}"
        " --cache {params.cache:q} --thresholds {params.thresholds} --out {output.csv:q}"


rule inversions:
    input:
        unpack(dense_analysis_inputs),
    output:
        **analysis_paths("inversions").files,
    log:
        analysis_paths("inversions").log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark=benchmark_words,
        types=types_words,
        cache=EMBEDDING_CACHE,
        labels=MODEL_LABELS,
    shell:
        "capflow --log {log:q} inversions --metrics {input.metrics:q} --benchmark {params.benchmark}"
        " --labels {params.labels:q}"
        " --query-types {params.types} --cache {params.cache:q} --out {output.csv:q}"


rule error_analysis:
    input:
        unpack(dense_analysis_inputs),
        lexical=lexical_run,
    output:
        **analysis_paths("errors", extra=["sheet"]).files,
    log:
        analysis_paths("errors").log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark_dir=input_benchmark_dir,
        language=lookup(dpath="benchmarks/{benchmark}/language", within=config),
        labels=MODEL_LABELS,
    shell:
        "capflow --log {log:q} error-analysis --labels {params.labels:q}"
        " --benchmark {params.benchmark_dir:q} --language {params.language:q}"
        " --query-types {input.types:q} --lexical-run {input.lexical:q} --metrics {input.metrics:q}"
        " --runs {input.runs:q} --out {output.csv:q} --sheet {output.sheet:q}"


for batch in REPORT_BATCHES:

    rule:
        name:
            f"tables_{batch}"
        input:
            batch_inputs(REPORT_TABLES, batch),
        output:
            table_outputs(batch),
        log:
            batch_log("tables", batch),
        conda:
            "../workflow/envs/core.yaml"
        params:
            spec=batch_spec(REPORT_TABLES, table_paths, batch),
        shell:
            "capflow --log {log:q} each tables --spec {params.spec:q}"

    rule:
        name:
            f"figures_{batch}"
        input:
            batch_inputs(REPORT_FIGURES, batch),
        output:
            figure_outputs(batch),
        log:
            batch_log("figures", batch),
        conda:
            "../workflow/envs/core.yaml"
        params:
            spec=batch_spec(REPORT_FIGURES, figure_paths, batch),
        shell:
            "capflow --log {log:q} each figures --spec {params.spec:q}"


rule latex:
    input:
        tables=[table_paths(t).files["tex"] for t in REPORT_TABLES],
        figures=[figure_paths(f).files["pdf"] for f in REPORT_FIGURES],
    output:
        **LATEX_PATHS.files,
    log:
        LATEX_PATHS.log,
    conda:
        "../workflow/envs/core.yaml"
    shell:
        "capflow --log {log:q} latex --tables {input.tables:q} --figures {input.figures:q} --out {output.tex:q}"


rule tables:
    input:
        table_targets(),


rule figures:
    input:
        figure_targets(),
