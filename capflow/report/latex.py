"""``capflow latex``: one ``all.tex`` that inputs every table and includes every figure, compiled by
XeLaTeX with xeCJK (captions and cells may hold Chinese)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from capflow.errors import UserError
from capflow.io import write_text
from capflow.report.table import latex_escape

DEFAULT_CJK_FONT = "Noto Serif CJK SC"  # Debian: fonts-noto-cjk


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def document(tables: Sequence[Path], figures: Sequence[Path], out: Path, title: str, cjk_font: str,
             numbers: Sequence[str] | None = None) -> str:
    """The LaTeX source; ``numbers`` (one per table) replaces LaTeX's running table count, so that a
    table is printed with the number its caption gives it (the paper's)."""
    if numbers is not None and len(numbers) != len(tables):
        raise UserError(f"{len(numbers)} table numbers for {len(tables)} tables: give one per table")
    base = Path(out).parent
    lines = [r"\documentclass[10pt]{article}",
             r"\usepackage[a4paper,landscape,margin=1.5cm]{geometry}",
             r"\usepackage{booktabs}", r"\usepackage{graphicx}", r"\usepackage{xeCJK}",
             rf"\setCJKmainfont{{{cjk_font}}}", r"\setlength{\tabcolsep}{4pt}",
             rf"\title{{{latex_escape(title)}}}", r"\date{}", r"\begin{document}", r"\maketitle"]
    for table, number in zip(tables, numbers if numbers is not None else [None] * len(tables), strict=True):
        if Path(table).suffix != ".tex":
            raise UserError("a table must be a .tex file", table)
        if number is not None:
            lines.append(rf"\renewcommand{{\thetable}}{{{latex_escape(number)}}}")
        lines.append(rf"\input{{{_relative(table, base)}}}")
        lines.append(r"\clearpage")
    for figure in figures:
        if Path(figure).suffix not in (".pdf", ".png"):
            raise UserError("a figure must be a .pdf or .png file", figure)
        size = r"width=\linewidth,height=0.8\textheight,keepaspectratio"
        lines += [r"\begin{figure}[p]", r"\centering", rf"\includegraphics[{size}]{{{_relative(figure, base)}}}",
                  r"\end{figure}"]
    lines += [r"\end{document}", ""]
    return "\n".join(lines)


def configure_parser(parser) -> None:
    parser.add_argument("--tables", nargs="*", default=[], type=Path, help="table .tex files, in order")
    parser.add_argument("--figures", nargs="*", default=[], type=Path, help="figure .pdf/.png files, in order")
    parser.add_argument("--numbers", nargs="*", metavar="NUMBER",
                        help="the number to print for each table, in order (e.g. 3a; default: LaTeX counts 1, 2, ...)")
    parser.add_argument("--title", default="CapRetrieval study: tables and figures")
    parser.add_argument("--cjk-font", default=DEFAULT_CJK_FONT, help=f"xeCJK main font (default {DEFAULT_CJK_FONT})")
    parser.add_argument("--out", required=True, type=Path, help="output all.tex (inputs are referenced relative to it)")


def main(args) -> None:
    if not args.tables and not args.figures:
        raise UserError("nothing to put in the document: give --tables and/or --figures")
    write_text(args.out, document(args.tables, args.figures, args.out, args.title, args.cjk_font, args.numbers))
