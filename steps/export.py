"""Export one trained run to TFLite in the competition's serving signature.

Every serving variant is measured and the one the variant choice picks is published
(`islr.export.tflite.choose_variant`). The .tflite and its report are written under
`<out_root>/<pipeline run id>/<run>.tflite` (out_root: the job's output_root), next to
the run's evaluation folder, and logged under `tflite/` of the MLflow
run that trained the model (`TrainResult.mlflow_run_id`), on the active stack's MLflow
tracker. The step opens no
MLflow run of its own: the export belongs to the training run it came from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import keras
from zenml import get_step_context, step
from zenml.client import Client

from islr.data.tfrecord import TFRecordSet
from islr.export.tflite import (
    ExportConfig,
    TFLiteExport,
    export_keras_to_tflite,
    log_export_to_mlflow,
)
from islr.training.trainer import TrainResult
from steps.keras_materializer import KerasModelMaterializer  # noqa: F401  (registers it)

log = logging.getLogger(__name__)


@step
def export_tflite(
    model: keras.Model,
    train_result: TrainResult,
    config: ExportConfig | None = None,
    data_dir: str | None = None,
    out_root: str = "outputs",
    log_to_mlflow: bool = True,
    tfrecords: TFRecordSet | None = None,
    fold: int | None = None,
) -> Annotated[TFLiteExport, "tflite_export"]:
    """`data_dir`: an asl-signs folder whose recordings join the parity check (e.g. the
    pipeline's data); `config`: gate and measurement settings (ExportConfig);
    `tfrecords`: the shards the run trained on: the test split measures each serving
    variant's agreement and accuracy, the training split calibrates int8."""
    if tfrecords is not None:
        tfrecords = tfrecords.for_fold(fold)
    context = get_step_context()
    out = Path(out_root) / str(context.pipeline_run.id) / f"{train_result.name}.tflite"
    result = export_keras_to_tflite(
        model, out, config or ExportConfig(), data_dir=data_dir, tfrecords=tfrecords
    )
    if log_to_mlflow and train_result.mlflow_run_id:
        tracker = Client().active_stack.experiment_tracker
        if tracker is None or not hasattr(tracker, "get_tracking_uri"):
            log.warning(
                "no MLflow experiment tracker in the active stack: %s not logged to run %s",
                out,
                train_result.mlflow_run_id,
            )
        else:
            result = log_export_to_mlflow(
                result, train_result.mlflow_run_id, tracker.get_tracking_uri()
            )
    context.add_output_metadata(
        {
            "run": train_result.name,
            "path": result.path,
            "size_mb": round(result.size_mb, 3),
            "mean_latency_ms": round(result.mean_latency_ms, 3),
            "variant": result.variant,
            "variant_reason": result.variant_reason,
            "parity_max_diff": result.parity_max_diff,
            "argmax_agreement": result.argmax_agreement,
            "gate_passed": result.gate_passed,
            "gate_reason": result.gate_reason,
            "mlflow_uri": result.mlflow_uri or "",
        },
        "tflite_export",
    )
    return result
