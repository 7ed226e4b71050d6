"""Multi-worker training on Kubernetes with a Kubeflow `TFJob`.

One training run becomes one TFJob: N `Worker` replicas of the training image, each
running `islr train` on the same TFRecord shards. The Kubeflow training operator gives
every replica its `TF_CONFIG`, so `islr.training.distribute` picks
`MultiWorkerMirroredStrategy`; worker 0 is the chief and writes `<out>/model.keras` and
`<out>/train_result.json`.

The resolved run configuration travels inside the manifest (environment variable
`ISLR_RUN_CONFIG`, JSON), so the cluster trains exactly what the caller resolved, not
whatever run file happens to be baked into the image. The shard folder and the output
folder travel as `ISLR_TFRECORDS` and `ISLR_OUT`; both must be URIs every worker can
reach (`gs://`, `s3://`), never a path on the machine that launches the job.

The Kubernetes API is spoken over plain HTTPS with the credentials of a kubeconfig file
(token, token file, client certificate, basic auth or an exec plugin) or, inside a pod,
of the pod's service account. Nothing here imports ZenML.
"""

from __future__ import annotations

import atexit
import base64
import json
import logging
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from islr.errors import ConfigError, IslrError
from islr.training.config import RunConfig

log = logging.getLogger(__name__)

GROUP = "kubeflow.org"
VERSION = "v1"
PLURAL = "tfjobs"
# The training operator injects TF_CONFIG into the container with this name only.
CONTAINER_NAME = "tensorflow"
TFJOB_PORT = 2222
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
RUN_CONFIG_ENV = "ISLR_RUN_CONFIG"
TFRECORDS_ENV = "ISLR_TFRECORDS"
OUT_ENV = "ISLR_OUT"
# What every worker runs. The run config is written from the environment to a file
# because `islr train` reads a run YAML (JSON is valid YAML); `exec` hands the shell's
# PID to Python so the operator's signals reach the training process.
WORKER_SCRIPT = (
    f'printf %s "${RUN_CONFIG_ENV}" > /tmp/islr-run.json && '
    f'exec islr train --run /tmp/islr-run.json --tfrecords "${TFRECORDS_ENV}" '
    f'--out "${OUT_ENV}"'
)
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Pod names are `<job>-worker-<i>` and must stay within 63 characters.
MAX_JOB_NAME = 48


# --- errors ----------------------------------------------------------------------------


class TFJobError(IslrError):
    """A TFJob could not be launched, failed, or did not finish in time."""


class KubeconfigError(ConfigError):
    """The kubeconfig (or in-cluster service account) cannot be used."""


