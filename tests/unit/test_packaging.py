"""Packaging: pyproject.toml holds compatible ranges, constraints.txt the exact tested
versions (each inside its range), only the islr library is packaged (steps/ and
pipelines/ are imported from the repository root), and every script that installs the
project installs with `-c constraints.txt`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from setuptools import find_packages

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
GROUPS = {"dependencies": PROJECT["dependencies"], **PROJECT["optional-dependencies"]}


def constraints() -> dict[str, str]:
    """constraints.txt: canonical name -> version; every line is `name==version`."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._\-]*)==([0-9][A-Za-z0-9.]*)", line)
        assert match, f"constraints.txt: {line!r} is not name==version"  # pip -c: no extras
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt: {name} twice"
        pins[name] = match.group(2)
    return pins


def install_commands(text: str) -> list[str]:
    """Each `pip install` command in a shell script, Dockerfile or workflow, with its
    continuation lines joined and split at `&&`."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        if line.lstrip().startswith("#"):
            continue
        commands += [c.strip() for c in line.split("&&") if re.search(r"\bpip install\b", c)]
    return commands


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_pyproject_holds_ranges_not_pins(group):
    for line in GROUPS[group]:
        requirement = Requirement(line)
        operators = {spec.operator for spec in requirement.specifier}
        assert not operators & {"==", "==="}, f"{group}: {line} is a pin (constraints.txt)"
        # a floor that includes the tested version and a ceiling at a compatible release
        assert ">=" in operators and "<" in operators, f"{group}: {line} is not a range"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_constraints_pin_every_requirement_inside_its_range(group):
    pins = constraints()
    for line in GROUPS[group]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{group}: constraints.txt pins no {name}"
        assert requirement.specifier.contains(pins[name]), f"{group}: {line} vs {pins[name]}"


def test_constraints_are_exact_and_installable():
    pins = constraints()
    assert "islr" not in pins  # the project itself is never a constraint
    for name, version in pins.items():
        assert Version(version).local is None, f"{name}=={version}: a local build label"
    # one file for both extras: the CPU and the GPU TensorFlow of the same release
    assert pins["tensorflow"] == pins["tensorflow-cpu"]
    header = (REPO / "constraints.txt").read_text().split("\n", 5)[:5]
    assert any("scripts/constraints.sh" in line for line in header)
    assert (REPO / "scripts" / "constraints.sh").is_file()


def test_the_user_facing_extras_stay():
    assert {"cpu", "gpu", "dashboard", "dev"} <= set(PROJECT["optional-dependencies"])


def test_only_the_islr_library_is_packaged():
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["islr*"]
    packages = find_packages(where=str(REPO), include=find["include"])
    assert "islr" in packages
    assert all(p == "islr" or p.startswith("islr.") for p in packages), packages
    # steps/ and pipelines/ are project folders, importable from the repository root
    for folder in ("steps", "pipelines"):
        assert (REPO / folder / "__init__.py").is_file()
    assert "." in PYPROJECT["tool"]["pytest"]["ini_options"]["pythonpath"]


def test_bootstrap_installs_with_constraints_and_reinstalls_when_they_change():
    text = (REPO / "scripts" / "bootstrap.sh").read_text()
    (install,) = install_commands(text)
    assert "-c constraints.txt" in install and re.search(r"\s-e\s", install), install
    assert re.search(r"\[ constraints\.txt -nt \"\$stamp\" \]", text), "no reinstall on change"


@pytest.mark.parametrize(
    "path",
    [
        "docker/train.Dockerfile",
        "docker/app.Dockerfile",
        "scripts/stack_cluster.sh",
        ".github/workflows/ci.yml",
        ".github/workflows/retrain.yml",
    ],
)
def test_installs_take_the_constraints(path):
    text = (REPO / path).read_text()
    commands = install_commands(text)
    assert commands, f"{path}: no pip install"
    for command in commands:
        if "--no-deps" in command:
            continue  # the project itself, its dependencies already installed
        assert "-c constraints.txt" in command, f"{path}: {command}"
        assert not re.search(r"==[0-9]", command), f"{path}: a version written out: {command}"
    if path.startswith("docker/"):
        assert re.search(r"^COPY .*\bconstraints\.txt\b", text, re.M), f"{path} lacks the file"
        assert "pip install --no-cache-dir --no-deps ." in text
