"""The TFJob launcher: the manifest built from a run config, and create/poll against a
Kubernetes API served on loopback by the test (real HTTP, a kubeconfig file, no patched
client)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import pytest
import yaml
from zenml import pipeline, step

from islr.cluster.tfjob import (
    KubeconfigError,
    KubernetesApi,
    KubernetesApiError,
    TFJobError,
    TFJobFailedError,
    TFJobSettings,
    TFJobTimeoutError,
    build_tfjob_manifest,
    job_name,
    run_tfjob,
    tfjob_config_for_run,
)
from islr.data.tfrecord import SPLITS_FILE, TFRecordSet
from islr.errors import ConfigError
from islr.training.config import load_run_config

TOKEN = "s3cret-token"
PREFIX = "/apis/kubeflow.org/v1/namespaces/"


class FakeTrainingOperator:
    """The API server's side of tfjobs: stores created jobs and, on each GET, moves a job
    along a scripted list of statuses (the last one repeats)."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], dict] = {}
        self.statuses: list[dict] = []
        self.polls = 0
        self.create_error: tuple[int, dict] | None = None
        self.requests: list[tuple[str, str, str | None]] = []
        # when set, a Succeeded status also writes what the chief would (local out dir)
        self.chief_result: dict | None = None

    def write_chief_outputs(self, manifest: dict) -> None:
        spec = manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
        env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
        out = Path(env["ISLR_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.keras").write_bytes(b"not a real model")
        result = {**self.chief_result, "name": json.loads(env["ISLR_RUN_CONFIG"])["name"]}
        (out / "train_result.json").write_text(json.dumps(result))

    def handler(self):
        operator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str, message: str) -> None:
                body = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
                self._send(code, {**body, "reason": reason, "message": message, "code": code})

            def _authorized(self) -> bool:
                operator.requests.append(
                    (self.command, self.path, self.headers.get("Authorization"))
                )
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._status(401, "Unauthorized", "Unauthorized")
                    return False
                return True

            def do_POST(self):
                if not self._authorized():
                    return
                parts = self.path[len(PREFIX) :].split("/")
                if not self.path.startswith(PREFIX) or parts[1:] != ["tfjobs"]:
                    return self._status(404, "NotFound", f"no route {self.path}")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if operator.create_error:
                    return self._send(*operator.create_error)
                key = (parts[0], body["metadata"]["name"])
                if key in operator.jobs:
                    return self._status(
                        409, "AlreadyExists", f'tfjobs.kubeflow.org "{key[1]}" already exists'
                    )
                operator.jobs[key] = body
                self._send(201, {**body, "status": {}})

            def do_GET(self):
                if not self._authorized():
                    return
                parts = self.path[len(PREFIX) :].split("/")
                key = (parts[0], parts[-1])
                if key not in operator.jobs:
                    return self._status(404, "NotFound", f'tfjobs "{key[1]}" not found')
                status = operator.statuses[min(operator.polls, len(operator.statuses) - 1)]
                operator.polls += 1
                if operator.chief_result and any(
                    c["type"] == "Succeeded" for c in status.get("conditions", [])
                ):
                    operator.write_chief_outputs(operator.jobs[key])
                self._send(200, {**operator.jobs[key], "status": status})

        return Handler


def _condition(kind: str, message: str = "", reason: str = "") -> dict:
    return {"type": kind, "status": "True", "reason": reason or f"TFJob{kind}", "message": message}


CREATED = {"conditions": [_condition("Created", "TFJob islr-cnn is created.")]}
RUNNING = {
    "conditions": [_condition("Created"), _condition("Running", "TFJob islr-cnn is running.")],
    "replicaStatuses": {"Worker": {"active": 2}},
}


@pytest.fixture
def operator(tmp_path: Path):
    fake = FakeTrainingOperator()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [
                    {
                        "name": "loop",
                        "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"},
                    }
                ],
                "users": [{"name": "ci", "user": {"token": TOKEN}}],
                "contexts": [{"name": "test", "context": {"cluster": "loop", "user": "ci"}}],
            }
        )
    )
    fake.kubeconfig = kubeconfig
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def run_config(repo_root):
    return load_run_config(
        repo_root / "configs/runs/cnn_transformer.yaml", repo_root / "configs/scales/full.yaml"
    )


