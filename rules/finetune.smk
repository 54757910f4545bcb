# Finetuning: one job per training set ({pool} x {mix}) and seed, each a standard
# sentence-transformers model directory plus its per-step losses (the paper's Table 4 rows).


rule finetune:
    input:
        unpack(finetune_inputs),
    output:
        model=directory(f"{finetune_dir('{pool}', '{mix}', '{seed}')}/model"),
        loss=f"{finetune_dir('{pool}', '{mix}', '{seed}')}/loss.csv",
        summary=f"{finetune_dir('{pool}', '{mix}', '{seed}')}/train.json",
    wildcard_constraints:
        pool=r"[a-z0-9_]+",
        mix=r"sm|kw|smkw",
        seed=r"\d+",
    params:
        recipe=finetune_recipe_json,
        options=finetune_options,
    resources:
        gpu=finetune_gpus,
    conda:
        "../workflow/envs/core.yaml"
    log:
        f"{RESULTS}/logs/finetune/{{pool}}-{{mix}}/seed-{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune/{{pool}}-{{mix}}/seed-{{seed}}.tsv"
    shell:
        "capflow gpu-run --gpus {resources.gpu} -- capflow train --recipe-json {params.recipe:q}"
        " --train {input.train} --heldout {input.heldout} --passages {input.passages}"
        " --seed {wildcards.seed} {params.options} --out {output.model} --loss-csv {output.loss}"
        " --summary {output.summary} > {log} 2>&1"
