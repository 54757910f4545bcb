"""The report's pieces on hand-built inputs: the classification setting, fusion, figures and LaTeX."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from capflow import metrics
from capflow.errors import UserError
from capflow.report import classification, hybrid
from capflow.runrecord import RunFile, RunRecord
from capflow.trec import write_trec

from conftest import benchmark_outputs, run_capflow

# candidates c1..c4; queries A, D, B have positives, E has none
QUERIES = ["A", "D", "B", "E"]
COSINE = np.array([[0.90, 0.50, 0.10, 0.10],   # A: retrieves c1 (1 of its 2 positives)
                   [0.00, 0.81, 0.85, 0.82],   # D: retrieves c2, c3, c4 (its 1 positive among them)
                   [0.20, 0.20, 0.20, 0.20],   # B: retrieves nothing
                   [0.30, 0.30, 0.30, 0.30]])  # E: retrieves nothing
QRELS = {"A": {"c1": 2, "c2": 1}, "D": {"c3": 2}, "B": {"c4": 2}, "E": {}}


def test_classification_setting_differs_from_macro_prf_within_run():
    positives = np.array([[c in QRELS[q] for c in ("c1", "c2", "c3", "c4")] for q in QUERIES])
    # squared L2 distance <= 0.4 is cosine >= 0.8
    ours = classification.classification_scores(COSINE, positives, 0.4)
    # precision: A 1, D 1/3 (B retrieved nothing: left out); recall: A 1/2, D 1, B 0 (E has no positives: left out)
    assert ours["query_precision"] == pytest.approx(2 / 3) and ours["query_recall"] == pytest.approx(0.5)
    assert round(ours["f1"], 4) == 0.5714 and round(ours["f2"], 4) == 0.5263  # from the means, not per query
    assert ours["pair_precision"] == pytest.approx(2 / 4) and ours["pair_recall"] == pytest.approx(2 / 4)
    # at 1.2 (cosine >= 0.4) A also retrieves c2: 3 of 5 retrieved pairs are positives, 3 of 4 positives found
    wide = classification.classification_scores(COSINE, positives, 1.2)
    assert (wide["pair_precision"], wide["pair_recall"]) == (pytest.approx(0.6), pytest.approx(0.75))
    assert round(wide["pair_f1"], 4) == 0.6667 and round(wide["pair_f2"], 4) == 0.7143  # the authors' run.py
    assert ours["no_positive_retrieving_nothing"] == 1.0 and ours["queries_with_retrieved"] == 2
    run = {q: sorted(zip(("c1", "c2", "c3", "c4"), map(float, row), strict=True), key=lambda h: -h[1])
           for q, row in zip(QUERIES, COSINE, strict=True)}
    theirs = metrics.macro_prf_within_run(run, QRELS, 0.8)
    # macro over judged queries, an empty result counted as precision 0, per-query F1 averaged
    assert round(theirs["precision"], 4) == 0.4444 and round(theirs["f1"], 4) == 0.3889
    assert theirs["recall"] == pytest.approx(ours["query_recall"])


def test_reciprocal_rank_fusion_and_minmax_interpolation():
    lexical = {"q": [("a", 9.0), ("b", 5.0), ("c", 1.0)]}
    dense = {"q": [("c", 0.9), ("a", 0.8), ("d", 0.7)]}
    fused = hybrid.rrf(lexical, dense, k=60)["q"]
    assert [cid for cid, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62) and fused[2][1] == pytest.approx(1 / 62)
    mixed = dict(hybrid.interpolate(lexical, dense, weight=0.25)["q"])
    assert mixed["a"] == pytest.approx(0.75 * 1.0 + 0.25 * 0.5) and mixed["d"] == pytest.approx(0.0)
    assert mixed["c"] == pytest.approx(0.25) and mixed["b"] == pytest.approx(0.75 * 0.5)
    assert [cid for cid, _ in hybrid.rrf(lexical, dense, k=60, depth=2)["q"]] == ["a", "c"]
    with pytest.raises(UserError, match="interpolation weight 1.5 is not between 0 and 1"):
        hybrid.interpolate(lexical, dense, weight=1.5)


# --- figures -----------------------------------------------------------------------------------------

@pytest.fixture
def report_inputs(tmp_path, tiny_benchmark):
    """A validated tiny benchmark and hand-written per-query frame, losses, leakage histogram and sweep."""
    data = tmp_path / "data" / "Tiny"
    made = run_capflow("data", "--name", "Tiny", "--local-dirs", tiny_benchmark.parent, *benchmark_outputs(data),
                       env={"CAPFLOW_DATA_DIR": ""})
    assert made.returncode == 0
    frame = ["benchmark,view,model,display,group,seed,query_id,query_type,query_group,metric,value"]
    for model, seed, values in (("bm25", "", (0.5, 1.0)), ("ood-kw", "0", (0.7, 0.2)), ("ood-kw", "1", (0.9, 0.4))):
        for qid, qtype, group, value in zip(("q1", "q2"), ("singleton_object", ""), ("Singleton Entity", "Untyped"),
                                            values, strict=True):
            frame.append(f"Tiny,full,{model},{model.upper()},x,{seed},{qid},{qtype},{group},ndcg@10,{value}")
    (tmp_path / "per_query.csv").write_text("\n".join(frame) + "\n")
    (tmp_path / "loss.csv").write_text("step,train_loss,eval_loss\n1,2.0,\n2,1.5,1.7\n3,1.2,\n4,1.0,1.3\n")
    (tmp_path / "dev-loss.csv").write_text("step,train_loss,eval_loss,dev_ndcg@10\n1,2.0,,\n2,1.5,1.7,0.41\n"
                                           "3,1.2,,\n4,1.0,1.3,0.47\n")
    (tmp_path / "hist.csv").write_text("from,to,pool_passages,test_captions\n" +
                                       "".join(f"{i / 10:.1f},{(i + 1) / 10:.1f},{10 - i},{i}\n" for i in range(10)))
    rows = [{"benchmark": "Tiny", "view": "full", "model": "m", "display": "M", "threshold": t,
             **classification.classification_scores(COSINE, np.array([[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                                                                      [0, 0, 0, 0]], dtype=bool), t)}
            for t in (0.1, 0.2, 0.4, 0.8, 1.2)]  # at 0.1 no query retrieves anything
    import pandas as pd

    pd.DataFrame(rows, columns=classification.SWEEP_COLUMNS).to_csv(tmp_path / "sweep.csv", index=False)
    runs = (("base", None, 0.5), ("s0", 0, 0.72), ("s1", 1, 0.74))
    for name, seed, value in runs:
        record = {"benchmark": "Tiny", "model": "all-MiniLM-L6-v2", "metrics": {"ndcg@10": value, "ndcg@1": value}}
        if seed is not None:
            record |= {"model": f"ood-kw-seed{seed}", "setting": {"pool": "ood", "mix": "kw", "seed": seed}}
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    return tmp_path


FIGURE_ARGS = {
    "query-types": lambda d: ["--benchmark", d / "data/Tiny"],
    "positives": lambda d: ["--benchmark", d / "data/Tiny"],
    "query-groups": lambda d: ["--per-query", d / "per_query.csv", "--benchmark", "Tiny"],
    "loss": lambda d: ["--loss", "ood-kw", d / "loss.csv", "--loss", "id-kw", d / "loss.csv"],
    "dev-ndcg": lambda d: ["--dev", "ood-kw+hn+best", d / "dev-loss.csv", "--dev", "id-kw+hn+best", d / "dev-loss.csv"],
    "leakage": lambda d: ["--histogram", "ood", d / "hist.csv", "--histogram", "id", d / "hist.csv",
                          "--threshold", "0.7"],
    "finetune": lambda d: ["--inputs", d / "base.json", d / "s0.json", d / "s1.json", "--ks", "1", "10"],
    "classification": lambda d: ["--sweep", d / "sweep.csv", "--benchmark", "Tiny"],
}


@pytest.mark.parametrize("name", sorted(FIGURE_ARGS))
def test_each_figure_is_a_real_reproducible_image(report_inputs, name):
    from PIL import Image

    png, pdf = report_inputs / f"{name}.png", report_inputs / f"{name}.pdf"
    argv = ["figures", name, *FIGURE_ARGS[name](report_inputs), "--png", png, "--pdf", pdf]
    result = run_capflow(*argv)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(png) as image:
        assert image.width >= 600 and image.height >= 400
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 10
    assert pdf.read_bytes().startswith(b"%PDF")
    first = png.read_bytes(), pdf.read_bytes()
    assert run_capflow(*argv).returncode == 0
    assert (png.read_bytes(), pdf.read_bytes()) == first


@pytest.mark.parametrize("name", sorted(FIGURE_ARGS))
def test_legends_stay_off_the_data(report_inputs, name):
    """Each legend lies below its axes' frame and x labels, and inside the figure, after the layout."""
    import argparse

    from capflow.report.registry import FIGURES

    builder = FIGURES[name]
    parser = argparse.ArgumentParser()
    builder.add_options(parser)
    fig = builder.build(parser.parse_args([str(a) for a in FIGURE_ARGS[name](report_inputs)]))
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frames = [ax.get_window_extent(renderer) for ax in fig.axes]
    placed = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend()]
    assert placed and not fig.legends
    for ax, legend in placed:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(frame) for frame in frames), f"{name}: a legend covers a plot"
        assert box.y1 <= ax.xaxis.get_tightbbox(renderer).y0, f"{name}: a legend covers the x labels"
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0, f"{name}: cut off"