def _settings(operator, **overrides) -> TFJobSettings:
    values = {
        "image": "registry.example.com/islr-train:1",
        "namespace": "ml",
        "workers": 3,
        "resources": {"gpus": 2, "cpu": "6", "memory": "40Gi"},
        "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
        "poll_interval_s": 0.01,
        "timeout_s": 5,
        "kubeconfig": str(operator.kubeconfig) if operator else None,
    }
    return TFJobSettings.model_validate({**values, **overrides})


def _job(run_config, operator, **overrides):
    return tfjob_config_for_run(
        run_config,
        _settings(operator, **overrides),
        tfrecords_uri="gs://bucket/islr/tfrecords/abc",
        out_uri="gs://bucket/islr/tfjobs/run1/cnn_transformer/",
        suffix="1A2B3C4D",
    )


def test_manifest_from_run_config(run_config):
    job = _job(run_config, None)
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
    assert "exec islr train --run /tmp/islr-run.json" in command
    assert '--tfrecords "$ISLR_TFRECORDS" --out "$ISLR_OUT"' in command
    # the manifest must survive a YAML round trip (kubectl apply -f)
    assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest


def test_worker_script_writes_a_loadable_run_file(run_config, tmp_path):
    """What the worker's shell writes from the environment is a run file that
    `load_run_config` reads back to the same config."""
    import subprocess

    manifest = build_tfjob_manifest(_job(run_config, None))
    container = manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    script = container["command"][2].split(" && ")[0].replace("/tmp/islr-run.json", "run.json")
    subprocess.run(["/bin/sh", "-c", script], cwd=tmp_path, env=env, check=True)
    assert load_run_config(tmp_path / "run.json") == run_config


def test_cpu_only_workers_and_names(run_config):
    job = _job(run_config, None, resources={"gpus": 0, "cpu": "2", "memory": "4Gi"})
    container = build_tfjob_manifest(job)["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"][
        "containers"
    ][0]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert job_name("cnn_bilstm") == "islr-cnn-bilstm"
    long = job_name("a_really_long_run_name_" * 4, "deadbeef")
    assert len(long) <= 48 and long.endswith("-deadbeef")


def test_local_paths_are_refused(run_config):
    with pytest.raises(ConfigError, match=r"tfrecords_uri='/home/me/tfrecords'.*gs://"):
        tfjob_config_for_run(run_config, _settings(None), "/home/me/tfrecords", "gs://bucket/out")
    ok = tfjob_config_for_run(
        run_config, _settings(None, allow_local_paths=True), "/shared/tf", "/shared/out"
    )
    assert ok.model_uri == "/shared/out/model.keras"


def test_run_succeeds_after_polls(run_config, operator):
    operator.statuses = [
        CREATED,
        RUNNING,
        RUNNING,
        {"conditions": [*RUNNING["conditions"], _condition("Succeeded", "done")]},
    ]
    job = _job(run_config, operator)
    assert run_tfjob(job) == "gs://bucket/islr/tfjobs/run1/cnn_transformer/model.keras"
    assert operator.polls == 4
    stored = operator.jobs[("ml", job.name)]
    assert stored == build_tfjob_manifest(job)
    methods = [(m, p) for m, p, _ in operator.requests]
    assert methods[0] == ("POST", "/apis/kubeflow.org/v1/namespaces/ml/tfjobs")
    assert methods[1:] == [("GET", f"/apis/kubeflow.org/v1/namespaces/ml/tfjobs/{job.name}")] * 4


def test_failed_job_reports_the_condition_message(run_config, operator):
    message = "TFJob islr-cnn has failed because 1 Worker replica(s) failed."
    operator.statuses = [
        RUNNING,
        {"conditions": [*RUNNING["conditions"], _condition("Failed", message, "TFJobFailed")]},
    ]
    job = _job(run_config, operator)
    with pytest.raises(TFJobFailedError) as info:
        run_tfjob(job)
    assert info.value.message == message and info.value.reason == "TFJobFailed"
    assert f"ml/{job.name}" in str(info.value) and f"{job.name}-worker-0" in str(info.value)


