# The report: every table and figure, the analyses they read (per-query frame, classification sweep,
# inversions, error analysis), hybrid runs, qrels and mteb results (results/mteb/). Built from finished
# results alone: no job here loads a model (cosines beyond a run's depth come from the cache).


rule qrels:
    input:
        unpack(of(PLAN.qrels_inputs, "root", "benchmark")),
    output:
        **PATHS.qrels().files,
    log:
        PATHS.qrels().log,
    wildcard_constraints:
        root=one_of(PLAN.QRELS_ROOTS),
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark_dir=input_benchmark_dir,
    shell:
        "capflow --log {log:q} qrels --benchmark {params.benchmark_dir:q} --out {output.qrels:q}"


rule mteb_json:
    input:
        of(PLAN.mteb_inputs, "mteb_model", "revision", "task"),
    output:
        **PATHS.mteb_result().files,
    log:
        PATHS.mteb_result().log,
    wildcard_constraints:
        mteb_model=one_of(MTEB_WILDCARDS["mteb_model"]),
        revision=one_of(MTEB_WILDCARDS["revision"]),
        task=one_of(MTEB_WILDCARDS["task"]),
    conda:
        "../workflow/envs/core.yaml"
    params:
        options=of(PLAN.mteb_json_options, "mteb_model", "revision", "task"),
    shell:
        "capflow --log {log:q} mteb-json {params.options} --out {output.json:q}"


rule hybrid:
    input:
        unpack(of(PLAN.hybrid_inputs, "benchmark", "model")),
    output:
        **PATHS.hybrid().files,
    log:
        PATHS.hybrid().log,
    wildcard_constraints:
        method=one_of(HYBRID_METHODS),
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark_dir=input_benchmark_dir,
        options=of(PLAN.hybrid_options, "method", "model"),
    shell:
        "capflow --log {log:q} hybrid --benchmark {params.benchmark_dir:q}"
        " --lexical {input.lexical_run:q} {input.lexical_metrics:q} --dense {input.dense_run:q} {input.dense_metrics:q}"
        " {params.options} --run {output.run:q} --metrics {output.metrics:q}"


rule per_query:
    input:
        **PLAN.per_query_inputs(),
    output:
        **PATHS.per_query.files,
    log:
        PATHS.per_query.log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmarks=words(*PLAN.benchmark_label_words()),
        labels=MODEL_LABELS,
    shell:
        "capflow --log {log:q} per-query --metrics {input.metrics:q} --runs {input.runs:q} {params.benchmarks}"
        " --labels {params.labels:q}"
        " --out {output.csv:q}"


rule classification_sweep:
    input:
        unpack(of(PLAN.dense_analysis_inputs, "benchmark")),
    output:
        **PATHS.analysis("classification").files,
    log:
        PATHS.analysis("classification").log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark=benchmark_words,
        thresholds=config["report"]["classification"]["thresholds"],
        cache=PATHS.embedding_cache,
        labels=MODEL_LABELS,
    shell:
        "capflow --log {log:q} classification --metrics {input.metrics:q} --benchmark {params.benchmark}"
        " --labels {params.labels:q}"
        " --cache {params.cache:q} --thresholds {params.thresholds} --out {output.csv:q}"


rule inversions:
    input:
        unpack(of(PLAN.dense_analysis_inputs, "benchmark")),
    output:
        **PATHS.analysis("inversions").files,
    log:
        PATHS.analysis("inversions").log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark=benchmark_words,
        types=types_words,
        cache=PATHS.embedding_cache,
        labels=MODEL_LABELS,
    shell:
        "capflow --log {log:q} inversions --metrics {input.metrics:q} --benchmark {params.benchmark}"
        " --labels {params.labels:q}"
        " --query-types {params.types} --cache {params.cache:q} --out {output.csv:q}"


rule error_analysis:
    input:
        unpack(of(PLAN.dense_analysis_inputs, "benchmark")),
        lexical=PATHS.zeroshot(model="bm25").files["run"],
    output:
        **PATHS.analysis("errors", extra=("sheet",)).files,
    log:
        PATHS.analysis("errors").log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        benchmark_dir=input_benchmark_dir,
        language=of(PLAN.benchmark_language, "benchmark"),
        labels=MODEL_LABELS,
    shell:
        "capflow --log {log:q} error-analysis --labels {params.labels:q}"
        " --benchmark {params.benchmark_dir:q} --language {params.language:q}"
        " --query-types {input.query_types:q} --lexical-run {input.lexical:q} --metrics {input.metrics:q}"
        " --runs {input.runs:q} --out {output.csv:q} --sheet {output.sheet:q}"


for batch in BATCHES:
    for kind, category in (("tables", "Tables"), ("figures", "Figures")):

        rule:
            name:
                f"{kind}_{batch}"
            input:
                REPORT.batch_inputs(kind, batch),
            output:
                report_outputs(kind, batch, category),
            log:
                PATHS.batch_log(kind, batch),
            conda:
                "../workflow/envs/core.yaml"
            params:
                kind=kind,
                batch=REPORT.batch_items(kind, batch),
                captions=REPORT.batch_captions(kind, batch),
            script:
                "../workflow/scripts/report_batch.py"


rule latex:
    input:
        tables=[PATHS.table(t).files["tex"] for t in REPORT.tables],
        figures=[PATHS.figure(f).files["pdf"] for f in REPORT.figures],
    output:
        **PATHS.latex.files,
    log:
        PATHS.latex.log,
    conda:
        "../workflow/envs/core.yaml"
    params:
        numbers=words(*REPORT.table_numbers().values()),
    shell:
        "capflow --log {log:q} latex --tables {input.tables:q} --numbers {params.numbers}"
        " --figures {input.figures:q} --out {output.tex:q}"


rule tables:
    input:
        TARGETS["tables"],


rule figures:
    input:
        TARGETS["figures"],
