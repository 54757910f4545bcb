"""The YAML files a user writes (configs, the model registry, prompt files) are read strictly: a
duplicate key, an alias bomb, bad UTF-8 or a folder in the file's place is one line naming the file,
at planning for the workflow's configs."""

from __future__ import annotations

import shutil
import time

import pytest
import yaml

from capflow.configcheck import check_config_files, check_keys_one_line, check_name_patterns
from capflow.errors import UserError
from capflow.prompts import load_prompts
from capflow.recipes import load_recipes
from capflow.vocabulary import is_name
from capflow.yamlfiles import MAX_EXPANDED_NODES, load_yaml

from conftest import REPO, run_snakemake

CONFIG_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
MODELS_SCHEMA = REPO / "workflow" / "schemas" / "models.schema.yaml"


def alias_bomb(levels: int = 9) -> str:
    """A document of about half a kilobyte that stands for 9**10 (3.5 billion) strings."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "report:\n  inversions:\n    always:\n" + "".join(f"      {line}\n" for line in lines)


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("finetune:\n  seeds: [0]\n  batch_size: 8\nleakage: {}\nfinetune:\n  seeds: [1]\n")
    with pytest.raises(UserError) as error:
        load_yaml(path)
    assert str(error.value) == f"{path}:5: key 'finetune' given twice (lines 1 and 5)"


def test_a_duplicate_key_in_a_flow_mapping_and_a_nested_one(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a:\n  b: {pooling: cls, dtype: auto, pooling: mean}\n")
    with pytest.raises(UserError, match=r"c\.yaml:2: key 'pooling' given twice \(lines 2 and 2\)$"):
        load_yaml(path)


def test_merge_keys_may_be_overridden(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base: &base {pooling: cls, dtype: auto}\nmodel:\n  <<: *base\n  pooling: mean\n")
    assert load_yaml(path)["model"] == {"pooling": "mean", "dtype": "auto"}


def test_the_shipped_configs_hold_no_duplicate_key():
    for path in [*sorted((REPO / "config").glob("*.yaml")), *sorted((REPO / "config/prompts").glob("*.yaml"))]:
        assert load_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8")), path


def test_an_alias_bomb_is_refused_in_milliseconds(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert len(path.read_bytes()) < 1024
    started = time.perf_counter()
    with pytest.raises(UserError) as error:
        load_yaml(path)
    assert time.perf_counter() - started < 1.0
    assert str(error.value) == f"{path}: refused: its aliases expand it to more than {MAX_EXPANDED_NODES} values"


def test_modest_aliases_are_fine(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(alias_bomb(levels=2))
    assert len(load_yaml(path)["report"]["inversions"]["always"]["a2"]) == 9


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(UserError, match=r"c\.yaml: refused: an alias refers to a node that contains it$"):
        load_yaml(path)


def test_bad_utf8_and_a_folder_name_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"results: ok\nname: \xff\n")
    with pytest.raises(UserError) as error:
        check_config_files([path])
    assert str(error.value) == f"{path}:2: not valid UTF-8"
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(UserError) as error:
        check_config_files([folder])
    assert str(error.value) == f"{folder}: is a directory, not a file"


@pytest.mark.parametrize("text, message", [
    ("all-MiniLM-L6-v2:\n  hub_id: a/b\n  pooling: mean\n  pooling: cls\n",
     "key 'pooling' given twice (lines 3 and 4)"),
    (b"m:\n  hub_id: \xe7\x8c\n", "not valid UTF-8"),
])
def test_the_model_registry_is_read_strictly(tmp_path, text, message):
    path = tmp_path / "models.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UserError) as error:
        load_recipes(path, MODELS_SCHEMA)
    assert str(error.value).endswith(message) and str(error.value).startswith(str(path))


def test_a_model_registry_folder_is_named(tmp_path):
    with pytest.raises(UserError) as error:
        load_recipes(tmp_path, MODELS_SCHEMA)
    assert str(error.value) == f"{tmp_path}: is a directory, not a file"


def test_a_model_name_with_a_trailing_newline_is_refused(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text('"mini\\n": {hub_id: a/b}\n')
    with pytest.raises(UserError) as error:
        load_recipes(path, MODELS_SCHEMA)
    assert str(error.value) == (f"{path}: model name 'mini\\n' is not a valid name (letters, digits and . _ + - only, "
                                "starting with a letter or digit)")


def test_prompt_files_are_read_strictly(tmp_path):
    shutil.copy(REPO / "config/prompts/queries.schema.json", tmp_path)
    text = (REPO / "config/prompts/en.yaml").read_text(encoding="utf-8")
    (tmp_path / "en.yaml").write_text(text + "language: zh\n")
    with pytest.raises(UserError, match=r"en\.yaml:\d+: key 'language' given twice \(lines \d+ and \d+\)$"):
        load_prompts(tmp_path / "en.yaml")
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(UserError, match=r"dir\.yaml: is a directory, not a file$"):
        load_prompts(tmp_path / "dir.yaml")
    (tmp_path / "en.yaml").write_bytes(text.encode() + b"# \xc3\n")
    with pytest.raises(UserError, match=r"en\.yaml:\d+: not valid UTF-8$"):
        load_prompts(tmp_path / "en.yaml")


@pytest.mark.parametrize("name, ok", [("CapRetrieval", True), ("CapRetrieval\n", False), ("a.b+c-d_e", True),
                                      ("-x", False), ("", False), ("x y", False)])
def test_names_are_matched_whole(name, ok):
    assert is_name(name) is ok


def test_a_config_name_with_a_trailing_newline_is_refused():
    config = {"benchmarks": {"Cap\n": {"language": "zh"}}, "zeroshot": {"benchmarks": ["CapRetrieval\n"]}}
    with pytest.raises(UserError) as error:
        check_name_patterns(config, CONFIG_SCHEMA)
    assert str(error.value) == ("config benchmarks: 'Cap\\n' is not a valid name (letters, digits and . _ + - only, "
                                "starting with a letter or digit)")
    check_name_patterns({"benchmarks": {"Cap": {"language": "zh"}}, "zeroshot": {"benchmarks": ["Cap"]}},
                        CONFIG_SCHEMA)


@pytest.mark.parametrize("text, message", [
    ("results: a\nzeroshot:\n  models: [bm25]\nresults: b\n", "bad.yaml:4: key 'results' given twice (lines 1 and 4)"),
    (alias_bomb(), f"bad.yaml: refused: its aliases expand it to more than {MAX_EXPANDED_NODES} values"),
    ('benchmarks:\n  "Cap\\n": {language: zh}\n', "config benchmarks.'Cap\\n': a key may not be empty or hold a line "
     "break"),
    ('zeroshot:\n  benchmarks: ["CapRetrieval\\n"]\n', "config zeroshot.benchmarks.0: 'CapRetrieval\\n' is not a valid "
     "name"),
], ids=["duplicate-key", "alias-bomb", "key-with-newline", "name-with-newline"])
def test_planning_stops_with_one_line(workflow_copy, text, message):
    (workflow_copy / "bad.yaml").write_text(text)
    started = time.perf_counter()
    result = run_snakemake(workflow_copy, "-n", "--cores", "1", "--configfile=bad.yaml", "all", timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in out, out[-2000:]
    assert "Traceback" not in out
    assert time.perf_counter() - started < 60


def test_a_json_config_is_read_as_snakemake_reads_it(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{\n\t"results": "out",\n\t"zeroshot": {"models": ["bm25"]}\n}\n')  # tabs: JSON, not YAML
    check_config_files([path])
    path.write_text('{"results": "a", "zeroshot": {}, "results": "b"}')
    with pytest.raises(UserError) as error:
        check_config_files([path])
    assert str(error.value) == f"{path}: key 'results' given twice in one object"


@pytest.mark.parametrize("config, message", [
    ({"fin\netune": 1}, "config 'fin\\netune': a key may not be empty or hold a line break"),
    ({"benchmarks": {"Cap": {"language": "zh", "fo\ro": 1}}},
     "config benchmarks.Cap.'fo\\ro': a key may not be empty or hold a line break"),
    ({"pools": {"": {}}}, "config pools.'': a key may not be empty or hold a line break"),
])
def test_a_config_key_with_a_line_break_is_one_line(config, message):
    with pytest.raises(UserError) as error:
        check_keys_one_line(config)
    assert str(error.value) == message
