"""Register every evaluated run in the MLflow model registry; move `champion` only
through the gate (see islr.evaluation.registry)."""

from __future__ import annotations

from typing import Annotated

from zenml import step

from islr.data.tfrecord import TFRecordSet
from islr.evaluation.metrics import Evaluation, EvaluationConfig
from islr.evaluation.registry import (
    PromotionDecision,
    RegistryConfig,
    log_decision,
    register_evaluations,
)


# Never cached: the registry changes between runs, so the same inputs can decide
# differently.
@step(experiment_tracker=True, enable_cache=False)
def register_models(
    evaluations: list[Evaluation],
    tfrecords: TFRecordSet | None = None,
    config: RegistryConfig | None = None,
    tflite_uris: dict[str, str] | None = None,
    evaluation_config: EvaluationConfig | None = None,
) -> Annotated[PromotionDecision, "promotion_decision"]:
    """`tfrecords`: the set the evaluations used, to re-evaluate a champion measured on
    another split; `tflite_uris`: run name -> TFLite file, stored as a version tag."""
    decision = register_evaluations(
        evaluations,
        config,
        tfrecords=tfrecords,
        tflite_uris=tflite_uris,
        evaluation_config=evaluation_config,
    )
    log_decision(decision)
    return decision
