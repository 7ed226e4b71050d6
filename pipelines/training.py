"""The training pipeline: the data steps (cached when unchanged), then one training step
per configured run, each its own MLflow run."""

from zenml import pipeline

from steps.fingerprint import fingerprint_data
from steps.ingest import ingest_data
from steps.split import split_folds
from steps.tfrecords import write_tfrecord_shards
from steps.train import train_model
from steps.validate import validate_data

ALL_RUNS = (
    "cnn",
    "transformer",
    "cnn_transformer_noaug",
    "cnn_transformer",
    "cnn_bilstm",
    "cnn_bigru",
    "cnn_linformer",
)


@pipeline(enable_cache=True)
def training_pipeline(
    data_dir: str = "data", runs: list[str] | None = None, scale: str = "quickstart"
):
    """`runs`: names of files in configs/runs (default all seven); `scale`: a file in
    configs/scales (quickstart or full)."""
    fingerprint = fingerprint_data(data_dir=data_dir)
    recordings = ingest_data(data_dir=data_dir, data_fingerprint=fingerprint)
    valid, _, _ = validate_data(
        recordings=recordings, data_dir=data_dir, data_fingerprint=fingerprint
    )
    manifest = split_folds(valid_recordings=valid, data_fingerprint=fingerprint)
    tfrecords = write_tfrecord_shards(
        fold_manifest=manifest, data_dir=data_dir, data_fingerprint=fingerprint
    )
    for name in runs or ALL_RUNS:
        train_model(
            tfrecords=tfrecords,
            fold_manifest=manifest,
            data_fingerprint=fingerprint,
            run=name,
            scale=scale,
            id=f"train_{name}",
        )
