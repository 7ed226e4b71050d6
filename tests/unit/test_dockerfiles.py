"""The Dockerfiles as text: what they copy exists and is not excluded by .dockerignore,
they run as a non-root user, the app binds 0.0.0.0 with usage stats off, and the
pipeline's Docker settings build the training image (the installed versions and
hadolint are tests/integration/test_docker.py)."""

from __future__ import annotations

import fnmatch
import shlex
from pathlib import Path

import pytest
import yaml
from dockerfiles import DOCKERFILES, REPO, instructions


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