class KubernetesApiError(TFJobError):
    """The Kubernetes API answered with an error status."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        hint = {
            401: "the credentials in the kubeconfig were refused; refresh them",
            403: "the user or service account lacks RBAC rights on tfjobs.kubeflow.org "
            "(create, get) in this namespace",
            404: "is the Kubeflow training operator (TFJob CRD) installed, and does the "
            "namespace exist?",
            409: "a TFJob with this name already exists; delete it "
            "(kubectl delete tfjob NAME -n NAMESPACE) or choose another name",
        }.get(status, "")
        message = f"Kubernetes API {method} {url} answered {status}: {body.strip()[:2000]}"
        super().__init__(f"{message}. {hint}" if hint else message)


class TFJobFailedError(TFJobError):
    """The TFJob reached its `Failed` condition."""

    def __init__(self, namespace: str, name: str, reason: str, message: str) -> None:
        self.namespace = namespace
        self.name = name
        self.reason = reason
        self.message = message
        super().__init__(
            f"TFJob {namespace}/{name} failed ({reason}): {message}. Worker logs: "
            f"kubectl logs -n {namespace} {name}-worker-0"
        )


class TFJobTimeoutError(TFJobError):
    """The TFJob was neither Succeeded nor Failed within the timeout."""


# --- configuration ---------------------------------------------------------------------


class WorkerResources(BaseModel):
    """What one worker pod asks for. `gpus` are requested as `gpu_resource` limits."""

    gpus: int = Field(1, ge=0)
    gpu_resource: str = "nvidia.com/gpu"
    cpu: str = "8"
    memory: str = "32Gi"


class TFJobSettings(BaseModel):
    """Cluster-side settings of a training job (the `tfjob` block of configs/cluster.yaml)."""

    image: str = Field(..., min_length=1, description="training image, docker/train.Dockerfile")
    namespace: str = "kubeflow"
    workers: int = Field(2, ge=1)
    resources: WorkerResources = Field(default_factory=WorkerResources)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    service_account: str | None = None
    image_pull_secrets: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="extra worker environment")
    backoff_limit: int = Field(3, ge=0)
    clean_pod_policy: Literal["None", "Running", "All"] = "Running"
    ttl_seconds_after_finished: int | None = Field(86400, ge=0)
    poll_interval_s: float = Field(30.0, gt=0)
    timeout_s: float = Field(12 * 3600.0, gt=0)
    kubeconfig: str | None = Field(
        None, description="None: $KUBECONFIG, ~/.kube/config, else the pod's service account"
    )
    context: str | None = None
    # Workers cannot read the launcher's disk; only allow plain paths for clusters that
    # mount one shared volume at the same path everywhere.
    allow_local_paths: bool = False

    @field_validator("namespace")
    @classmethod
    def _dns_namespace(cls, value: str) -> str:
        if not _DNS1123.match(value):
            raise ValueError(f"namespace {value!r} is not a valid Kubernetes name")
        return value


class TFJobConfig(BaseModel):
    """One job: a resolved run, where its data comes from and where its model goes."""

    name: str
    run: RunConfig
    settings: TFJobSettings
    tfrecords_uri: str
    out_uri: str

    @field_validator("name")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        if len(value) > MAX_JOB_NAME or not _DNS1123.match(value):
            raise ValueError(
                f"TFJob name {value!r} must be lowercase letters, digits and '-', at most "
                f"{MAX_JOB_NAME} characters"
            )
        return value

    @property
    def model_uri(self) -> str:
        return f"{self.out_uri.rstrip('/')}/model.keras"

    @property
    def result_uri(self) -> str:
        return f"{self.out_uri.rstrip('/')}/train_result.json"


def load_cluster_settings(path: str | os.PathLike[str]) -> TFJobSettings:
    """The `tfjob:` block of a cluster YAML (configs/cluster.yaml) as TFJobSettings."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read cluster config ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("tfjob"), dict):
        raise ConfigError(f"{path}: expected a mapping with a `tfjob:` block")
    try:
        return TFJobSettings.model_validate(data["tfjob"])
    except ValidationError as exc:
        fields = "; ".join(
            f"tfjob.{'.'.join(str(p) for p in e['loc'])}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"{path}: {fields}") from exc


def job_name(run_name: str, suffix: str = "") -> str:
    """A valid TFJob name for a run: `islr-<run>[-<suffix>]`, lowercase, `_` -> `-`."""
    clean = re.sub(r"[^a-z0-9-]+", "-", run_name.lower()).strip("-") or "run"
    tail = re.sub(r"[^a-z0-9-]+", "-", suffix.lower()).strip("-")
    head = f"islr-{clean}"
    if tail:
        head = f"{head[: MAX_JOB_NAME - len(tail) - 1].rstrip('-')}-{tail}"
    return head[:MAX_JOB_NAME].rstrip("-")


def _is_uri(path: str) -> bool:
    return "://" in path


def tfjob_config_for_run(
    run: RunConfig,
    settings: TFJobSettings,
    tfrecords_uri: str,
    out_uri: str,
    suffix: str = "",
) -> TFJobConfig:
    """The job for one run. `suffix` keeps names unique per launch (e.g. a pipeline run
    id), so a retry of another launch never collides with a finished job."""
    if not settings.allow_local_paths:
        for field, value in (("tfrecords_uri", tfrecords_uri), ("out_uri", out_uri)):
            if not _is_uri(value):
                raise ConfigError(
                    f"{field}={value!r} is a local path, which the cluster's workers cannot "
                    "read; use an artifact store on object storage (gs://, s3://) or set "
                    "allow_local_paths: true for a volume shared at the same path"
                )
    return TFJobConfig(
        name=job_name(run.name, suffix),
        run=run,
        settings=settings,
        tfrecords_uri=tfrecords_uri,
        out_uri=out_uri,
    )


def build_tfjob_manifest(job: TFJobConfig) -> dict[str, Any]:
    """The `kubeflow.org/v1` TFJob manifest (a plain dict, ready for JSON or YAML)."""
    s = job.settings
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": s.resources.cpu, "memory": s.resources.memory},
        "limits": {"memory": s.resources.memory},
    }
    if s.resources.gpus:
        # Extended resources (GPUs) are limits; Kubernetes copies them to requests.
        resources["limits"][s.resources.gpu_resource] = str(s.resources.gpus)
    env = {
        RUN_CONFIG_ENV: job.run.model_dump_json(),
        TFRECORDS_ENV: job.tfrecords_uri,
        OUT_ENV: job.out_uri,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **s.env,
    }
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": CONTAINER_NAME,
                "image": s.image,
                "command": ["/bin/sh", "-c", WORKER_SCRIPT],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "ports": [{"name": "tfjob-port", "containerPort": TFJOB_PORT}],
                "resources": resources,
            }
        ],
    }
    if s.node_selector:
        pod_spec["nodeSelector"] = dict(s.node_selector)
    if s.tolerations:
        pod_spec["tolerations"] = list(s.tolerations)
    if s.service_account:
        pod_spec["serviceAccountName"] = s.service_account
    if s.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in s.image_pull_secrets]
    labels = {"app.kubernetes.io/name": "islr", "islr/run": job.name}
    run_policy: dict[str, Any] = {
        "cleanPodPolicy": s.clean_pod_policy,
        "backoffLimit": s.backoff_limit,
    }
    if s.ttl_seconds_after_finished is not None:
        run_policy["ttlSecondsAfterFinished"] = s.ttl_seconds_after_finished
    replicas = s.workers * max(s.resources.gpus, 1)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TFJob",
        "metadata": {
            "name": job.name,
            "namespace": s.namespace,
            "labels": labels,
            "annotations": {
                "islr/run-name": job.run.name,
                "islr/model-uri": job.model_uri,
                # batch_per_replica x replicas, as MultiWorkerMirroredStrategy will use it
                "islr/global-batch": str(job.run.train.batch_per_replica * replicas),
            },
        },
        "spec": {
            "runPolicy": run_policy,
            "tfReplicaSpecs": {
                "Worker": {
                    "replicas": s.workers,
                    "restartPolicy": "OnFailure",
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                }
            },
        },
    }


