"""Property-based tests of the readers of user files: benchmark JSONL, pool sources and pool files, YAML
configs and the model registry. Whatever the input, a reader either returns what it read, and that can be
written back, or stops with one line (a UserError) naming the file; never another exception, never a
partial output."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from capflow import benchmark as bm
from capflow import generate, leakage, pools
from capflow.cli import build_parser
from capflow.data import write_outputs
from capflow.errors import UserError
from capflow.io import read_json, read_jsonl
from capflow.recipes import load_recipes
from capflow.vocabulary import KINDS
from capflow.yamlfiles import load_yaml

from conftest import REPO

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS_SCHEMA = REPO / "workflow" / "schemas" / "models.schema.yaml"

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
TEXT = st.one_of(st.text(max_size=12), st.builds(lambda a, s, b: a + s + b, st.text(max_size=4), SURROGATES,
                                                 st.text(max_size=4)))
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                           max_leaves=6)
IDS = st.sampled_from(["c1", "c2", "c3", "", "c 1", "q1"]) | TEXT


def json_line(value) -> bytes:
    return (json.dumps(value) + "\n").encode("utf-8")


CANDIDATE = st.fixed_dictionaries({"id": IDS, "text": TEXT})
POSITIVE = st.one_of(st.fixed_dictionaries({"id": IDS | JSON_VALUES, "score": st.sampled_from([0, 1, 2, 3, True])}),
                     JSON_VALUES)
QUERY = st.fixed_dictionaries({"id": IDS, "query": TEXT, "positives": st.lists(POSITIVE, max_size=3) | JSON_VALUES})
RAW_LINE = st.one_of(st.binary(max_size=20).map(lambda b: b + b"\n"), JSON_VALUES.map(json_line))


def lines(objects) -> st.SearchStrategy[bytes]:
    return st.lists(st.one_of(objects.map(json_line), RAW_LINE), min_size=1, max_size=6).map(b"".join)


def assert_one_line(error: UserError, *names: Path | str) -> None:
    """One line that starts with one of ``names`` (the file, or the config key at fault)."""
    assert "\n" not in str(error) and str(error).startswith(tuple(map(str, names))), str(error)


@PROPERTY_SETTINGS
@given(candidates=lines(CANDIDATE), queries=lines(QUERY))
def test_a_benchmark_loads_and_writes_back_or_is_one_line(candidates, queries):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        (root / "in" / bm.CANDIDATES).write_bytes(candidates)
        (root / "in" / bm.QUERIES).write_bytes(queries)
        try:
            benchmark = bm.load_benchmark(root / "in")
        except UserError as error:
            assert_one_line(error, root / "in")
            return
        out = root / "out"
        write_outputs(benchmark, {}, out / bm.CANDIDATES, out / bm.QUERIES, out / "types.json")
        again = bm.load_benchmark(out)
        assert (again.candidate_ids, again.candidate_texts, again.qrels) == (
            benchmark.candidate_ids, benchmark.candidate_texts, benchmark.qrels)


def jsonl_lines(path: Path) -> list[str]:
    """A JSONL file's records: only "\\n" ends one (str.splitlines would also split at U+0085 or U+2028,
    which a JSON string may hold as they are)."""
    return [line for line in path.read_text("utf-8").split("\n") if line]


@PROPERTY_SETTINGS
@given(source=lines(st.fixed_dictionaries({"id": IDS | JSON_VALUES, "text": TEXT})),
       text_lines=st.lists(st.binary(max_size=20) | TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
                           max_size=5).map(lambda parts: b"\n".join(parts)))
@example(source=b'{"id": "\\u0085", "text": "0"}\n', text_lines=b"")  # an id holding NEL, a line break to splitlines
def test_a_pool_source_reads_and_writes_back_or_is_one_line(source, text_lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data, reader in (("source.jsonl", source, pools.read_jsonl_source),
                                   ("source.txt", text_lines, pools.read_text_source)):
            (root / name).write_bytes(data)
            out = root / f"{name}.passages.jsonl"
            try:
                chosen, _ = pools.build_pool(reader(root / name))
            except UserError as error:
                assert_one_line(error, root / name)
                continue
            pools.write_pool(chosen, out)
            assert [(p["id"], p["text"]) for p in map(json.loads, jsonl_lines(out))] == [
                (p.id, p.text) for p in chosen]


POOL_ROW = st.fixed_dictionaries({"id": IDS | JSON_VALUES, "text": TEXT}, optional={"source": TEXT | JSON_VALUES})
# rows as `capflow pool` writes them, ids repeating now and then: most such pools are read
WRITTEN_ROW = st.fixed_dictionaries({"id": st.sampled_from(["p1", "p2", "p3"]) | st.text(min_size=1, max_size=6),
                                     "text": st.text(max_size=30), "source": st.just("s")})
POOLS = lines(POOL_ROW) | st.lists(WRITTEN_ROW.map(json_line), max_size=6).map(b"".join)


@PROPERTY_SETTINGS
@given(pool=POOLS, kind=st.sampled_from(KINDS))
# a duplicate id holding a line break (found by Hypothesis in CI) is named escaped
@example(pool=b'{"id": "\\n", "text": "", "source": "s"}\n{"id": "\\n", "text": "", "source": "s"}\n', kind="sm")
def test_a_pool_file_is_read_by_the_steps_that_read_it_or_is_one_line(pool, kind):
    """A pool's passages.jsonl, as `capflow leakage` reads it and as `capflow generate` (and with it
    trainset and train, which share its reader) reads it: both take it, or both refuse it naming it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "passages.jsonl"
        path.write_bytes(pool)
        try:
            rows = leakage.read_pool(path)
        except UserError as error:
            assert_one_line(error, path)
            rows = None
        out = {name: root / "out" / name for name in ("queries.jsonl", "stats.json", "rejects.jsonl")}
        args = build_parser("generate").parse_args([
            "generate", "--passages", str(path), "--kind", kind, "--out", str(out["queries.jsonl"]),
            "--stats", str(out["stats.json"]), "--rejects", str(out["rejects.jsonl"])])
        try:
            generate.main(args)
        except UserError as error:
            assert_one_line(error, path)
            assert rows is None and not (root / "out").exists()
            return
        assert rows is not None
        assert read_json(out["stats.json"])["passages"] == len(rows)
        ids = {row["id"] for row in rows}
        assert {row["passage_id"] for row in read_jsonl(out["queries.jsonl"])} <= ids