def test_timeout(run_config, operator):
    operator.statuses = [RUNNING]
    job = _job(run_config, operator, timeout_s=0.2, poll_interval_s=0.02)
    with pytest.raises(TFJobTimeoutError, match=r"within 0.2 s .*Running=True.*kubectl delete"):
        run_tfjob(job)
    assert operator.polls >= 3


def test_conflict_and_forbidden_are_api_errors(run_config, operator):
    operator.statuses = [{"conditions": [_condition("Succeeded")]}]
    job = _job(run_config, operator)
    run_tfjob(job)
    with pytest.raises(KubernetesApiError) as info:
        run_tfjob(job)  # same name again
    assert info.value.status == 409 and "already exists" in info.value.body
    assert "kubectl delete tfjob" in str(info.value)

    forbidden = {
        "kind": "Status",
        "status": "Failure",
        "reason": "Forbidden",
        "code": 403,
        "message": 'tfjobs.kubeflow.org is forbidden: User "ci" cannot create resource',
    }
    operator.create_error = (403, forbidden)
    with pytest.raises(KubernetesApiError, match=r"POST .*/namespaces/ml/tfjobs answered 403"):
        run_tfjob(_job(run_config, operator, namespace="ml"))
    operator.create_error = None


def test_credentials_and_kubeconfig_errors(run_config, operator, tmp_path):
    config = yaml.safe_load(operator.kubeconfig.read_text())
    # a token file relative to the kubeconfig's folder
    (tmp_path / "token").write_text(TOKEN + "\n")
    config["users"][0]["user"] = {"tokenFile": "token"}
    operator.kubeconfig.write_text(yaml.safe_dump(config))
    operator.statuses = [{"conditions": [_condition("Succeeded")]}]
    run_tfjob(_job(run_config, operator))
    assert operator.requests[-1][2] == f"Bearer {TOKEN}"

    config["users"][0]["user"] = {"token": "wrong"}
    operator.kubeconfig.write_text(yaml.safe_dump(config))
    with pytest.raises(KubernetesApiError) as info:
        run_tfjob(_job(run_config, operator, namespace="other"))
    assert info.value.status == 401 and "refused" in str(info.value)

    with pytest.raises(KubeconfigError, match=r"contexts: no entry named 'prod'"):
        KubernetesApi.from_kubeconfig(operator.kubeconfig, context="prod")
    missing = tmp_path / "nope"
    with pytest.raises(KubeconfigError, match="nope"):
        KubernetesApi.from_kubeconfig(missing)

    config["users"][0]["user"] = {"tokenFile": "gone"}
    operator.kubeconfig.write_text(yaml.safe_dump(config))
    with pytest.raises(KubeconfigError, match=r"tokenFile 'gone' cannot be read"):
        KubernetesApi.from_kubeconfig(operator.kubeconfig)


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = KubernetesApi(f"http://127.0.0.1:{port}", token=TOKEN)
    with pytest.raises(TFJobError, match=rf"GET http://127.0.0.1:{port}/x: cannot reach"):
        api.request("GET", "/x")