# --- the Kubernetes API ----------------------------------------------------------------


_PRIVATE_DIR: str | None = None


def _private_file(name: str, data: bytes) -> str:
    """Write inline credentials to a private (0700) folder removed at exit: the ssl module
    loads client certificates only from files."""
    global _PRIVATE_DIR
    if _PRIVATE_DIR is None:
        _PRIVATE_DIR = tempfile.mkdtemp(prefix="islr-kube-")
        atexit.register(shutil.rmtree, _PRIVATE_DIR, True)
    fd, path = tempfile.mkstemp(prefix=name, dir=_PRIVATE_DIR)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


class KubernetesApi:
    """A minimal client for the calls a TFJob needs, over the stdlib's HTTP(S)."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        basic_auth: tuple[str, str] | None = None,
        request_timeout_s: float = 30.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.ssl_context = ssl_context
        self.basic_auth = basic_auth
        self.request_timeout_s = request_timeout_s

    # -- construction

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike[str] | None = None, context: str | None = None
    ) -> KubernetesApi:
        """Credentials from `path`, else `$KUBECONFIG` (first file), else
        `~/.kube/config`, else the pod's service account when running in a cluster."""
        if path is None:
            env = os.environ.get("KUBECONFIG", "")
            candidates = [p for p in env.split(os.pathsep) if p] or [
                str(Path.home() / ".kube" / "config")
            ]
            path = next((p for p in candidates if Path(p).is_file()), None)
            if path is None:
                if os.environ.get("KUBERNETES_SERVICE_HOST"):
                    return cls.in_cluster()
                raise KubeconfigError(
                    f"no kubeconfig found (looked at {', '.join(candidates)}) and not running "
                    "inside a cluster; set KUBECONFIG or the `kubeconfig` setting"
                )
        return cls._from_file(Path(path), context)

    @classmethod
    def in_cluster(cls, directory: Path = SERVICE_ACCOUNT_DIR) -> KubernetesApi:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        token_file = directory / "token"
        if not host or not token_file.is_file():
            raise KubeconfigError(
                f"in-cluster credentials missing: KUBERNETES_SERVICE_HOST={host!r}, "
                f"{token_file} exists={token_file.is_file()}"
            )
        context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
        host = f"[{host}]" if ":" in host else host  # IPv6 service address
        return cls(
            f"https://{host}:{port}",
            token=token_file.read_text().strip(),
            ssl_context=context,
        )

    @classmethod
    def _from_file(cls, path: Path, context_name: str | None) -> KubernetesApi:
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KubeconfigError(f"{path}: cannot read kubeconfig ({exc})") from exc
        if not isinstance(config, dict):
            raise KubeconfigError(f"{path}: expected a mapping, got {type(config).__name__}")

        def named(section: str, name: str | None) -> dict[str, Any]:
            for item in config.get(section) or []:
                if item.get("name") == name:
                    key = section[:-1]  # clusters -> cluster, users -> user, ...
                    return item.get(key) or {}
            available = [i.get("name") for i in config.get(section) or []]
            raise KubeconfigError(
                f"{path}: {section}: no entry named {name!r} (available: {available})"
            )

        context_name = context_name or config.get("current-context")
        if not context_name:
            raise KubeconfigError(f"{path}: current-context is empty and no context was given")
        ctx = named("contexts", context_name)
        cluster = named("clusters", ctx.get("cluster"))
        user = named("users", ctx.get("user")) if ctx.get("user") else {}
        server = cluster.get("server")
        if not server:
            raise KubeconfigError(f"{path}: cluster {ctx.get('cluster')!r} has no server")
        base = path.parent

        def local(p: str) -> str:
            return str(p if os.path.isabs(p) else base / p)

        ssl_context = None
        if server.startswith("https://"):
            if cluster.get("insecure-skip-tls-verify"):
                ssl_context = ssl.create_default_context()
                ssl_context.check_hostname = False
                ssl_context.verify_mode = ssl.CERT_NONE
            elif cluster.get("certificate-authority-data"):
                ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
                ssl_context = ssl.create_default_context(cadata=ca)
            elif cluster.get("certificate-authority"):
                ssl_context = ssl.create_default_context(
                    cafile=local(cluster["certificate-authority"])
                )
            else:
                ssl_context = ssl.create_default_context()
        token = user.get("token")
        if not token and user.get("tokenFile"):
            try:
                token = Path(local(user["tokenFile"])).read_text().strip()
            except OSError as exc:
                raise KubeconfigError(
                    f"{path}: users[].user.tokenFile {user['tokenFile']!r} cannot be read ({exc})"
                ) from exc
        cert = user.get("client-certificate") and local(user["client-certificate"])
        key = user.get("client-key") and local(user["client-key"])
        if user.get("client-certificate-data"):
            cert = _private_file("client.crt", base64.b64decode(user["client-certificate-data"]))
        if user.get("client-key-data"):
            key = _private_file("client.key", base64.b64decode(user["client-key-data"]))
        if not token and user.get("exec"):
            token, exec_cert, exec_key = _exec_credential(path, user["exec"])
            if exec_cert and exec_key:
                cert = _private_file("exec.crt", exec_cert.encode())
                key = _private_file("exec.key", exec_key.encode())
        if cert and key:
            if ssl_context is None:
                raise KubeconfigError(
                    f"{path}: client certificates need an https:// server, got {server!r}"
                )
            ssl_context.load_cert_chain(cert, key)
        basic = None
        if user.get("username") and user.get("password"):
            basic = (user["username"], user["password"])
        return cls(
            server,
            token=token,
            ssl_context=ssl_context,
            basic_auth=basic,
        )

    # -- requests

    def request(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        url = self.server + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        elif self.basic_auth:
            raw = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            req.add_header("Authorization", f"Basic {raw}")
        try:
            with urllib.request.urlopen(
                req, timeout=self.request_timeout_s, context=self.ssl_context
            ) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            payload = exc.read().decode(errors="replace")
            raise KubernetesApiError(method, url, exc.code, payload) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            # connection refused, DNS, TLS or a timeout: the server never answered
            reason = getattr(exc, "reason", exc)
            raise TFJobError(
                f"{method} {url}: cannot reach the Kubernetes API server ({reason}); check "
                "the server address in the kubeconfig and that the cluster is up"
            ) from exc

    def _tfjobs(self, namespace: str) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{urllib.parse.quote(namespace)}/{PLURAL}"

    def create_tfjob(self, manifest: dict[str, Any]) -> dict[str, Any]:
        namespace = manifest["metadata"]["namespace"]
        return self.request("POST", self._tfjobs(namespace), manifest)

    def get_tfjob(self, namespace: str, name: str) -> dict[str, Any]:
        return self.request("GET", f"{self._tfjobs(namespace)}/{urllib.parse.quote(name)}")

    def delete_tfjob(self, namespace: str, name: str) -> dict[str, Any]:
        return self.request("DELETE", f"{self._tfjobs(namespace)}/{urllib.parse.quote(name)}")


def _exec_credential(path: Path, spec: dict[str, Any]) -> tuple[str | None, str, str]:
    """Run a kubeconfig exec plugin (gke-gcloud-auth-plugin, aws eks get-token, ...)
    and return its token or client certificate."""
    command = [spec.get("command", ""), *(spec.get("args") or [])]
    env = {**os.environ, **{e["name"]: e["value"] for e in spec.get("env") or []}}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=60, check=True
        )
        status = json.loads(done.stdout).get("status") or {}
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        raise KubeconfigError(f"{path}: users.user.exec {command[0]!r} failed: {exc}") from exc
    return (
        status.get("token"),
        status.get("clientCertificateData", ""),
        status.get("clientKeyData", ""),
    )


