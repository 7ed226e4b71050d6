"""The ZenML training pipeline: one nested MLflow run per training run, with parameters,
per-epoch curves, lineage tags, the curve plot and the model."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pytest
import yaml


@pytest.mark.slow
def test_training_pipeline_tracks_each_run(
    zenml_stack, synth_dir, tmp_path, monkeypatch, repo_root
):
    monkeypatch.chdir(repo_root)
    data = tmp_path / "data"
    shutil.copytree(synth_dir, data)
    scales = tmp_path / "scales"
    scales.mkdir()
    (scales / "tiny.yaml").write_text(
        yaml.safe_dump(
            {
                "model": {
                    "dim": 16,
                    "max_len": 32,
                    "conv_blocks": 1,
                    "num_heads": 2,
                    "rnn_units": 8,
                    "linformer_k": 4,
                },
                "train": {"epochs": 2, "batch_per_replica": 16, "awp_start_epoch": 1},
            }
        )
    )
    config = yaml.safe_load(Path("configs/training_quickstart.yaml").read_text())
    config["parameters"]["job"] = {
        "data_dir": str(data),
        "output_root": str(tmp_path),
        "runs": ["cnn", "cnn_transformer_noaug"],
        "scale": "tiny",
        "scales_dir": str(scales),
        "split": {"n_folds": 3},
    }
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(config))

    from pipelines.training import training_pipeline

    run = training_pipeline.with_options(config_path=str(path))()
    assert str(run.status).endswith("completed")

    mlflow.set_tracking_uri(zenml_stack.active_stack.experiment_tracker.get_tracking_uri())
    found = mlflow.search_runs(
        search_all_experiments=True, filter_string="tags.run = 'cnn_transformer_noaug'"
    )
    assert len(found) == 1
    row = found.iloc[0]
    assert row["tags.architecture"] == "cnn_transformer"
    assert row["tags.data_md5"].endswith(".dir") and len(row["tags.git_commit"]) >= 7
    assert row["params.augmentation"] == "False" and row["params.model.dim"] == "16"
    client = mlflow.MlflowClient()
    history = client.get_metric_history(row["run_id"], "val_loss")
    assert [m.step for m in history] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(row["run_id"])}
    assert "training_curves.png" in artifacts and "model" in artifacts
    model = run.steps["train_cnn"].outputs["model"][0].load()
    assert model.name == "cnn"
    result = run.steps["train_cnn"].outputs["train_result"][0].load()
    assert len(result.history["loss"]) == 2

    # a changed scale file re-trains instead of reusing the cached model
    tiny = scales / "tiny.yaml"
    tiny.write_text(tiny.read_text().replace("epochs: 2", "epochs: 1"))
    again = training_pipeline.with_options(config_path=str(path))()
    assert str(again.steps["train_cnn"].status).endswith("completed")
    assert len(again.steps["train_cnn"].outputs["train_result"][0].load().history["loss"]) == 1
