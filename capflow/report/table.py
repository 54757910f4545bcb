"""The one table model and writer every table shares: LaTeX (booktabs, best per column bold),
Markdown, CSV and an HTML page (what the Snakemake report shows), each written atomically to the
path it is given."""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from capflow.errors import UserError
from capflow.io import write_text


@dataclass
class Column:
    key: str
    header: str
    group: str = ""  # spanning header above several columns (e.g. the benchmark)
    best: str = "max"  # max | min | none: which value is bold
    decimals: int | None = None  # overrides the table's decimals for this column


@dataclass
class Cell:
    value: float | str | None
    std: float | None = None


@dataclass
class Row:
    label: str
    cells: dict[str, Cell]
    extra: dict[str, str] = field(default_factory=dict)  # text columns before the numbers


@dataclass
class Table:
    caption: str
    label: str
    columns: list[Column]
    groups: list[tuple[str, list[Row]]]  # (block title or "", rows)
    text_columns: list[str] = field(default_factory=list)  # headers of Row.extra, in order
    notes: list[str] = field(default_factory=list)
    scale: float = 100.0
    decimals: int = 2
    row_header: str = "Model"  # header of the row-label column
    text_width: str | None = None  # LaTeX: wrap text columns in paragraphs this wide (e.g. "5cm")


def _best(table: Table) -> dict[str, float]:
    best: dict[str, float] = {}
    for col in table.columns:
        values = [r.cells[col.key].value for _, rows in table.groups for r in rows
                  if col.key in r.cells and isinstance(r.cells[col.key].value, (int, float))]
        if values and col.best != "none":
            best[col.key] = max(values) if col.best == "max" else min(values)
    return best


def _number(table: Table, cell: Cell | None, col: Column) -> str:
    if cell is None or cell.value is None:
        return "-"
    if isinstance(cell.value, str):
        return cell.value
    decimals = table.decimals if col.decimals is None else col.decimals
    text = f"{cell.value * table.scale:.{decimals}f}"
    if cell.std is not None:
        text += f" ± {cell.std * table.scale:.{decimals}f}"
    return text


def _is_best(best: dict[str, float], col: Column, cell: Cell | None, table: Table) -> bool:
    # Compare at printed precision so equal-looking numbers are bolded alike.
    decimals = table.decimals if col.decimals is None else col.decimals
    return (cell is not None and isinstance(cell.value, (int, float)) and col.key in best
            and round(cell.value * table.scale, decimals) == round(best[col.key] * table.scale, decimals))


_LATEX_SPECIALS = str.maketrans({"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#",
                                 "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                                 "^": r"\textasciicircum{}"})


def latex_escape(text: str) -> str:
    """``text`` as LaTeX prints it literally; each special character is replaced once, so the braces of
    a replacement are never escaped again."""
    return text.translate(_LATEX_SPECIALS)


def markdown_cell(text: str) -> str:
    """``text`` inside a Markdown table cell: a ``|`` would end the cell, a line break the row."""
    return " ".join(text.replace("|", r"\|").splitlines())


def _header_groups(table: Table) -> list[tuple[str, int]]:
    spans: list[tuple[str, int]] = []
    for col in table.columns:
        if spans and spans[-1][0] == col.group:
            spans[-1] = (col.group, spans[-1][1] + 1)
        else:
            spans.append((col.group, 1))
    return spans


def _column_spec(table: Table) -> str:
    text = f"p{{{table.text_width}}}" if table.text_width else "l"
    return "l" + text * len(table.text_columns) + "r" * len(table.columns)


def to_latex(table: Table) -> str:
    best = _best(table)
    lead = 1 + len(table.text_columns)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(table.caption)}}}",
             rf"\label{{{table.label}}}", r"\begin{tabular}{" + _column_spec(table) + "}",
             r"\toprule"]
    spans = _header_groups(table)
    if any(g for g, _ in spans):
        cells, rules, col = [""] * lead, [], lead + 1
        for group, width in spans:
            cells.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(group)}}}" if group else
                         " & ".join([""] * width) if width > 1 else "")
            if group:
                rules.append(rf"\cmidrule(lr){{{col}-{col + width - 1}}}")
            col += width
        lines.append(" & ".join(cells) + r" \\")
        lines.append(" ".join(rules))
    header = [table.row_header] + table.text_columns + [c.header for c in table.columns]
    lines.append(" & ".join(latex_escape(h) for h in header) + r" \\")
    lines.append(r"\midrule")
    for i, (title, rows) in enumerate(table.groups):
        if i:
            lines.append(r"\midrule")
        if title:
            lines.append(rf"\multicolumn{{{lead + len(table.columns)}}}{{l}}{{\textit{{{latex_escape(title)}}}}} \\")
        for row in rows:
            cells = [latex_escape(row.label)] + [latex_escape(row.extra.get(h, "")) for h in table.text_columns]
            for col in table.columns:
                cell = row.cells.get(col.key)
                text = _number(table, cell, col).replace("±", r"$\pm$")
                cells.append(rf"\textbf{{{text}}}" if _is_best(best, col, cell, table) else text)
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    for note in table.notes:
        lines.append(rf"\par\smallskip\footnotesize {latex_escape(note)}")
    lines += [r"\end{table}", ""]
    return "\n".join(lines)


