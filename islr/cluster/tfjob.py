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

What is islr's here: the settings, the manifest, and following the job to its end;
credentials and API calls are islr.cluster.kube's (the official `kubernetes` client).
Nothing here imports ZenML.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from islr.cluster.kube import (
    GROUP,
    VERSION,
    ApiUnreachableError,
    ClusterError,
    KubernetesApiError,
    TFJobClient,
    kube_client,
)
from islr.errors import ConfigError, field_problems
from islr.training.config import RunConfig

log = logging.getLogger(__name__)

# The training operator injects TF_CONFIG into the container with this name only.
CONTAINER_NAME = "tensorflow"
TFJOB_PORT = 2222
RUN_CONFIG_ENV = "ISLR_RUN_CONFIG"
TFRECORDS_ENV = "ISLR_TFRECORDS"
OUT_ENV = "ISLR_OUT"
FOLD_ENV = "ISLR_FOLD"
# What every worker runs. The run config is written from the environment to a file
# because `islr train` reads a run YAML (JSON is valid YAML); `exec` hands the shell's
# PID to Python so the operator's signals reach the training process. `islr cluster
# worker` copies shards TensorFlow cannot read (s3://) to the pod's disk first and the
# chief's outputs back after (islr.cluster.staging).
WORKER_SCRIPT = (
    f'printf %s "${RUN_CONFIG_ENV}" > /tmp/islr-run.json && '
    f'exec islr cluster worker --run /tmp/islr-run.json --tfrecords "${TFRECORDS_ENV}" '
    f'--out "${OUT_ENV}" ${{{FOLD_ENV}:+--fold "${FOLD_ENV}"}}'
)
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Pod names are `<job>-worker-<i>` and must stay within 63 characters.
MAX_JOB_NAME = 48


# --- errors ----------------------------------------------------------------------------


class TFJobError(ClusterError):
    """A TFJob could not be launched, failed, or did not finish in time."""


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
    fold: int | None = None  # the evaluated fold of a cross-validation

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
        raise ConfigError(f"{path}: {field_problems(exc, 'tfjob.')}") from exc


class TrainingBackend(BaseModel):
    """The `training:` parameter of the main and training pipelines: where each run trains.

    `local`: in the step's own process (one pod per run with several GPUs uses
    MirroredStrategy). `tfjob`: each run becomes a TFJob of `workers` pods with
    `gpus_per_worker` GPUs each, configured by the `tfjob:` block of `cluster`;
    `workers`, `gpus_per_worker`, `image` and `overrides` (any other TFJobSettings
    field, e.g. kubeconfig or context) take precedence over that block."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "tfjob"] = "local"
    cluster: str = "configs/cluster.yaml"
    workers: int | None = Field(None, ge=1)
    gpus_per_worker: int | None = Field(None, ge=0)
    image: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)

    def tfjob_settings(self) -> TFJobSettings:
        base = load_cluster_settings(self.cluster).model_dump()
        values = {**base, **self.overrides}
        if self.workers is not None:
            values["workers"] = self.workers
        if self.gpus_per_worker is not None:
            values["resources"] = {**values["resources"], "gpus": self.gpus_per_worker}
        if self.image:
            values["image"] = self.image
        try:
            return TFJobSettings.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(
                f"training (cluster {self.cluster}): {field_problems(exc, 'training.')}"
            ) from exc


def training_backend(value: dict[str, Any] | None) -> TrainingBackend:
    """The pipelines' `training:` parameter, validated; one line per wrong field."""
    try:
        return TrainingBackend.model_validate(value or {})
    except ValidationError as exc:
        raise ConfigError(f"pipeline parameter {field_problems(exc, 'training.')}") from exc


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
    fold: int | None = None,
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
        fold=fold,
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
        **({FOLD_ENV: str(job.fold)} if job.fold is not None else {}),
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
    api: TFJobClient,
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
        except (KubernetesApiError, ApiUnreachableError) as exc:
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


def run_tfjob(job: TFJobConfig, api: TFJobClient | None = None) -> str:
    """Create the job, wait for it, and return the model URI (`<out>/model.keras`)."""
    s = job.settings
    api = api or kube_client(s.kubeconfig, s.context)
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
