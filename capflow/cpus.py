"""CPU threads: a step never runs more compute threads than the CPUs its process may use.

Snakemake exports a job's ``threads`` as ``OMP_NUM_THREADS`` (and the BLAS libraries' equivalents),
and a job may be given more threads than the machine has CPUs: ``snakemake --cores 8`` on a 2-core
laptop. torch, numpy and tokenizers read these variables once, when they start, and then oversubscribe
the CPUs; so the command line lowers them to the CPU count before any of those libraries loads.
"""

from __future__ import annotations

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
