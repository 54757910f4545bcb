"""Faults: a finetune killed mid-run (the process alone, or Snakemake's whole process group) resumes to
exactly what an uninterrupted run gives: the same weights, the same loss curve, the same metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from test_reruns import SMALL_CONFIG, small_data  # noqa: F401 (a fixture)

from conftest import copy_workflow, run_snakemake, tiny_recipe

DEADLINE_S = 900  # only a hang should hit this, however loaded the machine


def wait_for(condition, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE_S}s"
        time.sleep(0.05)


def checkpoint_written(partial: Path):
    return lambda: any(partial.glob("checkpoints/checkpoint-*/trainer_state.json"))


def weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    [path] = model_dir.rglob("model.safetensors")
    return load_file(path)


def assert_same_weights(a: Path, b: Path) -> None:
    import torch

    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_killed_train_process_resumes_to_the_uninterrupted_result(tiny_model, trainset, tmp_path):  # noqa: F811
    def train(out: Path) -> subprocess.Popen:
        recipe = tiny_recipe(tiny_model)
        out.mkdir(parents=True, exist_ok=True)
        # the log goes to a file: an unread pipe would stall the run once its buffer (64 KB) fills
        with open(out / "stderr.log", "a", encoding="utf-8") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "capflow", "train", "--recipe-json", recipe.to_json(), "--train",
                 trainset.train, "--heldout", trainset.heldout, "--passages", trainset.passages, "--out",
                 out / "model", "--loss-csv", out / "loss.csv", "--summary", out / "train.json", "--max-steps",
                 "300", "--batch-size", "8", "--learning-rate", "1e-3", "--save-steps", "5", "--eval-steps", "100",
                 "--device", "cpu"], stdout=subprocess.DEVNULL, stderr=log, text=True)

    def log_of(out: Path) -> str:
        return (out / "stderr.log").read_text(encoding="utf-8")[-3000:]

    whole = train(tmp_path / "whole")
    cut = train(tmp_path / "cut")
    wait_for(checkpoint_written(tmp_path / "cut" / "model.partial"), "checkpoint", cut)
    cut.send_signal(signal.SIGKILL)
    cut.wait()
    assert not (tmp_path / "cut" / "model").exists()
    assert whole.wait(timeout=DEADLINE_S) == 0, log_of(tmp_path / "whole")
    resumed = train(tmp_path / "cut")
    assert resumed.wait(timeout=DEADLINE_S) == 0, log_of(tmp_path / "cut")
    summary = json.loads((tmp_path / "cut" / "train.json").read_text())
    assert summary["resumed_from_step"] is not None and summary["resumed_from_step"] % 5 == 0
    assert_same_weights(tmp_path / "whole" / "model", tmp_path / "cut" / "model")
    assert (tmp_path / "whole" / "loss.csv").read_bytes() == (tmp_path / "cut" / "loss.csv").read_bytes()


# Enough steps, with frequent checkpoints, that a kill lands in the middle of the finetune.
KILL_CONFIG = {"finetune": {"max_steps": 24, "save_steps": 4, "batch_size": 8}}
ID_KW = "results/finetune/id-kw/seed-0"
ID_KW_METRICS = "results/evaluate/CapRetrievalEn/id-kw/seed-0/metrics.json"


def workflow_at(path: Path) -> Path:
    copy_workflow(path)
    (path / "small.yaml").write_text(SMALL_CONFIG)
    (path / "kill.yaml").write_text(yaml.safe_dump(KILL_CONFIG))
    return path


def test_killing_snakemake_s_process_group_mid_finetune_then_rerunning(small_data, tmp_path):  # noqa: F811
    env = {"CAPFLOW_DATA_DIR": str(small_data)}
    args = ["--cores", "2", "--configfile", "small.yaml", "kill.yaml", "--", ID_KW_METRICS]
    whole = workflow_at(tmp_path / "whole")
    result = run_snakemake(whole, *args, env=env, timeout=DEADLINE_S)
    assert result.returncode == 0, result.stderr[-3000:]

    cut = workflow_at(tmp_path / "cut")
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    run = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=cut, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "PATH": path, **env})
    try:
        wait_for(checkpoint_written(cut / f"{ID_KW}/model.partial"), "finetune checkpoint", run)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert not (cut / ID_KW / "model").exists()

    assert run_snakemake(cut, "--unlock", *args, env=env).returncode == 0
    again = run_snakemake(cut, *args, env=env, timeout=DEADLINE_S)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads((cut / ID_KW / "train.json").read_text())
    assert summary["resumed_from_step"] is not None
    assert_same_weights(whole / ID_KW / "model", cut / ID_KW / "model")
    assert (whole / ID_KW / "loss.csv").read_bytes() == (cut / ID_KW / "loss.csv").read_bytes()
    metrics = [json.loads((root / ID_KW_METRICS).read_text())["metrics"] for root in (whole, cut)]
    assert metrics[0] == metrics[1]
