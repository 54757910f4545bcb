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
