"""Summaries of pipeline runs: what came in, what was quarantined, what was trained and
decided, where the outputs are."""

import logging
import os
from pathlib import Path
from typing import Annotated

import mlflow
from zenml import get_step_context, step
from zenml.client import Client
from zenml.types import MarkdownString

from islr.data.lineage import DataFingerprint
from islr.data.tfrecord import TFRecordSet
from islr.data.validate import ValidationReport
from islr.evaluation.metrics import Evaluation
from islr.evaluation.registry import PromotionDecision
from islr.evaluation.report import ComparisonReport
from islr.export.tflite import TFLiteExport
from islr.training.trainer import TrainResult

log = logging.getLogger(__name__)


@step(enable_cache=False)
def summarize_data(
    data_fingerprint: DataFingerprint,
    validation_report: ValidationReport,
    tfrecords: TFRecordSet,
) -> Annotated[MarkdownString, "data_summary"]:
    counts = ", ".join(f"{k} {v}" for k, v in tfrecords.counts.items())
    text = "\n".join(
        [
            "## islr data pipeline",
            f"- data: `{data_fingerprint.data_dir}` ({data_fingerprint.n_files} files, "
            f"md5 `{data_fingerprint.md5}`, from {data_fingerprint.source})",
            f"- validation: {validation_report.n_valid} valid, {validation_report.n_invalid} "
            f"quarantined of {validation_report.n_recordings}; report "
            f"`{validation_report.report_path}` (and .html)",
            f"- TFRecords: {tfrecords.n_records} records ({counts}) in `{tfrecords.directory}`",
        ]
    )
    log.info("\n%s", text)
    return MarkdownString(text)


@step
def tflite_uris(exports: list[TFLiteExport]) -> Annotated[dict[str, str], "tflite_uris"]:
    """Run name -> where its published TFLite file is (the registry tags each version)."""
    return {
        Path(export.path).stem: export.mlflow_uri or str(Path(export.path).resolve())
        for export in exports
        if export.published
    }


def _folder_line(what: str, folders: list[Path]) -> list[str]:
    """`- what: `common/folder/`` for the folders of several runs (none: no line)."""
    if not folders:
        return []
    common = Path(os.path.commonpath([str(f) for f in folders]))
    return [f"- {what}: `{common}/`"]


def runs_table_url(tracking_uri: str, experiment_id: str) -> str:
    """The MLflow UI page with the experiment's runs table. MLflow 3.17 opens an
    experiment on its GenAI overview (traces), and the training runs sit one switch
    ("Model training", top left) away; this URL goes straight to the table. A local
    store is served by `mlflow ui` on 127.0.0.1:5000; a tracking server is its own UI."""
    base = (
        tracking_uri
        if tracking_uri.startswith(("http://", "https://"))
        else ("http://127.0.0.1:5000")
    )
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs"


# Tracked without `nested`: this step logs into the pipeline's own MLflow run, the parent
# of the training runs, which also holds the comparison (compare_runs).
@step(enable_cache=False, experiment_tracker=True)
def summarize_main(
    data_fingerprint: DataFingerprint,
    validation_report: ValidationReport,
    comparison: ComparisonReport,
    decision: PromotionDecision,
    exports: list[TFLiteExport],
    # lists (fan-in), never Optional: ZenML cannot parse an Optional list input
    evaluations: list[Evaluation],
    train_results: list[TrainResult],
    output_root: str = "outputs",
) -> Annotated[MarkdownString, "main_summary"]:
    """What the main job did, as markdown: the comparison table, the champion decision
    and why, the TFLite exports against their gate, where every artifact is, and how to
    open these runs in the MLflow UI. Written to `<output_root>/<pipeline run id>/summary.md`
    and copied to `<output_root>/reports/summary.md`, the latest run's (what
    scripts/main.sh prints)."""
    tracker = Client().active_stack.experiment_tracker
    tracking_uri = tracker.get_tracking_uri() if tracker is not None else mlflow.get_tracking_uri()
    parent = mlflow.active_run()
    runs_url = runs_table_url(tracking_uri, parent.info.experiment_id)
    lines = [
        "## islr main job",
        f"- data: `{data_fingerprint.data_dir}` ({data_fingerprint.n_files} files, md5 "
        f"`{data_fingerprint.md5}`); {validation_report.n_valid} valid, "
        f"{validation_report.n_invalid} quarantined",
        "",
        comparison.markdown.strip(),
        "",
        f"**Registry** `{decision.model_name}`: "
        + (
            f"version {decision.version} ({decision.run}) is the new champion."
            if decision.promoted
            else (
                f"champion stays version {decision.champion_version}"
                if decision.champion_version
                else "no champion yet"
            )
            + (
                f"; version {decision.challenger_version} is the challenger."
                if decision.challenger_version
                else "."
            )
        ),
        f"Why: {decision.reason}",
        "",
        "| run | TFLite MB | mean ms | p95 ms | parity max diff | gate |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for export in exports:
        lines.append(
            f"| {Path(export.path).stem} | {export.size_mb:.2f} | {export.mean_latency_ms:.1f} "
            f"| {export.p95_latency_ms:.1f} | {export.parity_max_diff:.1e} "
            f"| {'pass' if export.gate_passed else 'FAIL: ' + export.gate_reason} |"
        )
    lines += [
        "",
        "Artifacts:",
        f"- comparison: `{comparison.markdown_path}` and `{comparison.html_path}`",
        "- validation report: `"
        + (
            validation_report.report_path
            or "(not written: the validation step failed or was skipped)"
        )
        + "`",
        f"- TFLite files: `{Path(exports[0].path).parent}/`" if exports else "- no TFLite files",
        *(
            [f"- champion TFLite (what the app image serves): `{decision.published_tflite}`"]
            if decision.published_tflite
            else []
        ),
        *_folder_line(
            "evaluation files (per-class CSV, confused pairs, confusion matrix)",
            [Path(p).parent for e in evaluations for p in e.files.values()],
        ),
        *_folder_line(
            "trained models (`model.keras`, one folder per run)",
            [Path(r.model_path).parent for r in train_results if r.model_path],
        ),
        f"- MLflow (runs, models, registry): `{tracking_uri}`",
        "",
        "Compare the runs side by side in the MLflow UI"
        + (
            ":"
            if runs_url.startswith(tracking_uri.rstrip("/"))
            else f" (`mlflow ui --backend-store-uri '{tracking_uri}' --host 127.0.0.1 "
            "--port 5000` first):"
        ),
        "",
        f"    {runs_url}",
        "",
        "That page is the experiment's runs table; MLflow opens an experiment on its GenAI "
        'overview otherwise, where the "Model training" switch (top left) leads to the same '
        f"table. The pipeline's run (`{parent.info.run_name}`) holds the comparison "
        "(`comparison/`, with the pairwise intervals), the ensemble metrics and the "
        "validation curves of every run (`training_curves.png`); expand it for one run per "
        "model (and fold) with its validation and test metrics.",
    ]
    text = "\n".join(lines) + "\n"
    run_path = Path(output_root) / str(get_step_context().pipeline_run.id) / "summary.md"
    for path in (run_path, Path(output_root) / "reports" / "summary.md"):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    mlflow.log_artifact(str(run_path))
    mlflow.set_tag("runs_table_url", runs_url)
    log.info("\n%s", text)
    return MarkdownString(text)