def _cli(*argv: str) -> int:
    """`islr cluster ...` through the command's own argparse registration."""
    import argparse

    from islr.cluster.commands import register

    parser = argparse.ArgumentParser(prog="islr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_shipped_cluster_config_and_bad_values(repo_root, tmp_path):
    from islr.cluster.tfjob import load_cluster_settings

    settings = load_cluster_settings(repo_root / "configs" / "cluster.yaml")
    # the full scale's global batch of 512 = 64 per replica x workers x GPUs per worker
    assert settings.workers * settings.resources.gpus * 64 == 512
    bad = tmp_path / "cluster.yaml"
    bad.write_text(yaml.safe_dump({"tfjob": {"image": "x", "workers": 0}}))
    with pytest.raises(ConfigError, match=r"cluster.yaml: tfjob.workers=0"):
        load_cluster_settings(bad)
    bad.write_text("image: x\n")
    with pytest.raises(ConfigError, match=r"`tfjob:` block"):
        load_cluster_settings(bad)


def test_cli_dry_run_and_launch(repo_root, operator, tmp_path, capsys):
    cluster = yaml.safe_load((repo_root / "configs" / "cluster.yaml").read_text())
    cluster["tfjob"].update(kubeconfig=str(operator.kubeconfig), poll_interval_s=0.01)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(cluster))
    common = [
        "cluster",
        "tfjob",
        "--run",
        str(repo_root / "configs/runs/cnn.yaml"),
        "--scale",
        str(repo_root / "configs/scales/full.yaml"),
        "--cluster",
        str(path),
        "--tfrecords",
        "s3://b/tf",
        "--out",
        "s3://b/out",
        "--image",
        "img:2",
    ]
    assert _cli(*common, "--dry-run") == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    assert manifest["kind"] == "TFJob" and manifest["metadata"]["name"] == "islr-cnn"
    worker = manifest["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["template"]["spec"]["containers"][0]["image"] == "img:2"
    assert operator.jobs == {}  # nothing was created

    operator.statuses = [RUNNING, {"conditions": [_condition("Succeeded")]}]
    assert _cli(*common, "--workers", "4", "--suffix", "r1") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"tfjob": "islr/islr-cnn-r1", "model": "s3://b/out/model.keras"}
    assert (
        operator.jobs[("islr", "islr-cnn-r1")]["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 4
    )


@step(output_materializers={"tfrecords": "steps.materializers.TFRecordSetMaterializer"})
def empty_shards(directory: str) -> Annotated[TFRecordSet, "tfrecords"]:
    """A shard set with no shards: the job never reads them (the API is simulated)."""
    record_set = TFRecordSet(
        directory=directory, files={}, folds={}, counts={}, n_records=0, eval_fold=0
    )
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / SPLITS_FILE).write_text(record_set.model_dump_json(exclude={"directory"}))
    return record_set


@pipeline(enable_cache=False)
def cluster_training(directory: str, config: dict, cluster: dict, out_root: str):
    from steps.tfjob import train_on_cluster

    train_on_cluster(
        tfrecords=empty_shards(directory=directory),
        config=config,
        cluster=cluster,
        scale="full",
        out_root=out_root,
    )


@pytest.mark.slow
def test_train_on_cluster_step(zenml_stack, operator, run_config, tmp_path, monkeypatch):
    """The ZenML step end to end on the loopback API: launches the job, reads the chief's
    train_result.json and returns the model URI; the run is tracked in MLflow."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    operator.statuses = [RUNNING, {"conditions": [_condition("Succeeded")]}]
    history = {"loss": [2.0, 1.5], "val_loss": [2.1, 1.7]}
    operator.chief_result = {
        "model_path": "ignored",
        "history": history,
        "best_epoch": 1,
        "diverged": False,
        "parameters": 1234,
        "global_batch": 512,
        "replicas": 8,
        "precision": "mixed_bfloat16",
    }
    settings = _settings(operator, allow_local_paths=True, namespace="islr")
    run = cluster_training.with_options(enable_cache=False)(
        directory=str(tmp_path / "shards"),
        config=run_config.model_dump(mode="json"),
        cluster=settings.model_dump(mode="json"),
        out_root=str(tmp_path / "tfjobs"),
    )
    step_run = run.steps["train_on_cluster"]
    model_uri = step_run.outputs["model_uri"][0].load()
    result = step_run.outputs["train_result"][0].load()
    (job_key,) = operator.jobs
    assert job_key[0] == "islr" and job_key[1].startswith("islr-cnn-transformer-")
    assert model_uri == f"{tmp_path}/tfjobs/{run.id}/cnn_transformer/model.keras"
    assert Path(model_uri).is_file()
    assert result.model_path == model_uri and result.replicas == 8
    assert result.history == history
    mlflow.set_tracking_uri(zenml_stack.active_stack.experiment_tracker.get_tracking_uri())
    tracked = mlflow.MlflowClient().get_run(result.mlflow_run_id)
    assert tracked.data.tags["tfjob"] == f"islr/{job_key[1]}"
    assert tracked.data.tags["model_uri"] == model_uri
    steps = mlflow.MlflowClient().get_metric_history(result.mlflow_run_id, "val_loss")
    assert [(m.step, m.value) for m in steps] == [(1, 2.1), (2, 1.7)]
