"""Shared fixtures: where the reference data lives, small benchmarks built on the fly, and a
throw-away copy of the workflow to run Snakemake in.

Tests that need the reference data (marker ``integration`` or ``e2e``, or the ``benchmark_root``
fixture) or a Slurm cluster (marker ``slurm``) are skipped where these are absent. CI sets
``CAPFLOW_REQUIRE_DATA=1`` and ``CAPFLOW_REQUIRE_SLURM=1``, which turn those skips into failures,
so a missing data folder or a dead cluster cannot leave the suite green.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from capflow.runtime.cpus import ThreadPolicy, available_cpus

REPO = Path(__file__).resolve().parents[1]
FAKES = Path(__file__).resolve().parent / "fakes"  # the hub, OpenAI server and vLLM fakes, and the stand-ins
WORKFLOW_PARTS = ("Snakefile", "rules", "workflow", "config", "profiles")
# marker -> the environment flag that makes a skip of a test carrying it a failure
REQUIRED_BY_FLAG = {"integration": "CAPFLOW_REQUIRE_DATA", "e2e": "CAPFLOW_REQUIRE_DATA",
                    "slurm": "CAPFLOW_REQUIRE_SLURM"}


def _data_root() -> Path:
    return Path(os.environ.get("CAPFLOW_DATA_DIR") or REPO.parent / "shared" / "data").resolve()


def required(flag: str) -> bool:
    return os.environ.get(flag, "").strip().lower() not in ("", "0", "false", "no")


def skip_unless_required(reason: str, flag: str) -> None:
    """Skip the running test, or fail it when ``flag`` says its prerequisite must be present."""
    if required(flag):
        pytest.fail(f"{reason}, and {flag}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip of a test marked integration/e2e/slurm fails when its flag requires the prerequisite,
    whatever raised the skip (a fixture, ``pytest.importorskip``, a ``skipif``)."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or getattr(report, "wasxfail", None) is not None:
        return
    flags = sorted({flag for marker, flag in REQUIRED_BY_FLAG.items()
                    if item.get_closest_marker(marker) and required(flag)})
    if flags:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{reason.removeprefix('Skipped: ')}, and {'/'.join(flags)}=1 forbids skipping"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def benchmark_root() -> Path:
    root = _data_root()
    if not (root / "CapRetrieval" / "candidates.jsonl").exists():
        skip_unless_required(f"reference data not found at {root} (set CAPFLOW_DATA_DIR)", "CAPFLOW_REQUIRE_DATA")
    return root


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tiny_benchmark(tmp_path) -> Path:
    """Four candidates, three queries (one without positives)."""
    root = tmp_path / "Tiny"
    write_jsonl(root / "candidates.jsonl", [
        {"id": "c1", "text": "A red cat sleeps on the sofa."},
        {"id": "c2", "text": "Two dogs run in the park."},
        {"id": "c3", "text": "A cat and a dog play together."},
        {"id": "c4", "text": "Train ticket from Beijing to Shanghai."},
    ])
    write_jsonl(root / "queries.jsonl", [
        {"id": "q1", "query": "cat", "positives": [{"id": "c1", "score": 2}, {"id": "c3", "score": 1}]},
        {"id": "q2", "query": "train  ticket", "positives": [{"id": "c4", "score": 2}]},
        {"id": "q3", "query": "volcano", "positives": []},
    ])
    (root / "types.json").write_text(json.dumps({"animal": ["cat"], "document": ["train ticket"]}))
    return root


def build_tiny_bert(path: Path, tokens, seed: int = 0, max_positions: int = 128) -> Path:
    """A randomly initialised two-layer BERT over ``tokens`` (plus BERT's specials), saved as a HF folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *tokens]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True).save_pretrained(path)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=max_positions)
    BertModel(config).save_pretrained(path)
    return path


def run_capflow(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capflow", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def copy_workflow(target: Path) -> Path:
    """The workflow's files copied into a new folder ``target``, so a Snakemake run there touches nothing here."""
    target.mkdir(parents=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, target / part)
    return target


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path / "wf")


def job_stats(output: str) -> dict[str, int]:
    """Jobs per rule from the "Job stats" table Snakemake prints before a run (the total left out)."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def run_snakemake(workdir: Path, *args, env=None, timeout=1200, cpus: set[int] | None = None
                  ) -> subprocess.CompletedProcess:
    """Snakemake in ``workdir``, with this interpreter's scripts (``capflow``) first on PATH; ``cpus``:
    the CPUs it and its jobs may run on (all of this process's by default)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run([sys.executable, "-m", "snakemake", *map(str, args)], cwd=workdir, capture_output=True,
                          text=True, timeout=timeout,
                          preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
                          env={**os.environ, "PATH": path, "CAPFLOW_DATA_DIR": str(_data_root()), **(env or {})})


def expected_job_threads(cores: int, wanted: int) -> tuple[int, str]:
    """(declared threads, compute threads) of a job whose rule wants ``wanted`` threads, under
    ``--cores cores`` locally: one CPU's worth and one thread when the cores exceed this machine's CPUs
    (capflow.runtime.cpus.ThreadPolicy), else what it wants within the CPUs and the cores."""
    policy = ThreadPolicy.for_run(cores, True, available_cpus())
    threads = min(policy.threads_for(wanted), cores)
    return threads, str(policy.compute_threads(threads))


def planned_job_blocks(output: str) -> list[dict]:
    """Each job of a dry run: rule, wildcards, resources and threads, from Snakemake's job blocks."""
    jobs = []
    for match in re.finditer(r"^(?:local)?rule (\w+):\n((?:    .*\n?)+)", output, flags=re.MULTILINE):
        fields = dict(line.strip().split(": ", 1) for line in match.group(2).splitlines() if ": " in line)
        jobs.append({
            "rule": match.group(1),
            "wildcards": fields.get("wildcards", ""),
            "resources": dict(item.split("=", 1) for item in fields.get("resources", "").split(", ") if "=" in item),
            "threads": int(fields.get("threads", 1)),
        })
    return jobs


def benchmark_outputs(folder: Path) -> list:
    """`capflow data` output options writing a benchmark dir ``folder`` (the file names the workflow uses)."""
    return ["--candidates", folder / "candidates.jsonl", "--queries", folder / "queries.jsonl",
            "--types", folder / "query_types.json"]


# --- a tiny encoder and a training set for finetuning tests -------------------------------------------
WORDS = ("cat dog red blue park sofa train ticket city river sun moon tree house car road bird fish lake "
         "hill snow rain boat bike shop food tea cup book desk lamp door").split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A random two-layer BERT with a word-level vocabulary, saved as a Hugging Face model folder."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert") / "model", WORDS, max_positions=64)


def tiny_recipe(model_dir, **changes):
    from capflow.recipes import Recipe

    return Recipe(name="tiny", path=str(model_dir), pooling="mean", max_length=64, **changes)


@pytest.fixture
def trainset(tmp_path) -> SimpleNamespace:
    """24 passages with 4 generated queries each (so many pairs share a passage), 8 pairs held out."""
    rng = random.Random(0)
    passages = [{"id": f"p{i}", "text": " ".join(rng.sample(WORDS, 6)), "source": "test"} for i in range(24)]
    pairs = [{"query": " ".join(rng.sample(p["text"].split(), 2)), "passage_id": p["id"], "kind": "kw"}
             for p in passages for _ in range(4)]
    return SimpleNamespace(
        passages=write_jsonl(tmp_path / "pool" / "passages.jsonl", passages),
        train=write_jsonl(tmp_path / "set" / "train.jsonl", pairs[:-8]),
        heldout=write_jsonl(tmp_path / "set" / "heldout.jsonl", pairs[-8:]),
        pairs=pairs, texts={p["id"]: p["text"] for p in passages})
