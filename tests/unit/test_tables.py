import argparse
import json
from pathlib import Path

import pytest

from capflow.errors import UserError
from capflow.report import table as tables
from capflow.report import zeroshot
from capflow.report.table import Cell, Column, Row, Table

from conftest import run_capflow


def sample_table():
    cols = [Column("a", "nDCG@1", group="Bench_1"), Column("b", "nDCG@10", group="Bench_1")]
    return Table(caption="Scores & more", label="tab:x", columns=cols, text_columns=["Params"], groups=[
        ("Lexical", [Row("BM25", {"a": Cell(0.744), "b": Cell(0.66544)}, {"Params": "-"})]),
        ("Small", [Row("model_x", {"a": Cell(0.5), "b": Cell(0.70, 0.0123)}, {"Params": "22M"}),
                   Row("model_y", {"a": Cell(0.744004), "b": Cell(None)}, {"Params": "0.1B"})]),
    ])


def test_latex_is_booktabs_with_best_bold_and_escapes():
    tex = tables.to_latex(sample_table())
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\multicolumn{2}{c}{Bench\_1}" in tex and r"\cmidrule(lr){3-4}" in tex
    assert r"\caption{Scores \& more}" in tex
    assert r"BM25 & - & \textbf{74.40} & 66.54 \\" in tex
    # Equal at printed precision: both bold.
    assert r"model\_y & 0.1B & \textbf{74.40} & - \\" in tex
    assert r"model\_x & 22M & 50.00 & \textbf{70.00 $\pm$ 1.23} \\" in tex


def test_markdown_and_csv():
    md = tables.to_markdown(sample_table())
    assert "| BM25 | - | **74.40** | 66.54 |" in md
    assert "| *Small* |" in md
    csv_text = tables.to_csv(sample_table())
    assert csv_text.splitlines()[0] == ("group,model,Params,Bench_1 nDCG@1,Bench_1 nDCG@1 std,Bench_1 nDCG@10,"
                                        "Bench_1 nDCG@10 std")
    assert "Small,model_x,22M,50.0000,,70.0000,1.2300" in csv_text


def test_mean_std():
    cell = tables.mean_std([0.8, 0.9, 1.0])
    assert round(cell.value, 4) == 0.9 and round(cell.std, 4) == 0.1
    assert tables.mean_std([0.5]).std is None


def metrics_file(path, benchmark, model, group, ndcg):
    values = dict(zip((1, 5, 10), ndcg, strict=True))
    path.write_text(json.dumps({"benchmark": benchmark, "model": model, "display": model, "group": group,
                                "params": "1B", "metrics": {f"ndcg@{k}": v for k, v in values.items()}}))
    return path


def test_zeroshot_table_groups_by_size_and_is_reproducible(tmp_path):
    inputs = [metrics_file(tmp_path / "1.json", "Cap", "bm25", "lexical", (0.744, 0.693, 0.6654)),
              metrics_file(tmp_path / "2.json", "Cap", "big", "large", (0.89, 0.87, 0.8655)),
              metrics_file(tmp_path / "3.json", "Cap", "small", "small", (0.81, 0.79, 0.7886))]
    args = argparse.Namespace(inputs=inputs, ks=None, benchmarks=None, caption=None, note=None, labels={})
    table = zeroshot.build(args)
    assert [title for title, _ in table.groups] == ["Lexical", "Embedding models (> 1B)", "Embedding models (< 1B)"]
    out = tmp_path / "tables"
    argv = ["tables", "zeroshot", "--inputs", *inputs, "--tex", out / "zeroshot.tex", "--md", out / "zeroshot.md",
            "--csv", out / "zeroshot.csv"]
    assert run_capflow(*argv).returncode == 0
    first = {ext: (tmp_path / "tables" / f"zeroshot.{ext}").read_bytes() for ext in ("tex", "md", "csv")}
    assert b"\\textbf{86.55}" in first["tex"]
    assert run_capflow(*argv).returncode == 0
    assert first == {ext: (tmp_path / "tables" / f"zeroshot.{ext}").read_bytes() for ext in ("tex", "md", "csv")}