def test_the_sweep_marks_the_table_threshold_and_leaves_undefined_precision_out(report_inputs):
    from capflow.report.batch import options_namespace
    from capflow.report.registry import FIGURES

    builder = FIGURES["classification"]
    fig = builder.build(options_namespace(builder, {"sweep": str(report_inputs / "sweep.csv"), "benchmark": "Tiny",
                                                    "threshold": 0.4}))
    ax = fig.axes[0]
    precision, recall, f1 = ax.get_lines()[:3]
    assert list(precision.get_xdata()) == [0.1, 0.2, 0.4, 0.8, 1.2]
    assert np.isnan(precision.get_ydata()[0]) and np.isnan(f1.get_ydata()[0])  # nothing retrieved at 0.1
    assert recall.get_ydata()[0] == 0.0 and precision.get_ydata()[2] == pytest.approx(100 * 2 / 3)
    assert [line.get_xdata()[0] for line in ax.get_lines()[3:]] == [0.4]  # the table's threshold


def test_figures_spell_the_measure_as_the_tables_and_keep_labels_in_the_frame(report_inputs):
    from capflow.report.batch import options_namespace
    from capflow.report.registry import FIGURES

    groups = FIGURES["query-groups"]
    fig = groups.build(options_namespace(groups, {"per_query": str(report_inputs / "per_query.csv"),
                                                  "benchmark": "Tiny"}))
    assert fig.axes[0].get_title() == "nDCG@10 per query group on Tiny"
    assert fig.axes[0].get_ylabel() == "nDCG@10 (x100)"
    types = FIGURES["query-types"]
    fig = types.build(options_namespace(types, {"benchmark": str(report_inputs / "data" / "Tiny")}))
    for ax in fig.axes:
        tops = [text.get_position()[1] for text in ax.texts]
        assert tops and max(tops) < ax.get_ylim()[1] / 1.05  # room for the count above the tallest bar


