"""The main job: data -> train every configured run (on every fold, under
cross-validation) -> evaluate, export each -> compare -> register (champion gate on
validation) -> summary."""

from zenml import pipeline

from islr.export.tflite import ExportConfig
from pipelines.data import data_steps
from pipelines.training import step_suffix, train_steps
from steps.compare import compare_runs
from steps.evaluate import evaluate_model
from steps.export import export_tflite
from steps.register import register_models, serving_gate_failures
from steps.summary import summarize_main, tflite_uris


@pipeline(enable_cache=True)
def main_pipeline(
    data_dir: str = "data",
    runs: list[str] | None = None,
    scale: str = "quickstart",
    runs_dir: str = "configs/runs",
    scales_dir: str = "configs/scales",
    training: dict | None = None,
    folds: list[int] | None = None,
    export: dict | None = None,
):
    """`runs`: names of files in `runs_dir` (default all seven); `scale`: a file in
    `scales_dir`; `training`: where each run trains (`backend: local | tfjob`,
    islr.cluster.tfjob.TrainingBackend); `folds`: cross-validation, e.g. [0, 1, 2, 3]:
    every run trains once per fold, evaluated on that fold's validation and test halves
    (None: one fold, the split's `eval_fold`). Each run is evaluated and exported to
    TFLite (its first fold's model); the runs are then compared (fold means, paired
    intervals, curves) and registered, and the champion gate decides on validation.
    `export`: the TFLite export settings of every run (islr.export.tflite.ExportConfig,
    e.g. `variants: [float32, dynamic_int8]` to measure fewer serving variants)."""
    fingerprint, report, manifest, tfrecords = data_steps(data_dir)
    first_fold = folds[0] if folds else None
    export_config = ExportConfig(**export) if export else None
    evaluations, probabilities, exports, results = [], [], [], []
    for name, fold, model, result in train_steps(
        tfrecords, manifest, fingerprint, runs, scale, runs_dir, scales_dir, training, folds
    ):
        evaluation, probs = evaluate_model(
            model=model,
            train_result=result,
            tfrecords=tfrecords,
            fold=fold,
            id=f"evaluate_{name}{step_suffix(fold)}",
        )
        if fold == first_fold:
            exports.append(
                export_tflite(
                    model=model,
                    train_result=result,
                    config=export_config,
                    data_dir=data_dir,
                    tfrecords=tfrecords,
                    fold=fold,
                    id=f"export_{name}",
                )
            )
        evaluations.append(evaluation)
        probabilities.append(probs)
        results.append(result)
    comparison = compare_runs(
        evaluations=evaluations, probabilities=probabilities, train_results=results
    )
    decision = register_models(
        evaluations=evaluations,
        tfrecords=tfrecords,
        tflite_uris=tflite_uris(exports=exports),
        ineligible_runs=serving_gate_failures(exports=exports),
        fold=first_fold,
    )
    summarize_main(
        data_fingerprint=fingerprint,
        validation_report=report,
        comparison=comparison,
        decision=decision,
        exports=exports,
        evaluations=evaluations,
        train_results=results,
    )
