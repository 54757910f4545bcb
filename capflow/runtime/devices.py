"""``capflow gpu-run``: give each GPU job of one machine its own devices.

Snakemake counts GPUs as a resource (``--resources gpu=N``) but does not say *which* device a job
may use, so two jobs started together would both land on device 0. ``gpu-run`` picks free devices
among the visible ones, exports them as ``CUDA_VISIBLE_DEVICES`` and then becomes the command.

A device is held through an exclusive ``flock`` on its lock file, kept open across ``exec``: the
lock lasts exactly as long as the command's process and is released by the kernel when it exits,
however it ends (a crash or ``kill -9`` included). Lock files live in one directory per machine
(``$CAPFLOW_GPU_LOCK_DIR``, default ``<tmp>/capflow-gpu-locks``), shared by every workflow and
user on it. Inside a Slurm job the devices are the job's own allocation: the locks then live in a
folder of that job, so jobs that Slurm placed on the same node never wait for each other, and a
job that takes all of its allocation sees ``CUDA_VISIBLE_DEVICES`` unchanged.

``CAPFLOW_GPU_COUNT=N`` pretends that devices 0..N-1 are visible (for tests and dry runs).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from capflow.errors import UserError

log = logging.getLogger(__name__)

COUNT_ENV = "CAPFLOW_GPU_COUNT"
LOCK_DIR_ENV = "CAPFLOW_GPU_LOCK_DIR"
# Values that CUDA treats as "no device".
_NO_DEVICE = {"", "-1", "NoDevFiles", "none"}


def visible_devices(environ: Mapping[str, str] | None = None) -> list[str]:
    """The device ids this process may use, as ``CUDA_VISIBLE_DEVICES`` would name them."""
    environ = os.environ if environ is None else environ
    simulated = environ.get(COUNT_ENV)
    if simulated is not None:
        try:
            count = int(simulated)
        except ValueError:
            raise UserError(f"{COUNT_ENV}={simulated!r} is not a whole number") from None
        return [str(i) for i in range(max(count, 0))]
    if "CUDA_VISIBLE_DEVICES" in environ:
        value = environ["CUDA_VISIBLE_DEVICES"].strip()
        if value in _NO_DEVICE:
            return []
        return [d.strip() for d in value.split(",") if d.strip()]
    return _nvidia_smi_devices()


def _nvidia_smi_devices() -> list[str]:
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return []
    try:
        listing = subprocess.run([nvidia_smi, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    # "GPU 0: NVIDIA H100 (UUID: ...)"; MIG instances are indented lines below their GPU.
    return [m.group(1) for m in re.finditer(r"^GPU (\d+):", listing, flags=re.MULTILINE)]


def visible_gpu_count() -> int:
    """How many GPUs this machine (or this Slurm allocation) shows; the local profile's gpu cap."""
    return len(visible_devices())


