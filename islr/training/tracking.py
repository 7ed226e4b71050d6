"""MLflow tracking of a training run: parameters, per-epoch curves, lineage tags, plots."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import keras
import numpy as np
from mlflow.models import ModelSignature
from mlflow.types.schema import Schema, TensorSpec

from islr.data.format import N_CLASSES, ROWS_PER_FRAME


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
        import mlflow

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
