"""The comparison table across runs (with the ensemble row), as markdown and HTML."""

from __future__ import annotations

from typing import Annotated

import mlflow
import numpy as np
from zenml import step

from islr.evaluation.metrics import Evaluation
from islr.evaluation.report import ComparisonReport, write_comparison


@step(experiment_tracker=True)
def compare_runs(
    evaluations: list[Evaluation],
    probabilities: list[np.ndarray],
    report_dir: str = "outputs/reports",
    ensemble: bool = True,
) -> Annotated[ComparisonReport, "comparison_report"]:
    """`evaluations` and `probabilities`: one per run, in the same order (pass the
    outputs of several `evaluate_model` steps as lists). Writes `comparison.md` and
    `comparison.html` to `report_dir` and logs both, and the ensemble's metrics, to the
    pipeline's MLflow run."""
    report = write_comparison(evaluations, probabilities, report_dir, ensemble=ensemble)
    mlflow.log_artifact(report.markdown_path, "comparison")
    mlflow.log_artifact(report.html_path, "comparison")
    if report.ensemble is not None:
        mlflow.log_metrics(
            {f"ensemble_test_{k}": v for k, v in report.ensemble.model_dump().items()}
        )
    mlflow.set_tag("best_run", report.best_run)
    return report