YAML_SCALARS = st.one_of(st.sampled_from(["mean", "cls", "2001-02-30", "1e400", "!!binary x", "&a x", "*a", "~",
                                          "[", "{a: 1, a: 2}", "<<: *a", "? [a]", "\t"]), TEXT)


@PROPERTY_SETTINGS
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["pooling", "dtype", "hub_id", "m", "a", "<<"]),
                          YAML_SCALARS), max_size=8))
def test_a_yaml_file_loads_or_is_one_line(entries):
    text = "".join(f"{'  ' * depth}{key}: {value}\n" for depth, key, value in entries)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            load_yaml(path)
        except UserError as error:
            assert_one_line(error, path)
        try:
            load_recipes(path, MODELS_SCHEMA)
        except UserError as error:
            assert_one_line(error, path)


@PROPERTY_SETTINGS
@given(st.dictionaries(st.sampled_from(["m1", "m2", "bad name", "m1\n"]),
                       st.dictionaries(st.sampled_from(["kind", "pooling", "hub_id", "dtype", "max_length"]),
                                       JSON_VALUES, max_size=4) | JSON_VALUES, max_size=3),
       st.booleans())
@example(registry={"m1": {"\n": None}}, duplicate_a_line=False)  # an unknown recipe key that is a line break
def test_a_model_registry_loads_or_is_one_line(registry, duplicate_a_line):
    text = yaml.safe_dump(registry, allow_unicode=True) if registry else ""
    if duplicate_a_line and text:
        first = text.splitlines(keepends=True)[0]
        text += first
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "models.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            recipes = load_recipes(path, MODELS_SCHEMA)
        except UserError as error:
            assert_one_line(error, path)
            return
        assert set(recipes) <= {"m1", "m2"}


CONFIG_KEYS = st.sampled_from(["results", "benchmarks", "zeroshot", "models", "finetune", "seeds", "language",
                               "CapRetrieval", "Cap\n", "fin\netune", "", "<<"]) | TEXT


@PROPERTY_SETTINGS
@given(st.dictionaries(CONFIG_KEYS, st.dictionaries(CONFIG_KEYS, JSON_VALUES, max_size=3) | JSON_VALUES, max_size=4),
       st.booleans())
def test_a_config_file_passes_the_planning_checks_or_is_one_line(config, duplicate_a_line):
    from capflow.configcheck import check_config, check_config_files, check_keys_one_line, check_name_patterns

    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    text = yaml.safe_dump(config, allow_unicode=True) if config else ""
    if duplicate_a_line and text:
        text += text.splitlines(keepends=True)[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            check_config_files([path])
        except UserError as error:
            assert_one_line(error, path)
            return
        loaded = yaml.safe_load(text) or {}
        try:
            check_keys_one_line(loaded)
            check_name_patterns(loaded, schema)
            check_config(loaded, schema)
        except UserError as error:
            assert_one_line(error, "config ", "unknown config key ")