def test_the_finetune_bars_start_below_the_lowest_bar(report_inputs):
    from capflow.report.batch import options_namespace
    from capflow.report.registry import FIGURES

    builder = FIGURES["finetune"]
    inputs = [str(report_inputs / f"{name}.json") for name in ("base", "s0", "s1")]
    fig = builder.build(options_namespace(builder, {"inputs": inputs, "ks": [10]}))
    bottom, top = fig.axes[0].get_ylim()
    # bars at 50 (zero-shot) and 73 ± 1.4 (two seeds): the axis spans them, not 0 to 75
    assert 20 < bottom < 50 and 74.4 < top < 85


def test_figure_input_errors_name_file_and_line(report_inputs):
    bad = report_inputs / "bad-loss.csv"
    bad.write_text("step,train_loss,eval_loss\n1,2.0,\n2,x,\n")
    result = run_capflow("figures", "loss", "--loss", "a", bad, "--png", report_inputs / "x.png")
    assert result.returncode == 2
    assert result.stderr.strip() == f"capflow figures: error: {bad}:3: step and losses must be numbers"
    assert not (report_inputs / "x.png").exists()


# --- LaTeX -------------------------------------------------------------------------------------------

def test_all_tex_compiles_with_chinese_cells(report_inputs, tmp_path):
    if not shutil.which("xelatex"):
        pytest.skip("xelatex not installed (apt-get install texlive-xetex texlive-lang-chinese fonts-noto-cjk)")
    out = tmp_path / "tex"
    for name in ("t3", "t3-again"):  # two tables of one kind, each with the label the plan gives it
        assert run_capflow("tables", "query-groups", "--per-query", report_inputs / "per_query.csv", "--benchmark",
                           "Tiny", "--tex", out / f"{name}.tex", "--caption", "按查询类型 (by query type) & more",
                           "--label", f"tab:{name}").returncode == 0
    assert run_capflow("figures", "loss", "--loss", "ood-kw", report_inputs / "loss.csv",
                       "--pdf", out / "fig" / "loss.pdf").returncode == 0
    figure = (out / "fig" / "loss.pdf").read_bytes()
    assert b"/Type3" not in figure and b"/FontFile2" in figure  # TrueType fonts, as conference checks want
    result = run_capflow("latex", "--tables", out / "t3.tex", out / "t3-again.tex", "--numbers", "3a", "3b",
                         "--figures", out / "fig" / "loss.pdf", "--out", out / "all.tex")
    assert result.returncode == 0, result.stderr
    assert r"\input{t3.tex}" in (out / "all.tex").read_text()
    compiled = subprocess.run(["xelatex", "-interaction=nonstopmode", "-halt-on-error", "all.tex"], cwd=out,
                              capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    log = (out / "all.log").read_text()
    assert "Missing character" not in log and "multiply defined" not in log
    aux = (out / "all.aux").read_text()  # each table printed (and referenced) with its given number
    assert "\\newlabel{tab:t3}{{3a}" in aux and "\\newlabel{tab:t3-again}{{3b}" in aux
    assert (out / "all.pdf").read_bytes().startswith(b"%PDF")
    if shutil.which("pdftoppm"):  # the table page renders to ink, not a blank page
        from PIL import Image

        subprocess.run(["pdftoppm", "-r", "50", "-f", "2", "-l", "2", "-png", "all.pdf", "page"], cwd=out, check=True)
        with Image.open(next(out.glob("page*.png"))) as page:
            assert page.convert("L").getextrema()[0] < 100


def test_inversions_of_one_query():
    from capflow.report.inversions import query_inversions

    # c1, c2 label 2; c3 label 1 (never a negative nor a label-2 positive); c4, c5 not judged (label 0)
    cosine = np.array([0.5, 0.9, 0.95, 0.6, 0.4])
    found = query_inversions(cosine, {"c1": 2, "c2": 2, "c3": 1}, ["c1", "c2", "c3", "c4", "c5"])
    assert found["inverted_pairs"] == 1 and found["negative"] == 3 and found["positive"] == 0
    assert found["margin"] == pytest.approx(0.1)
    assert query_inversions(cosine, {"c3": 1}, ["c1", "c2", "c3", "c4", "c5"]) is None


def test_paired_inversion_table_joins_benchmarks_by_query_id(tmp_path):
    from capflow.report.inversions import COLUMNS

    lines = [",".join(COLUMNS)]
    cases = (("Zh", "西瓜", 0.57, 0.48), ("En", "watermelon", 0.52, 0.50), ("Zh", "猫", 0.3, 0.6))
    for bench, query, neg, pos in cases:
        qid = "q2" if query == "猫" else "q1"
        pairs = 3 if neg > pos else 0
        lines.append(f"{bench},full,m,M,{qid},{query},Singleton Entity,2,{pairs},n1,neg text,{neg},p1,pos text,{pos},"
                     f"{neg - pos}")
    (tmp_path / "inv.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_capflow("tables", "inversions-paired", "--inversions", tmp_path / "inv.csv", "--benchmark", "Zh",
                         "--other", "En", "--md", tmp_path / "t8.md")
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "t8.md").read_text(encoding="utf-8")
    assert "| Query (Zh) | Query (En) | Zh cos 0 | Zh cos 2 | Zh inverted | En cos 0 | En cos 2 | En inverted |" in md
    assert "| 西瓜 | watermelon | 0.57 | 0.48 | 3 | 0.52 | 0.50 | 3 |" in md
    assert "猫" not in md  # no inversion and not one of the queries always shown


