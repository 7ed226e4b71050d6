"""The main job: data -> train every configured run (on every fold, under
cross-validation) -> evaluate, export each -> compare -> register (champion gate on
validation, the champion's TFLite file published) -> summary."""

from zenml import pipeline

from islr.job import JobConfig
from pipelines.data import data_steps
from pipelines.training import step_suffix, train_steps
from steps.compare import compare_runs
from steps.evaluate import evaluate_model
from steps.export import export_tflite
from steps.register import register_models, serving_gate_failures
from steps.summary import summarize_main, tflite_uris


@pipeline(enable_cache=True)
def main_pipeline(job: JobConfig | None = None):
    """`job` (islr.job.JobConfig; None: every default): the data, the runs (`runs`, files
    of `runs_dir`, default all of them, at `scale`), where they train (`training`), the
    folds (`folds: [0, 1, 2, 3]`: every run trains once per fold, evaluated on that
    fold's validation and test halves; None: one fold, the split's `eval_fold`), the
    TFLite export (`export`), the comparison (`report`) and the registry (`registry`).
    Each run is evaluated and exported (its first fold's model); the runs are compared
    and registered, and the champion gate decides on validation. Every file the run
    writes lies under `<output_root>/<pipeline run id>/`."""
    job = job or JobConfig()
    fingerprint, report, manifest, tfrecords = data_steps(job)
    first_fold = job.folds[0] if job.folds else None
    evaluations, probabilities, exports, results = [], [], [], []
    for name, fold, model, result in train_steps(job, tfrecords, manifest, fingerprint):
        evaluation, probs = evaluate_model(
            model=model,
            train_result=result,
            tfrecords=tfrecords,
            out_root=job.output_root,
            fold=fold,
            id=f"evaluate_{name}{step_suffix(fold)}",
        )
        if fold == first_fold:
            exports.append(
                export_tflite(
                    model=model,
                    train_result=result,
                    config=job.export,
                    data_dir=job.data_dir,
                    out_root=job.output_root,
                    tfrecords=tfrecords,
                    fold=fold,
                    id=f"export_{name}",
                )
            )
        evaluations.append(evaluation)
        probabilities.append(probs)
        results.append(result)
    comparison = compare_runs(
        evaluations=evaluations,
        probabilities=probabilities,
        train_results=results,
        config=job.report,
        output_root=job.output_root,
    )
    decision = register_models(
        evaluations=evaluations,
        tfrecords=tfrecords,
        config=job.registry,
        tflite_uris=tflite_uris(exports=exports),
        ineligible_runs=serving_gate_failures(exports=exports),
        fold=first_fold,
        exports=exports,
        output_root=job.output_root,
    )
    summarize_main(
        data_fingerprint=fingerprint,
        validation_report=report,
        comparison=comparison,
        decision=decision,
        exports=exports,
        evaluations=evaluations,
        train_results=results,
        output_root=job.output_root,
    )
