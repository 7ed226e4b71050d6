"""The shared MLflow server: scripts/mlflow_server.sh started for real on a loopback port
(sqlite + an artifacts folder), a ZenML stack registered on it by
scripts/stack_shared_mlflow.sh, the real main pipeline run on that stack, and the
server then holding the run's metrics, tags and model, registered by the pipeline's
champion gate and loadable by its alias."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from mlflow_ui import free_port, serving

TRACKER = "shared_test_tracker"
REGISTRY = "shared_test_registry"
STACK = "islr_shared_test"
MODEL = "islr-shared-test"


def _close(text: str, value: float) -> bool:
    try:
        return abs(float(text) - value) < 1e-3
    except ValueError:
        return False


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory, repo_root):
    """The real server from scripts/mlflow_server.sh; stopped (its process group) after."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["bash", str(repo_root / "scripts" / "mlflow_server.sh")]
    env = {**os.environ, "MLFLOW_PORT": str(port), "ISLR_MLFLOW_DIR": str(home)}
    with serving(command, url, home / "server.log", "mlflow server", env=env):
        yield url, home


def test_server_script_binds_loopback_and_rejects_bad_port(repo_root):
    text = (repo_root / "scripts" / "mlflow_server.sh").read_text()
    assert 'host="${MLFLOW_HOST:-127.0.0.1}"' in text and "--workers 1" in text
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in text
    done = subprocess.run(
        ["bash", str(repo_root / "scripts" / "mlflow_server.sh")],
        env={**os.environ, "MLFLOW_PORT": "http"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "MLFLOW_PORT must be a number" in done.stderr


def test_stack_script_needs_credentials_for_a_remote_server(repo_root):
    done = subprocess.run(
        ["bash", str(repo_root / "scripts" / "stack_shared_mlflow.sh")],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")},
            "MLFLOW_TRACKING_URI": "https://mlflow.example.com",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "MLFLOW_TRACKING_TOKEN" in done.stderr


@pytest.mark.slow
def test_training_pipeline_tracks_to_the_shared_server(
    mlflow_server, zenml_stack, synth_dir, tmp_path, monkeypatch, repo_root
):
    import mlflow

    url, home = mlflow_server
    monkeypatch.chdir(repo_root)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": url,
        "ISLR_SHARED_STACK": STACK,
        "ISLR_TRACKER_NAME": TRACKER,
        "ISLR_REGISTRY_NAME": REGISTRY,
        "ISLR_STACK_SET": "0",
    }
    done = subprocess.run(
        ["bash", str(repo_root / "scripts" / "stack_shared_mlflow.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    stack = zenml_stack.get_stack(STACK)
    tracker = stack.components[next(k for k in stack.components if k.value == "experiment_tracker")]
    assert tracker[0].name == TRACKER and tracker[0].configuration["tracking_uri"] == url

    data = tmp_path / "data"
    shutil.copytree(synth_dir, data)
    scales = tmp_path / "scales"
    scales.mkdir()
    (scales / "tiny.yaml").write_text(
        yaml.safe_dump(
            {
                "model": {"dim": 16, "max_len": 32, "conv_blocks": 1},
                "train": {"epochs": 2, "batch_per_replica": 16, "awp_start_epoch": 1},
            }
        )
    )
    config = yaml.safe_load((repo_root / "configs" / "quickstart.yaml").read_text())
    # no tracker named here: the tracked steps use the active stack's, the shared one
    config["parameters"]["job"].update(
        {
            "data_dir": str(data),
            "output_root": str(tmp_path),
            "runs": ["cnn"],
            "scale": "tiny",
            "scales_dir": str(scales),
            "split": {"n_folds": 3},
            "registry": {"model_name": MODEL},
        }
    )
    path = tmp_path / "main.yaml"
    path.write_text(yaml.safe_dump(config))

    from pipelines.main import main_pipeline

    previous_stack = zenml_stack.active_stack_model.name
    previous_env = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    previous_uri = mlflow.get_tracking_uri()
    zenml_stack.activate_stack(STACK)
    try:
        run = main_pipeline.with_options(config_path=str(path))()
    finally:
        # the tracker exports MLFLOW_TRACKING_* into this process; later tests must not
        # inherit a server that is about to stop
        zenml_stack.activate_stack(previous_stack)
        for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
            if key not in previous_env:
                del os.environ[key]
        os.environ.update(previous_env)
        mlflow.set_tracking_uri(previous_uri)
    assert str(run.status).endswith("completed")
    assert zenml_stack.active_stack_model.name == previous_stack

    client = mlflow.MlflowClient(tracking_uri=url, registry_uri=url)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string="tags.run = 'cnn'")
    assert len(runs) == 1
    tracked = runs[0]
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags["architecture"] == "cnn"
    assert tracked.data.tags["data_md5"].endswith(".dir")
    assert tracked.data.params["model.dim"] == "16"
    history = client.get_metric_history(tracked.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]
    assert {"accuracy", "val_accuracy", "best_epoch"} <= set(tracked.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(tracked.info.run_id)}
    assert "training_curves.png" in artifacts
    # the server proxied the artifacts into its own destination folder
    stored = {p.name for p in (home / "artifacts").rglob("*") if p.is_file()}
    assert "training_curves.png" in stored and "MLmodel" in stored

    # the pipeline's champion gate registered the run on the shared registry
    decision = run.steps["register_models"].outputs["promotion_decision"][0].load()
    assert decision.promoted and decision.model_name == MODEL
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.version == decision.version and champion.run_id == tracked.info.run_id
    assert champion.tags["run"] == "cnn" and champion.tags["tflite_uri"].startswith("runs:/")
    assert "test_accuracy" in client.get_run(tracked.info.run_id).data.metrics
    mlflow.set_tracking_uri(url)
    try:
        model = mlflow.keras.load_model(f"models:/{MODEL}@champion")
    finally:
        mlflow.set_tracking_uri(previous_uri)
    scores = model(np.zeros((1, 8, 543, 3), "float32"))
    assert tuple(scores.shape) == (1, 250)

    # The summary's MLflow link opens the runs table (not the GenAI overview): under the
    # pipeline's run, which carries the comparison, the training run with its test metric.
    from mlflow_ui import require_browser, runs_table_metric, runs_url_from_summary

    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert '"Model training" switch' in summary
    link = runs_url_from_summary(summary)
    assert link == f"{url}/#/experiments/{tracked.info.experiment_id}/runs"
    parent = client.get_run(tracked.data.tags["mlflow.parentRunId"])
    parent_artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert "comparison/comparison.md" in parent_artifacts
    assert "training_curves.png" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert parent.data.tags["runs_table_url"] == link
    require_browser()
    shown = runs_table_metric(link, parent.info.run_name, "test_accuracy", [tracked.info.run_name])
    value = client.get_run(tracked.info.run_id).data.metrics["test_accuracy"]
    cells = shown[tracked.info.run_name].replace("\n", " | ").split(" | ")
    assert any(_close(cell, value) for cell in cells), (shown, value)
