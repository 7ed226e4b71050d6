"""The CI and retraining workflows' files: their YAML, their `run:` blocks, and the
repository paths a workflow or script names (shared by the workflow tests)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True
    data["on"] = data.pop(True, data.get("on"))
    return data


def run_scripts(data: dict) -> list[str]:
    return [s["run"] for job in data["jobs"].values() for s in job["steps"] if "run" in s]


def referenced_paths(text: str) -> set[str]:
    pattern = (
        r"(?<![\w./-])((?:scripts|configs|docker|\.ci|docs)/[\w./-]+|data\.dvc|pyproject\.toml"
        r"|constraints\.txt)"
    )
    # `owner/action@version` names a GitHub action, not a file of the repository
    return {
        m.group(1).rstrip(".")
        for m in re.finditer(pattern, text)
        if not text.startswith("@", m.end())
    }
