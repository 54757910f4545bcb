"""The embedded default end to end: the README's `snakemake --cores 8 all` on the reference data,
run in a copy of the repository's tracked files on two CPUs (the reference machine's), gives the
README's Tables 2, 4 and 6.

About 6 minutes on a quiet 2-core machine, so the plain `pytest` run leaves it out (marker e2e):
`pytest -m e2e` runs it, and .ci/run always does.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import subprocess

import pytest

from capflow.plan.jobs import REPORT_RULES
from capflow.runtime.hardware import cpu_has_native_bf16
from capflow.vocabulary import MIX_DISPLAY

from conftest import REPO, job_stats, run_snakemake

pytestmark = pytest.mark.e2e

# README "Table 2": model -> nDCG@1/5/10 on CapRetrieval, then on CapRetrievalEn
TABLE_2 = {
    "BM25": [74.40, 69.30, 66.54, 73.34, 71.35, 70.44],
    # the dataset authors' English BM25, on CapRetrievalEn alone (their README: 69.56)
    "BM25 (NLTK + Porter)": [72.68, 70.30, 69.56],
    "all-MiniLM-L6-v2": [11.27, 11.37, 11.61, 72.55, 70.64, 70.88],
    "BM25 + all-MiniLM-L6-v2 (RRF k=60)": [64.59, 53.29, 52.58, 78.51, 76.26, 75.68],
    "BM25 + all-MiniLM-L6-v2 (min-max, w=0.5)": [69.63, 49.14, 46.87, 78.78, 76.81, 76.09],
}
# README "Table 6": (pool, mix) -> every numeric column: the paper's pool passages, pool tokens, queries per
# pool passage and query length, in BERT WordPiece tokens; then queries, passages with queries, queries held
# out, and the pool tokens and query length in words
TABLE_6 = {
    ("OOD", "SM"): [671, 30537, 1.00, 13.13, 669, 594, 33, 20275, 9.39],
    ("OOD", "KW"): [671, 30537, 7.55, 1.82, 5064, 671, 253, 20275, 1.49],
    ("OOD", "SM+KW"): [671, 30537, 8.52, 3.14, 5718, 671, 285, 20275, 2.41],
    ("ID", "SM"): [947, 24316, 0.99, 10.41, 935, 794, 47, 19275, 8.95],
    ("ID", "KW"): [947, 24316, 7.14, 1.76, 6759, 947, 338, 19275, 1.52],
    ("ID", "SM+KW"): [947, 24316, 8.11, 2.81, 7682, 947, 384, 19275, 2.42],
}
# README "Table 4": row -> nDCG@1/5/10 on the CapRetrievalEn test view
TABLE_4 = {
    ("zero-shot", "all-MiniLM-L6-v2"): [71.20, 70.77, 71.23],
    ("zero-shot", "BM25"): [72.35, 70.32, 69.69],
    ("OOD", "SM"): [70.20, 71.04, 71.14],
    ("OOD", "KW"): [72.06, 72.23, 72.29],
    ("OOD", "SM+KW"): [71.20, 71.40, 71.64],
    ("ID", "SM"): [71.35, 70.45, 71.18],
    ("ID", "KW"): [74.93, 75.07, 75.54],
    ("ID", "SM+KW"): [76.07, 74.29, 74.87],
}
# The README's Table 4 comes from a CPU with native bf16 (AVX512-BF16), where training runs under
# bf16 autocast. A run on another CPU kind with native bf16 gave OOD SM's nDCG@5 as 71.00 for 71.04:
# oneDNN picks its bf16 kernels per CPU kind, and their sums round differently. CPUs without it train
# in fp32: on the reference machine with finetune.bf16 "no", OOD SM and ID SM moved by at most 0.29
# (nDCG@1). The thread count changes the sums' order too (two compute threads per finetune moved ID
# SM's nDCG@1 by 0.28), so the run is held to two CPUs, where `--cores 8` gives every torch job one
# compute thread. Each Table 4 entry is held to 0.5 nDCG point on native-bf16 CPUs, 1.0 elsewhere.
REFERENCE_CPUS = 2
TABLE_4_TOLERANCE = 0.5 if cpu_has_native_bf16() else 1.0


def tracked_copy(target) -> None:
    """The repository's tracked files, as a fresh clone would have them."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def tables(benchmark_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("embedded-default")
    tracked_copy(workdir)
    cpus = set(sorted(os.sched_getaffinity(0))[:REFERENCE_CPUS])
    result = run_snakemake(workdir, "--cores", "8", "all", timeout=3600, cpus=cpus,
                           env={"CAPFLOW_DATA_DIR": str(benchmark_root)})
    assert result.returncode == 0, result.stderr[-5000:]
    assert (workdir / "results" / "logs" / "data" / "CapRetrieval.log").exists()
    out = {name: list(csv.DictReader((workdir / "results" / "tables" / f"{name}.csv").open(encoding="utf-8")))
           for name in ("zeroshot", "trainsets", "finetune")}
    out["data_log"] = (workdir / "results" / "logs" / "data" / "CapRetrieval.log").read_text(encoding="utf-8")
    out["workdir"], out["cpus"] = workdir, cpus
    return out


