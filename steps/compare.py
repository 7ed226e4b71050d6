"""The comparison across runs and folds (table with the ensemble row, fold means ± sd,
pairwise intervals, overlaid curves), as markdown and HTML on the pipeline's MLflow run."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import mlflow
import numpy as np
from zenml import get_step_context, step

from islr.evaluation.metrics import Evaluation
from islr.evaluation.report import ComparisonReport, write_comparison
from islr.job import ReportConfig
from islr.training.trainer import TrainResult


@step(experiment_tracker=True)
def compare_runs(
    evaluations: list[Evaluation],
    probabilities: list[np.ndarray],
    train_results: list[TrainResult],
    config: ReportConfig | None = None,
    output_root: str = "outputs",
) -> Annotated[ComparisonReport, "comparison_report"]:
    """`evaluations`, `probabilities` and `train_results`: one per (run, fold), in the
    same order (pass the outputs of several steps as lists). Writes `comparison.md`,
    `comparison.html` and `curves.png` to `<output_root>/<pipeline run id>/` and logs
    them, and the ensemble's metrics, to the pipeline's MLflow run."""
    config = config or ReportConfig()
    report_dir = Path(output_root) / str(get_step_context().pipeline_run.id)
    histories: dict[str, list[dict[str, list[float]]]] = {}
    diverged: dict[str, list[bool]] = {}
    for result in train_results:
        histories.setdefault(result.name, []).append(result.history)
        diverged.setdefault(result.name, []).append(result.diverged)
    report = write_comparison(
        evaluations,
        probabilities,
        report_dir,
        ensemble=config.ensemble,
        histories=histories,
        diverged=diverged,
        n_resamples=config.n_resamples,
    )
    mlflow.log_artifact(report.markdown_path, "comparison")
    mlflow.log_artifact(report.html_path, "comparison")
    if report.curves_path:
        mlflow.log_artifact(report.curves_path, "comparison")
        # the study's Table 2, at the top of the run's artifacts
        with tempfile.TemporaryDirectory() as tmp:
            top = Path(tmp) / "training_curves.png"
            shutil.copyfile(report.curves_path, top)
            mlflow.log_artifact(str(top))
    for row in report.cv_rows:
        mlflow.log_metrics({f"cv_mean_{k}_{row['run']}": v for k, v in row["mean"].items()})
    if report.ensemble is not None:
        mlflow.log_metrics(
            {f"ensemble_test_{k}": v for k, v in report.ensemble.model_dump().items()}
        )
    mlflow.set_tag("best_run", report.best_run)
    return report
