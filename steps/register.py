"""Register every evaluated run in the MLflow model registry; move `champion` only
through the gate (see islr.evaluation.registry)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from zenml import step

from islr.data.tfrecord import TFRecordSet
from islr.evaluation.crossval import summarize_folds
from islr.evaluation.metrics import Evaluation, EvaluationConfig
from islr.evaluation.registry import (
    PromotionDecision,
    RegistryConfig,
    log_decision,
    register_evaluations,
)
from islr.export.tflite import TFLiteExport, publish_tflite

log = logging.getLogger(__name__)


@step
def serving_gate_failures(
    exports: list[TFLiteExport],
) -> Annotated[dict[str, str], "ineligible_runs"]:
    """Run name -> why its TFLite file failed the serving gate (size, latency, parity):
    such a run is registered but may not become champion, since the champion is what
    gets deployed."""
    return {
        Path(export.path).stem: f"its TFLite file failed the serving gate ({export.gate_reason})"
        for export in exports
        if not export.gate_passed
    }


# Never cached: the registry changes between runs, so the same inputs can decide
# differently.
@step(experiment_tracker=True, enable_cache=False)
def register_models(
    evaluations: list[Evaluation],
    tfrecords: TFRecordSet | None = None,
    config: RegistryConfig | None = None,
    tflite_uris: dict[str, str] | None = None,
    evaluation_config: EvaluationConfig | None = None,
    ineligible_runs: dict[str, str] | None = None,
    fold: int | None = None,
    # a list (fan-in), never Optional: ZenML cannot parse an Optional list input
    exports: list[TFLiteExport] = (),
    output_root: str = "outputs",
) -> Annotated[PromotionDecision, "promotion_decision"]:
    """`evaluations`: one per (run, fold); each run registers its first fold's model,
    ranked by the fold mean of the gate's metric. `tfrecords`: the set the evaluations
    used, to re-evaluate a champion measured on other records (on `fold`, the first
    fold); `tflite_uris`: run name -> TFLite file, stored as a version tag;
    `ineligible_runs`: run name -> why it may not become champion. A new champion is
    deployed: its published TFLite file (from `exports`) is copied to
    `<output_root>/<config.publish_champion>`, the one path the app image serves."""
    config = config or RegistryConfig()
    decision = register_evaluations(
        summarize_folds(evaluations),
        config,
        tfrecords=tfrecords.for_fold(fold) if tfrecords is not None else None,
        tflite_uris=tflite_uris,
        evaluation_config=evaluation_config,
        ineligible=ineligible_runs,
    )
    log_decision(decision)
    if config.publish_champion:
        target = Path(output_root) / config.publish_champion
        if decision.promoted:
            source = next(
                (e for e in exports if Path(e.path).stem == decision.run and e.published), None
            )
            if source is None:
                log.warning("champion %s has no published TFLite file to serve", decision.run)
            else:
                publish_tflite(source.path, target)
        if target.is_file():  # a champion that stays keeps the file it has
            decision.published_tflite = str(target)
    return decision
