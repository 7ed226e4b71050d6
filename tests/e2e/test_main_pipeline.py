"""The main job end to end on data the size of the embedded set: train -> evaluate ->
export -> compare -> register. The first run's model beats chance on held-out
participants and becomes the champion; a worse run afterwards leaves it in place."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from pipeline_configs import write_config

from islr.data.format import read_recording


@pytest.mark.slow
def test_main_job_registers_a_champion_and_keeps_it_against_a_worse_run(
    zenml_stack, embedded_like, real_data_dir, tmp_path, monkeypatch, repo_root
):
    monkeypatch.chdir(repo_root)
    scales = tmp_path / "scales"
    scales.mkdir()
    # the quickstart scale for a third of its epochs: 0.25 test accuracy (chance 0.05)
    quick = yaml.safe_load(Path("configs/scales/quickstart.yaml").read_text())
    quick["train"].update({"epochs": 10, "backup_every_epochs": 10})
    (scales / "quickstart.yaml").write_text(yaml.safe_dump(quick))
    # a run that cannot learn: one epoch at a learning rate of 1e-6
    worse = yaml.safe_load((scales / "quickstart.yaml").read_text())
    worse["train"].update({"epochs": 1, "lr_max": 1e-6})
    (scales / "worse.yaml").write_text(yaml.safe_dump(worse))

    from pipelines.main import main_pipeline

    config = write_config(tmp_path, embedded_like, ["cnn_transformer"], "quickstart", scales)
    run = main_pipeline.with_options(config_path=str(config))()
    assert str(run.status).endswith("completed")

    evaluation = run.steps["evaluate_cnn_transformer"].outputs["evaluation"][0].load()
    # one held-out participant per split; 20 signs, so chance is 0.05
    assert evaluation.metrics.accuracy > 0.10, evaluation.metrics
    decision = run.steps["register_models"].outputs["promotion_decision"][0].load()
    assert decision.promoted and decision.run == "cnn_transformer"
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert (tmp_path / str(run.id) / "summary.md").read_text() == summary
    assert "| cnn_transformer |" in summary  # one run: no ensemble row
    assert "new champion" in summary and "mlflow ui --backend-store-uri" in summary
    assert "- evaluation files (per-class CSV" in summary
    # the champion's TFLite file at the one path the app image serves
    assert "- champion TFLite (what the app image serves): `" in summary
    assert "- trained models (`model.keras`, one folder per run)" in summary

    tracking_uri = zenml_stack.active_stack.experiment_tracker.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    champion = mlflow.keras.load_model(f"models:/{decision.model_name}@champion")
    frames = read_recording(sorted(real_data_dir.rglob("*.parquet"))[0])
    logits = np.asarray(champion(frames[None]))
    assert logits.shape == (1, 250) and np.isfinite(logits).all()

    export = run.steps["export_cnn_transformer"].outputs["tflite_export"][0].load()
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=export.path).get_signature_runner("serving_default")
    scores = runner(inputs=frames)["outputs"]
    assert scores.shape == (250,)
    assert int(np.argmax(scores)) == int(np.argmax(logits[0]))
    assert (tmp_path / "export" / "model.tflite").read_bytes() == Path(export.path).read_bytes()
    # every file of the run under <output_root>/<pipeline run id>/
    assert Path(export.path).parent == tmp_path / str(run.id)
    assert (tmp_path / str(run.id) / "validation" / "validation_report.json").is_file()
    assert (tmp_path / str(run.id) / "comparison.md").is_file()
    version = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri).get_model_version(
        decision.model_name, decision.version
    )
    assert version.tags["run"] == "cnn_transformer" and version.tags["tflite_uri"]

    # a worse run is registered as the challenger; the champion stays
    config = write_config(tmp_path, embedded_like, ["cnn"], "worse", scales)
    again = main_pipeline.with_options(config_path=str(config))()
    second = again.steps["register_models"].outputs["promotion_decision"][0].load()
    assert not second.promoted
    assert second.champion_version == decision.version
    assert second.challenger_version == second.registered["cnn"]
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    champion_now = client.get_model_version_by_alias(decision.model_name, "champion")
    assert str(champion_now.version) == decision.version
    assert "stays" in (tmp_path / "reports" / "summary.md").read_text()
