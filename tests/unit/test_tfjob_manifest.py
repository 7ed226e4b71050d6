"""The TFJob manifest built from a run config, job names, refused local paths and the
shipped cluster config (launching against a Kubernetes API is
tests/integration/test_tfjob.py)."""

from __future__ import annotations

import json

import pytest
import yaml
from tfjob_settings import job_for, settings_for

from islr.cluster.tfjob import build_tfjob_manifest, job_name, tfjob_config_for_run
from islr.errors import ConfigError
from islr.training.config import load_run_config


@pytest.fixture(scope="module")
def run_config(repo_root):
    return load_run_config(
        repo_root / "configs/runs/cnn_transformer.yaml", repo_root / "configs/scales/full.yaml"
    )


def test_manifest_from_run_config(run_config):
    job = job_for(run_config, None)
    manifest = build_tfjob_manifest(job)
    assert manifest["apiVersion"] == "kubeflow.org/v1" and manifest["kind"] == "TFJob"
    assert manifest["metadata"] == {
        "name": "islr-cnn-transformer-1a2b3c4d",
        "namespace": "ml",
        "labels": {"app.kubernetes.io/name": "islr", "islr/run": job.name},
        "annotations": {
            "islr/run-name": "cnn_transformer",
            "islr/model-uri": "gs://bucket/islr/tfjobs/run1/cnn_transformer/model.keras",
            # full scale: 64 per replica x 3 workers x 2 GPUs
            "islr/global-batch": str(64 * 3 * 2),
        },
    }
    spec = manifest["spec"]
    assert spec["runPolicy"]["cleanPodPolicy"] == "Running"
    worker = spec["tfReplicaSpecs"]["Worker"]
    assert list(spec["tfReplicaSpecs"]) == ["Worker"]
    assert worker["replicas"] == 3 and worker["restartPolicy"] == "OnFailure"
    pod = worker["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    (container,) = pod["containers"]
    assert container["name"] == "tensorflow"  # the operator injects TF_CONFIG only here
    assert container["image"] == "registry.example.com/islr-train:1"
    assert container["resources"] == {
        "requests": {"cpu": "6", "memory": "40Gi"},
        "limits": {"memory": "40Gi", "nvidia.com/gpu": "2"},
    }
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["ISLR_TFRECORDS"] == "gs://bucket/islr/tfrecords/abc"
    assert env["ISLR_OUT"] == "gs://bucket/islr/tfjobs/run1/cnn_transformer/"
    assert "TF_CONFIG" not in env  # set by the training operator, per replica
    # the resolved run travels in the manifest, so the image's files cannot drift from it
    shipped = json.loads(env["ISLR_RUN_CONFIG"])
    assert shipped == run_config.model_dump(mode="json")
    assert shipped["train"]["epochs"] == 120 and shipped["model"]["dim"] == 192
    command = " ".join(container["command"])
    assert "exec islr cluster worker --run /tmp/islr-run.json" in command
    assert '--tfrecords "$ISLR_TFRECORDS" --out "$ISLR_OUT"' in command
    # the manifest must survive a YAML round trip (kubectl apply -f)
    assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest


def test_cpu_only_workers_and_names(run_config):
    job = job_for(run_config, None, resources={"gpus": 0, "cpu": "2", "memory": "4Gi"})
    container = build_tfjob_manifest(job)["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"][
        "containers"
    ][0]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert job_name("cnn_bilstm") == "islr-cnn-bilstm"
    long = job_name("a_really_long_run_name_" * 4, "deadbeef")
    assert len(long) <= 48 and long.endswith("-deadbeef")


def test_local_paths_are_refused(run_config):
    with pytest.raises(ConfigError, match=r"tfrecords_uri='/home/me/tfrecords'.*gs://"):
        tfjob_config_for_run(
            run_config, settings_for(None), "/home/me/tfrecords", "gs://bucket/out"
        )
    ok = tfjob_config_for_run(
        run_config, settings_for(None, allow_local_paths=True), "/shared/tf", "/shared/out"
    )
    assert ok.model_uri == "/shared/out/model.keras"


def test_shipped_cluster_config_and_bad_values(repo_root, tmp_path):
    from islr.cluster.tfjob import load_cluster_settings

    settings = load_cluster_settings(repo_root / "configs" / "cluster.yaml")
    # the full scale's global batch of 512 = 64 per replica x workers x GPUs per worker
    assert settings.workers * settings.resources.gpus * 64 == 512
    bad = tmp_path / "cluster.yaml"
    bad.write_text(yaml.safe_dump({"tfjob": {"image": "x", "workers": 0}}))
    with pytest.raises(ConfigError, match=r"cluster.yaml: tfjob.workers: .*\(got 0\)"):
        load_cluster_settings(bad)
    bad.write_text("image: x\n")
    with pytest.raises(ConfigError, match=r"`tfjob:` block"):
        load_cluster_settings(bad)