def test_the_english_table_shows_the_chinese_named_queries_by_id(tmp_path):
    from capflow.report.inversions import COLUMNS

    from conftest import write_jsonl

    lines = [",".join(COLUMNS)]
    cases = (("q1", "watermelon", 0.40, 0.60), ("q2", "a cat", 0.7, 0.5), ("q3", "a dog", 0.9, 0.2))
    for qid, query, neg, pos in cases:
        pairs = 3 if neg > pos else 0
        lines.append(f"En,full,m,M,{qid},{query},Singleton Entity,2,{pairs},n1,neg text,{neg},p1,pos text,{pos},"
                     f"{neg - pos}")
    (tmp_path / "inv.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    zh = tmp_path / "zh"
    write_jsonl(zh / "candidates.jsonl", [{"id": "p1", "text": "一张图"}])
    write_jsonl(zh / "queries.jsonl", [{"id": "q1", "query": "西瓜", "positives": [{"id": "p1", "score": 2}]},
                                       {"id": "q2", "query": "猫", "positives": [{"id": "p1", "score": 2}]}])
    argv = ["tables", "inversions", "--inversions", tmp_path / "inv.csv", "--benchmark", "En", "--top", "1"]
    assert run_capflow(*argv, "--md", tmp_path / "plain.md").returncode == 0
    plain = (tmp_path / "plain.md").read_text(encoding="utf-8")
    assert "| a dog |" in plain and "watermelon" not in plain  # the widest margin only: 西瓜 is not an English text
    result = run_capflow(*argv, "--always-from", zh, "--md", tmp_path / "named.md")
    assert result.returncode == 0, result.stderr
    named = (tmp_path / "named.md").read_text(encoding="utf-8")
    # q1 is 西瓜 on the Chinese side: shown first, though its pairs are in order; then the widest margin
    assert named.index("| watermelon |") < named.index("| a dog |") and "a cat" not in named


def test_generated_queries_table_picks_a_seeded_passage_per_pool(tmp_path):
    from conftest import write_jsonl

    write_jsonl(tmp_path / "id.jsonl", [{"id": f"p{i}", "text": f"一只猫在沙发上睡觉，第{i}张图片。", "source": "x"}
                                        for i in range(6)])
    write_jsonl(tmp_path / "ood.jsonl", [{"id": "d1", "text": "A long paragraph about Python. " * 5, "source": "y"}])
    write_jsonl(tmp_path / "id-sm.jsonl", [{"passage_id": f"p{i}", "kind": "sm", "query": f"猫在睡觉吗 {i}"}
                                           for i in range(6)])
    write_jsonl(tmp_path / "id-kw.jsonl", [{"passage_id": f"p{i}", "kind": "kw", "query": q}
                                           for i in range(5) for q in ("猫", "沙发")])
    write_jsonl(tmp_path / "ood-sm.jsonl", [{"passage_id": "d1", "kind": "sm", "query": "what is python"}])
    write_jsonl(tmp_path / "ood-kw.jsonl", [{"passage_id": "d1", "kind": "kw", "query": "python"}])
    (tmp_path / "stats.json").write_text(json.dumps({"generator": "heuristic (no LLM)"}))
    argv = ["tables", "generated", "--pool", "id", tmp_path / "id.jsonl", "--pool", "ood", tmp_path / "ood.jsonl",
            "--queries", "id", tmp_path / "id-sm.jsonl", "--queries", "id", tmp_path / "id-kw.jsonl",
            "--queries", "ood", tmp_path / "ood-sm.jsonl", "--queries", "ood", tmp_path / "ood-kw.jsonl",
            "--stats", "id", tmp_path / "stats.json", "--csv", tmp_path / "t5.csv", "--tex", tmp_path / "t5.tex"]
    from capflow.report.generated import pick

    chosen = {seed: pick(seed, "id", [f"p{i}" for i in range(5)]) for seed in (0, 1)}
    for seed in (0, 1):
        assert run_capflow(*argv, "--seed", seed).returncode == 0
        lines = (tmp_path / "t5.csv").read_text(encoding="utf-8").splitlines()
        assert lines[0] == "group,pool,Passage,SM,KW"
        n = chosen[seed][1:]
        assert lines[1] == f",ID pool (heuristic (no LLM)),一只猫在沙发上睡觉，第{n}张图片。,猫在睡觉吗 {n},猫; 沙发"
        assert lines[2].startswith(",OOD pool,A long paragraph about Python.")
        assert lines[2].endswith(",what is python,python")
    assert chosen[0] != chosen[1]  # p5 has no KW query: never chosen
    assert r"\begin{tabular}{lp{6.5cm}p{6.5cm}p{6.5cm}}" in (tmp_path / "t5.tex").read_text(encoding="utf-8")


def test_error_categories_of_one_query():
    from capflow.report.erroranalysis import query_errors, query_terms

    terms = query_terms("红色 的 猫", "zh")
    assert terms == {"红色"}  # words of two or more characters when the query has any
    text_of = {"p1": "一只红色的猫", "p2": "小动物", "p3": "宠物在睡觉", "n1": "红色的车", "n2": "蓝天", "n3": "草地"}
    hits = ["n1", "p1", "n2"] + [f"x{i}" for i in range(7)] + ["p2"]  # p2 at rank 11, p3 not retrieved
    text_of.update({f"x{i}": "无关" for i in range(7)})
    errors = query_errors({"p1": 2, "p2": 2, "p3": 1}, hits, ["p3", "p2"], terms, text_of, "zh")
    by_candidate = {e["candidate_id"]: (e["category"], e["rank"], e["bm25_rank"]) for e in errors}
    assert by_candidate["p2"] == ("literal", 11, 2)  # BM25 has it in its top 10
    assert by_candidate["p3"] == ("literal", None, 1)
    assert by_candidate["n1"] == ("fp_shared_term", 1, None) and by_candidate["n2"] == ("fp_other", 3, None)
    assert len(errors) == 2 + 2 + 7  # every top-10 negative ranks above the missed positives
    semantic = query_errors({"p3": 2}, ["p1"], [], terms, text_of, "zh")
    assert semantic[0]["category"] == "semantic" and semantic[1]["category"] == "fp_shared_term"
    assert query_terms("A cat on the sofa", "en") == {"cat", "the", "sofa"}


def test_error_categories_stem_english_and_count_a_shared_chinese_character():
    from capflow.report.erroranalysis import query_errors, query_terms

    terms = query_terms("Running dogs", "en")
    assert terms == {"run", "dog"}  # BM25's Snowball stems
    text_of = {"p1": "two dogs ran", "n1": "a dog runs on grass", "n2": "a quiet lake"}
    errors = query_errors({"p1": 2}, ["n1", "n2", "p1"], [], terms, text_of, "en")
    assert [e["category"] for e in errors] == ["fp_shared_term", "fp_other"]
    missed = query_errors({"p1": 2}, [], [], terms, text_of, "en")
    assert missed[0]["category"] == "literal"  # "dogs" is the query's "dog" once stemmed
    terms = query_terms("西瓜", "zh")
    text_of = {"p1": "切开的西瓜", "n1": "一盘西红柿", "n2": "新鲜的西梅", "n3": "一杯咖啡", "n4": "西瓜汁"}
    errors = query_errors({"p1": 2}, ["n1", "n2", "n3", "n4", "p1"], [], terms, text_of, "zh")
    assert [e["category"] for e in errors] == ["fp_shared_char", "fp_shared_char", "fp_other", "fp_shared_term"]


def test_error_analysis_sheet_and_filled_categories(tmp_path, tiny_benchmark):
    data = tmp_path / "data" / "Tiny"
    made = run_capflow("data", "--name", "Tiny", "--local-dirs", tiny_benchmark.parent, *benchmark_outputs(data),
                       env={"CAPFLOW_DATA_DIR": ""})
    assert made.returncode == 0
    for model in ("bm25", "m"):
        hits = ["c2", "c1", "c3", "c4"] if model == "m" else ["c1", "c3", "c4", "c2"]
        run = {"q1": [(c, 1 - r / 10) for r, c in enumerate(hits, start=1)]}
        sha256 = write_trec(tmp_path / f"{model}.trec", run, model)
        RunRecord("Tiny", model, {"ndcg@10": 0.5}, run_file=RunFile.of(run, sha256, 100)).write(
            tmp_path / f"{model}.json")
    result = run_capflow("error-analysis", "--benchmark", data, "--language", "en",
                         "--lexical-run", tmp_path / "bm25.trec", "--metrics", tmp_path / "m.json",
                         "--runs", tmp_path / "m.trec", "--out", tmp_path / "err.csv",
                         "--sheet", tmp_path / "sheet.csv")
    assert result.returncode == 0, result.stderr
    # q1 'cat': m ranks a dog caption first, above both positives; q2 (train ticket) retrieved nothing: c4 missed
    errors = (tmp_path / "err.csv").read_text().splitlines()
    assert [line.split(",")[7:11] for line in errors[1:]] == [["fp_other", "c2", "0", "1"],
                                                              ["literal", "c4", "2", ""]]
    sheet = (tmp_path / "sheet.csv").read_text().splitlines()
    assert sheet[0] == "model,query_id,query,candidate_id,label,category,text,taxonomy,commonsense"
    assert sheet[1].endswith(",,") and len(sheet) == 2
    (tmp_path / "filled.csv").write_text(sheet[0] + "\n" + sheet[1][:-2] + ",hypernym,no\n")
    assert run_capflow("tables", "error-annotations", "--sheet", tmp_path / "filled.csv",
                       "--md", tmp_path / "a.md").returncode == 0
    md = (tmp_path / "a.md").read_text()
    assert "| taxonomy: hypernym | 1 |" in md and "| commonsense: no | 1 |" in md
    assert "| taxonomy: (not annotated) | 0 |" in md


def test_query_group_tables_average_seeds_and_keep_untyped_queries(report_inputs):
    csv_path = report_inputs / "per_query.csv"
    assert run_capflow("tables", "query-groups", "--per-query", csv_path, "--benchmark", "Tiny",
                       "--md", report_inputs / "g.md").returncode == 0
    md = (report_inputs / "g.md").read_text()
    assert "| Model | Entity (1) | Untyped (1) | All (2) |" in md
    assert "| OOD-KW | **80.00 ± 14.14** | 30.00 ± 14.14 | 55.00 ± 14.14 |" in md
    assert run_capflow("tables", "query-wins", "--per-query", csv_path, "--benchmark", "Tiny",
                       "--md", report_inputs / "w.md").returncode == 0
    assert "| OOD-KW | 100/0/0 | 0/100/0 | 50/50/0 |" in (report_inputs / "w.md").read_text()
    result = run_capflow("tables", "query-types", "--per-query", csv_path, "--benchmark", "Tiny",
                         "--md", report_inputs / "t.md")
    assert result.returncode == 2
    assert result.stderr.strip() == "capflow tables: error: query-types needs --featured MODEL"


def test_the_dev_figure_refuses_a_run_without_dev_evaluations(report_inputs):
    result = run_capflow("figures", "dev-ndcg", "--dev", "ood-kw", report_inputs / "loss.csv",
                         "--png", report_inputs / "x.png")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"capflow figures: error: {report_inputs / 'loss.csv'}:1: expected the columns "
                                     "step, dev_ndcg@10")


def test_a_caption_shows_ndcg_at_10_as_text_not_as_an_email_link(tmp_path):
    import docutils.core

    from capflow.report.batch import build_batch

    path = tmp_path / "captions" / "figures" / "x.rst"
    build_batch("figures", [], [(str(path), "nDCG@10 per step; mail @ noon")])
    html = docutils.core.publish_parts(path.read_text(encoding="utf-8"), writer_name="html")["body"]
    assert "mailto" not in html and "nDCG&#64;10 per step; mail &#64; noon" in html