def test_only_the_formats_asked_for_are_written(tmp_path):
    written = tables.write_table(sample_table(), md=tmp_path / "t.md")
    assert written == [tmp_path / "t.md"] and [p.name for p in tmp_path.iterdir()] == ["t.md"]
    with pytest.raises(UserError, match=r"no output file given \(--tex, --md, --csv or --html\)"):
        tables.write_table(sample_table())


def test_a_column_can_print_fewer_decimals_and_the_row_header_is_named(tmp_path):
    table = sample_table()
    table.columns[1].decimals = 0
    table.row_header = "Query type"
    md = tables.to_markdown(table)
    assert md.splitlines()[2].startswith("| Query type | Params |")
    assert "| model_x | 22M | 50.00 | **70 ± 1** |" in md
    assert tables.to_csv(table).startswith("group,query type,Params,")


def test_a_batch_builds_several_tables_in_one_process_and_names_the_one_that_fails(tmp_path):
    from capflow.report.batch import BatchItem, build_batch

    inputs = [metrics_file(tmp_path / "1.json", "Cap", "bm25", "lexical", (0.744, 0.693, 0.6654)),
              metrics_file(tmp_path / "2.json", "Cap", "small", "small", (0.81, 0.79, 0.7886))]
    both = (("inputs", [str(p) for p in inputs]), ("md", str(tmp_path / "both.md")))
    small = (("inputs", [str(inputs[1])]), ("ks", [10]), ("csv", str(tmp_path / "small.csv")))
    caption = tmp_path / "captions" / "zeroshot.rst"
    build_batch("tables", [BatchItem("zeroshot", "both", both), BatchItem("zeroshot", "small", small)],
                [(str(caption), "Zero-shot retrieval.")])
    assert "| bm25 | 1B | 74.40 | 69.30 | 66.54 |" in (tmp_path / "both.md").read_text()
    assert caption.read_text(encoding="utf-8") == "Zero-shot retrieval.\n"  # the report's caption of the builder
    # the last column: the standard deviation over seeds, empty for one run
    assert (tmp_path / "small.csv").read_text().splitlines()[1] == "Embedding models (< 1B),small,1B,78.8600,"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    items = [BatchItem("zeroshot", "ok", (("inputs", [str(inputs[0])]), ("md", str(tmp_path / "ok.md")))),
             BatchItem("zeroshot", "broken", (("inputs", [str(broken)]),))]
    with pytest.raises(UserError) as failed:
        build_batch("tables", items)
    assert str(failed.value) == (f"table broken: {broken}:1: malformed JSON: Expecting property name enclosed in "
                                 "double quotes")
    assert (tmp_path / "ok.md").exists()


def test_a_batch_item_is_checked_against_its_builders_options():
    from capflow.report.batch import options_namespace
    from capflow.report.registry import TABLES

    args = options_namespace(TABLES["classification"], {"sweep": "s.csv", "benchmark": "B", "threshold": 0.4})
    assert (args.sweep, args.view, args.threshold, args.note) == (Path("s.csv"), "full", 0.4, None)
    with pytest.raises(ValueError, match="tables classification: no option thresold"):
        options_namespace(TABLES["classification"], {"sweep": "s.csv", "benchmark": "B", "thresold": 0.4})
    with pytest.raises(ValueError, match="tables classification: option threshold is required"):
        options_namespace(TABLES["classification"], {"sweep": "s.csv", "benchmark": "B"})


