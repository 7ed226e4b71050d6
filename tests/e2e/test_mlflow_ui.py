"""`mlflow ui` on the main job's local store, started with the command the README gives
(the store is whatever the active ZenML stack's tracker resolves to), opened in headless
Chromium at the runs-table link the main job's summary prints: it shows the pipeline's
run and, under it, the seven training runs with their `test_accuracy`.

The store's runs are written with MLflow's client in the shape the main job gives them:
an experiment named after the pipeline, the pipeline's run as the parent, and one
`train_<run>` run per model under it, holding that model's test metrics. What is under
test is the UI and the link; training the seven models would take minutes, and
tests/integration/test_mlflow_server.py already reads a really trained run off the same table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow_ui import free_port, require_browser, runs_table_metric, serving

from pipelines.training import ALL_RUNS

RUNS = list(ALL_RUNS)
PARENT = "main_pipeline-2026_12_02-14_33_31_761358"  # a pipeline run's name, as ZenML gives it

# The project's stack as scripts/stack.sh registers it (its MLflow tracker is what counts
# here), in a ZenML store of the test's own; prints the tracking URI that the README's
# command resolves. scripts/stack.sh itself would `zenml init` the checkout.
STACK = """
from zenml.client import Client
from zenml.enums import StackComponentType as T

client = Client()
client.create_stack_component("mlflow_tracker", "mlflow", T.EXPERIMENT_TRACKER, {})
components = {T.ORCHESTRATOR: "default", T.ARTIFACT_STORE: "default"}
client.create_stack("islr_local", {**components, T.EXPERIMENT_TRACKER: "mlflow_tracker"})
client.activate_stack("islr_local")
print(client.active_stack.experiment_tracker.get_tracking_uri())
"""


def _close(text: str, value: float) -> bool:
    try:
        return abs(float(text) - value) < 1e-3
    except ValueError:
        return False


@pytest.fixture
def browser() -> None:
    """First among a test's fixtures: without the browser nothing else is worth making."""
    require_browser()


@pytest.fixture
def main_job_store(tmp_path) -> tuple[dict[str, str], str, str, dict[str, float]]:
    """A ZenML store with the project's stack, and in its tracker's local MLflow store the
    main job's runs. Returns the environment that selects that store, its tracking URI,
    the experiment id and each training run's test accuracy."""
    import mlflow

    (tmp_path / "repo" / ".zen").mkdir(parents=True)
    env = {
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_REPOSITORY_PATH": str(tmp_path / "repo"),
    }
    done = subprocess.run(
        [sys.executable, "-c", STACK],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    uri = done.stdout.strip().splitlines()[-1]
    assert uri.startswith(f"sqlite:///{tmp_path}/"), uri  # the test's store, a local one

    client = mlflow.MlflowClient(tracking_uri=uri)  # no process-wide tracking URI is set
    experiment = client.create_experiment("main_pipeline")
    parent = client.create_run(experiment, run_name=PARENT)
    accuracy = {}
    for i, name in enumerate(RUNS):
        run = client.create_run(
            experiment,
            run_name=f"train_{name}",
            tags={"mlflow.parentRunId": parent.info.run_id, "run": name},
        )
        accuracy[f"train_{name}"] = round(0.61 + 0.037 * i, 4)  # one value per run
        client.log_metric(run.info.run_id, "test_accuracy", accuracy[f"train_{name}"])
        client.log_metric(run.info.run_id, "test_macro_f1", round(0.55 + 0.031 * i, 4))
        client.set_terminated(run.info.run_id)
    client.set_terminated(parent.info.run_id)
    return env, uri, experiment, accuracy


@pytest.fixture
def mlflow_ui(main_job_store, repo_root, tmp_path):
    """The README's `mlflow ui` command on a free port; yields its URL, stops it after."""
    env = main_job_store[0]
    readme = (repo_root / "README.md").read_text()
    (command,) = re.findall(r"^mlflow ui --backend-store-uri .+$", readme, re.M)
    assert (repo_root / ".venv" / "bin" / "python").is_file(), (
        "the README's command runs .venv/bin/python: bash scripts/bootstrap.sh makes it"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # a free port, and one worker without the job runner: lighter on a test box
    with serving(
        ["bash", "-c", f"{command} --port {port} --workers 1"],
        url,
        tmp_path / "mlflow-ui.log",
        "mlflow ui",
        cwd=repo_root,
        env={
            **os.environ,
            **env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
    ):
        yield url, tmp_path / "mlflow-ui.log"


@pytest.mark.slow
def test_mlflow_ui_shows_the_seven_runs_with_their_test_accuracy(
    browser, main_job_store, mlflow_ui
):
    from steps.summary import runs_table_url

    _, uri, experiment, accuracy = main_job_store
    url, log = mlflow_ui
    # the link the summary prints for a local store: `mlflow ui`'s default address
    link = runs_table_url(uri, experiment)
    assert link == f"http://127.0.0.1:5000/#/experiments/{experiment}/runs"
    shown = runs_table_metric(
        link.replace("http://127.0.0.1:5000", url),
        PARENT,
        "test_accuracy",
        list(accuracy),
        screenshot="mlflow-ui-local-runs.png",
    )
    for name, value in accuracy.items():
        cells = shown[name].replace("\n", " | ").split(" | ")
        assert name in cells, (name, shown[name])
        assert any(_close(cell, value) for cell in cells), (name, shown[name], value)
    assert "Traceback" not in log.read_text()
