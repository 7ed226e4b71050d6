"""Train one run of the seven, tracked as its own (nested) MLflow run."""

import tempfile
from pathlib import Path
from typing import Annotated

import keras
import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf
from zenml import get_step_context, step

from islr.data.lineage import DataFingerprint
from islr.data.split import manifest_hash
from islr.data.tfrecord import TFRecordSet
from islr.training.config import RunConfig
from islr.training.tracking import (
    MlflowEpochLogger,
    config_hash,
    curves_figure,
    flatten,
    git_commit,
    model_signature,
)
from islr.training.trainer import TrainResult, train_run
from steps.keras_materializer import KerasModelMaterializer


@step(
    experiment_tracker=True,
    settings={"experiment_tracker": {"nested": True}},
    output_materializers={"model": KerasModelMaterializer},
)
def train_model(
    tfrecords: TFRecordSet,
    fold_manifest: pd.DataFrame,
    data_fingerprint: DataFingerprint,
    config: RunConfig,
    scale: str = "quickstart",
    out_root: str = "outputs/runs",
    fold: int | None = None,
) -> tuple[Annotated[keras.Model, "model"], Annotated[TrainResult, "train_result"]]:
    """`config` is the run's resolved configuration (a parameter, so any change to a run
    or scale file re-runs the step instead of reusing a cached model); `fold`: the fold
    it is evaluated on (cross-validation; None: the split's own evaluation fold)."""
    tfrecords = tfrecords.for_fold(fold)
    lineage = start_tracking(config, scale, data_fingerprint, fold_manifest, tfrecords.eval_fold)
    # Named by what the training depends on, not by the pipeline run: a pipeline killed
    # mid-training and launched again finds the run's last finished epoch here and
    # resumes from it (BackupAndRestore) instead of starting over.
    key = config_hash(
        [lineage["config_hash"], lineage["data_md5"], lineage["fold_manifest_hash"], fold]
    )
    suffix = "" if fold is None else f"-fold{fold}"
    out_dir = Path(out_root) / f"{config.name}{suffix}-{key[:12]}"
    result = train_run(config, tfrecords, out_dir, callbacks=[MlflowEpochLogger()])
    model = keras.saving.load_model(result.model_path, safe_mode=True)
    finish_tracking(model, result, config, lineage)
    return model, result


def start_tracking(
    config: RunConfig,
    scale: str,
    data_fingerprint: DataFingerprint,
    fold_manifest: pd.DataFrame,
    fold: int | None = None,
) -> dict[str, str]:
    """Tag the active MLflow run with the run's lineage and log its parameters; shared
    by local and cluster training so both runs look the same in MLflow."""
    dump = config.model_dump(mode="json")
    lineage = {
        "run": config.name,
        "architecture": config.model.architecture,
        "scale": scale,
        "data_md5": data_fingerprint.md5,
        "git_commit": git_commit(),
        "fold_manifest_hash": manifest_hash(fold_manifest),
        "config_hash": config_hash(dump),
    }
    if fold is not None and fold >= 0:
        lineage["fold"] = str(fold)
    mlflow.set_tags(lineage)
    mlflow.log_params(flatten(dump))
    return lineage


def finish_tracking(
    model: keras.Model, result: TrainResult, config: RunConfig, lineage: dict[str, str]
) -> None:
    """Log the result's metrics, curves and the model to the active MLflow run, and the
    lineage as the `model` output's metadata."""
    mlflow.log_metrics(
        {
            "best_epoch": result.best_epoch + 1,
            "parameters": result.parameters,
            "diverged": float(result.diverged),
        }
    )
    mlflow.log_figure(curves_figure(result.history, config.name), "training_curves.png")
    example = np.random.default_rng(0).random((1, 8, 543, 3)).astype("float32")
    # explicit requirements: inferring them re-imports the model in a subprocess (~7 s)
    tf_dist = "tensorflow" if tf.config.list_physical_devices("GPU") else "tensorflow-cpu"
    mlflow.keras.log_model(
        model,
        name="model",
        signature=model_signature(),
        pip_requirements=[
            *mlflow.keras.get_default_pip_requirements(),
            f"{tf_dist}=={tf.__version__}",
        ],
    )
    # MLflow 3.17 cannot write a 4-D input example for the keras flavour (it fails on
    # input_example.json), so the example travels beside the model as .npy.
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "input_example.npy", example)
        mlflow.log_artifact(str(Path(tmp) / "input_example.npy"), artifact_path="model")
    get_step_context().add_output_metadata(lineage, "model")
    result.mlflow_run_id = mlflow.active_run().info.run_id
