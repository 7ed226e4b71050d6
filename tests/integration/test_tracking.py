"""MLflow tracking of a training run on a real local MLflow store: the shared logging
functions (`islr.training.tracking`) that the ZenML train and TFJob steps call, and
`islr train --mlflow`, which calls the same ones."""

from __future__ import annotations

import json
import os
import re

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, mlflow_store, run_cli

from islr.cli import main as islr_main
from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds, manifest_hash
from islr.data.tfrecord import write_tfrecords
from islr.data.validate import ValidationConfig, validate_recordings
from islr.models.zoo import build_model
from islr.training.commands import train_command
from islr.training.config import load_run_config
from islr.training.tracking import (
    config_hash,
    flatten,
    log_history,
    log_run_start,
    log_training_run,
    training_lineage,
)
from islr.training.trainer import TrainResult

RUN_FILE = REPO / "configs/runs/cnn.yaml"
# the keys the pipeline's steps tag every training run with (registry and evaluation read them)
STEP_LINEAGE_KEYS = [
    "run",
    "architecture",
    "scale",
    "data_md5",
    "git_commit",
    "fold_manifest_hash",
    "config_hash",
    "fold",
]


@pytest.fixture(scope="module")
def tiny(synth_dir, tmp_path_factory):
    """A generated TFRecord set with its fold manifest (as `islr data tfrecords` writes
    it), and a scale that trains `cnn` in a couple of seconds: dim 16, two epochs."""
    root = tmp_path_factory.mktemp("tracking")
    recordings = ingest(synth_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(synth_dir), str(synth_dir)
    )
    manifest = assign_folds(valid, SplitConfig(n_folds=3, seed=0))
    record_set = write_tfrecords(
        manifest, synth_dir, root / "tfrecords", progress=False, write_manifest=True
    )
    scale = yaml.safe_load((REPO / "configs/scales/quickstart.yaml").read_text())
    scale["model"].update({"dim": 16, "max_len": 32})
    scale["train"].update({"epochs": 2, "batch_per_replica": 16})
    scale_file = root / "tiny.yaml"
    scale_file.write_text(yaml.safe_dump(scale))
    return {"set": record_set, "manifest": manifest, "scale": scale_file}


def _expected_params(config) -> dict[str, str]:
    return {k: str(v) for k, v in flatten(config.model_dump(mode="json")).items()}


def test_shared_logging_functions_on_a_hand_built_history(tmp_path):
    """What both training steps log, through the functions they call: lineage tags under
    the steps' key names, the config as parameters, 120 epochs x 10 metrics of history
    at steps 1..120 (more than one MLflow batch holds), the summary metrics, the curves
    and a model that loads and predicts as the one given."""
    config = load_run_config(RUN_FILE, REPO / "configs/scales/quickstart.yaml")
    config.model.dim = 16
    model = build_model(config.model)
    manifest = pd.DataFrame(
        {"sequence_id": [3, 1, 2], "fold": [0, 1, 1], "split": ["train", "val", "test"]}
    )
    lineage = training_lineage(config, "quickstart", "abc123.dir", manifest, fold=1)
    assert list(lineage) == STEP_LINEAGE_KEYS
    assert lineage["run"] == "cnn" and lineage["architecture"] == "cnn"
    assert lineage["fold_manifest_hash"] == manifest_hash(manifest) and lineage["fold"] == "1"
    assert lineage["config_hash"] == config_hash(config.model_dump(mode="json"))
    # no fold evaluated (-1), and nothing the caller does not know
    assert "fold" not in training_lineage(config, fold=-1)
    assert set(training_lineage(config)) == {"run", "architecture", "git_commit", "config_hash"}

    rng = np.random.default_rng(1)
    keys = ["loss", "accuracy", "top5", "learning_rate", "weight_decay"]
    history = {
        key: [float(v) for v in rng.random(120)] for key in [*keys, *(f"val_{k}" for k in keys)]
    }
    result = TrainResult(
        name=config.name,
        model_path=None,
        history=history,
        best_epoch=41,
        diverged=True,
        parameters=model.count_params(),
        global_batch=32,
        replicas=1,
        precision="float32",
    )
    with mlflow_store(tmp_path):
        with mlflow.start_run() as run:
            log_run_start(config, lineage)
            log_history(result.history)
            run_id = log_training_run(result, config, model)
        assert run_id == run.info.run_id == result.mlflow_run_id

        client = mlflow.MlflowClient()
        logged = client.get_run(run_id).data
        assert {k: logged.tags[k] for k in lineage} == lineage
        assert logged.params == _expected_params(config) and logged.params["model.dim"] == "16"
        assert logged.metrics["best_epoch"] == 42 and logged.metrics["diverged"] == 1.0
        assert logged.metrics["parameters"] == model.count_params()
        for key, values in history.items():
            steps = client.get_metric_history(run_id, key)
            assert [m.step for m in steps] == list(range(1, 121)), key
            assert [m.value for m in steps] == values, key
        assert {"training_curves.png", "model"} <= {a.path for a in client.list_artifacts(run_id)}
        assert "model/input_example.npy" in {a.path for a in client.list_artifacts(run_id, "model")}
        loaded = mlflow.keras.load_model(f"runs:/{run_id}/model")
    frames = rng.random((2, 12, 543, 3)).astype("float32")
    np.testing.assert_array_equal(
        loaded.predict(frames, verbose=0), model.predict(frames, verbose=0)
    )