def cpu_model() -> str:
    """The CPU's model name, so that a Table 4 mismatch says which CPU kind gave it."""
    for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def numbers(row: dict[str, str]) -> list[float]:
    """The row's numeric cells in column order ("5,064" included), std columns left out."""
    values = []
    for key, text in row.items():
        if key.endswith(" std") or not text:
            continue
        try:
            values.append(float(text.replace(",", "")))
        except ValueError:
            pass  # a text column (parameters, mix)
    return values


def pool_of(group: str) -> str:
    """'OOD' or 'ID' from a block title such as 'Finetuned on the OOD pool'."""
    [pool] = [word for word in group.split() if word in ("OOD", "ID")]
    return pool


def test_table_2_zeroshot(tables):
    rows = {row["model"]: numbers(row) for row in tables["zeroshot"]}
    assert {model: [round(x, 2) for x in values] for model, values in rows.items()} == TABLE_2


def test_table_6_trainsets(tables):
    rows = {(pool_of(row["group"]), row["Mix"]): row for row in tables["trainsets"]}
    assert {row["generator"] for row in rows.values()} == {"heuristic (no LLM)"}
    assert {key: [round(x, 2) for x in numbers(row)] for key, row in rows.items()} == TABLE_6


def table_4_rows(table: list[dict]) -> dict[tuple[str, str], list[float]]:
    rows = {}
    for row in table:
        zero_shot = row["group"].lower().startswith("zero-shot")
        key = ("zero-shot", row["model"].split(" (")[0]) if zero_shot else (pool_of(row["group"]), row["model"])
        rows[key] = [round(x, 2) for x in numbers(row)]
    return rows


def test_table_4_finetune(tables):
    rows = table_4_rows(tables["finetune"])
    assert set(rows) == set(TABLE_4)
    for key, expected in TABLE_4.items():
        assert rows[key] == pytest.approx(expected, abs=TABLE_4_TOLERANCE), (key, cpu_model())
    # The finding: which settings beat the zero-shot base model. Where the README's margin exceeds
    # twice the tolerance, a run within the tolerance cannot reverse it, and the test says so.
    base = TABLE_4[("zero-shot", "all-MiniLM-L6-v2")]
    for key, expected in TABLE_4.items():
        for k, (got, want, zero_shot_got, zero_shot_want) in enumerate(
                zip(rows[key], expected, rows[("zero-shot", "all-MiniLM-L6-v2")], base)):
            if abs(want - zero_shot_want) > 2 * TABLE_4_TOLERANCE:
                assert (got > zero_shot_got) == (want > zero_shot_want), (key, ("nDCG@1", "nDCG@5", "nDCG@10")[k])


def test_table_4_finding_holds_at_any_tolerance():
    """The README's Table 4 itself: the in-domain KW and SM+KW settings beat the base model on every
    cut-off by more than twice either tolerance, so the ordering check above covers them on every CPU."""
    base = TABLE_4[("zero-shot", "all-MiniLM-L6-v2")]
    for key in (("ID", "KW"), ("ID", "SM+KW")):
        assert all(value - zero_shot > 2 * 1.0 for value, zero_shot in zip(TABLE_4[key], base)), key


