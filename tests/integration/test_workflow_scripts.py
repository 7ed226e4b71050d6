"""The workflows' `run:` blocks and the cluster scripts are valid bash (`bash -n`), the
cluster scripts and manifests agree, and configs/retrain.yaml names real steps of the
main pipeline and valid ZenML settings."""

from __future__ import annotations

import ast
import subprocess

import pytest
import yaml
from workflow_files import REPO, referenced_paths, run_scripts, workflow

MAIN_PIPELINE = REPO / "pipelines" / "main.py"


@pytest.mark.parametrize("name", ["ci.yml", "retrain.yml"])
def test_run_blocks_are_valid_bash(name):
    for script in run_scripts(workflow(name)):
        done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, f"{name}: {done.stderr}\n{script}"


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
    from islr.job import load_job

    job = load_job(REPO / "configs" / "retrain.yaml")
    assert job.scale == "full" and (REPO / "configs/scales/full.yaml").is_file()
    for run in job.run_names():
        assert (REPO / "configs" / "runs" / f"{run}.yaml").is_file(), run
    # the same shape as the quickstart config the main job uses: one typed job, and the
    # step blocks only hold settings (every parameter comes from the job)
    quickstart = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    assert set(quickstart["parameters"]) == set(params) == {"job"}
    for step, block in config["steps"].items():
        assert "parameters" not in block, step

    tree = ast.parse(MAIN_PIPELINE.read_text())
    main = next(n for n in tree.body if getattr(n, "name", "") == "main_pipeline")
    assert set(params) <= {a.arg for a in main.args.args}
    allowed = _pipeline_step_ids(params)
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
    for run in job.run_names():
        settings = config["steps"][f"train_{run}"]["settings"]
        assert settings["resources"]["gpu_count"] >= 1
        pod = settings["orchestrator.kubernetes"]["pod_settings"]
        assert (
            int(pod["resources"]["limits"]["nvidia.com/gpu"]) == settings["resources"]["gpu_count"]
        )
    for run in job.run_names():  # evaluation and the TFLite conversion: CPU nodes
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
    assert mounts[0]["mountPath"] == "/app/data" and job.data_dir == "data"


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
