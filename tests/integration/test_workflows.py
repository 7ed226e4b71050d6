"""CI and retraining workflows, the retraining config and the cluster scripts: triggers,
that every script, file and config they name exists, that their shell is valid bash, that
pinned versions are constraints.txt's, and that configs/retrain.yaml names real steps and
valid ZenML settings."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
MAIN_PIPELINE = REPO / "pipelines" / "main.py"
DATA_STEPS = (
    "fingerprint_data",
    "ingest_data",
    "validate_data",
    "split_folds",
    "write_tfrecord_shards",
    "summarize_data",
)


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True
    data["on"] = data.pop(True, data.get("on"))
    return data


def run_scripts(data: dict) -> list[str]:
    return [s["run"] for job in data["jobs"].values() for s in job["steps"] if "run" in s]


def pins() -> dict[str, str]:
    """constraints.txt, the tested set: lowercase name -> version."""
    out = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return out


def referenced_paths(text: str) -> set[str]:
    pattern = (
        r"(?<![\w./-])((?:scripts|configs|docker|\.ci|docs)/[\w./-]+|data\.dvc|pyproject\.toml"
        r"|constraints\.txt)"
    )
    # `owner/action@version` names a GitHub action, not a file of the repository
    return {
        m.group(1).rstrip(".")
        for m in re.finditer(pattern, text)
        if not text.startswith("@", m.end())
    }


def valid_cron_field(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and low <= int(b) <= high for b in bounds):
            return False
    return True


def test_cron_validator_itself():
    assert valid_cron_field("17", 0, 59) and valid_cron_field("*/15", 0, 59)
    assert not valid_cron_field("60", 0, 59) and not valid_cron_field("1-2-3", 0, 59)


def test_ci_triggers_and_steps():
    ci = workflow("ci.yml")
    assert "push" in ci["on"] and "pull_request" in ci["on"]
    test = ci["jobs"]["test"]
    steps = test["steps"]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "3.11"
    assert setup["with"]["cache"] == "pip"
    # the cache follows the ranges and the tested versions
    assert setup["with"]["cache-dependency-path"].split() == ["pyproject.toml", "constraints.txt"]
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "outputs/test-output"
    # the tests write where the artifact is collected from
    assert test["env"]["ISLR_TEST_OUTPUT"].endswith("/outputs/test-output")
    assert "ISLR_TEST_OUTPUT" in (REPO / ".ci" / "run").read_text()


def test_retrain_triggers_and_pipeline():
    retrain = workflow("retrain.yml")
    assert "workflow_dispatch" in retrain["on"]
    (schedule,) = retrain["on"]["schedule"]
    fields = schedule["cron"].split()
    assert len(fields) == 5
    ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
    assert all(valid_cron_field(f, lo, hi) for f, (lo, hi) in zip(fields, ranges, strict=True))
    text = "\n".join(run_scripts(retrain))
    assert 'zenml pipeline run pipelines.main.main_pipeline -c "$PIPELINE_CONFIG"' in text
    job = retrain["jobs"]["retrain"]
    assert "configs/retrain.yaml" in job["env"]["PIPELINE_CONFIG"]
    assert retrain["on"]["workflow_dispatch"]["inputs"]["config"]["default"] == (
        "configs/retrain.yaml"
    )
    assert "dvc pull data.dvc" in text and "GITHUB_STEP_SUMMARY" in text
    assert "outputs/reports/comparison.md" in text
    # the stack and the remote come from repository settings, never from the file
    assert job["env"]["ZENML_STACK"] == "${{ vars.ZENML_STACK }}"
    assert job["env"]["ZENML_STORE_API_KEY"] == "${{ secrets.ZENML_STORE_API_KEY }}"
    assert job["env"]["DVC_REMOTE_URL"] == "${{ vars.DVC_REMOTE_URL }}"
    assert job["env"]["MLFLOW_TRACKING_URI"] == "${{ vars.MLFLOW_TRACKING_URI }}"
    assert job["env"]["MLFLOW_TRACKING_TOKEN"] == "${{ secrets.MLFLOW_TRACKING_TOKEN }}"
    # a gate against a store that dies with the runner is said, not silently accepted
    assert "::warning::No ZENML_STORE_URL or MLFLOW_TRACKING_URI" in text
    login = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/login-action"))
    assert login["if"] == "${{ vars.CONTAINER_REGISTRY != '' }}"
    assert login["with"]["password"] == "${{ secrets.CONTAINER_REGISTRY_PASSWORD }}"


@pytest.mark.parametrize("name", ["ci.yml", "retrain.yml"])
def test_run_blocks_are_valid_bash(name):
    for script in run_scripts(workflow(name)):
        done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, f"{name}: {done.stderr}\n{script}"


@pytest.mark.parametrize("name", ["ci.yml", "retrain.yml"])
def test_referenced_files_exist_and_pins_match(name):
    text = (WORKFLOWS / name).read_text()
    paths = referenced_paths(text)
    assert paths, name
    for path in paths:
        assert (REPO / path).exists(), f"{name} references {path}, which does not exist"
    known = pins()
    for package, version in re.findall(r"([\w.\-]+)(?:\[[^\]]*\])?==([0-9][\w.]*)", text):
        key = re.sub(r"[-_.]+", "-", package).lower()
        assert known.get(key) == version, f"{name}: {package}=={version}"
    for source in re.findall(r"zenml pipeline run ([\w.]+)", text):
        module, _, attribute = source.rpartition(".")
        path = REPO / Path(*module.split(".")).with_suffix(".py")
        if module == "pipelines.main" and not path.exists():
            pytest.skip("pipelines/main.py (the main pipeline) is not in the tree yet")
        tree = ast.parse(path.read_text())
        assert attribute in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def _pipeline_step_ids(params: dict) -> set[str]:
    """Step ids of the main pipeline with these parameters, from its compiled graph (the
    pipeline function run by ZenML without running any step)."""
    from pipelines.main import main_pipeline

    pipeline = main_pipeline.copy()
    pipeline.prepare(**params)
    return set(pipeline.invocations)


def test_retrain_config_names_real_steps_and_valid_settings(zenml_stack):
    from zenml.config import DockerSettings, ResourceSettings
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.integrations.kubeflow.flavors.kubeflow_orchestrator_flavor import (
        KubeflowOrchestratorSettings,
    )
    from zenml.integrations.kubernetes.flavors.kubernetes_orchestrator_flavor import (
        KubernetesOrchestratorSettings,
    )
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    config = yaml.safe_load((REPO / "configs" / "retrain.yaml").read_text())
    PipelineRunConfiguration.model_validate(config)
    params = config["parameters"]
    assert params["scale"] == "full" and (REPO / "configs/scales/full.yaml").is_file()
    for run in params["runs"]:
        assert (REPO / "configs" / "runs" / f"{run}.yaml").is_file(), run
    # the same shape as the quickstart config the main job uses
    shape = REPO / "configs" / "quickstart.yaml"
    if not shape.exists():  # the main job's config; the training one has the same shape
        shape = REPO / "configs" / "training_quickstart.yaml"
    quickstart = yaml.safe_load(shape.read_text())
    assert set(quickstart["parameters"]) <= set(params)
    for step, block in quickstart["steps"].items():
        assert set(block["parameters"]) == set(config["steps"][step]["parameters"]), step

    if MAIN_PIPELINE.exists():
        tree = ast.parse(MAIN_PIPELINE.read_text())
        main = next(n for n in tree.body if getattr(n, "name", "") == "main_pipeline")
        assert set(params) <= {a.arg for a in main.args.args}
        allowed = _pipeline_step_ids(params)
    else:
        allowed = set(DATA_STEPS) | {"compare_runs", "register_models", "summarize_main"}
        for run in params["runs"]:
            allowed |= {f"train_{run}", f"evaluate_{run}", f"export_{run}"}
    unknown = set(config["steps"]) - allowed
    assert not unknown, f"configs/retrain.yaml names steps the pipeline lacks: {unknown}"

    def check_settings(settings: dict, where: str) -> None:
        if "docker" in settings:
            DockerSettings.model_validate(settings["docker"])
        if "resources" in settings:
            ResourceSettings.model_validate(settings["resources"])
        k8s = settings.get("orchestrator.kubernetes", {})
        # (full validation of pod settings needs the kubernetes client, which only the
        # cluster stack installs; the field names are checked here)
        assert set(k8s) <= set(KubernetesOrchestratorSettings.model_fields), where
        assert set(k8s.get("pod_settings", {})) <= set(KubernetesPodSettings.model_fields), where
        kubeflow = settings.get("orchestrator.kubeflow", {})
        assert set(kubeflow) <= set(KubeflowOrchestratorSettings.model_fields), where
        assert set(kubeflow.get("pod_settings", {})) <= set(KubernetesPodSettings.model_fields)
        # what a step asks of Kubernetes it asks of Kubeflow too
        if "pod_settings" in k8s:
            assert kubeflow.get("pod_settings") == k8s["pod_settings"], where

    check_settings(config["settings"], "pipeline")
    for step, block in config["steps"].items():
        check_settings(block.get("settings", {}), step)
    for run in params["runs"]:
        settings = config["steps"][f"train_{run}"]["settings"]
        assert settings["resources"]["gpu_count"] >= 1
        pod = settings["orchestrator.kubernetes"]["pod_settings"]
        assert (
            int(pod["resources"]["limits"]["nvidia.com/gpu"]) == settings["resources"]["gpu_count"]
        )
    for run in params["runs"]:  # evaluation and the TFLite conversion: CPU nodes
        for step in (f"evaluate_{run}", f"export_{run}"):
            settings = config["steps"][step]["settings"]
            assert (
                settings["resources"]["cpu_count"] >= 1 and "gpu_count" not in settings["resources"]
            )
            pod = settings["orchestrator.kubernetes"]["pod_settings"]
            assert pod["node_selectors"] == {"islr.io/pool": "cpu"}, step
            assert pod["volume_mounts"][0]["mountPath"] == "/app/data", step
    assert config["settings"]["orchestrator.kubeflow"]["timeout"] >= 24 * 3600
    shards = config["steps"]["write_tfrecord_shards"]["settings"]
    assert shards["resources"]["cpu_count"] >= 4 and shards["resources"]["memory"]
    mounts = config["settings"]["orchestrator.kubernetes"]["pod_settings"]["volume_mounts"]
    assert mounts[0]["mountPath"] == "/app/data" and params["data_dir"] == "data"


def test_cluster_scripts_and_manifests():
    for script in ("stack_cluster.sh", "stack_shared_mlflow.sh", "mlflow_server.sh"):
        path = REPO / "scripts" / script
        done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        for ref in referenced_paths(path.read_text()):
            assert (REPO / ref).exists(), f"{script} references {ref}, which does not exist"
    text = (REPO / "scripts" / "stack_cluster.sh").read_text()
    for command in (
        "zenml orchestrator register",
        "--flavor=kubernetes",
        "--flavor=kubeflow",
        "zenml artifact-store register",
        "zenml container-registry register",
        "zenml image-builder register",
        "scripts/stack_shared_mlflow.sh",
        "configs/stacks/kubernetes.yaml",
        "configs/retrain.yaml",
        "configs/cluster.yaml",
    ):
        assert command in text, command
    docs = list(yaml.safe_load_all((REPO / "configs" / "stacks" / "kubernetes.yaml").read_text()))
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    retrain = yaml.safe_load((REPO / "configs" / "retrain.yaml").read_text())
    k8s = retrain["settings"]["orchestrator.kubernetes"]
    assert ("ServiceAccount", k8s["service_account_name"]) in kinds
    claim = k8s["pod_settings"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in kinds
    cluster = yaml.safe_load((REPO / "configs" / "cluster.yaml").read_text())["tfjob"]
    assert ("ServiceAccount", cluster["service_account"]) in kinds
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        cluster["namespace"]
    }
    role = next(d for d in docs if d["kind"] == "Role")
    assert {"create", "get"} <= set(role["rules"][0]["verbs"])
    assert "tfjobs" in role["rules"][0]["resources"]
