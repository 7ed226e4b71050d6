"""The typed job (islr.job.JobConfig): unknown keys are errors naming the field, an empty
file gives the defaults, every job file of configs/ loads, the runs are found in the
study's order, and no config file repeats a default (the defaults live in one place)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from islr.data.split import SplitConfig
from islr.errors import ConfigError
from islr.job import STUDY_ORDER, JobConfig, discover_runs, load_job, repeated_defaults

REPO = Path(__file__).resolve().parents[2]


def _job_files() -> list[Path]:
    """The configs/*.yaml files that hold a job (`parameters: job:`)."""
    found = []
    for path in sorted((REPO / "configs").glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        if "job" in (data.get("parameters") or {}):
            found.append(path)
    return found


def test_every_pipeline_config_is_a_job_file():
    names = {p.name for p in _job_files()}
    assert {
        "quickstart.yaml",
        "cv_quickstart.yaml",
        "retrain.yaml",
        "training_quickstart.yaml",
        "data.yaml",
        "data_full.yaml",
        "data_sample.yaml",
    } <= names


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("parameters: {job: {data_dirr: data}}\n", "job.data_dirr"),
        ("parameters: {job: {split: {n_fold: 3}}}\n", "job.split.n_fold"),
        ("parameters: {job: {registry: {metrc: val_accuracy}}}\n", "job.registry.metrc"),
        ("parameters: {job: {export: {gate: {max_size: 3}}}}\n", "job.export.gate.max_size"),
        ("parameters: {job: {report: {ensembl: false}}}\n", "job.report.ensembl"),
        ("parameters: {job: {training: {backend: slurm}}}\n", "job.training.backend"),
    ],
)
def test_unknown_keys_and_values_name_the_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"bad\.yaml(?s:.*){re.escape(field)}"):
        load_job(path)


def test_an_empty_file_gives_the_defaults(tmp_path):
    for text in ("", "parameters:\n", "parameters: {job: {}}\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        job = load_job(path)
        assert job == JobConfig()
    assert job.data_dir == "data" and job.scale == "quickstart" and job.runs is None
    assert job.split == SplitConfig() and job.folds is None
    assert job.registry.publish_champion == "export/model.tflite"


@pytest.mark.parametrize("path", _job_files(), ids=lambda p: p.name)
def test_every_job_file_loads_and_names_existing_runs(path):
    job = load_job(path)
    names = job.run_names()
    assert names
    for name in names:
        assert job.run_config(name).name == name


def test_the_quickstart_is_the_defaults_but_for_its_export_variants():
    job = load_job(REPO / "configs/quickstart.yaml")
    assert job.model_dump(exclude={"export"}) == JobConfig().model_dump(exclude={"export"})
    assert job.export.variants == ["float32"]
    assert job.run_names() == list(STUDY_ORDER)


def test_runs_are_discovered_in_the_study_order_then_alphabetically(tmp_path):
    for name in ["zeta", *reversed(STUDY_ORDER), "alpha"]:
        (tmp_path / f"{name}.yaml").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("not a run\n")
    assert discover_runs(tmp_path) == [*STUDY_ORDER, "alpha", "zeta"]
    assert discover_runs(REPO / "configs/runs") == list(STUDY_ORDER)
    job = JobConfig(runs_dir=str(tmp_path))
    assert job.run_names() == [*STUDY_ORDER, "alpha", "zeta"]
    assert JobConfig(runs_dir=str(tmp_path), runs=["zeta", "cnn"]).run_names() == ["zeta", "cnn"]
    with pytest.raises(ConfigError, match="no run files"):
        discover_runs(tmp_path / "missing")


def test_repeated_defaults_finds_a_default_value():
    assert repeated_defaults({"data_dir": "data", "split": {"n_folds": 4, "seed": 7}}) == [
        "job.data_dir",
        "job.split.n_folds",
    ]
    assert repeated_defaults({"data_dir": "/data/asl-signs", "export": {"n_real": 3}}) == []


@pytest.mark.parametrize("path", _job_files(), ids=lambda p: p.name)
def test_no_config_file_repeats_a_default(path):
    """The defaults live in the config classes only: a job file holds what differs."""
    job = (yaml.safe_load(path.read_text())["parameters"] or {}).get("job") or {}
    assert repeated_defaults(job) == [], f"{path.name} repeats defaults; leave them out"
    steps = yaml.safe_load(path.read_text()).get("steps") or {}
    for step, block in steps.items():
        assert "parameters" not in block, f"{path.name}: {step} sets parameters the job holds"
