"""The ZenML composer fine-tuning pipeline end to end on a tiny T5: MLflow run with
params, per-epoch loss and before/after scores; the tuned composer registered and
loadable from the MLflow registry."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
import text_fixtures
import yaml

from islr.text.mlflow_model import MODEL_NAME

tiny_t5 = text_fixtures.tiny_t5  # the session's tiny checkpoint (fixture)


def write_config(repo_root, tmp_path, checkpoint):
    config = yaml.safe_load((repo_root / "configs/composer_finetune_tiny.yaml").read_text())
    params = config["parameters"]
    params["composer"]["checkpoint"] = str(checkpoint)
    params["composer"]["decoding"] = {"num_beams": 1, "max_new_tokens": 12}
    params["training"].update(epochs=2, max_train_pairs=48)
    params["max_test_pairs"] = 12
    path = tmp_path / "composer_finetune.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_shipped_configs_validate(repo_root):
    from islr.text.config import ComposerConfig, FinetuneConfig

    for name in ("composer_finetune.yaml", "composer_finetune_tiny.yaml"):
        params = yaml.safe_load((repo_root / "configs" / name).read_text())["parameters"]
        composer = ComposerConfig.model_validate(params["composer"])
        FinetuneConfig.model_validate(params["training"])
        assert params["model_name"] == MODEL_NAME
        assert composer.prompt_template == ComposerConfig().prompt_template


@pytest.mark.slow
def test_pipeline_tracks_and_registers(zenml_stack, tiny_t5, tmp_path, monkeypatch, repo_root):
    from pipelines.composer import composer_finetune_pipeline

    monkeypatch.chdir(repo_root)
    run = composer_finetune_pipeline.with_options(
        config_path=str(write_config(repo_root, tmp_path, tiny_t5))
    )()
    assert run.status == "completed"

    def output(step, name):
        return run.steps[step].outputs[name][0].load()

    before = output("evaluate_before", "scores_before")
    after = output("evaluate_after", "scores_after")
    assert before.n == after.n == 12
    tuned = output("finetune_composer", "tuned_checkpoint")
    assert tuned.n_train == 48 and len(tuned.epoch_losses) == 2
    assert tuned.directory.startswith(zenml_stack.active_stack.artifact_store.path)
    registered = output("register_composer", "registered_composer")

    # one MLflow run for the pipeline run, holding everything
    run_id = run.steps["finetune_composer"].run_metadata["mlflow_run_id"]
    assert run.steps["register_composer"].run_metadata["mlflow_run_id"] == run_id
    assert registered.mlflow_run_id == run_id
    uri = zenml_stack.active_stack.experiment_tracker.get_tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    data = client.get_run(run_id).data
    assert data.params["base_checkpoint"] == str(tiny_t5)
    assert data.params["training.epochs"] == "2"
    assert data.metrics["bleu_before"] == before.bleu
    assert data.metrics["chrf_after"] == after.chrf
    assert "chrf_gain" in data.metrics
    history = client.get_metric_history(run_id, "train_loss")
    assert [m.step for m in history] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"predictions_before.json", "predictions_after.json"} <= artifacts

    # the registered version: this run's, tagged with its scores, and it composes
    version = client.get_model_version(MODEL_NAME, registered.version)
    assert version.run_id == run_id
    assert float(version.tags["chrf_after"]) == after.chrf
    assert registered.model_uri == f"models:/{MODEL_NAME}/{registered.version}"
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(registered.model_uri)
        sentences = model.predict(pd.DataFrame({"glosses": ["hello thankyou", "dog outside"]}))
    finally:
        mlflow.set_tracking_uri("")
    assert len(sentences) == 2 and all(isinstance(s, str) for s in sentences)
