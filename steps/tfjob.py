"""Train one run as a multi-worker Kubeflow TFJob instead of inside the step's own pod."""

import json
import time
from typing import Annotated

import mlflow
from mlflow.entities import Metric
from zenml import get_step_context, step
from zenml.client import Client
from zenml.io import fileio

from islr.cluster.tfjob import TFJobSettings, run_tfjob, tfjob_config_for_run
from islr.data.tfrecord import TFRecordSet
from islr.errors import IslrError
from islr.training.config import RunConfig
from islr.training.tracking import flatten
from islr.training.trainer import TrainResult


@step(experiment_tracker=True, settings={"experiment_tracker": {"nested": True}})
def train_on_cluster(
    tfrecords: TFRecordSet,
    config: RunConfig,
    cluster: TFJobSettings,
    scale: str = "full",
    out_root: str | None = None,
) -> tuple[Annotated[str, "model_uri"], Annotated[TrainResult, "train_result"]]:
    """Launch the TFJob, wait for it, and return where the chief saved the model with the
    run's result. `out_root` defaults to the artifact store (object storage every worker
    can reach); each pipeline run gets its own folder and job name."""
    run_id = str(get_step_context().pipeline_run.id)
    root = out_root or f"{Client().active_stack.artifact_store.path.rstrip('/')}/tfjobs"
    job = tfjob_config_for_run(
        config,
        cluster,
        tfrecords_uri=tfrecords.directory,
        out_uri=f"{root.rstrip('/')}/{run_id}/{config.name}",
        suffix=run_id[:8],
    )
    mlflow.set_tags(
        {
            "run": config.name,
            "architecture": config.model.architecture,
            "scale": scale,
            "tfjob": f"{cluster.namespace}/{job.name}",
            "workers": str(cluster.workers),
        }
    )
    mlflow.log_params(flatten(config.model_dump(mode="json")))
    model_uri = run_tfjob(job)
    if not fileio.exists(job.result_uri):
        raise IslrError(
            f"TFJob {job.name} succeeded but {job.result_uri} is missing: the chief writes it "
            "last, so the job's worker-0 log says what went wrong"
        )
    with fileio.open(job.result_uri, "r") as f:
        result = TrainResult.model_validate(json.loads(f.read()))
    # one batched call per chunk, not one request per epoch and metric
    now = int(time.time() * 1000)
    mlflow.MlflowClient().log_batch(
        mlflow.active_run().info.run_id,
        metrics=[
            Metric(key, float(value), now, epoch)
            for key, values in result.history.items()
            for epoch, value in enumerate(values, start=1)
        ],
    )
    mlflow.log_metrics({"best_epoch": result.best_epoch + 1, "parameters": result.parameters})
    mlflow.set_tag("model_uri", model_uri)
    result.model_path = model_uri
    result.mlflow_run_id = mlflow.active_run().info.run_id
    return model_uri, result
