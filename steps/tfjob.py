"""Train one run as a Kubeflow TFJob instead of inside the step's own process; the
result is the same `.keras` model artifact and MLflow run as local training, so the main
pipeline evaluates, exports, compares and registers it alike."""

import json
import tempfile
from pathlib import Path
from typing import Annotated

import keras
import mlflow
import pandas as pd
from zenml import get_step_context, step
from zenml.client import Client
from zenml.io import fileio

from islr.cluster.tfjob import TFJobSettings, run_tfjob, tfjob_config_for_run
from islr.data.lineage import DataFingerprint
from islr.data.tfrecord import TFRecordSet
from islr.errors import IslrError
from islr.training.config import RunConfig
from islr.training.tracking import (
    log_history,
    log_run_start,
    log_training_run,
    training_lineage,
)
from islr.training.trainer import TrainResult
from steps.keras_materializer import KerasModelMaterializer


@step(
    experiment_tracker=True,
    settings={"experiment_tracker": {"nested": True}},
    output_materializers={"model": KerasModelMaterializer},
)
def train_on_cluster(
    tfrecords: TFRecordSet,
    fold_manifest: pd.DataFrame,
    data_fingerprint: DataFingerprint,
    config: RunConfig,
    cluster: TFJobSettings,
    scale: str = "full",
    out_root: str | None = None,
    fold: int | None = None,
) -> tuple[Annotated[keras.Model, "model"], Annotated[TrainResult, "train_result"]]:
    """Launch the TFJob, wait for it, and load what its chief saved. `out_root` defaults
    to the artifact store (object storage every worker can reach); each pipeline run
    gets its own folder and job name."""
    run_id = str(get_step_context().pipeline_run.id)
    # a fold the set cannot evaluate fails here, not in the pod
    evaluated = tfrecords.for_fold(fold).eval_fold
    name = config.name if fold is None else f"{config.name}-fold{fold}"
    root = out_root or f"{Client().active_stack.artifact_store.path.rstrip('/')}/tfjobs"
    job = tfjob_config_for_run(
        config,
        cluster,
        tfrecords_uri=tfrecords.directory,
        out_uri=f"{root.rstrip('/')}/{run_id}/{name}",
        suffix=run_id[:8] if fold is None else f"{run_id[:8]}-f{fold}",
        fold=fold,
    )
    lineage = training_lineage(config, scale, data_fingerprint.md5, fold_manifest, fold=evaluated)
    log_run_start(config, lineage)
    mlflow.set_tags({"tfjob": f"{cluster.namespace}/{job.name}", "workers": str(cluster.workers)})
    model_uri = run_tfjob(job)
    for uri in (job.result_uri, model_uri):
        if not fileio.exists(uri):
            raise IslrError(
                f"TFJob {job.name} succeeded but {uri} is missing: the chief writes it at "
                "the end, so the job's worker-0 log says what went wrong"
            )
    with fileio.open(job.result_uri, "r") as f:
        result = TrainResult.model_validate(json.loads(f.read()))
    with tempfile.TemporaryDirectory() as tmp:
        local = str(Path(tmp) / "model.keras")
        fileio.copy(model_uri, local)
        model = keras.saving.load_model(local, safe_mode=True)
    log_history(result.history)  # the job's epochs
    mlflow.set_tag("model_uri", model_uri)
    result.model_path = model_uri
    log_training_run(result, config, model)
    get_step_context().add_output_metadata(lineage, "model")
    return model, result