def test_islr_train_mlflow_logs_one_run_like_the_steps(tiny, tmp_path):
    """`islr train --mlflow`, as a user runs it, with MLFLOW_TRACKING_URI naming a fresh
    SQLite store: one run in the `--experiment`, the run config as parameters, one
    `val_loss` per epoch equal to the returned history, lineage tags from what the
    command line knows, and a model that predicts the saved `.keras` file's logits."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = tmp_path / "out"
    done = run_cli(
        "-m",
        "islr.cli",
        "train",
        "--run",
        str(RUN_FILE),
        "--scale",
        str(tiny["scale"]),
        "--tfrecords",
        tiny["set"].directory,
        "--out",
        str(out),
        "--keras-verbose",
        "0",
        "--mlflow",
        "--experiment",
        "islr-cli",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    result = TrainResult.model_validate_json((out / "train_result.json").read_text())
    assert summary["mlflow_run_id"] == result.mlflow_run_id

    with mlflow_store(tmp_path):
        client = mlflow.MlflowClient()
        experiment = client.get_experiment_by_name("islr-cli")
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.run_id == result.mlflow_run_id and run.info.status == "FINISHED"
        assert run.info.run_name == "cnn"
        config = load_run_config(RUN_FILE, tiny["scale"])
        assert run.data.params == _expected_params(config) and run.data.params["model.dim"] == "16"

        val_loss = client.get_metric_history(run.info.run_id, "val_loss")
        assert [m.step for m in val_loss] == [1, 2]
        assert [m.value for m in val_loss] == result.history["val_loss"]
        for key in ("loss", "accuracy", "learning_rate"):
            assert [m.value for m in client.get_metric_history(run.info.run_id, key)] == (
                result.history[key]
            )
        assert run.data.metrics["best_epoch"] == result.best_epoch + 1
        assert run.data.metrics["parameters"] == result.parameters

        tags = run.data.tags
        assert tags["run"] == "cnn" and tags["architecture"] == "cnn" and tags["scale"] == "tiny"
        assert tags["config_hash"] == config_hash(config.model_dump(mode="json"))
        assert tags["fold_manifest_hash"] == manifest_hash(tiny["manifest"])
        assert tags["fold"] == str(tiny["set"].eval_fold)
        assert re.fullmatch("[0-9a-f]{40}", tags["git_commit"])
        assert tags["tfrecords"] == tiny["set"].directory
        assert tags["model_uri"] == result.model_path == f"{out}/model.keras"
        assert "data_md5" not in tags  # the command line does not know the raw data

        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"training_curves.png", "model"} <= artifacts
        logged = mlflow.keras.load_model(f"runs:/{run.info.run_id}/model")
        saved = keras.saving.load_model(result.model_path, safe_mode=True)
        frames = np.random.default_rng(0).random((3, 20, 543, 3)).astype("float32")
        np.testing.assert_array_equal(
            logged.predict(frames, verbose=0), saved.predict(frames, verbose=0)
        )


def test_islr_train_without_mlflow_logs_nothing(tiny, tmp_path, monkeypatch, capsys):
    """Off by default: with a tracking store configured (the environment and this
    process), a plain `islr train` never opens it."""
    store = tmp_path / "store"
    uri = f"sqlite:///{store}/mlflow.db"
    store.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    try:
        code = islr_main(
            [
                "train",
                "--run",
                str(RUN_FILE),
                "--scale",
                str(tiny["scale"]),
                "--tfrecords",
                tiny["set"].directory,
                "--out",
                str(tmp_path / "out"),
                "--epochs",
                "1",
                "--keras-verbose",
                "0",
            ]
        )
    finally:
        mlflow.set_tracking_uri(None)
    assert code == 0
    assert "mlflow_run_id" not in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = TrainResult.model_validate_json((tmp_path / "out/train_result.json").read_text())
    assert result.mlflow_run_id is None and len(result.history["val_loss"]) == 1
    assert os.listdir(store) == []  # the store was never created


def test_mlflow_options_need_mlflow_and_reach_each_child(tmp_path, capsys):
    for flags in (["--experiment", "x"], ["--mlflow-uri", "sqlite:///x.db"]):
        code = islr_main(
            ["train", "--run", str(RUN_FILE), "--tfrecords", "t", "--out", "o", *flags]
        )
        assert code == 2
        assert f"{flags[0]} say where --mlflow logs" in capsys.readouterr().err
    # `islr train --runs ... --mlflow`: every child run is tracked, in the same store
    command = train_command(
        RUN_FILE, "t", "o", mlflow=True, mlflow_uri="sqlite:///m.db", experiment="e"
    )
    assert command[command.index("--mlflow") :][:5] == [
        "--mlflow",
        "--mlflow-uri",
        "sqlite:///m.db",
        "--experiment",
        "e",
    ]
    assert "--mlflow" not in train_command(RUN_FILE, "t", "o")