def test_the_html_page_escapes_and_bolds_as_the_other_formats():
    rows = [Row("BM25 <b>", {"a": Cell(0.5)}, {"Params": "-"}),
            Row("dense", {"a": Cell(0.25, 0.01)}, {"Params": "22M"})]
    table = Table(caption="Zero-shot <x> & y", label="tab:x", columns=[Column("a", "nDCG@10", group="Cap")],
                  text_columns=["Params"], groups=[("Lexical", rows)], notes=["a note & more"])
    page = tables.to_html(table)
    assert "<h3>Zero-shot &lt;x&gt; &amp; y</h3>" in page
    assert '<tr><th colspan="2"></th><th colspan="1">Cap</th></tr>' in page
    assert '<tr class="block"><td colspan="3">Lexical</td></tr>' in page
    assert '<td>BM25 &lt;b&gt;</td><td>-</td><td class="num"><b>50.00</b></td>' in page
    assert '<td class="num">25.00 ± 1.00</td>' in page and '<p class="note">a note &amp; more</p>' in page


def test_a_pipe_in_a_label_stays_inside_its_markdown_cell():
    table = Table(caption="c", label="tab:x", columns=[Column("a", "nDCG@10", group="A|B")], text_columns=["Params"],
                  groups=[("x | y", [Row("BM25 | tuned", {"a": Cell(0.5)}, {"Params": "1|2"})])])
    md = tables.to_markdown(table)
    assert md.splitlines()[2] == r"| Model | Params | A\|B nDCG@10 |"
    assert r"| *x \| y* | |" in md
    assert r"| BM25 \| tuned | 1\|2 | **50.00** |" in md


def test_latex_prints_a_backslash_and_braces_once_escaped():
    assert tables.latex_escape("a\\b {c}") == r"a\textbackslash{}b \{c\}"
    table = Table(caption="C:\\dir", label="tab:x", columns=[Column("a", "nDCG@10")],
                  groups=[("", [Row("m\\n_1", {"a": Cell(0.5)})])])
    tex = tables.to_latex(table)
    assert r"\caption{C:\textbackslash{}dir}" in tex
    assert r"m\textbackslash{}n\_1 & \textbf{50.00} \\" in tex


def test_a_table_2_input_without_a_cut_off_is_one_line_naming_the_file_and_metric(tmp_path):
    complete = metrics_file(tmp_path / "1.json", "Cap", "bm25", "lexical", (0.744, 0.693, 0.6654))
    partial = tmp_path / "2.json"
    partial.write_text(json.dumps({"benchmark": "Cap", "model": "m", "metrics": {"ndcg@1": 0.5, "ndcg@10": 0.7}}))
    result = run_capflow("tables", "zeroshot", "--inputs", complete, partial, "--md", tmp_path / "t.md")
    assert result.returncode == 2 and not (tmp_path / "t.md").exists()
    assert result.stderr == f"capflow tables: error: {partial}: metrics JSON has no 'ndcg@5' (the table shows it)\n"
    args = argparse.Namespace(inputs=[complete, partial], ks=[1, 10], benchmarks=None, caption=None, note=None,
                              labels={})
    assert [row.label for _, rows in zeroshot.build(args).groups for row in rows] == ["bm25", "m"]


def test_the_document_title_is_escaped(tmp_path):
    from capflow.report.latex import document

    (tmp_path / "t.tex").write_text("")
    text = document([tmp_path / "t.tex"], [], tmp_path / "all.tex", "100% of R&D", "Noto Serif CJK SC")
    assert r"\title{100\% of R\&D}" in text


def test_all_tex_prints_each_table_with_the_number_it_is_given(tmp_path):
    from capflow.errors import UserError
    from capflow.report.latex import document

    tables = [tmp_path / "query_types.tex", tmp_path / "finetune.tex"]
    text = document(tables, [], tmp_path / "all.tex", "t", "Noto Serif CJK SC", numbers=["3a", "4"])
    assert "\\renewcommand{\\thetable}{3a}\n\\input{query_types.tex}" in text
    assert "\\renewcommand{\\thetable}{4}\n\\input{finetune.tex}" in text
    assert "\\thetable" not in document(tables, [], tmp_path / "all.tex", "t", "Noto Serif CJK SC")  # LaTeX counts
    with pytest.raises(UserError, match="1 table numbers for 2 tables"):
        document(tables, [], tmp_path / "all.tex", "t", "Noto Serif CJK SC", numbers=["4"])
