"""CPU threads: a step never runs more compute threads than the CPUs its process may use.

Snakemake exports a job's ``threads`` as ``OMP_NUM_THREADS`` (and the BLAS libraries' equivalents),
and a job may be given more threads than the machine has CPUs: ``snakemake --cores 8`` on a 2-core
laptop. torch and numpy read these variables once, when they load, and then oversubscribe the CPUs;
so the command line sets them (``capflow --threads N``) or lowers them to the CPU count before any of
those libraries loads.

It also makes idle OpenMP threads sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a policy.
By default they spin at every barrier; when another process holds one of the CPUs, a spinning
thread waits for a descheduled one: a two-thread torch job on a two-core machine beside one busy
process took 1.4x as long as with sleeping threads, 6% less alone (benchmarks/omp_wait_policy.py).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import MutableMapping
from dataclasses import dataclass

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def thread_count(text: str) -> int:
    """A --threads value: a positive integer."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cap_thread_variables(environ: MutableMapping[str, str] | None = None, cpus: int | None = None) -> dict:
    """Lower every thread-count variable above ``cpus`` (default: the available CPUs) to ``cpus``.

    Returns the variables changed, name -> (old, new). Values that are not positive integers are left
    to the libraries that read them.
    """
    environ = os.environ if environ is None else environ
    cpus = available_cpus() if cpus is None else cpus
    changed = {}
    for name in THREAD_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit() and int(value) > cpus:
            changed[name] = (value, str(cpus))
            environ[name] = str(cpus)
    return changed


def set_threads(threads: int | None, environ: MutableMapping[str, str] | None = None,
                cpus: int | None = None) -> None:
    """Every thread-count variable to ``threads`` (when given), then none above the CPUs; idle
    OpenMP threads sleep unless ``OMP_WAIT_POLICY`` says otherwise."""
    environ = os.environ if environ is None else environ
    if threads is not None:
        environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    cap_thread_variables(environ, cpus)
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# Threads a multi-threaded job wants, by the work it does.
JOB_THREADS = {"encode": 4, "train": 8, "leakage": 8}


@dataclass(frozen=True)
class ThreadPolicy:
    """The threads each job declares to Snakemake and the threads it computes with.

    `--cores` may name more cores than the machine has (`snakemake --cores 8 all` on a 2-core laptop);
    Snakemake would then run jobs whose threads add up to 8 on 2 CPUs, and torch jobs slow each other
    down far more than they gain. Then each CPU counts as `cores_per_cpu` cores: a multi-threaded job
    declares one CPU's worth of cores and computes with one thread, so no more of them run together
    than there are CPUs. Profiles' set-threads replace the declared threads (on Slurm: the job's CPUs).
    """

    cpus: int
    cores_per_cpu: int = 1

    @classmethod
    def for_run(cls, cores: int | None, local: bool, cpus: int) -> ThreadPolicy:
        """The policy of a run with `--cores cores`, executed locally or not, on `cpus` CPUs."""
        if local and cores and cores > cpus:
            return cls(cpus, -(-cores // cpus))
        return cls(cpus)

    def job_threads(self, work: str) -> int:
        """Threads to declare for a multi-threaded job doing `work` (a key of JOB_THREADS)."""
        return self.threads_for(JOB_THREADS[work])

    def threads_for(self, wanted: int) -> int:
        """Threads to declare for a job that wants `wanted` threads."""
        if self.cores_per_cpu > 1:
            return self.cores_per_cpu
        return min(wanted, self.cpus)

    def compute_threads(self, threads: int) -> int:
        """The threads a job computes with (`capflow --threads`): its declared threads counted in CPUs."""
        return max(1, threads // self.cores_per_cpu)
