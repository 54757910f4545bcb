"""The workflow's plan: every path, job setting, target and report entry, decided in Python.

:class:`~capflow.plan.plan.Plan` is built from the validated config, the recipe registry and the run's
runtime facts (cores, CPUs, GPUs, Slurm site). ``rules/common.smk`` only adapts it to Snakemake, so the
tests reach every decision without Snakemake.
"""

from capflow.plan.layout import JobPaths, Layout
from capflow.plan.plan import Plan, Runtime

__all__ = ["JobPaths", "Layout", "Plan", "Runtime"]