# --- running a job ---------------------------------------------------------------------


def terminal_condition(tfjob: dict[str, Any]) -> dict[str, Any] | None:
    """The job's `Succeeded` or `Failed` condition when it is true, else None."""
    for condition in (tfjob.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Succeeded", "Failed") and condition.get("status") in (
            "True",
            True,
        ):
            return condition
    return None


def _summary(tfjob: dict[str, Any]) -> str:
    status = tfjob.get("status") or {}
    conditions = [f"{c.get('type')}={c.get('status')}" for c in status.get("conditions") or []]
    return f"conditions [{', '.join(conditions)}], replicas {status.get('replicaStatuses', {})}"


def wait_for_tfjob(
    api: KubernetesApi,
    namespace: str,
    name: str,
    poll_interval_s: float,
    timeout_s: float,
    max_consecutive_errors: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll until the job is Succeeded (returns it) or Failed (raises TFJobFailedError);
    TFJobTimeoutError after `timeout_s`. Connection errors and 5xx answers are retried
    (the API server restarts during upgrades); other API errors are raised at once."""
    deadline = clock() + timeout_s
    seen: set[str] = set()
    errors = 0
    tfjob: dict[str, Any] = {}
    while True:
        try:
            tfjob = api.get_tfjob(namespace, name)
            errors = 0
        except (KubernetesApiError, urllib.error.URLError, OSError) as exc:
            retryable = not isinstance(exc, KubernetesApiError) or exc.status >= 500
            errors += 1
            if not retryable or errors > max_consecutive_errors:
                raise
            log.warning("tfjob %s/%s: polling failed (%s); retrying", namespace, name, exc)
        for condition in (tfjob.get("status") or {}).get("conditions") or []:
            kind = condition.get("type", "")
            if kind not in seen and condition.get("status") in ("True", True):
                seen.add(kind)
                log.info("tfjob %s/%s: %s %s", namespace, name, kind, condition.get("message", ""))
        done = terminal_condition(tfjob)
        if done is not None:
            if done["type"] == "Failed":
                raise TFJobFailedError(
                    namespace, name, done.get("reason", "Failed"), done.get("message", "")
                )
            return tfjob
        if clock() >= deadline:
            raise TFJobTimeoutError(
                f"TFJob {namespace}/{name} did not finish within {timeout_s:g} s "
                f"(last status: {_summary(tfjob)}); it keeps running: "
                f"kubectl delete tfjob {name} -n {namespace} to stop it, or raise timeout_s"
            )
        sleep(poll_interval_s)


def run_tfjob(job: TFJobConfig, api: KubernetesApi | None = None) -> str:
    """Create the job, wait for it, and return the model URI (`<out>/model.keras`)."""
    s = job.settings
    api = api or KubernetesApi.from_kubeconfig(s.kubeconfig, s.context)
    manifest = build_tfjob_manifest(job)
    log.info(
        "tfjob %s/%s: creating (%d workers x %d GPU, image %s)",
        s.namespace,
        job.name,
        s.workers,
        s.resources.gpus,
        s.image,
    )
    api.create_tfjob(manifest)
    wait_for_tfjob(api, s.namespace, job.name, s.poll_interval_s, s.timeout_s)
    log.info("tfjob %s/%s: succeeded; model %s", s.namespace, job.name, job.model_uri)
    return job.model_uri
