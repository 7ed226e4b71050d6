"""Train one run of the seven, tracked as its own (nested) MLflow run."""

from pathlib import Path
from typing import Annotated

import keras
import pandas as pd
from zenml import get_step_context, step

from islr.data.lineage import DataFingerprint
from islr.data.tfrecord import TFRecordSet
from islr.training.config import RunConfig
from islr.training.tracking import (
    MlflowEpochLogger,
    config_hash,
    log_run_start,
    log_training_run,
    training_lineage,
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
    lineage = training_lineage(
        config, scale, data_fingerprint.md5, fold_manifest, fold=tfrecords.eval_fold
    )
    log_run_start(config, lineage)
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
    log_training_run(result, config, model)
    get_step_context().add_output_metadata(lineage, "model")
    return model, result
