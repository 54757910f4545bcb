"""The conda envs pin every package to one version, satisfy pyproject.toml's requirements and install
capflow from this repository."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# env file -> (the extras of capflow it installs, how it names the repository)
ENVS = {
    "workflow/envs/core.yaml": (("core",), "-e ../..[core]"),
    "environment.yml": (("core", "slurm", "mteb"), "-e .[core,slurm,mteb]"),
    "workflow/envs/vllm.yaml": (("vllm",), "-e ../..[vllm]"),
}


def read_env(path: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(conda packages, pip pins, other pip lines) of an env file; each pin as name -> version."""
    deps = yaml.safe_load((REPO / path).read_text())["dependencies"]
    conda = dict(re.fullmatch(r"([\w.-]+)=?(.*)", dep).groups() for dep in deps if isinstance(dep, str))
    pins, other = {}, []
    for line in next(dep["pip"] for dep in deps if isinstance(dep, dict)):
        match = re.fullmatch(r"([\w.-]+)==([\w.+-]+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
        else:
            other.append(line)
    return conda, pins, other


def requirements(extras) -> list[Requirement]:
    found = [Requirement(text) for text in PYPROJECT["dependencies"]]
    return found + [Requirement(text) for extra in extras for text in PYPROJECT["optional-dependencies"][extra]]


@pytest.mark.parametrize("path", ENVS)
def test_env_installs_capflow_from_the_repository_with_exact_pins(path):
    extras, install = ENVS[path]
    conda, pins, other = read_env(path)
    assert other == [install]
    target = install.split()[1].split("[")[0]
    # conda reads pip paths relative to the env file
    assert ((REPO / path).parent / target).resolve() == REPO
    assert set(conda) == {"python", "pip"} and all(re.fullmatch(r"\d+(\.\d+)+", v) for v in conda.values())
    assert SpecifierSet(PYPROJECT["requires-python"]).contains(conda["python"])


@pytest.mark.parametrize("path", ["workflow/envs/core.yaml", "environment.yml"])
def test_pins_satisfy_every_requirement_of_capflow(path):
    extras, _ = ENVS[path]
    _, pins, _ = read_env(path)
    for requirement in requirements(extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{path} pins no version of {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{path}: {name}=={pins[name]} " \
            f"does not satisfy {requirement}"


def test_envs_pin_the_same_versions():
    _, core, _ = read_env("workflow/envs/core.yaml")
    _, login, _ = read_env("environment.yml")
    assert {name: login[name] for name in core} == core
    # the login env adds the Slurm executor plugin, and mteb with what it needs beyond capflow[core]
    assert set(login) - set(core) == {"snakemake-executor-plugin-slurm", "snakemake-executor-plugin-slurm-jobstep",
                                      "mteb", "polars", "polars-runtime-32", "pytrec-eval-terrier"}


def test_constraints_hold_the_envs_versions_and_every_install_uses_them():
    _, login, _ = read_env("environment.yml")
    constraints = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            constraints[canonicalize_name(name)] = version
    assert constraints == login
    readme = (REPO / "README.md").read_text()
    installs = re.findall(r"pip install -c constraints\.txt -e \"\.\[(\w+)\]\"", readme)
    assert installs == ["core", "dev"]
    assert 'pip install -c constraints.txt -e ".[dev]"' in (REPO / ".ci" / "run").read_text()


def test_vllm_env_pins_a_vllm_that_capflow_accepts():
    _, pins, _ = read_env("workflow/envs/vllm.yaml")
    (vllm,) = [r for r in requirements(("vllm",)) if r.name == "vllm"]
    assert vllm.specifier.contains(pins["vllm"])