def cluster_run(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether Snakemake was started with a profile other than the local one, or a non-local executor.

    Snakemake loads ``profiles/default`` by itself and lets it override a ``--profile`` key by key, so
    the local profile keeps its GPU cap (the GPUs of the machine Snakemake runs on) and threads out
    of cluster runs by asking this."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    profiles = [environ["SNAKEMAKE_PROFILE"]] if environ.get("SNAKEMAKE_PROFILE") else []
    executors = []
    for index, word in enumerate(argv):
        name, _, value = word.partition("=")
        value = value or (argv[index + 1] if index + 1 < len(argv) else "")
        if name == "--profile":
            profiles.append(value)
        elif name in ("--executor", "-e"):
            executors.append(value)
    local_profile = ("profiles", "default")
    return (any(Path(p).parts[-2:] != local_profile for p in profiles)
            or any(e not in ("local", "dryrun", "touch") for e in executors))


def default_lock_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    base = Path(environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "capflow-gpu-locks")
    job_id = environ.get("SLURM_JOB_ID")
    # Under Slurm, device ids are relative to the job's allocation (often "0" in every job).
    return base / f"slurm-{job_id}" if job_id else base


def _lock_name(device: str) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", device) + ".lock"


LOCK_DIR_HINT = f"give --lock-dir or ${LOCK_DIR_ENV} a folder you can write"


def _open_lock_dir(lock_dir: Path) -> None:
    if not lock_dir.is_dir():
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if lock_dir.exists():
                what = "is not a folder"
            elif exc.errno == errno.ENOTDIR:
                what = "cannot create the GPU lock folder: a part of its path is not a folder"
            else:
                what = f"cannot create the GPU lock folder: {exc.strerror}"
            raise UserError(f"{what} ({LOCK_DIR_HINT})", lock_dir) from None
        with contextlib.suppress(OSError):
            # Several users of one machine share the folder, as /tmp is shared.
            os.chmod(lock_dir, 0o1777)


def _try_lock(path: Path) -> int | None:
    # Read-only is enough for flock, so a lock file made by another user still works.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot open the GPU lock file: {exc.strerror} ({LOCK_DIR_HINT})", path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return None
        raise
    return fd


class DeviceLease:
    """Devices held by this process; ``fds`` are the open, locked lock files."""

    def __init__(self, devices: list[str], fds: list[int]):
        self.devices = devices
        self.fds = fds

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(self.devices)

    def release(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def acquire(count: int, *, visible: list[str] | None = None, lock_dir: Path | None = None,
            timeout: float | None = None, poll: float = 0.5) -> DeviceLease:
    """Lock ``count`` free devices among ``visible``, waiting until enough are free.

    All-or-nothing: a try that finds too few free devices releases the ones it got before waiting,
    so two jobs that each hold half of what they need never block each other for good.
    """
    visible = visible_devices() if visible is None else visible
    if count > len(visible):
        raise UserError(f"{count} GPU(s) requested but {len(visible)} visible ({', '.join(visible) or 'none'})")
    if count <= 0:
        return DeviceLease([], [])
    lock_dir = default_lock_dir() if lock_dir is None else lock_dir
    _open_lock_dir(lock_dir)
    deadline = None if timeout is None else time.monotonic() + timeout
    announced = False
    while True:
        devices, fds = [], []
        for device in visible:
            fd = _try_lock(lock_dir / _lock_name(device))
            if fd is not None:
                devices.append(device)
                fds.append(fd)
                if len(devices) == count:
                    return DeviceLease(devices, fds)
        DeviceLease(devices, fds).release()
        if deadline is not None and time.monotonic() >= deadline:
            raise UserError(f"no {count} free GPU(s) among {', '.join(visible)} within {timeout:g}s "
                            f"(locks in {lock_dir})")
        if not announced:
            log.info("waiting for %d free GPU(s) among %s (locks in %s)", count, ", ".join(visible), lock_dir)
            announced = True
        time.sleep(poll)


@contextlib.contextmanager
def gpu_lease(count: int, **kwargs) -> Iterator[DeviceLease]:
    """In-process form of ``gpu-run``: hold ``count`` devices for the duration of the block."""
    lease = acquire(count, **kwargs)
    try:
        yield lease
    finally:
        lease.release()


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.usage = "capflow gpu-run [--gpus N] [--lock-dir DIR] [--timeout SECONDS] -- COMMAND [ARG ...]"
    parser.add_argument("--gpus", type=int, default=1,
                        help="devices to give the command (default 1; 0 hides every GPU from it)")
    parser.add_argument("--lock-dir", type=Path, default=None,
                        help=f"lock files of this machine (default ${LOCK_DIR_ENV} or <tmp>/capflow-gpu-locks)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up after waiting this many seconds for free devices (default: wait)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")


def main(args: argparse.Namespace) -> None:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UserError("no command given (usage: capflow gpu-run --gpus N -- COMMAND ...)")
    if args.gpus < 0:
        raise UserError(f"--gpus must be 0 or more, not {args.gpus}")
    env = dict(os.environ)
    visible = visible_devices()
    if args.gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
        lease = DeviceLease([], [])
    elif not visible:
        log.info("no GPU visible; running on the CPU")
        lease = DeviceLease([], [])
    else:
        lease = acquire(args.gpus, visible=visible, lock_dir=args.lock_dir, timeout=args.timeout)
        env["CUDA_VISIBLE_DEVICES"] = lease.cuda_visible_devices
        log.info("CUDA_VISIBLE_DEVICES=%s", lease.cuda_visible_devices)
    for fd in lease.fds:
        os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        raise UserError(f"cannot run {command[0]}: {exc.strerror}") from None
