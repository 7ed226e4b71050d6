"""The training pipeline: the data steps (cached when unchanged), then one training step
per configured run, each its own MLflow run."""

from pathlib import Path

from zenml import pipeline

from islr.cluster.tfjob import training_backend
from islr.training.config import load_run_config
from pipelines.data import data_steps
from steps.tfjob import train_on_cluster
from steps.train import train_model

ALL_RUNS = (
    "cnn",
    "transformer",
    "cnn_transformer_noaug",
    "cnn_transformer",
    "cnn_bilstm",
    "cnn_bigru",
    "cnn_linformer",
)


def train_steps(
    tfrecords, manifest, fingerprint, runs, scale, runs_dir, scales_dir, training=None
) -> list[tuple[str, object, object]]:
    """One training step per run (id `train_<run>`), shared by every pipeline that
    trains; returns (run name, model output, train-result output) per run. Run files
    are resolved when the pipeline is compiled, so each step gets its full config as a
    parameter and any change to a run or scale file re-trains that run. With
    `training.backend: tfjob` each step launches the run as a TFJob instead; its
    outputs are the same, so everything downstream is unchanged."""
    backend = training_backend(training)
    cluster = backend.tfjob_settings() if backend.backend == "tfjob" else None
    trained = []
    for name in runs or ALL_RUNS:
        inputs = {
            "tfrecords": tfrecords,
            "fold_manifest": manifest,
            "data_fingerprint": fingerprint,
            "config": load_run_config(
                Path(runs_dir) / f"{name}.yaml", Path(scales_dir) / f"{scale}.yaml"
            ),
            "scale": scale,
        }
        if cluster is None:
            model, result = train_model(**inputs, id=f"train_{name}")
        else:
            model, result = train_on_cluster(**inputs, cluster=cluster, id=f"train_{name}")
        trained.append((name, model, result))
    return trained


@pipeline(enable_cache=True)
def training_pipeline(
    data_dir: str = "data",
    runs: list[str] | None = None,
    scale: str = "quickstart",
    runs_dir: str = "configs/runs",
    scales_dir: str = "configs/scales",
    training: dict | None = None,
):
    """`runs`: names of files in `runs_dir` (default all seven); `scale`: a file in
    `scales_dir` (quickstart or full); `training`: local or TFJob (see main_pipeline)."""
    fingerprint, _, manifest, tfrecords = data_steps(data_dir)
    train_steps(tfrecords, manifest, fingerprint, runs, scale, runs_dir, scales_dir, training)
