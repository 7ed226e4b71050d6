"""The evaluation steps in a real ZenML pipeline: several training-like steps fan out
into evaluate_model steps, whose outputs fan in as lists to compare_runs and
register_models (ZenML 0.98 takes a list of step outputs for a `list[...]` input)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import keras
import mlflow
import numpy as np
import pytest
from crafted_models import base_manifest, biased_model, crafted_manifest, write_set
from zenml import pipeline, step

from islr.data.tfrecord import TFRecordSet, load_tfrecord_set
from islr.evaluation.metrics import EvaluationConfig
from islr.evaluation.registry import RegistryConfig
from islr.training.trainer import TrainResult
from steps.compare import compare_runs
from steps.evaluate import evaluate_model
from steps.keras_materializer import KerasModelMaterializer
from steps.materializers import TFRecordSetMaterializer  # noqa: F401  (registers it)
from steps.register import register_models


@step
def load_set(directory: str) -> Annotated[TFRecordSet, "tfrecords"]:
    return load_tfrecord_set(directory)


@step(
    experiment_tracker=True,
    settings={"experiment_tracker": {"nested": True}},
    output_materializers={"model": KerasModelMaterializer},
)
def train_stub(
    run: str, predicts: int
) -> tuple[Annotated[keras.Model, "model"], Annotated[TrainResult, "train_result"]]:
    """Stands in for steps.train.train_model: the same outputs, MLflow tags and model."""
    model = biased_model([predicts], name="cnn")
    mlflow.set_tags({"run": run, "architecture": "cnn", "data_md5": "d.dir", "config_hash": run})
    mlflow.keras.log_model(model, name="model", pip_requirements=["keras==3.15.1"])
    result = TrainResult(
        name=run,
        model_path=None,
        history={},
        best_epoch=0,
        diverged=False,
        parameters=int(model.count_params()),
        global_batch=1,
        replicas=1,
        precision="float32",
        mlflow_run_id=mlflow.active_run().info.run_id,
    )
    return model, result


RUNS = {"cee": 2, "ay": 0}  # on the test split: ay 0.5, cee 1/6


@pipeline(enable_cache=False)
def fan_in_pipeline(directory: str, out_root: str, model_name: str):
    tfrecords = load_set(directory)
    evaluations, probabilities, results = [], [], []
    for run, predicts in RUNS.items():
        model, result = train_stub(run=run, predicts=predicts, id=f"train_{run}")
        evaluation, probs = evaluate_model(
            model=model,
            train_result=result,
            tfrecords=tfrecords,
            config=EvaluationConfig(latency_samples=2, latency_warmup=1),
            out_root=out_root,
            id=f"evaluate_{run}",
        )
        evaluations.append(evaluation)
        probabilities.append(probs)
        results.append(result)
    compare_runs(
        evaluations=evaluations,
        probabilities=probabilities,
        train_results=results,
        output_root=out_root,
    )
    register_models(
        evaluations=evaluations,
        tfrecords=tfrecords,
        config=RegistryConfig(model_name=model_name),
        tflite_uris={"ay": "/models/ay.tflite"},
        output_root=out_root,
    )


@pytest.mark.slow
def test_steps_fan_in(zenml_stack, synth_dir, tmp_path, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    # validation holds the same labels as test (other records): the gate, which reads
    # validation, ranks the runs as the test split does
    counts = {0: 3, 1: 2, 2: 1}
    manifest = crafted_manifest(base_manifest(synth_dir), counts, val_counts=counts)
    shards = write_set(manifest, synth_dir, tmp_path / "set")
    run = fan_in_pipeline(
        directory=shards.directory,
        out_root=str(tmp_path / "outputs"),
        model_name="fan-in-classifier",
    )
    assert str(run.status).endswith("completed")
    reports = tmp_path / "outputs" / str(run.id)

    report = run.steps["compare_runs"].outputs["comparison_report"][0].load()
    assert [row["run"] for row in report.rows] == ["ay", "cee", "ensemble"]
    assert report.rows[0]["accuracy"] == pytest.approx(0.5)
    assert report.rows[1]["accuracy"] == pytest.approx(1 / 6)
    assert (reports / "comparison.md").read_text() == report.markdown
    assert (reports / "comparison.html").exists()
    probs = run.steps["evaluate_ay"].outputs["test_probabilities"][0].load()
    assert isinstance(probs, np.ndarray) and probs.shape == (6, 250)

    decision = run.steps["register_models"].outputs["promotion_decision"][0].load()
    assert decision.promoted and decision.run == "ay" and decision.challenger_version is not None
    assert set(decision.registered) == {"ay", "cee"}

    mlflow.set_tracking_uri(zenml_stack.active_stack.experiment_tracker.get_tracking_uri())
    try:
        client = mlflow.MlflowClient()
        evaluation = run.steps["evaluate_ay"].outputs["evaluation"][0].load()
        training_run = client.get_run(evaluation.mlflow_run_id)
        assert training_run.data.tags["run"] == "ay"  # logged to the run that trained it
        assert training_run.data.metrics["test_accuracy"] == pytest.approx(0.5)
        assert training_run.data.metrics["test_latency_p50_ms"] > 0
        version = client.get_model_version_by_alias("fan-in-classifier", "champion")
        assert str(version.version) == decision.version == decision.registered["ay"]
        assert version.tags["tflite_uri"] == "/models/ay.tflite"
        assert version.tags["data_md5"] == "d.dir"
        files = Path(evaluation.files["per_class"])
        assert files.exists() and files.is_relative_to(tmp_path)
        model = mlflow.keras.load_model("models:/fan-in-classifier@champion")
        frames = np.full((1, 5, 543, 3), np.nan, dtype="float32")
        frames[:, :, :, :2] = np.random.default_rng(1).random((1, 5, 543, 2))
        assert keras.ops.convert_to_numpy(model(frames)).argmax() == 0
        # the comparison and the decision reached the pipeline's MLflow run
        pipeline_run = client.get_run(training_run.data.tags["mlflow.parentRunId"])
        artifacts = {a.path for a in client.list_artifacts(pipeline_run.info.run_id, "comparison")}
        assert artifacts == {
            "comparison/comparison.md",
            "comparison/comparison.html",
            "comparison/curves.png",
        }
        assert pipeline_run.data.tags["gate_promoted"] == "true"
    finally:
        mlflow.set_tracking_uri(None)
