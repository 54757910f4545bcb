"""The versions capflow is tested with, in one place: ``constraints.txt``, and the pip pins of the conda
envs (``workflow/envs/core.yaml``, ``environment.yml``) written from the same versions.

``python -m capflow.pins`` refreshes all three from the environment it runs in (the one the tests
passed in): the installed versions of everything ``capflow[core]`` and the Slurm executor plugin
need (and, in ``environment.yml``, ``capflow[mteb]``), found by walking the installed packages'
requirements. The README's installs and ``.ci/run``
pass ``-c constraints.txt``, so pip and conda install the same versions; ``tests/unit/test_envs.py``
holds the three files equal.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
# env file -> what it installs besides capflow's own requirements
ENVS = {"workflow/envs/core.yaml": ("capflow[core]",),
        "environment.yml": ("capflow[core]", "snakemake-executor-plugin-slurm", "capflow[mteb]")}
PIN_LINE = re.compile(r"^(\s*)- ([\w.-]+)==([\w.+-]+)\s*$")


def public(version: str) -> str:
    """A version without its local label (2.13.0+cpu -> 2.13.0): the envs install from PyPI."""
    return Version(version).public


def closure(roots: tuple[str, ...]) -> dict[str, str]:
    """Installed name -> version of everything ``roots`` need, ``capflow`` itself left out."""
    found: dict[str, str] = {}
    todo = [Requirement(root) for root in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sys.exit(f"capflow.pins: {name} is not installed here: install what the envs hold first")
        if name != "capflow":
            found[name] = public(dist.version)
        for text in dist.requires or []:
            needed = Requirement(text)
            extras = [""] + sorted(requirement.extras)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(needed)
    return dict(sorted(found.items()))


def rewrite_pins(path: Path, pins: dict[str, str]) -> None:
    """Replace the env file's ``name==version`` lines with ``pins``, keeping every other line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    indent = next(PIN_LINE.match(line).group(1) for line in lines if PIN_LINE.match(line))
    first = next(i for i, line in enumerate(lines) if PIN_LINE.match(line))
    kept = [line for line in lines if not PIN_LINE.match(line)]
    new = [f"{indent}- {name}=={version}" for name, version in pins.items()]
    path.write_text("\n".join(kept[:first] + new + kept[first:]) + "\n", encoding="utf-8")


def main() -> None:
    everything: dict[str, str] = {}
    for env, roots in ENVS.items():
        pins = closure(roots)
        rewrite_pins(REPO / env, pins)
        everything |= pins
    header = ["# The versions capflow is tested with: pip install -c constraints.txt ... installs these, as the",
              "# conda envs do. Refreshed by `python -m capflow.pins` in the environment the tests passed in."]
    CONSTRAINTS.write_text("\n".join(header + [f"{n}=={v}" for n, v in sorted(everything.items())]) + "\n",
                           encoding="utf-8")
    print(f"capflow.pins: {len(everything)} versions written to {CONSTRAINTS.name} and {', '.join(ENVS)}")


if __name__ == "__main__":
    main()
