"""Shared fixtures. The environment is set before any test module imports ZenML, which
reads it once: every test session gets its own throw-away ZenML store (and with it its
own MLflow database) and its own ZenML repository (where ZenML keeps the active stack),
both in a temporary folder. The checkout's `.zen/` and the user's store are never read
or written, so even a killed test session leaves the checkout as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
REAL_DATA = TEST_DATA / "asl-signs-real"

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="islr-tests-"))
# A ZenML repository is a folder holding `.zen/`; this one stands in for the checkout's.
# Sources (steps, pipelines) still resolve against the checkout: ZENML_CUSTOM_SOURCE_ROOT.
_ZENML_REPO = _SESSION_DIR / "zenml-repo"
(_ZENML_REPO / ".zen").mkdir(parents=True)
os.environ.update(
    {
        "ZENML_CONFIG_PATH": str(_SESSION_DIR / "zenml"),
        "ZENML_REPOSITORY_PATH": str(_ZENML_REPO),
        "ZENML_CUSTOM_SOURCE_ROOT": str(REPO),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_LOGGING_VERBOSITY": "WARN",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "HF_HUB_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
)
# Under pytest-xdist the workers share the cores: each gives TensorFlow its share of
# them (and so does every process a test starts, which inherits the environment)
# instead of each spinning up a thread pool the size of the machine. On 2 cores this
# took a tenth off the CPU time of the training tests.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _THREADS)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", _THREADS)
# Where CI keeps test output (screenshots, reports); ignored by git.
TEST_OUTPUT = Path(os.environ.get("ISLR_TEST_OUTPUT", REPO / "outputs" / "test-output"))


# The longest test files, longest first (pytest --durations on 2 cores). Parallel
# workers (`scripts/test.sh`: pytest-xdist, one file per worker at a time, in
# collection order) take them first, so that the run does not end waiting on one
# worker still training for minutes while the other has nothing left.
LONGEST_FIRST = (
    "integration/test_distribute.py",
    "e2e/test_real_signing.py",
    "integration/test_app.py",
    "e2e/test_cv_pipeline.py",
    "integration/test_export.py",
    "e2e/test_main_pipeline.py",
    "e2e/test_gpu_acceptance.py",
    "integration/test_trainer.py",
    "e2e/test_dashboard.py",
    "e2e/test_app_browser.py",
    "integration/test_zoo_training.py",
    "integration/test_mlflow_server.py",
    "integration/test_bad_input.py",
    "e2e/test_training_pipeline.py",
    "integration/test_placement.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = item.path.relative_to(REPO / "tests").as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Nine real asl-signs recordings (CC BY 4.0, see tests/data/asl-signs-real/README.md)."""
    return REAL_DATA


@pytest.fixture
def real_data_copy(tmp_path: Path) -> Path:
    """A writable copy of the real recordings, for tests that break things."""
    dst = tmp_path / "asl-signs"
    shutil.copytree(REAL_DATA, dst)
    return dst


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """A small generated data set: 6 signs x 6 participants x 2 recordings."""
    from islr.data.synth import generate_dataset

    out = tmp_path_factory.mktemp("synth") / "asl-signs"
    generate_dataset(out, n_signs=6, n_participants=6, per_sign=2, seed=7, workers=1)
    return out


@pytest.fixture(scope="session")
def zenml_stack():
    """The project's stack (local orchestrator/artifact store + MLflow tracker and
    registry) in this session's private ZenML store, active for the session."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    assert client.root == _ZENML_REPO, f"ZenML uses the repository {client.root}, not the tests'"
    names = {c.name for c in client.list_stack_components(size=100).items}
    if "mlflow_tracker" not in names:
        client.create_stack_component(
            "mlflow_tracker", "mlflow", StackComponentType.EXPERIMENT_TRACKER, {}
        )
    if "mlflow_registry" not in names:
        client.create_stack_component(
            "mlflow_registry", "mlflow", StackComponentType.MODEL_REGISTRY, {}
        )
    if "islr_local" not in {s.name for s in client.list_stacks(size=100).items}:
        client.create_stack(
            "islr_local",
            {
                StackComponentType.ORCHESTRATOR: "default",
                StackComponentType.ARTIFACT_STORE: "default",
                StackComponentType.EXPERIMENT_TRACKER: "mlflow_tracker",
                StackComponentType.MODEL_REGISTRY: "mlflow_registry",
            },
        )
    client.activate_stack("islr_local")
    return client


def run_cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run `python -m <module> args` as a user would, capturing output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


@contextmanager
def mlflow_store(folder: Path, experiment: str = "tests") -> Iterator[str]:
    """Make `folder/mlflow.db` this process's MLflow tracking store, with its own experiment.

    The experiment is set explicitly because MLflow remembers the active experiment id
    process-wide: after a pipeline test has tracked into experiment 1 of the session's
    ZenML store, a bare `start_run()` on a fresh store would look for experiment 1 there.
    """
    import mlflow

    uri = f"sqlite:///{folder}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def embedded_like(tmp_path_factory) -> Path:
    """The embedded data set's recipe (data.dvc meta): 20 signs x 8 signers x 3 takes."""
    from islr.data.embedded import synth_args
    from islr.data.synth import generate_dataset

    args = synth_args(Path(__file__).parents[1] / "data.dvc")
    out = tmp_path_factory.mktemp("embedded") / "data"
    generate_dataset(
        out,
        n_signs=args["signs"],
        n_participants=args["participants"],
        per_sign=args["per_sign"],
        seed=args["seed"],
        workers=0,
    )
    return out
