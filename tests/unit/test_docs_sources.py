"""What the README and docs/ tell users to run exists and loads: every
`zenml pipeline run <source> -c <config>` names an importable pipeline and a config file
that ZenML accepts, whose parameters the pipeline takes; every `islr ...` command in a
code block is one the CLI knows (`--help` succeeds)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# placeholders in prose, not files in the tree
PLACEHOLDERS = {"CONFIG", "my_retrain.yaml"}

PIPELINE_RUN = re.compile(r"zenml pipeline run ([\w.]+) -c ([\w./-]+)")
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
CLI_LINE = re.compile(r"^\s*(?:\.venv/bin/)?islr ([a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)?)", re.M)


def _pipeline_runs() -> list[tuple[str, str, str]]:
    found = set()
    for doc in DOCS:
        for source, config in PIPELINE_RUN.findall(doc.read_text()):
            if config not in PLACEHOLDERS and source != "...":
                found.add((doc.name, source, config))
    return sorted(found)


def _cli_commands() -> list[tuple[str, str]]:
    found = set()
    for doc in DOCS:
        for block in FENCE.findall(doc.read_text()):
            for words in CLI_LINE.findall(block):
                found.add((doc.name, words))
    return sorted(found)


def test_the_docs_name_pipelines_and_commands():
    assert len(_pipeline_runs()) >= 6
    assert len(_cli_commands()) >= 10


@pytest.mark.parametrize(("doc", "source", "config"), _pipeline_runs())
def test_pipeline_sources_import_and_configs_validate(doc, source, config):
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.pipelines.pipeline_definition import Pipeline

    module, _, name = source.rpartition(".")
    pipeline = getattr(importlib.import_module(module), name, None)
    assert isinstance(pipeline, Pipeline), f"{doc}: {source} is not a ZenML pipeline"
    path = REPO / config
    assert path.is_file(), f"{doc}: {config} does not exist"
    run_config = yaml.safe_load(path.read_text())
    PipelineRunConfiguration.model_validate(run_config)
    accepted = set(inspect.signature(pipeline.entrypoint).parameters)
    unknown = set(run_config.get("parameters") or {}) - accepted
    assert not unknown, f"{doc}: {config} sets parameters {unknown} that {source} lacks"


@pytest.mark.parametrize(("doc", "words"), _cli_commands())
def test_cli_commands_exist(doc, words, capsys):
    from islr.cli import main

    with pytest.raises(SystemExit) as done:
        main([*words.split(), "--help"])
    assert done.value.code == 0, f"{doc}: `islr {words}` is not a command the CLI knows"
