"""The ZenML data pipeline end to end on generated and real data (a real local store)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from islr.data.lineage import fingerprint


def run_pipeline(config_path):
    from pipelines.data import data_pipeline

    return data_pipeline.with_options(config_path=str(config_path))()


def write_config(tmp_path, data_dir, **split):
    config = yaml.safe_load(Path("configs/data.yaml").read_text())
    config["parameters"]["job"] = {
        "data_dir": str(data_dir),
        "output_root": str(tmp_path / "outputs"),
        "split": split,
        "tfrecords": {"workers": 1},
        "ingest_workers": 1,
    }
    path = tmp_path / f"data-{len(list(tmp_path.glob('data-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def output(run, step, name):
    return run.steps[step].outputs[name][0]


@pytest.mark.slow
def test_pipeline_on_generated_data(zenml_stack, synth_dir, tmp_path, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    data = tmp_path / "data"
    shutil.copytree(synth_dir, data)
    run = run_pipeline(write_config(tmp_path, data, n_folds=3))
    assert run.status == "completed"

    md5 = fingerprint(data).md5
    manifest = output(run, "split_folds", "fold_manifest").load()
    tfrecords = output(run, "write_tfrecord_shards", "tfrecords").load()
    report = output(run, "validate_data", "validation_report").load()
    assert report.passed and report.n_valid == len(manifest) == tfrecords.n_records
    # grouped by participant: no signer in two of train/val/test
    assert manifest.groupby("participant_id")["split"].nunique().eq(1).all()
    assert set(tfrecords.counts) == {"train", "val", "test"}
    assert all(
        p.startswith(zenml_stack.active_stack.artifact_store.path) for p in tfrecords.paths("train")
    )
    # lineage: the data md5 travels as artifact metadata
    for step, name in [
        ("ingest_data", "recordings"),
        ("split_folds", "fold_manifest"),
        ("write_tfrecord_shards", "tfrecords"),
        ("validate_data", "validation_report"),
    ]:
        assert output(run, step, name).run_metadata["data_md5"] == md5
    assert (tmp_path / "outputs" / str(run.id) / "validation" / "validation_report.html").exists()

    # unchanged data: every step after the fingerprint is cached
    again = run_pipeline(write_config(tmp_path, data, n_folds=3))
    statuses = {name: str(s.status) for name, s in again.steps.items()}
    assert statuses["ingest_data"].endswith("cached")
    assert statuses["write_tfrecord_shards"].endswith("cached")

    # changed data (one recording removed from train.csv): everything re-runs
    csv = pd.read_csv(data / "train.csv")
    csv.iloc[1:].to_csv(data / "train.csv", index=False)
    changed = run_pipeline(write_config(tmp_path, data, n_folds=3))
    assert str(changed.steps["ingest_data"].status).endswith("completed")
    assert (
        output(changed, "write_tfrecord_shards", "tfrecords").load().n_records == len(manifest) - 1
    )


@pytest.mark.slow
def test_pipeline_on_real_recordings(zenml_stack, real_data_dir, tmp_path, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    run = run_pipeline(write_config(tmp_path, real_data_dir, mode="random", n_folds=2))
    tfrecords = output(run, "write_tfrecord_shards", "tfrecords").load()
    assert tfrecords.n_records == 9


@pytest.mark.slow
def test_gate_failure_stops_the_pipeline(
    zenml_stack, real_data_copy, tmp_path, monkeypatch, repo_root
):
    monkeypatch.chdir(repo_root)
    victim = "train_landmark_files/2044/3902070209.parquet"
    (real_data_copy / victim).write_bytes(b"not parquet")
    with pytest.raises(RuntimeError, match="validate_data"):
        run_pipeline(write_config(tmp_path, real_data_copy, mode="random", n_folds=2))
    reports = list((tmp_path / "outputs").glob("*/validation/validation_report.json"))
    assert len(reports) == 1 and victim in reports[0].read_text()


def failed_step_message(pipeline_name: str) -> tuple[str, str]:
    """(name, exception message) of the failed step of the pipeline's last run."""
    from zenml.client import Client

    run = Client().get_pipeline(pipeline_name).last_run
    failed = [(n, s) for n, s in run.steps.items() if str(s.status).endswith("failed")]
    assert len(failed) == 1, run.steps
    name, step = failed[0]
    return name, step.exception_info.message


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, step, expected",
    [
        ("sign map with two signs sharing an index", "ingest_data", ["share index 0"]),
        (
            "same file listed twice",
            "validate_data",
            ["each file is listed once in train.csv", "also listed on line"],
        ),
    ],
)
def test_bad_input_fails_the_step_with_the_same_message(
    case, step, expected, zenml_stack, real_data_copy, tmp_path, monkeypatch, repo_root
):
    import json

    from islr.data.format import SIGN_MAP_NAME

    monkeypatch.chdir(repo_root)
    if "sign map" in case:
        mapping = json.loads((real_data_copy / SIGN_MAP_NAME).read_text())
        mapping["hello"] = 0
        (real_data_copy / SIGN_MAP_NAME).write_text(json.dumps(mapping))
        named = SIGN_MAP_NAME
    else:
        csv = pd.read_csv(real_data_copy / "train.csv", dtype=str)
        extra = csv.iloc[[0]].assign(participant_id="4718", sequence_id="123")
        pd.concat([csv, extra]).to_csv(real_data_copy / "train.csv", index=False)
        named = csv["path"].iloc[0]
    with pytest.raises(RuntimeError, match=step):
        run_pipeline(write_config(tmp_path, real_data_copy, mode="random", n_folds=2))
    name, message = failed_step_message("data_pipeline")
    assert name == step and named in message and all(e in message for e in expected)
    assert "\n" not in message.strip()
