"""Where each Slurm job goes: the site's account, partitions and GPU model, applied per job.

snakemake-executor-plugin-slurm writes ``--gpus=<model>:<n>`` for every job that carries a
``gpu_model`` resource, even one asking for no GPU (``--gpus=a100:0``), and sends a job to whatever
``slurm_partition`` it carries. So the workflow gives each job these resources itself, from the number
of GPUs that job asks for: the GPU partition and model only to jobs that get GPUs, the CPU partition to
all others (BM25 and heuristic-generation jobs of GPU-capable rules included).

The site's settings come from a site profile's ``default-resources`` (``slurm_account``,
``slurm_partition``, ``slurm_gpu_partition``, ``slurm_gpu_model``), layered under the workflow's own
profile (``--profile mysite --workflow-profile workflow/profiles/slurm``); where a site profile leaves
one unset, from the environment (``CAPFLOW_SLURM_ACCOUNT``, ``CAPFLOW_SLURM_PARTITION``,
``CAPFLOW_SLURM_GPU_PARTITION``, ``CAPFLOW_SLURM_GPU_MODEL``).
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

# setting -> (its name in a site profile's default-resources, its environment variable)
SITE_SOURCES = {
    "account": ("slurm_account", "CAPFLOW_SLURM_ACCOUNT"),
    "partition": ("slurm_partition", "CAPFLOW_SLURM_PARTITION"),
    "gpu_partition": ("slurm_gpu_partition", "CAPFLOW_SLURM_GPU_PARTITION"),
    "gpu_model": ("slurm_gpu_model", "CAPFLOW_SLURM_GPU_MODEL"),
}


def resource_text(expression: str) -> str:
    """A default-resources value as Snakemake reads a string one: a quoted literal or bare text."""
    expression = os.path.expanduser(os.path.expandvars(expression))
    try:
        value = ast.literal_eval(expression)
    except (ValueError, SyntaxError):
        return expression
    return "" if value is None else str(value)


@dataclass(frozen=True)
class SlurmSite:
    account: str = ""
    partition: str = ""  # CPU jobs; unset: the cluster's default partition
    gpu_partition: str = ""  # jobs that get GPUs; unset: `partition`
    gpu_model: str = ""  # --gpus=<model>:<n> for jobs that get GPUs; unset: any GPU

    @classmethod
    def resolve(cls, default_resources: Mapping[str, str], environ: Mapping[str, str]) -> SlurmSite:
        """The site profile's values (raw default-resources expressions), else the environment's."""
        values = {}
        for field in dataclasses.fields(cls):
            resource, variable = SITE_SOURCES[field.name]
            raw = default_resources.get(resource)
            values[field.name] = resource_text(str(raw)) if raw is not None else environ.get(variable, "")
        return cls(**values)

    def placement(self, gpus: int) -> dict[str, str | None]:
        """The Slurm resources of a job asking for ``gpus`` GPUs; None leaves one to the executor."""
        if gpus > 0:
            partition, model = self.gpu_partition or self.partition, self.gpu_model
        else:
            partition, model = self.partition, ""
        return {"slurm_account": self.account or None, "slurm_partition": partition or None,
                "gpu_model": model or None}
