"""Evaluate one trained run on the test split; the numbers and files go to its MLflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import keras
import numpy as np
from mlflow import MlflowClient
from zenml import get_step_context, step

from islr.data.tfrecord import TFRecordSet
from islr.evaluation import metrics
from islr.evaluation.metrics import Evaluation, EvaluationConfig
from islr.training.trainer import TrainResult
from steps.keras_materializer import KerasModelMaterializer  # noqa: F401  (loads .keras)


# The tracker is named only so that ZenML points MLflow at the stack's tracking server;
# everything is logged by id to the run that trained the model.
@step(experiment_tracker=True)
def evaluate_model(
    model: keras.Model,
    train_result: TrainResult,
    tfrecords: TFRecordSet,
    config: EvaluationConfig | None = None,
    out_root: str = "outputs",
    fold: int | None = None,
) -> tuple[Annotated[Evaluation, "evaluation"], Annotated[np.ndarray, "test_probabilities"]]:
    """Scores on the test and validation splits of `fold` (None: the split's own
    evaluation fold); probabilities: softmax on the test split, records in sequence_id
    order; files under `<out_root>/<pipeline run id>/<run>[/fold<k>]/` (out_root: the
    job's output_root)."""
    tfrecords = tfrecords.for_fold(fold)
    client = MlflowClient()
    run_id = train_result.mlflow_run_id
    lineage = metrics.run_lineage(run_id, client) if run_id else {}
    out_dir = Path(out_root) / str(get_step_context().pipeline_run.id) / train_result.name
    if fold is not None:
        out_dir = out_dir / f"fold{fold}"
    result = metrics.evaluate_model(
        model,
        tfrecords,
        run=train_result.name,
        out_dir=out_dir,
        config=config,
        model_path=train_result.model_path,
        mlflow_run_id=run_id,
        lineage=lineage,
    )
    if run_id:
        metrics.log_evaluation(result.evaluation, run_id, client)
    evaluation = result.evaluation
    validation = evaluation.validation.model_dump() if evaluation.validation else {}
    get_step_context().add_output_metadata(
        {
            **evaluation.metrics.model_dump(),
            **{f"val_{k}": v for k, v in validation.items()},
            "test_split_id": evaluation.test_split_id,
            "fold": evaluation.fold if evaluation.fold is not None else -1,
        },
        "evaluation",
    )
    return result.evaluation, result.probabilities
