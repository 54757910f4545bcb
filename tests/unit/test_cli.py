"""The command line itself: every step's --help, and a --log that cannot be written."""

from __future__ import annotations

import argparse

import pytest

from capflow import cli


def step_names() -> list[str]:
    """The steps as the parser knows them (not a list kept by hand)."""
    parser = cli.build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(subparsers.choices)


def test_the_parser_knows_every_step():
    assert len(step_names()) >= 20 and "train" in step_names()


@pytest.mark.parametrize("step", step_names())
def test_every_step_prints_its_help(step, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([step, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"usage: capflow {step}") and out.err == ""


@pytest.mark.parametrize("where, problem", [("file/x.log", "a part of its path is not a folder"),
                                            (".", "Is a directory")], ids=["below-a-file", "a-folder"])
def test_a_log_that_cannot_be_written_is_one_line(tmp_path, capsys, where, problem):
    (tmp_path / "file").write_text("")
    log = tmp_path / where
    code = cli.main(["--log", str(log), "qrels", "--benchmark", str(tmp_path / "b"), "--out", str(tmp_path / "q")])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"capflow qrels: error: {log}: cannot write the --log file: {problem}"]
