"""The training pipeline: the data steps (cached when unchanged), then one training step
per configured run, each its own MLflow run."""

from pathlib import Path

from zenml import pipeline

from islr.cluster.tfjob import training_backend
from islr.training.config import load_run_config
from pipelines.data import data_steps
from steps.folds import check_cv_folds
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


def step_suffix(fold: int | None) -> str:
    """Step ids of one fold of a cross-validation end in `_fold<k>`; a single-fold job
    keeps the plain ids (`train_cnn`), which configs and caches refer to."""
    return "" if fold is None else f"_fold{fold}"


def train_steps(
    tfrecords,
    manifest,
    fingerprint,
    runs,
    scale,
    runs_dir,
    scales_dir,
    training=None,
    folds: list[int] | None = None,
) -> list[tuple[str, int | None, object, object]]:
    """One training step per run and fold (id `train_<run>`, or `train_<run>_fold<k>`
    under cross-validation), shared by every pipeline that trains; returns (run name,
    fold, model output, train-result output) for each, folds outermost. Run files are
    resolved when the pipeline is compiled, so each step gets its full config as a
    parameter and any change to a run or scale file re-trains that run. With
    `training.backend: tfjob` each step launches the run as a TFJob instead; its outputs
    are the same, so everything downstream is unchanged. With `folds`, a first step
    checks every fold can be evaluated, so a bad fold fails before any training."""
    backend = training_backend(training)
    cluster = backend.tfjob_settings() if backend.backend == "tfjob" else None
    after = None
    if folds:
        check_cv_folds(tfrecords=tfrecords, folds=list(folds), id="check_cv_folds")
        after = "check_cv_folds"
    trained = []
    for fold in folds or [None]:
        for name in runs or ALL_RUNS:
            inputs = {
                "tfrecords": tfrecords,
                "fold_manifest": manifest,
                "data_fingerprint": fingerprint,
                "config": load_run_config(
                    Path(runs_dir) / f"{name}.yaml", Path(scales_dir) / f"{scale}.yaml"
                ),
                "scale": scale,
                "fold": fold,
            }
            step_id = f"train_{name}{step_suffix(fold)}"
            if cluster is None:
                model, result = train_model(**inputs, id=step_id, after=after)
            else:
                model, result = train_on_cluster(**inputs, cluster=cluster, id=step_id, after=after)
            trained.append((name, fold, model, result))
    return trained


@pipeline(enable_cache=True)
def training_pipeline(
    data_dir: str = "data",
    runs: list[str] | None = None,
    scale: str = "quickstart",
    runs_dir: str = "configs/runs",
    scales_dir: str = "configs/scales",
    training: dict | None = None,
    folds: list[int] | None = None,
):
    """`runs`: names of files in `runs_dir` (default all seven); `scale`: a file in
    `scales_dir` (quickstart or full); `training`: local or TFJob, `folds`:
    cross-validation (see main_pipeline)."""
    fingerprint, _, manifest, tfrecords = data_steps(data_dir)
    train_steps(
        tfrecords, manifest, fingerprint, runs, scale, runs_dir, scales_dir, training, folds
    )
