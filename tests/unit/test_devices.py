"""GPU device assignment for jobs that share one machine (capflow gpu-run), on simulated devices."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capflow.errors import UserError
from capflow.runtime import devices

CAPFLOW = [sys.executable, "-m", "capflow"]

# A job that records the devices it was given and how long it held them, then waits for a go file.
RECORDER = """
import json, os, sys, time
out, go = sys.argv[1], sys.argv[2]
start = time.time()
while not os.path.exists(go):
    time.sleep(0.02)
with open(out, "w") as f:
    json.dump({"devices": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.time()}, f)
"""


def gpu_env(tmp_path: Path, count: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update({devices.COUNT_ENV: str(count), devices.LOCK_DIR_ENV: str(tmp_path / "locks")}, **extra)
    return env


def start_job(tmp_path: Path, env: dict, name: str, gpus: int, go: Path) -> subprocess.Popen:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    return subprocess.Popen(CAPFLOW + ["gpu-run", "--gpus", str(gpus), "--", sys.executable, str(script),
                                       str(tmp_path / f"{name}.json"), str(go)],
                            env=env, stderr=subprocess.PIPE, text=True)


def wait_for_lock_holders(lock_dir: Path, expected: int, timeout: float = 20) -> None:
    """Wait until ``expected`` lock files are held (probing with a non-blocking flock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = 0
        for path in lock_dir.glob("gpu-*.lock") if lock_dir.is_dir() else []:
            fd = devices._try_lock(path)
            if fd is None:
                held += 1
            else:
                os.close(fd)
        if held == expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"expected {expected} held device locks in {lock_dir}")


