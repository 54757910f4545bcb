"""Table 4: finetuning on generated queries, from metrics JSON (and trainset stats for the generator).

Rows: the zero-shot models evaluated on the same benchmarks (the base model marked), then per pool
the finetuned SM, KW and SM+KW models; a cell is the mean over seeds, ± the sample standard
deviation when there are several.
"""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError
from capflow.io import read_json
from capflow.report.labels import add_run_table_arguments, labelled
from capflow.report.table import Cell, Column, Row, Table, mean_std
from capflow.runrecord import RunRecord
from capflow.vocabulary import MIX_DISPLAY, MIXES, POOL_DISPLAY, variant_display


def add_arguments(parser) -> None:
    add_run_table_arguments(parser, "metrics JSON and trainset stats.json")


def build(args) -> Table:
    runs: list[RunRecord] = []
    stats: list[dict] = []
    for path in args.inputs:
        data = read_json(path)
        if isinstance(data, dict) and {"pool", "mix", "generator"} <= set(data):
            if not all(isinstance(data[key], str) for key in ("pool", "mix", "generator")):
                raise UserError("trainset stats: pool, mix and generator must be strings", path)
            stats.append(data)
        elif isinstance(data, dict) and {"benchmark", "model", "metrics"} <= set(data):
            runs.append(labelled(RunRecord.from_json(data, Path(path)), args.labels))
        else:
            raise UserError("neither a metrics JSON (benchmark, model, metrics) nor trainset stats", path)
    if not runs:
        raise UserError("no metrics JSON among the inputs")
    benchmarks = args.benchmarks or list(dict.fromkeys(r.benchmark_label for r in runs))
    ks = args.ks or [1, 5, 10]
    columns = [Column(f"{b}/ndcg@{k}", f"nDCG@{k}", group=b) for b in benchmarks for k in ks]

    zeroshot: dict[str, Row] = {}
    finetuned: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    seeds: dict[tuple[str, str, str], set[int]] = {}
    base_displays = set()
    for r in runs:
        setting = r.setting
        if setting is None:
            row = zeroshot.setdefault(r.model, Row(r.display_name, {}))
            for k in ks:
                row.cells[f"{r.benchmark_label}/ndcg@{k}"] = Cell(r.metric(f"ndcg@{k}"))
            continue
        key = (setting.pool, setting.mix, setting.variant)
        base_displays.add(r.display)
        seeds.setdefault(key, set()).add(setting.seed)
        for k in ks:
            finetuned.setdefault(key, {}).setdefault(f"{r.benchmark_label}/ndcg@{k}", []).append(
                r.metric(f"ndcg@{k}"))
    for row in zeroshot.values():
        if row.label in base_displays:
            row.label += " (base)"

    groups = [("Zero-shot", list(zeroshot.values()))] if zeroshot else []
    pools = list(dict.fromkeys(pool for pool, _, _ in finetuned))
    # per pool, each mix: the paper's training, then the same set with the knobs beyond the paper
    for pool in pools:
        rows = [Row(MIX_DISPLAY[mix] + variant_display(key[2]),
                    {column: mean_std(values) for column, values in finetuned[key].items()})
                for mix in MIXES for key in sorted(k for k in finetuned if k[:2] == (pool, mix))]
        groups.append((f"Finetuned on the {POOL_DISPLAY.get(pool, pool)}", rows))

    notes = []
    generators = {(s["pool"], s["mix"]): s["generator"] for s in stats}
    used = sorted({generators[key[:2]] for key in finetuned if key[:2] in generators})
    if used:
        notes.append(f"Training queries: {'; '.join(used)}.")
    counts = sorted({len(v) for v in seeds.values()})
    if counts and counts[-1] > 1:
        notes.append(f"Finetuned rows: mean ± sample std over {'/'.join(map(str, counts))} seeds.")
    notes += list(args.note or [])
    caption = args.caption or "Finetuning on generated queries (the paper's Table 4), nDCG@k (x100)"
    return Table(caption=caption, label="tab:finetune", columns=columns, groups=groups, notes=notes)
