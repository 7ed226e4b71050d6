"""The TFJob launcher: create/poll through the `kubernetes` client against a Kubernetes API
served on loopback by the test (real HTTP and HTTPS, kubeconfig files with each kind of
credential, nothing patched), and the worker's script. The manifest alone is
tests/unit/test_tfjob_manifest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from tfjob_settings import job_for, settings_for

from islr.cluster.kube import (
    ApiUnreachableError,
    ClusterError,
    KubeconfigError,
    KubernetesApiError,
    kube_client,
)
from islr.cluster.tfjob import (
    TFJobFailedError,
    TFJobTimeoutError,
    build_tfjob_manifest,
    job_name,
    run_tfjob,
    tfjob_config_for_run,
)
from islr.training.config import load_run_config

TOKEN = "s3cret-token"
CLIENT_CN = "ci-client"
# what the fake API server accepts: the token, or basic auth ci:pw (or a client certificate)
ACCEPTED = {f"Bearer {TOKEN}", "Basic " + __import__("base64").b64encode(b"ci:pw").decode()}
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
                peer = getattr(self.connection, "getpeercert", lambda: None)() or {}
                subject = dict(pair[0] for pair in peer.get("subject", ()))
                if subject.get("commonName") == CLIENT_CN:
                    operator.requests[-1] = (self.command, self.path, f"cert:{CLIENT_CN}")
                    return True
                # the scheme is case-insensitive (RFC 9110); the in-cluster loader says "bearer"
                scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
                if f"{scheme.capitalize()} {value}" not in ACCEPTED:
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
                if hasattr(operator, "start"):
                    operator.start(key, body)
                self._send(201, {**body, "status": {}})

            def do_GET(self):
                if not self._authorized():
                    return
                parts = self.path[len(PREFIX) :].split("/")
                key = (parts[0], parts[-1])
                if key not in operator.jobs:
                    return self._status(404, "NotFound", f'tfjobs "{key[1]}" not found')
                if hasattr(operator, "status_of"):
                    status = operator.status_of(key)
                else:
                    status = operator.statuses[min(operator.polls, len(operator.statuses) - 1)]
                operator.polls += 1
                self._send(200, {**operator.jobs[key], "status": status})

        return Handler


def _condition(kind: str, message: str = "", reason: str = "") -> dict:
    return {"type": kind, "status": "True", "reason": reason or f"TFJob{kind}", "message": message}


CREATED = {"conditions": [_condition("Created", "TFJob islr-cnn is created.")]}
RUNNING = {
    "conditions": [_condition("Created"), _condition("Running", "TFJob islr-cnn is running.")],
    "replicaStatuses": {"Worker": {"active": 2}},
}


def _kubeconfig(server: str, user: dict, cluster: dict | None = None) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "loop", "cluster": {"server": server, **(cluster or {})}}],
            "users": [{"name": "ci", "user": user}],
            "contexts": [{"name": "test", "context": {"cluster": "loop", "user": "ci"}}],
        }
    )


@pytest.fixture
def operator(tmp_path: Path):
    fake = FakeTrainingOperator()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    fake.server = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig.write_text(_kubeconfig(fake.server, {"token": TOKEN}))
    fake.kubeconfig = kubeconfig
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def run_config(repo_root):
    return load_run_config(
        repo_root / "configs/runs/cnn_transformer.yaml", repo_root / "configs/scales/full.yaml"
    )


def test_worker_script_writes_a_loadable_run_file(run_config, tmp_path):
    """What the worker's shell writes from the environment is a run file that
    `load_run_config` reads back to the same config."""
    import subprocess

    manifest = build_tfjob_manifest(job_for(run_config, None))
    container = manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    script = container["command"][2].split(" && ")[0].replace("/tmp/islr-run.json", "run.json")
    subprocess.run(["/bin/sh", "-c", script], cwd=tmp_path, env=env, check=True)
    assert load_run_config(tmp_path / "run.json") == run_config


def test_run_succeeds_after_polls(run_config, operator):
    operator.statuses = [
        CREATED,
        RUNNING,
        RUNNING,
        {"conditions": [*RUNNING["conditions"], _condition("Succeeded", "done")]},
    ]
    job = job_for(run_config, operator)
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
    job = job_for(run_config, operator)
    with pytest.raises(TFJobFailedError) as info:
        run_tfjob(job)
    assert info.value.message == message and info.value.reason == "TFJobFailed"
    assert f"ml/{job.name}" in str(info.value) and f"{job.name}-worker-0" in str(info.value)


def test_timeout(run_config, operator):
    operator.statuses = [RUNNING]
    job = job_for(run_config, operator, timeout_s=0.6, poll_interval_s=0.02)
    with pytest.raises(TFJobTimeoutError, match=r"within 0.6 s .*Running=True.*kubectl delete"):
        run_tfjob(job)
    assert operator.polls >= 3


def test_conflict_and_forbidden_are_api_errors(run_config, operator):
    operator.statuses = [{"conditions": [_condition("Succeeded")]}]
    job = job_for(run_config, operator)
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
        run_tfjob(job_for(run_config, operator, namespace="ml"))
    operator.create_error = None


def test_credentials_and_kubeconfig_errors(run_config, operator, tmp_path):
    config = yaml.safe_load(operator.kubeconfig.read_text())
    # a token file relative to the kubeconfig's folder
    (tmp_path / "token").write_text(TOKEN + "\n")
    config["users"][0]["user"] = {"tokenFile": "token"}
    operator.kubeconfig.write_text(yaml.safe_dump(config))
    operator.statuses = [{"conditions": [_condition("Succeeded")]}]
    run_tfjob(job_for(run_config, operator))
    assert operator.requests[-1][2] == f"Bearer {TOKEN}"

    config["users"][0]["user"] = {"token": "wrong"}
    operator.kubeconfig.write_text(yaml.safe_dump(config))
    with pytest.raises(KubernetesApiError) as info:
        run_tfjob(job_for(run_config, operator, namespace="other"))
    assert info.value.status == 401 and "refused" in str(info.value)

    assert f"{operator.kubeconfig}, context 'test'" in str(info.value)

    missing = tmp_path / "nope"
    with pytest.raises(KubeconfigError, match=r"nope: cannot read kubeconfig"):
        kube_client(missing)

    config["users"][0]["user"] = {"tokenFile": "gone"}
    operator.kubeconfig.write_text(yaml.safe_dump(config))
    with pytest.raises(KubeconfigError, match=r"kubeconfig: users\['ci'\].user.tokenFile 'gone' "):
        kube_client(operator.kubeconfig)


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(_kubeconfig(f"http://127.0.0.1:{port}", {"token": TOKEN}))
    api = kube_client(kubeconfig)
    with pytest.raises(ApiUnreachableError) as info:
        api.get_tfjob("ml", "x")
    assert isinstance(info.value, ClusterError)
    assert f"GET http://127.0.0.1:{port}/apis/kubeflow.org/v1/namespaces/ml/tfjobs/x" in str(
        info.value
    )
    assert "cannot reach the Kubernetes API server" in str(info.value)
    assert f"kubeconfig {kubeconfig}, context 'test'" in str(info.value)


def _cli(*argv: str) -> int:
    """`islr cluster ...` through the command's own argparse registration."""
    import argparse

    from islr.cluster.commands import register

    parser = argparse.ArgumentParser(prog="islr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


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


class ExecutingOperator(FakeTrainingOperator):
    """A training operator that runs each created TFJob's worker command on this machine
    (one worker, no TF_CONFIG): the container's own shell script with the manifest's
    environment, so the job trains the tiny model and writes where ISLR_OUT says. The
    job is Running while the process runs, then Succeeded or Failed by its exit code."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.processes: dict[tuple[str, str], subprocess.Popen] = {}

    def start(self, key: tuple[str, str], manifest: dict) -> None:
        container = manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][
            0
        ]
        env = {**os.environ, **{e["name"]: e["value"] for e in container["env"]}}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        log = (self.log_dir / f"{key[1]}.log").open("w")
        self.processes[key] = subprocess.Popen(
            container["command"], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def status_of(self, key: tuple[str, str]) -> dict:
        code = self.processes[key].poll()
        if code is None:
            return RUNNING
        if code == 0:
            return {"conditions": [*RUNNING["conditions"], _condition("Succeeded")]}
        tail = (self.log_dir / f"{key[1]}.log").read_text()[-500:]
        return {"conditions": [_condition("Failed", tail, "TFJobFailed")]}


@pytest.fixture
def executing_operator(tmp_path: Path):
    fake = ExecutingOperator(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.kubeconfig = tmp_path / "kubeconfig"
    fake.kubeconfig.write_text(
        _kubeconfig(f"http://127.0.0.1:{server.server_address[1]}", {"token": TOKEN})
    )
    yield fake
    for process in fake.processes.values():
        process.kill()
        process.wait()
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_main_pipeline_trains_through_tfjobs_and_registers(
    zenml_stack, executing_operator, synth_dir, tmp_path, monkeypatch, repo_root
):
    """`training.backend: tfjob`: the run trains as a TFJob on the loopback API server;
    the main pipeline then evaluates, exports, compares and registers the `.keras` model
    the job wrote, and the run is tracked in MLflow like a local one."""
    import keras
    import mlflow
    from pipeline_configs import write_config

    from pipelines.main import main_pipeline

    monkeypatch.chdir(repo_root)
    scales = tmp_path / "scales"
    scales.mkdir()
    tiny = yaml.safe_load((repo_root / "configs/scales/quickstart.yaml").read_text())
    tiny["train"].update({"epochs": 2, "awp_start_epoch": 100})
    (scales / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    config_path = write_config(tmp_path, synth_dir, ["cnn"], "tiny", scales)
    config = yaml.safe_load(config_path.read_text())
    config["parameters"]["job"]["training"] = {
        "backend": "tfjob",
        "workers": 1,
        "gpus_per_worker": 0,
        "image": "registry.example.com/islr-train:test",
        "overrides": {
            "kubeconfig": str(executing_operator.kubeconfig),
            "namespace": "islr",
            "poll_interval_s": 0.5,
            "timeout_s": 600,
            "allow_local_paths": True,  # the fake operator's worker shares this disk
        },
    }
    # the TFJob's own output (the artifact store by default), not the job's output_root
    config["steps"] = {"train_cnn": {"parameters": {"out_root": str(tmp_path / "tfjobs")}}}
    config_path.write_text(yaml.safe_dump(config))

    run = main_pipeline.with_options(config_path=str(config_path))()
    assert str(run.status).endswith("completed")

    (key,) = executing_operator.jobs
    assert key[0] == "islr" and key[1].startswith("islr-cnn-")
    manifest = executing_operator.jobs[key]
    worker = manifest["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 1
    assert worker["template"]["spec"]["containers"][0]["image"].endswith("islr-train:test")
    out = tmp_path / "tfjobs" / str(run.id) / "cnn"
    assert (out / "model.keras").is_file() and (out / "train_result.json").is_file()

    train = run.steps["train_cnn"]
    model = train.outputs["model"][0].load()
    assert isinstance(model, keras.Model) and model.output_shape[-1] == 250
    result = train.outputs["train_result"][0].load()
    assert result.model_path == str(out / "model.keras") and len(result.history["loss"]) == 2
    evaluation = run.steps["evaluate_cnn"].outputs["evaluation"][0].load()
    assert 0.0 <= evaluation.metrics.accuracy <= 1.0
    decision = run.steps["register_models"].outputs["promotion_decision"][0].load()
    assert decision.run == "cnn"
    mlflow.set_tracking_uri(zenml_stack.active_stack.experiment_tracker.get_tracking_uri())
    client = mlflow.MlflowClient()
    tracked = client.get_run(result.mlflow_run_id)
    assert tracked.data.tags["tfjob"] == f"islr/{key[1]}"
    assert tracked.data.tags["run"] == "cnn" and "data_md5" in tracked.data.tags
    history = client.get_metric_history(result.mlflow_run_id, "loss")
    assert [m.step for m in history] == [1, 2]
    assert client.search_model_versions(f"run_id = '{result.mlflow_run_id}'")


# --- every credential kind through the client, and bad input ---------------------------


def _pki(folder: Path) -> dict[str, bytes]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (PEM)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(cn, key, issuer, issuer_key, ca=False, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def pem_key(key):
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "islr-test-ca")])
    ca = cert("islr-test-ca", ca_key, ca_name, ca_key, ca=True)
    server = cert(
        "127.0.0.1",
        server_key,
        ca_name,
        ca_key,
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client = cert(CLIENT_CN, client_key, ca_name, ca_key)
    out = {
        "ca": ca.public_bytes(serialization.Encoding.PEM),
        "server": server.public_bytes(serialization.Encoding.PEM),
        "server_key": pem_key(server_key),
        "client": client.public_bytes(serialization.Encoding.PEM),
        "client_key": pem_key(client_key),
    }
    for name, data in out.items():
        (folder / f"{name}.pem").write_bytes(data)
    return out


@pytest.fixture
def tls_operator(tmp_path: Path):
    """The fake operator behind HTTPS: a server certificate from a private CA, client
    certificates verified when presented."""
    import ssl

    pki_dir = tmp_path / "pki"
    pki_dir.mkdir()
    pki = _pki(pki_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki_dir / "server.pem", pki_dir / "server_key.pem")
    context.load_verify_locations(pki_dir / "ca.pem")
    context.verify_mode = ssl.CERT_OPTIONAL
    fake = FakeTrainingOperator()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.server = f"https://127.0.0.1:{server.server_address[1]}"
    fake.port = server.server_address[1]
    fake.pki = pki
    fake.pki_dir = pki_dir
    yield fake
    server.shutdown()
    server.server_close()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


# insecure-skip-tls-verify is one of the kinds; urllib3 warns about it, as it should
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_every_credential_kind_over_https_and_nothing_written(
    run_config, tls_operator, tmp_path, monkeypatch
):
    """Inline CA and client certificate, CA and certificate files, token, token file,
    basic auth, insecure-skip-tls-verify, an exec plugin and the pod's service account
    all reach the HTTPS API server through the client; the inline credentials never land
    in a file (the temporary folder stays empty)."""
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    op, pki = tls_operator, tls_operator.pki
    (tmp_path / "token").write_text(TOKEN + "\n")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',"
        f" 'kind': 'ExecCredential', 'status': {{'token': {TOKEN!r}}}}}))\n"
    )
    exec_user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    ca_inline = {"certificate-authority-data": _b64(pki["ca"])}
    ca_file = {"certificate-authority": "pki/ca.pem"}  # relative to the kubeconfig
    cases = {
        "inline client certificate": (
            ca_inline,
            {
                "client-certificate-data": _b64(pki["client"]),
                "client-key-data": _b64(pki["client_key"]),
            },
            f"cert:{CLIENT_CN}",
        ),
        "client certificate files": (
            ca_file,
            {"client-certificate": "pki/client.pem", "client-key": "pki/client_key.pem"},
            f"cert:{CLIENT_CN}",
        ),
        "token": (ca_inline, {"token": TOKEN}, f"Bearer {TOKEN}"),
        "token file": (ca_file, {"tokenFile": "token"}, f"Bearer {TOKEN}"),
        "basic auth": (ca_inline, {"username": "ci", "password": "pw"}, sorted(ACCEPTED)[0]),
        "insecure-skip-tls-verify": (
            {"insecure-skip-tls-verify": True},
            {"token": TOKEN},
            f"Bearer {TOKEN}",
        ),
        "exec plugin": (ca_inline, exec_user, f"Bearer {TOKEN}"),
    }
    op.statuses = [{"conditions": [_condition("Succeeded")]}]
    for i, (kind, (cluster, user, seen)) in enumerate(cases.items()):
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(_kubeconfig(op.server, user, cluster))
        job = tfjob_config_for_run(
            run_config,
            settings_for(None, kubeconfig=str(kubeconfig), namespace=f"ns{i}"),
            "gs://b/tf",
            "gs://b/out",
        )
        run_tfjob(job)
        assert op.requests[-1][2] == seen, kind
    assert list(scratch.iterdir()) == []

    # inside a pod: no kubeconfig, the service account's token and CA
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(TOKEN)
    (account / "ca.crt").write_bytes(pki["ca"])
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(op.port))
    api = kube_client(None, service_account_dir=account)
    assert api.get_tfjob("ns0", job_name("cnn_transformer"))["kind"] == "TFJob"
    assert op.requests[-1][2].lower() == f"bearer {TOKEN}"

    # a server certificate from another CA is refused, with the kubeconfig named
    kubeconfig.write_text(_kubeconfig(op.server, {"token": TOKEN}))
    with pytest.raises(ApiUnreachableError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        kube_client(kubeconfig).get_tfjob("ns0", "x")


def test_bad_kubeconfigs_name_file_context_and_field(operator, run_config, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("clusters:\n- name: a\n  cluster: {server: [\n")
    with pytest.raises(KubeconfigError) as info:
        kube_client(bad)
    assert str(info.value).startswith(f"{bad}: not a valid kubeconfig: YAML error at line 4")
    assert "\n" not in str(info.value)

    with pytest.raises(KubeconfigError) as info:
        kube_client(operator.kubeconfig, context="prod")
    assert str(info.value) == (
        f"{operator.kubeconfig}: context 'prod' not found (available: ['test'])"
    )

    # an exec plugin whose token has expired
    plugin = tmp_path / "expired.py"
    plugin.write_text(
        "import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',"
        " 'kind': 'ExecCredential', 'status': {'token': 'old',"
        " 'expirationTimestamp': '2020-01-01T00:00:00Z'}}))\n"
    )
    expired = tmp_path / "expired-kubeconfig"
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
        }
    }
    expired.write_text(_kubeconfig(operator.server, user))
    with pytest.raises(KubeconfigError) as info:
        kube_client(expired)
    assert str(info.value) == (
        f"kubeconfig {expired}, context 'test': the token of user 'ci' expired at "
        "2020-01-01T00:00:00+00:00; log in again (the credential plugin or `kubectl` "
        "refreshes it)"
    )

    # a manifest the API server rejects: the field is named
    invalid = {
        "kind": "Status",
        "status": "Failure",
        "reason": "Invalid",
        "code": 422,
        "message": 'TFJob.kubeflow.org "islr-cnn" is invalid',
        "details": {
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "field": "spec.tfReplicaSpecs.Worker.template.spec.containers[0].resources",
                    "message": 'Invalid value: "96Gix": quantities must match the regex',
                }
            ]
        },
    }
    operator.create_error = (422, invalid)
    with pytest.raises(KubernetesApiError) as info:
        run_tfjob(job_for(run_config, operator))
    line = str(info.value)
    assert info.value.status == 422 and "\n" not in line
    assert "answered 422" in line and "context 'test'" in line
    assert "spec.tfReplicaSpecs.Worker.template.spec.containers[0].resources: Invalid value" in line
    assert "cluster config (tfjob: block)" in line
