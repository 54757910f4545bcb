"""Bad inputs to every step, run as ``python -m capflow ...``: exit status 2, one error line naming the
file and line (or the setting) at fault, no traceback, and none of the step's outputs written.

Each case starts from a small valid world (a benchmark, a pool, generation shards, a training set)
built in ``tmp_path``, breaks one thing, and runs one step with paths relative to ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from capflow.benchmark import MAX_TEXT_CHARS

from conftest import write_jsonl

# The output options of each step and the files they name (relative to tmp_path): the one place to
# change when a step's output options change. None of these may exist after a failing run.
OUTPUTS: dict[str, tuple[list[str], list[str]]] = {
    "data": (["--candidates", "out/Tiny/candidates.jsonl", "--queries", "out/Tiny/queries.jsonl", "--types",
              "out/Tiny/query_types.json"], ["out/Tiny/candidates.jsonl", "out/Tiny/queries.jsonl",
                                             "out/Tiny/query_types.json"]),
    "retrieve": (["--run", "out/run.trec", "--metrics", "out/metrics.json", "--errors", "out/errors.jsonl"],
                 ["out/run.trec", "out/metrics.json", "out/errors.jsonl"]),
    "pool": (["--out", "out/passages.jsonl", "--stats", "out/stats.json"], ["out/passages.jsonl", "out/stats.json"]),
    "leakage": (["--out-passages", "out/passages.jsonl", "--report", "out/leakage.json", "--histogram",
                 "out/histogram.csv"], ["out/passages.jsonl", "out/leakage.json", "out/histogram.csv"]),
    "generate": (["--out", "out/kw-0.jsonl", "--stats", "out/kw-0.stats.json", "--rejects", "out/kw-0.rejects.jsonl"],
                 ["out/kw-0.jsonl", "out/kw-0.stats.json", "out/kw-0.rejects.jsonl"]),
    "trainset": (["--train", "out/set/train.jsonl", "--heldout", "out/set/heldout.jsonl", "--out-stats",
                  "out/set/stats.json"], ["out/set/train.jsonl", "out/set/heldout.jsonl", "out/set/stats.json"]),
    "train": (["--out", "out/model", "--loss-csv", "out/loss.csv", "--summary", "out/train.json"],
              ["out/model", "out/loss.csv", "out/train.json"]),
}

# The input arguments of each step over the valid world.
INPUTS: dict[str, list[str]] = {
    "data": ["--name", "Tiny", "--local-dirs", "src"],
    "retrieve": ["--benchmark", "src/Tiny", "--recipe-json", '{"name": "bm25", "kind": "bm25"}', "--language", "en"],
    "pool": ["--kind", "jsonl", "--key", "pools.ood.source", "--path", "raw/source.jsonl"],
    "leakage": ["--pool", "pool/passages.jsonl", "--test-captions", "src/Tiny/candidates.jsonl", "--workers", "1"],
    "generate": ["--passages", "pool/passages.jsonl", "--kind", "kw"],
    "trainset": ["--pool", "ood", "--mix", "kw", "--passages", "pool/passages.jsonl", "--queries", "gen/kw-0.jsonl",
                 "--stats", "gen/kw-0.stats.json", "--language", "en"],
    "train": ["--recipe-json", json.dumps({"name": "tiny", "kind": "dense", "path": "weights", "pooling": "cls"}),
              "--train", "set/train.jsonl", "--heldout", "set/heldout.jsonl", "--passages", "pool/passages.jsonl",
              "--max-steps", "1", "--batch-size", "4", "--device", "cpu"],
}

CANDIDATES = [{"id": "c1", "text": "A red cat sleeps on the sofa."}, {"id": "c2", "text": "Two dogs run in the park."},
              {"id": "c3", "text": "A cat and a dog play together."}]
QUERIES = [{"id": "q1", "query": "cat", "positives": [{"id": "c1", "score": 2}, {"id": "c3", "score": 1}]},
           {"id": "q2", "query": "dogs", "positives": [{"id": "c2", "score": 2}]},
           {"id": "q3", "query": "volcano", "positives": []}]
PASSAGES = [{"id": f"p{i}", "text": text, "source": "test"} for i, text in enumerate(
    ["The harbour opens at dawn for fishing boats.", "Snow covers the mountain pass in winter.",
     "A library lends books and maps to readers.", "The market sells fresh bread every morning."])]
PAIRS = [{"query": q, "passage_id": pid, "kind": "kw"} for pid, q in
         [("p0", "harbour"), ("p1", "snow pass"), ("p2", "library books"), ("p3", "fresh bread"), ("p0", "boats")]]


def build_world(root: Path) -> None:
    write_jsonl(root / "src/Tiny/candidates.jsonl", CANDIDATES)
    write_jsonl(root / "src/Tiny/queries.jsonl", QUERIES)
    (root / "src/Tiny/types.json").write_text(json.dumps({"animal": ["cat", "dogs"]}))
    write_jsonl(root / "raw/source.jsonl", [{"text": p["text"]} for p in PASSAGES])
    write_jsonl(root / "pool/passages.jsonl", PASSAGES)
    write_jsonl(root / "gen/kw-0.jsonl", [{"passage_id": p["passage_id"], "kind": "kw", "query": p["query"]}
                                          for p in PAIRS])
    (root / "gen/kw-0.stats.json").write_text(json.dumps({"generator": "heuristic (no LLM)", "passages": 4,
                                                          "queries": 5, "rejects": 0}))
    write_jsonl(root / "set/train.jsonl", PAIRS)
    write_jsonl(root / "set/heldout.jsonl", PAIRS[:1])
    (root / "weights").mkdir()
    (root / "weights/config.json").write_text("{}")


# --- ways to break the world ---------------------------------------------------------------------------

def append(path: str, text: str | bytes) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = text if isinstance(text, bytes) else (text + "\n").encode("utf-8")
        with open(root / path, "ab") as handle:
            handle.write(data)
    return apply


def replace_file(path: str, text: str | bytes) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / path).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return apply


def rows(path: str, items: list[dict]) -> Callable[[Path], None]:
    return lambda root: write_jsonl(root / path, items)


def remove(path: str) -> Callable[[Path], None]:
    return lambda root: (root / path).unlink()


def make_dir(path: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / path).unlink()
        (root / path).mkdir()
    return apply


def both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        for step in steps:
            step(root)
    return apply


def foreign_partial(root: Path) -> None:
    (root / "out/model.partial").mkdir(parents=True)
    (root / "out/model.partial/capflow_run.json").write_text(json.dumps({"settings": {"seed": 99}}))


def no_op(root: Path) -> None:
    pass


@dataclass
class Case:
    id: str
    step: str
    breaks: Callable[[Path], None]
    error: str  # a regex for what follows "capflow <step>: error: "
    args: list[str] = field(default_factory=list)  # added to the step's inputs
    inputs: list[str] | None = None  # replaces the step's inputs


def appended_line(step: str, file: str, lineno: int) -> Callable[[str, str | bytes, str], Case]:
    """Cases of ``step`` that append one bad line (line ``lineno``) to ``file``."""
    def case(case_id: str, line: str | bytes, error: str) -> Case:
        return Case(case_id, step, append(file, line), re.escape(f"{file}:{lineno}: ") + error)
    return case


bad_candidate = appended_line("data", "src/Tiny/candidates.jsonl", 4)
bad_query = appended_line("data", "src/Tiny/queries.jsonl", 4)
bad_source = appended_line("pool", "raw/source.jsonl", 5)
bad_pool_line = appended_line("generate", "pool/passages.jsonl", 5)
ZWSP = "\u200b"
CASES = [
    # capflow data: the benchmark files
    bad_candidate("candidates-malformed-json", '{"id": "c4", "text": "x"', r"malformed JSON: Expecting ',' delimiter"),
    bad_candidate("candidates-missing-field", '{"id": "c4"}', r"missing field 'text'"),
    bad_candidate("candidates-id-not-a-string", '{"id": 4, "text": "x"}', r"field 'id' must be str"),
    bad_candidate("candidates-duplicate-id", '{"id": "c1", "text": "x"}',
                  r"duplicate candidate id 'c1' \(first on line 1\)"),
    bad_candidate("candidates-empty-text", '{"id": "c4", "text": " \\t "}', r"empty text for candidate 'c4'"),
    bad_candidate("candidates-id-with-space", '{"id": "c 4", "text": "x"}',
                  r"candidate id 'c 4' is empty or contains whitespace"),
    bad_candidate("candidates-empty-id", '{"id": "", "text": "x"}', r"candidate id '' is empty or contains whitespace"),
    bad_candidate("candidates-invalid-utf8", b'{"id": "c4", "text": "\xe7\x8c"}\n', r"not valid UTF-8"),
    bad_candidate("candidates-lone-surrogate", '{"id": "c4", "text": "a \\ud800 cat"}',
                  r"a string holds a lone UTF-16 surrogate, which is not text: \"a \\ud800 cat\"$"),
    bad_candidate("candidates-text-too-long", json.dumps({"id": "c4", "text": "x" * (MAX_TEXT_CHARS + 1)}),
                  rf"the text of candidate 'c4' is {MAX_TEXT_CHARS + 1} characters long, more than the limit "
                  rf"of {MAX_TEXT_CHARS}$"),
    # data.max_text_chars, lowered below the benchmark's texts
    Case("candidates-above-the-configured-limit", "data", no_op,
         r"src/Tiny/candidates\.jsonl:1: the text of candidate 'c1' is 29 characters long, more than the limit "
         r"of 20$", args=["--max-text-chars", "20"]),
    Case("queries-above-the-configured-limit", "data",
         append("src/Tiny/queries.jsonl", json.dumps({"id": "q4", "query": "c" * 40, "positives": []})),
         r"src/Tiny/queries\.jsonl:4: query 'q4' is 40 characters long, more than the limit of 35$",
         args=["--max-text-chars", "35"]),
    Case("text-limit-zero", "data", no_op, r"argument --max-text-chars: must be a positive number of characters, "
                                           r"got '0'$", args=["--max-text-chars", "0"]),
    Case("candidates-none", "data", replace_file("src/Tiny/candidates.jsonl", "\n"),
         r"src/Tiny/candidates\.jsonl: no candidates"),
    Case("candidates-is-a-directory", "data", make_dir("src/Tiny/candidates.jsonl"),
         r"src/Tiny/candidates\.jsonl: is a directory, not a file"),
    Case("queries-invalid-utf8", "data", replace_file("src/Tiny/queries.jsonl", "".join(
        json.dumps(q) + "\n" for q in QUERIES[:2]).encode() + b'{"id": "q3", "query": "\xff", "positives": []}\n'),
         r"src/Tiny/queries\.jsonl:3: not valid UTF-8"),
    bad_query("queries-unknown-positive", '{"id": "q4", "query": "x", "positives": [{"id": "c9", "score": 1}]}',
              r"query 'q4': positive 'c9' is not a known candidate"),
    bad_query("queries-label-outside-0-1-2", '{"id": "q4", "query": "x", "positives": [{"id": "c1", "score": 3}]}',
              r"query 'q4': label 3 for 'c1' is not one of 0, 1, 2"),
    bad_query("queries-positive-without-score", '{"id": "q4", "query": "x", "positives": [{"id": "c1"}]}',
              r"query 'q4': each positive needs 'id' and 'score'"),
    bad_query("queries-positive-twice", json.dumps(
        {"id": "q4", "query": "x", "positives": [{"id": "c1", "score": 1}, {"id": "c1", "score": 2}]}),
              r"query 'q4': positive 'c1' listed twice"),
    bad_query("queries-lone-surrogate", '{"id": "q4", "query": "\\udfff", "positives": []}',
              r"a string holds a lone UTF-16 surrogate"),
    bad_query("queries-positives-are-ids", '{"id": "q4", "query": "x", "positives": ["c1", "c2"]}',
              re.escape('query \'q4\': positives must be objects {"id": ..., "score": ...}, not candidate ids ("c1")')
              + "$"),
    bad_query("queries-positive-id-is-a-list", json.dumps(
        {"id": "q4", "query": "x", "positives": [{"id": ["c1", "c2"], "score": 1}]}),
              r"query 'q4': a positive's 'id' must be one candidate id \(a string\), got \[\"c1\", \"c2\"\]$"),
    bad_query("queries-text-too-long", json.dumps({"id": "q4", "query": "cat " * 30_000, "positives": []}),
              rf"query 'q4' is 120000 characters long, more than the limit of {MAX_TEXT_CHARS}$"),
    bad_query("queries-duplicate-id", '{"id": "q1", "query": "x", "positives": []}',
              r"duplicate query id 'q1' \(first on line 1\)"),
    bad_query("queries-missing-field", '{"id": "q4", "query": "x"}', r"missing field 'positives'"),
    bad_query("queries-empty-text", '{"id": "q4", "query": "", "positives": []}', r"empty text for query 'q4'"),
    bad_query("queries-zero-width-space-only", json.dumps({"id": "q4", "query": ZWSP + " \ufeff", "positives": []}),
              r"empty text for query 'q4'"),
    bad_query("queries-id-with-tab", '{"id": "q\\t4", "query": "x", "positives": []}',
              r"query id 'q\\t4' is empty or contains whitespace"),
    Case("types-invalid-utf8", "data", replace_file("src/Tiny/types.json", b'{\n  "animal": ["\xe7\x8c"]\n}\n'),
         r"src/Tiny/types\.json:2: not valid UTF-8"),
    Case("types-malformed-json", "data", replace_file("src/Tiny/types.json", '{"animal": ["cat",]}'),
         r"src/Tiny/types\.json:1: malformed JSON: Expecting value"),
    Case("types-wrong-shape", "data", replace_file("src/Tiny/types.json", '{"animal": "cat"}'),
         r"src/Tiny/types\.json: expected an object mapping each type to a list of query texts"),
    Case("local-copy-without-queries", "data", remove("src/Tiny/queries.jsonl"),
         r"src/Tiny: local copy of benchmark 'Tiny' is incomplete: queries\.jsonl missing"),
    Case("local-copy-without-candidates", "data", remove("src/Tiny/candidates.jsonl"),
         r"src/Tiny: local copy of benchmark 'Tiny' is incomplete: candidates\.jsonl missing"),
    # capflow retrieve: scoring and recipes
    Case("no-judged-query", "retrieve", rows("src/Tiny/queries.jsonl", [{**q, "positives": []} for q in QUERIES]),
         r"benchmark 'Tiny' has no judged query \(no positive with label 1 or 2\): nothing to score"),
    Case("every-label-zero", "retrieve", rows("src/Tiny/queries.jsonl", [
        {**q, "positives": [{"id": p["id"], "score": 0} for p in q["positives"]]} for q in QUERIES]),
         r"benchmark 'Tiny' has no judged query"),
    Case("recipe-json-malformed", "retrieve", no_op, r"invalid recipe JSON: Expecting ',' delimiter \(column 17\)",
         inputs=["--benchmark", "src/Tiny", "--recipe-json", '{"name": "bm25" "kind": "bm25"}', "--language", "en"]),
    Case("recipe-json-not-an-object", "retrieve", no_op,
         r"invalid recipe JSON: expected an object with a string 'name'",
         inputs=["--benchmark", "src/Tiny", "--recipe-json", '["bm25"]', "--language", "en"]),
    Case("recipe-unknown-key", "retrieve", no_op, r"recipe: model 'm': unknown recipe key\(s\) colour",
         inputs=["--benchmark", "src/Tiny", "--recipe-json", '{"name": "m", "kind": "bm25", "colour": 1}',
                 "--language", "en"]),
    Case("recipe-unknown-kind", "retrieve", no_op, r"recipe: model 'm': kind must be dense or bm25, not 'sparse'",
         inputs=["--benchmark", "src/Tiny", "--recipe-json", '{"name": "m", "kind": "sparse"}', "--language", "en"]),
    Case("bm25-unknown-language", "retrieve", no_op, r"BM25 has no tokenizer for language 'fr' \(known: zh, en\)",
         inputs=["--benchmark", "src/Tiny", "--recipe-json", '{"name": "bm25", "kind": "bm25"}', "--language", "fr"]),
    Case("benchmark-missing", "retrieve", no_op, r"nowhere: benchmark directory not found",
         inputs=["--benchmark", "nowhere", "--recipe-json", '{"name": "bm25", "kind": "bm25"}', "--language", "en"]),
    # capflow pool: sources
    bad_source("pool-source-malformed-json", '{"text": "x"', r"malformed JSON"),
    bad_source("pool-source-invalid-utf8", b'{"text": "\xff"}\n', r"not valid UTF-8"),
    bad_source("pool-source-lone-surrogate", '{"text": "harbour \\ud800"}', r"a string holds a lone UTF-16 surrogate"),
    bad_source("pool-source-text-too-long", json.dumps({"text": "y" * (MAX_TEXT_CHARS + 1)}),
               rf"field 'text' is {MAX_TEXT_CHARS + 1} characters long, more than the limit of {MAX_TEXT_CHARS}$"),
    bad_source("pool-source-missing-text", '{"body": "x"}', r"missing field 'text'"),
    Case("pool-source-above-the-configured-limit", "pool", no_op,
         r"raw/source\.jsonl:1: field 'text' is 44 characters long, more than the limit of 30$",
         args=["--max-text-chars", "30"]),
    Case("pool-source-not-found", "pool", remove("raw/source.jsonl"),
         r"pools\.ood\.source\.path: JSONL passage file not found: raw/source\.jsonl"),
    Case("pool-text-source-invalid-utf8", "pool", replace_file("raw/source.txt", b"one line\nbad \xff line\n"),
         r"raw/source\.txt:2: not valid UTF-8", inputs=["--kind", "text", "--path", "raw/source.txt"]),
    Case("pool-text-source-line-too-long", "pool", replace_file("raw/source.txt", "short\n" + "z" * 100_001 + "\n"),
         r"raw/source\.txt:2: the line is 100001 characters long, more than the limit of 100000$",
         inputs=["--kind", "text", "--path", "raw/source.txt"]),
    Case("pool-nothing-survives", "pool", no_op, r"pools\.ood\.source: no passage survived the filters",
         args=["--min-chars", "1000"]),
    # capflow leakage
    Case("leakage-duplicate-passage", "leakage", append("pool/passages.jsonl", '{"id": "p0", "text": "again"}'),
         r"pool/passages\.jsonl:5: duplicate passage id 'p0' \(first on line 1\)"),
    Case("leakage-bad-threshold", "leakage", no_op, r"threshold must be a number in \(0, 1\], got 'seven'",
         args=["--threshold", "seven"]),
    Case("leakage-test-invalid-utf8", "leakage", append("src/Tiny/candidates.jsonl", b'{"id": "c4", "text": "\xff"}\n'),
         r"src/Tiny/candidates\.jsonl:4: not valid UTF-8"),
    # capflow generate
    bad_pool_line("generate-pool-invalid-utf8", b'{"id": "p9", "text": "\xc3"}\n', r"not valid UTF-8"),
    bad_pool_line("generate-pool-lone-surrogate", '{"id": "p9", "text": "harbour \\udc00"}',
                  r"a string holds a lone UTF-16 surrogate, which is not text"),
    bad_pool_line("generate-pool-duplicate-id", '{"id": "p1", "text": "x"}',
                  r"duplicate passage id 'p1' \(first on line 2\)"),
    Case("generate-pool-is-a-directory", "generate", make_dir("pool/passages.jsonl"),
         r"pool/passages\.jsonl: is a directory, not a file"),
    Case("generate-shard-out-of-range", "generate", no_op, r"shard 3 is out of range for 2 shards \(0\.\.1\)",
         args=["--shard", "3", "--shards", "2"]),
    Case("generate-llm-without-prompts", "generate", no_op, r"generation backend 'openai' needs --prompts",
         args=["--backend", "openai", "--model", "m"]),
    # capflow trainset
    Case("trainset-kind-mismatch", "trainset",
         append("gen/kw-0.jsonl", '{"passage_id": "p1", "kind": "sm", "query": "x"}'),
         r"gen/kw-0\.jsonl:6: query of kind 'sm' in a kw training set"),
    Case("trainset-passage-not-in-pool", "trainset",
         append("gen/kw-0.jsonl", '{"passage_id": "p9", "kind": "kw", "query": "x"}'),
         r"gen/kw-0\.jsonl:6: passage 'p9' is not in the pool"),
    Case("trainset-shard-invalid-utf8", "trainset",
         append("gen/kw-0.jsonl", b'{"passage_id": "p1", "query": "\xff"}\n'),
         r"gen/kw-0\.jsonl:6: not valid UTF-8"),
    Case("trainset-stats-without-generator", "trainset", replace_file("gen/kw-0.stats.json", "{}"),
         r"gen/kw-0\.stats\.json: generation stats lack a 'generator' label"),
    Case("trainset-every-passage-leaked", "trainset", both(
        rows("pool/passages.jsonl", []), rows("gen/kw-0.jsonl", []),
        replace_file("pool/leakage.json", json.dumps({"counts": {"in": 4, "dropped": 4, "kept": 0}}))),
         r"no generated queries for ood-kw: the leakage filter kept no passage of the pool "
         r"\(4 in, 4 dropped, 0 kept; see pool/leakage\.json\)", args=["--leakage-report", "pool/leakage.json"]),
    # capflow train
    Case("train-single-pair", "train", rows("set/train.jsonl", PAIRS[:1]),
         r"set/train\.jsonl: 1 training pair\(s\) over 1 distinct passage\(s\): in-batch negatives need at least 2"),
    Case("train-identical-pairs", "train", rows("set/train.jsonl", PAIRS[:1] * 20),
         r"set/train\.jsonl: 20 training pair\(s\) over 1 distinct passage\(s\)"),
    Case("train-one-passage-many-queries", "train",
         rows("set/train.jsonl", [{"query": f"q{i}", "passage_id": "p0", "kind": "kw"} for i in range(20)]),
         r"set/train\.jsonl: 20 training pair\(s\) over 1 distinct passage\(s\)"),
    Case("train-empty-set", "train", replace_file("set/train.jsonl", ""), r"set/train\.jsonl: no training pairs"),
    Case("train-invisible-query", "train", append("set/train.jsonl", json.dumps(
        {"query": ZWSP, "passage_id": "p1", "kind": "kw"})), r"set/train\.jsonl:6: empty query"),
    Case("train-passage-not-in-pool", "train", append("set/train.jsonl", '{"query": "x", "passage_id": "p9"}'),
         r"set/train\.jsonl:6: passage 'p9' is not in the pool"),
    Case("train-invalid-utf8", "train", append("set/train.jsonl", b'{"query": "\xff", "passage_id": "p1"}\n'),
         r"set/train\.jsonl:6: not valid UTF-8"),
    Case("train-bad-setting", "train", no_op, r"training setting temperature must be positive, got 0\.0",
         args=["--temperature", "0"]),
    Case("train-not-a-dense-model", "train", no_op, r"model 'bm25' is not a dense encoder and cannot be finetuned",
         inputs=["--recipe-json", '{"name": "bm25", "kind": "bm25"}', "--train", "set/train.jsonl",
                 "--passages", "pool/passages.jsonl"]),
    Case("train-foreign-partial", "train", foreign_partial,
         r"out/model\.partial: holds checkpoints of another run \(differs in .*\); remove it "
         r"\(rm -r 'out/model\.partial'\) or rerun with --restart to start this run afresh"),
]


def run_step(root: Path, case: Case) -> subprocess.CompletedProcess:
    inputs = INPUTS[case.step] if case.inputs is None else case.inputs
    env = {**os.environ, "CAPFLOW_DATA_DIR": "", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "capflow", case.step, *inputs, *case.args, *OUTPUTS[case.step][0]],
                          capture_output=True, text=True, cwd=root, env=env, timeout=120)


def test_there_are_at_least_forty_cases_with_unique_ids():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_with_one_line_and_writes_nothing(tmp_path, case):
    build_world(tmp_path)
    case.breaks(tmp_path)
    result = run_step(tmp_path, case)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"capflow {case.step}: error: ")]
    assert len(errors) == 1 and result.stderr.rstrip("\n").endswith(errors[0]), result.stderr
    assert re.match(case.error, errors[0][len(f"capflow {case.step}: error: "):]), errors[0]
    left = [name for name in OUTPUTS[case.step][1] if (tmp_path / name).exists()]
    assert left == [], f"outputs written by a failing step: {left}"


def test_the_valid_world_passes_every_step(tmp_path):
    """The cases fail for what they break, not for a broken world: each step succeeds on it."""
    build_world(tmp_path)
    for step in ("data", "retrieve", "pool", "leakage", "generate", "trainset"):
        result = run_step(tmp_path, Case("valid", step, no_op, ""))
        assert result.returncode == 0, f"{step}: {result.stderr}"
        assert all((tmp_path / name).exists() for name in OUTPUTS[step][1]), step