def _flat_headers(table: Table) -> list[str]:
    return [table.row_header] + table.text_columns + [f"{c.group} {c.header}".strip() for c in table.columns]


def to_markdown(table: Table) -> str:
    best = _best(table)
    headers = [markdown_cell(h) for h in _flat_headers(table)]
    lines = [f"**{table.caption}**", "", "| " + " | ".join(headers) + " |",
             "|" + "|".join(["---"] * (1 + len(table.text_columns)) + ["---:"] * len(table.columns)) + "|"]
    for title, rows in table.groups:
        if title:
            lines.append("| *" + markdown_cell(title) + "* |" + " |" * (len(headers) - 1))
        for row in rows:
            cells = [markdown_cell(row.label)] + [markdown_cell(row.extra.get(h, "")) for h in table.text_columns]
            for col in table.columns:
                cell = row.cells.get(col.key)
                text = markdown_cell(_number(table, cell, col))
                cells.append(f"**{text}**" if _is_best(best, col, cell, table) else text)
            lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"{note}  " for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    headers = ["group", table.row_header.lower()] + table.text_columns
    for col in table.columns:
        name = f"{col.group} {col.header}".strip()
        headers += [name, f"{name} std"]
    writer.writerow(headers)
    for title, rows in table.groups:
        for row in rows:
            values = [title, row.label] + [row.extra.get(h, "") for h in table.text_columns]
            for col in table.columns:
                cell = row.cells.get(col.key) or Cell(None)
                values.append("" if cell.value is None else
                              cell.value if isinstance(cell.value, str) else f"{cell.value * table.scale:.4f}")
                values.append("" if cell.std is None else f"{cell.std * table.scale:.4f}")
            writer.writerow(values)
    return out.getvalue()


# Written by hand rather than through a Markdown library: the table model's walk is the same as
# to_markdown's, and a library would be one more dependency in every environment for this one page.
def to_html(table: Table) -> str:
    """A page holding the table, as the report shows it: caption, header rows, blocks, notes."""
    best = _best(table)
    lead = 1 + len(table.text_columns)
    head = ""
    spans = _header_groups(table)
    if any(g for g, _ in spans):
        head = f"<tr><th colspan=\"{lead}\"></th>" + "".join(
            f"<th colspan=\"{width}\">{html.escape(group)}</th>" for group, width in spans) + "</tr>\n"
    header = [table.row_header] + table.text_columns + [c.header for c in table.columns]
    head += "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>\n"
    body = []
    for title, rows in table.groups:
        if title:
            width = lead + len(table.columns)
            body.append(f"<tr class=\"block\"><td colspan=\"{width}\">{html.escape(title)}</td></tr>")
        for row in rows:
            cells = [row.label] + [row.extra.get(h, "") for h in table.text_columns]
            out = [f"<td>{html.escape(text)}</td>" for text in cells]
            for col in table.columns:
                cell = row.cells.get(col.key)
                text = html.escape(_number(table, cell, col))
                out.append(f"<td class=\"num\"><b>{text}</b></td>" if _is_best(best, col, cell, table)
                           else f"<td class=\"num\">{text}</td>")
            body.append("<tr>" + "".join(out) + "</tr>")
    notes = "".join(f"<p class=\"note\">{html.escape(note)}</p>\n" for note in table.notes)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.escape(table.caption)
            + "</title>\n<style>body{font-family:sans-serif;font-size:14px;margin:1em}"
            "table{border-collapse:collapse}th,td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"
            "td.num{text-align:right}tr.block td{font-style:italic;background:#f4f4f4}"
            "p.note{font-size:12px;color:#444}</style></head>\n<body>\n<h3>" + html.escape(table.caption)
            + "</h3>\n<table>\n<thead>\n" + head + "</thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody>\n</table>\n" + notes + "</body></html>\n")


RENDERERS = {"tex": to_latex, "md": to_markdown, "csv": to_csv, "html": to_html}


def write_table(table: Table, **paths: str | Path | None) -> list[Path]:
    """Write the table in each format given a path (``tex=``, ``md=``, ``csv=``), each atomically."""
    unknown = set(paths) - set(RENDERERS)
    if unknown:
        raise ValueError(f"unknown table formats: {sorted(unknown)}")
    written = []
    for fmt, path in paths.items():
        if path is not None:
            write_text(path, RENDERERS[fmt](table))
            written.append(Path(path))
    if not written:
        raise UserError("no output file given (--tex, --md, --csv or --html)")
    return written


def mean_std(values: Sequence[float]) -> Cell:
    """Mean and sample standard deviation (std only when there are several runs)."""
    if not values:
        return Cell(None)
    mean = sum(values) / len(values)
    if len(values) < 2:
        return Cell(mean)
    return Cell(mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)))
