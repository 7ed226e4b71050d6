"""The main job: data -> train every configured run -> evaluate, export each ->
compare -> register (champion gate) -> summary."""

from zenml import pipeline

from pipelines.data import data_steps
from pipelines.training import train_steps
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
):
    """`runs`: names of files in `runs_dir` (default all seven); `scale`: a file in
    `scales_dir`; `training`: where each run trains (`backend: local | tfjob`,
    islr.cluster.tfjob.TrainingBackend). Each run trains, is evaluated on the test split
    and exported to TFLite; the runs are then compared and registered, and the champion
    gate decides."""
    fingerprint, report, manifest, tfrecords = data_steps(data_dir)
    evaluations, probabilities, exports, results = [], [], [], []
    for name, model, result in train_steps(
        tfrecords, manifest, fingerprint, runs, scale, runs_dir, scales_dir, training
    ):
        evaluation, probs = evaluate_model(
            model=model, train_result=result, tfrecords=tfrecords, id=f"evaluate_{name}"
        )
        exports.append(
            export_tflite(
                model=model,
                train_result=result,
                data_dir=data_dir,
                tfrecords=tfrecords,
                id=f"export_{name}",
            )
        )
        evaluations.append(evaluation)
        probabilities.append(probs)
        results.append(result)
    comparison = compare_runs(evaluations=evaluations, probabilities=probabilities)
    decision = register_models(
        evaluations=evaluations,
        tfrecords=tfrecords,
        tflite_uris=tflite_uris(exports=exports),
        ineligible_runs=serving_gate_failures(exports=exports),
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