def test_visible_devices_sources(monkeypatch):
    assert devices.visible_devices({"CAPFLOW_GPU_COUNT": "3"}) == ["0", "1", "2"]
    assert devices.visible_devices({"CUDA_VISIBLE_DEVICES": "2, 5"}) == ["2", "5"]
    assert devices.visible_devices({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert devices.visible_devices({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    assert devices.visible_devices({}) == []
    with pytest.raises(UserError, match="CAPFLOW_GPU_COUNT='two'"):
        devices.visible_devices({"CAPFLOW_GPU_COUNT": "two"})


def test_lock_dir_is_per_slurm_job(tmp_path):
    base = {devices.LOCK_DIR_ENV: str(tmp_path)}
    assert devices.default_lock_dir(base) == tmp_path
    assert devices.default_lock_dir({**base, "SLURM_JOB_ID": "77"}) == tmp_path / "slurm-77"


def test_leases_are_disjoint_and_released(tmp_path):
    visible = ["0", "1", "2"]
    with devices.gpu_lease(2, visible=visible, lock_dir=tmp_path) as first:
        assert first.devices == ["0", "1"]
        with devices.gpu_lease(1, visible=visible, lock_dir=tmp_path) as second:
            assert second.devices == ["2"]
            with pytest.raises(UserError, match="no 1 free GPU"):
                devices.acquire(1, visible=visible, lock_dir=tmp_path, timeout=0.2, poll=0.05)
    with devices.gpu_lease(3, visible=visible, lock_dir=tmp_path) as all_three:
        assert all_three.devices == visible


def test_acquire_takes_all_or_nothing(tmp_path):
    visible = ["0", "1"]
    with devices.gpu_lease(1, visible=visible, lock_dir=tmp_path):
        with pytest.raises(UserError):
            devices.acquire(2, visible=visible, lock_dir=tmp_path, timeout=0.2, poll=0.05)
        # the failed try must not keep device 1
        with devices.gpu_lease(1, visible=visible, lock_dir=tmp_path) as other:
            assert other.devices == ["1"]


def test_more_than_visible_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="2 GPU\\(s\\) requested but 1 visible"):
        devices.acquire(2, visible=["0"], lock_dir=tmp_path)


def test_concurrent_jobs_get_disjoint_devices(tmp_path):
    env = gpu_env(tmp_path, 4)
    go = tmp_path / "go"
    jobs = [start_job(tmp_path, env, f"job{i}", 1, go) for i in range(4)]
    # all four hold a device at the same time, so none of them waited for another
    wait_for_lock_holders(tmp_path / "locks", 4)
    go.touch()
    for job in jobs:
        assert job.wait(timeout=30) == 0, job.stderr.read()
    seen = [json.loads((tmp_path / f"job{i}.json").read_text())["devices"] for i in range(4)]
    assert sorted(seen) == ["0", "1", "2", "3"]


def test_job_waits_until_devices_are_free(tmp_path):
    env = gpu_env(tmp_path, 3)
    first_go, second_go = tmp_path / "go1", tmp_path / "go2"
    first = start_job(tmp_path, env, "first", 2, first_go)
    wait_for_lock_holders(tmp_path / "locks", 2)
    second_go.touch()
    second = start_job(tmp_path, env, "second", 2, second_go)
    time.sleep(1.0)
    assert second.poll() is None, "the second job ran while only one device was free"
    first_go.touch()
    assert first.wait(timeout=30) == 0, first.stderr.read()
    assert second.wait(timeout=30) == 0, second.stderr.read()
    a = json.loads((tmp_path / "first.json").read_text())
    b = json.loads((tmp_path / "second.json").read_text())
    assert a["devices"] == "0,1"
    assert b["start"] >= a["end"]
    assert "waiting for 2 free GPU(s)" in second.stderr.read()


def test_killed_job_releases_its_devices(tmp_path):
    env = gpu_env(tmp_path, 1)
    holder = start_job(tmp_path, env, "holder", 1, tmp_path / "never")
    wait_for_lock_holders(tmp_path / "locks", 1)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    result = subprocess.run(CAPFLOW + ["gpu-run", "--timeout", "5", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_slurm_allocation_is_left_as_slurm_set_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != devices.COUNT_ENV}
    env.update({"SLURM_JOB_ID": "4242", "CUDA_VISIBLE_DEVICES": "0", devices.LOCK_DIR_ENV: str(tmp_path)})
    result = subprocess.run(CAPFLOW + ["gpu-run", "--gpus", "1", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
    assert (tmp_path / "slurm-4242" / "gpu-0.lock").exists()


def test_zero_gpus_hides_devices_and_no_gpu_runs_on_cpu(tmp_path):
    show = ["sh", "-c", "echo \"[${CUDA_VISIBLE_DEVICES-unset}]\""]
    hidden = subprocess.run(CAPFLOW + ["gpu-run", "--gpus", "0", "--"] + show, env=gpu_env(tmp_path, 2),
                            capture_output=True, text=True, timeout=30)
    assert hidden.stdout.strip() == "[]"
    cpu_only = subprocess.run(CAPFLOW + ["gpu-run", "--"] + show, env=gpu_env(tmp_path, 0),
                              capture_output=True, text=True, timeout=30)
    assert cpu_only.returncode == 0, cpu_only.stderr
    assert cpu_only.stdout.strip() == "[unset]"
    assert "no GPU visible" in cpu_only.stderr


@pytest.mark.parametrize("argv, message", [
    (["gpu-run", "--gpus", "1"], "no command given"),
    (["gpu-run", "--gpus", "-1", "--", "true"], "--gpus must be 0 or more"),
    (["gpu-run", "--gpus", "3", "--", "true"], "3 GPU(s) requested but 2 visible"),
    (["gpu-run", "--", "no-such-command-here"], "cannot run no-such-command-here"),
])
def test_bad_use_is_one_line_and_exit_2(tmp_path, argv, message):
    result = subprocess.run(CAPFLOW + argv, env=gpu_env(tmp_path, 2), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr


PAIRED_WAIT = """arrived = os.path.join(os.path.dirname(out), "arrived")
os.makedirs(arrived, exist_ok=True)
k = 0
while True:
    try:
        os.close(os.open(os.path.join(arrived, str(k)), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        k += 1
while len(os.listdir(arrived)) < 2 * (k // 2 + 1) and time.time() < start + 120:"""


PROFILE_SNAKEFILE = """
rule all:
    input: expand("job{{i}}.json", i=range(4))

rule gpu_job:
    output: "job{{i}}.json"
    log: "logs/job{{i}}.log"
    resources: gpu=1
    shell: "{python} -m capflow gpu-run --gpus {{resources.gpu}} -- {python} {recorder} {{output}} go 2> {{log}}"
"""


def test_default_profile_runs_gpu_jobs_on_disjoint_devices(tmp_path, repo_root):
    """Four one-GPU jobs with two GPUs: the profile lets two run at once, gpu-run keeps them apart."""
    workdir = tmp_path / "wf"
    workdir.mkdir()
    recorder = tmp_path / "recorder.py"
    # Jobs meet in pairs: the k-th job to start waits until 2*(k//2 + 1) have started (or 120 s), so
    # two jobs that may run together do, however slowly a loaded machine starts them.
    recorder.write_text(RECORDER.replace("while not os.path.exists(go):", PAIRED_WAIT))
    (workdir / "Snakefile").write_text(PROFILE_SNAKEFILE.format(python=sys.executable, recorder=recorder))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--profile", repo_root / "workflow/profiles/default",
                             "--cores", "4"], cwd=workdir, env=gpu_env(tmp_path, 2), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Provided resources: gpu=Resource("gpu", 2)' in result.stderr, result.stderr  # counted devices
    records = [json.loads((workdir / f"job{i}.json").read_text()) for i in range(4)]
    assert {r["devices"] for r in records} == {"0", "1"}
    for a in records:
        overlapping = [b for b in records if b is not a and b["start"] < a["end"] and a["start"] < b["end"]]
        assert len(overlapping) <= 1
        assert all(b["devices"] != a["devices"] for b in overlapping)
    assert any(b is not a and b["start"] < a["end"] and a["start"] < b["end"] for a in records for b in records)


HINT = f"(give --lock-dir or ${devices.LOCK_DIR_ENV} a folder you can write)"


def gpu_run_error(tmp_path: Path, lock_dir: Path) -> str:
    result = subprocess.run(CAPFLOW + ["gpu-run", "--lock-dir", str(lock_dir), "--", "true"],
                            env=gpu_env(tmp_path, 2), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


def test_a_lock_dir_that_is_a_file_is_one_line(tmp_path):
    lock_file = tmp_path / "locks"
    lock_file.write_text("")
    assert gpu_run_error(tmp_path, lock_file) == f"capflow gpu-run: error: {lock_file}: is not a folder {HINT}"
    below = lock_file / "deeper"
    assert gpu_run_error(tmp_path, below) == (f"capflow gpu-run: error: {below}: cannot create the GPU lock folder: "
                                              f"a part of its path is not a folder {HINT}")


def test_a_lock_file_that_cannot_be_opened_is_one_line(tmp_path):
    lock_dir = tmp_path / "locks"
    (lock_dir / "gpu-0.lock").mkdir(parents=True)
    assert gpu_run_error(tmp_path, lock_dir) == (f"capflow gpu-run: error: {lock_dir / 'gpu-0.lock'}: cannot open the "
                                                 f"GPU lock file: Is a directory {HINT}")


def test_a_lock_dir_without_write_permission_is_one_line(tmp_path, monkeypatch):
    """What a user meets in another user's read-only lock folder (simulated: the tests may run as root)."""
    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "locks")):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    (tmp_path / "locks").mkdir()
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(UserError) as error:
        devices.acquire(1, visible=["0"], lock_dir=tmp_path / "locks")
    assert str(error.value) == (f"{tmp_path / 'locks' / 'gpu-0.lock'}: cannot open the GPU lock file: Permission "
                                f"denied {HINT}")


def test_a_lock_dir_that_cannot_be_created_is_one_line(tmp_path, monkeypatch):
    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(UserError) as error:
        devices.acquire(1, visible=["0"], lock_dir=tmp_path / "locks")
    assert str(error.value) == (f"{tmp_path / 'locks'}: cannot create the GPU lock folder: Permission denied {HINT}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_lock_dir_is_one_line(tmp_path):
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir(mode=0o555)
    assert gpu_run_error(tmp_path, lock_dir) == (f"capflow gpu-run: error: {lock_dir / 'gpu-0.lock'}: cannot open the "
                                                 f"GPU lock file: Permission denied {HINT}")