def test_each_finetuned_models_card_holds_its_table_4_ndcg10(tables):
    """The card beside each model folder carries the nDCG@10 of its Table 4 row, to the table's 2 decimals."""
    from huggingface_hub.repocard import metadata_load

    rows = table_4_rows(tables["finetune"])
    for pool, mix in itertools.product(("ood", "id"), ("sm", "kw", "smkw")):
        card = tables["workdir"] / "results" / "finetune" / f"{pool}-{mix}" / "seed-0" / "card" / "README.md"
        [index] = metadata_load(card)["model-index"]
        [ndcg10] = [m["value"] for r in index["results"] for m in r["metrics"] if m["type"] == "ndcg_at_10"]
        assert f"{100 * ndcg10:.2f}" == f"{rows[(pool.upper(), MIX_DISPLAY[mix])][-1]:.2f}", (pool, mix)


def test_data_log_lists_the_untyped_queries(tables):
    assert tables["data_log"].count("query without a type: ") == 6
    assert "'啤酒 炒菜'" in tables["data_log"]


# --- config/beyond.yaml on top: ID KW again with hard negatives and the best dev checkpoint -------------

# README "Beyond the paper": the knobbed row of Table 4 (CapRetrievalEn test view, nDCG@1/5/10)
KNOBBED = " + hard negatives, best dev checkpoint"
TABLE_4_BEYOND = {("ID", "KW" + KNOBBED): [73.64, 73.51, 74.04]}


@pytest.fixture(scope="module")
def beyond(tables, benchmark_root):
    """The overlay run in the embedded default's results: only what the knobs add (and the report) runs."""
    workdir = tables["workdir"]
    result = run_snakemake(workdir, "--cores", "8", "all", "--configfile", "config/beyond.yaml", timeout=1800,
                           cpus=tables["cpus"], env={"CAPFLOW_DATA_DIR": str(benchmark_root)})
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir / "results", result.stdout + result.stderr


def test_beyond_adds_only_the_knobbed_jobs(beyond):
    _, output = beyond
    assert {rule: n for rule, n in job_stats(output).items() if rule not in REPORT_RULES} == {
        "negatives": 1, "finetune_knobs": 1, "evaluate": 1}


def test_beyond_table_4_rows(beyond, tables):
    results, _ = beyond
    table = list(csv.DictReader((results / "tables" / "finetune.csv").open(encoding="utf-8")))
    rows = table_4_rows(table)
    assert set(rows) == set(TABLE_4) | set(TABLE_4_BEYOND)
    for key, expected in {**TABLE_4, **TABLE_4_BEYOND}.items():  # the plain rows unchanged
        assert rows[key] == pytest.approx(expected, abs=TABLE_4_TOLERANCE), (key, cpu_model())


def test_beyond_mines_and_keeps_the_best_dev_checkpoint(beyond):
    results, _ = beyond
    stats = json.loads((results / "negatives" / "id-kw" / "stats.json").read_text())
    # the ID pool is held out of the test view: none of its passages is an evaluated caption
    assert stats["test_captions_in_pool"] == 0 and stats["pairs_with_negatives"] > 0.9 * stats["pairs"]
    run = results / "finetune" / "id-kw+hn+best" / "seed-0"
    summary = json.loads((run / "train.json").read_text())
    assert summary["kept_checkpoint_step"] == summary["best_dev_step"]
    losses = list(csv.DictReader((run / "loss.csv").open(encoding="utf-8")))
    assert [row["step"] for row in losses if row["dev_ndcg@10"]] == ["12", "24", "36"]
    assert (results / "figures" / "dev_ndcg.png").stat().st_size > 10_000
    groups = (results / "tables" / "query_groups-CapRetrievalEn-testview.md").read_text(encoding="utf-8")
    assert groups.count(KNOBBED) == 1  # Table 3's per-group comparison has the knobbed setting
