"""MLflow tracking of a training run: parameters, per-epoch curves, lineage tags, plots.

One API for every caller that trains (the ZenML train and TFJob steps, `islr train
--mlflow`), each logging into the MLflow run it has made active, so every training run
looks the same in MLflow:

- `training_lineage` builds the lineage tags, `log_run_start` sets them and logs the
  flattened config as parameters (when training starts);
- `MlflowEpochLogger` logs each epoch's metrics as it ends, or `log_history` logs a
  finished history at once (training that ran elsewhere, e.g. a TFJob);
- `log_training_run` logs the result: summary metrics, the curve plot, the model with
  its signature and requirements, and the input example.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import mlflow
import numpy as np
from mlflow.entities import Metric
from mlflow.models import ModelSignature
from mlflow.types.schema import Schema, TensorSpec

from islr.data.format import N_CLASSES, ROWS_PER_FRAME

if TYPE_CHECKING:
    import pandas as pd

    from islr.training.config import RunConfig
    from islr.training.trainer import TrainResult

# Artifact names inside a training run.
CURVES_ARTIFACT = "training_curves.png"
MODEL_ARTIFACT = "model"
INPUT_EXAMPLE_FILE = "input_example.npy"


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """Nested config -> {"model.dim": 192, ...} for MLflow params."""
    out: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple) and len(value) > 10:
            out[name] = f"{len(value)} items, sha {config_hash(list(value))}"
        else:
            out[name] = value
    return out


def model_signature() -> ModelSignature:
    """The MLflow signature of every model: raw frames (batch, T, 543, 3) of any length T
    in, 250 scores out. Inferred from an example, T would be pinned to the example's
    length and `mlflow.pyfunc` would refuse every recording of another length."""
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("float32"), (-1, -1, ROWS_PER_FRAME, 3))]),
        outputs=Schema([TensorSpec(np.dtype("float32"), (-1, N_CLASSES))]),
    )


def config_hash(config) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def git_commit(repo: str | Path = ".") -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


class MlflowEpochLogger(keras.callbacks.Callback):
    """Logs every epoch's metrics (loss, accuracy, top-5, learning rate, weight decay,
    and their validation counterparts) to the active MLflow run."""

    def on_epoch_end(self, epoch, logs=None):
        if logs:
            mlflow.log_metrics({k: float(v) for k, v in logs.items()}, step=epoch + 1)


def curves_figure(history: dict[str, list[float]], title: str = ""):
    """Training curves: loss, accuracy and top-5 (train and validation), learning rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("loss", "loss"),
        ("accuracy", "accuracy"),
        ("top5", "top-5"),
        ("learning_rate", "learning rate"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 3.5))
    for ax, (key, label) in zip(axes, panels, strict=True):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + key)
            if values:
                epochs = range(1, len(values) + 1)
                ax.plot(epochs, values, style, label=("val " if prefix else "train ") + label)
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _close(figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


def training_lineage(
    config: RunConfig,
    scale: str | None = None,
    data_md5: str | None = None,
    fold_manifest: pd.DataFrame | None = None,
    fold: int | None = None,
    **extra: str,
) -> dict[str, str]:
    """The lineage tags of a training run: run name, architecture, git commit and config
    hash always; the scale, data md5, fold manifest hash and evaluated fold when the
    caller knows them (a fold < 0, "none evaluated", is left out); `extra` tags last."""
    from islr.data.split import manifest_hash

    lineage = {"run": config.name, "architecture": config.model.architecture}
    if scale is not None:
        lineage["scale"] = scale
    if data_md5 is not None:
        lineage["data_md5"] = data_md5
    lineage["git_commit"] = git_commit()
    if fold_manifest is not None:
        lineage["fold_manifest_hash"] = manifest_hash(fold_manifest)
    lineage["config_hash"] = config_hash(config.model_dump(mode="json"))
    if fold is not None and fold >= 0:
        lineage["fold"] = str(fold)
    lineage.update(extra)
    return lineage


def log_run_start(config: RunConfig, lineage: dict[str, str]) -> None:
    """Tag the active MLflow run with `lineage` and log the run's config, flattened
    (`model.dim`, `train.epochs`, ...), as its parameters."""
    mlflow.set_tags(lineage)
    mlflow.log_params(flatten(config.model_dump(mode="json")))


def log_history(history: dict[str, list[float]], run_id: str | None = None) -> None:
    """Log a finished training history ({metric: one value per epoch}) to `run_id` (the
    active run by default), epoch k at step k as `MlflowEpochLogger` logs it live: in
    batched calls rather than one request per epoch and metric."""
    run_id = run_id or mlflow.active_run().info.run_id
    now = int(time.time() * 1000)
    mlflow.MlflowClient().log_batch(
        run_id,
        metrics=[
            Metric(key, float(value), now, epoch)
            for key, values in history.items()
            for epoch, value in enumerate(values, start=1)
        ],
    )


def log_training_run(
    result: TrainResult, config: RunConfig, model: keras.Model | None = None
) -> str:
    """Log a finished run to the active MLflow run: best epoch (1-based), parameter count
    and divergence as metrics, the training curves, and the model (`model`, else the one
    at `result.model_path`) with its signature, pip requirements and an input example.
    Sets `result.mlflow_run_id` and returns it."""
    import tensorflow as tf

    mlflow.log_metrics(
        {
            "best_epoch": result.best_epoch + 1,
            "parameters": result.parameters,
            "diverged": float(result.diverged),
        }
    )
    figure = curves_figure(result.history, config.name)
    mlflow.log_figure(figure, CURVES_ARTIFACT)
    _close(figure)
    if model is None:
        model = keras.saving.load_model(result.model_path, safe_mode=True)
    example = np.random.default_rng(0).random((1, 8, ROWS_PER_FRAME, 3)).astype("float32")
    # explicit requirements: inferring them re-imports the model in a subprocess (~7 s)
    tf_dist = "tensorflow" if tf.config.list_physical_devices("GPU") else "tensorflow-cpu"
    mlflow.keras.log_model(
        model,
        name=MODEL_ARTIFACT,
        signature=model_signature(),
        pip_requirements=[
            *mlflow.keras.get_default_pip_requirements(),
            f"{tf_dist}=={tf.__version__}",
        ],
    )
    # MLflow 3.17 cannot write a 4-D input example for the keras flavour (it fails on
    # input_example.json), so the example travels beside the model as .npy.
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / INPUT_EXAMPLE_FILE, example)
        mlflow.log_artifact(str(Path(tmp) / INPUT_EXAMPLE_FILE), artifact_path=MODEL_ARTIFACT)
    result.mlflow_run_id = mlflow.active_run().info.run_id
    return result.mlflow_run_id
