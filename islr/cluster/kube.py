"""The Kubernetes side of a TFJob: credentials and API calls through the official
`kubernetes` client, with islr's rules on top: no credential written to disk, and every
failure one line naming the kubeconfig file and context (or the service account).

The Kubeflow Training SDK (`kubeflow-training`) would add a typed TFJob client, but it
requires kubernetes>=27.2, while ZenML 0.98's Kubernetes integration (installed next to
islr in the training image and the cluster stack) requires kubernetes<26; TFJobs are
custom objects, so the client's CustomObjectsApi does.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes.client
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader

from islr.errors import ConfigError, IslrError

GROUP = "kubeflow.org"
VERSION = "v1"
PLURAL = "tfjobs"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ClusterError(IslrError):
    """Talking to the cluster failed, or a job there did."""


class KubeconfigError(ConfigError):
    """The kubeconfig (or in-cluster service account) cannot be used."""


class ApiUnreachableError(ClusterError):
    """The API server did not answer (connection refused, DNS, TLS, timeout)."""


class KubernetesApiError(ClusterError):
    """The Kubernetes API answered with an error status."""

    def __init__(self, method: str, url: str, status: int, body: str, source: str = "") -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        try:
            payload = json.loads(body)
        except (TypeError, ValueError):
            payload = None
        detail = " ".join(body.split())[:2000]
        if isinstance(payload, dict) and payload.get("message"):
            detail = str(payload["message"])
            # A 422 lists each rejected field of the manifest; name them.
            causes = (payload.get("details") or {}).get("causes") or []
            fields = [f"{c.get('field')}: {c.get('message')}" for c in causes if c.get("field")]
            if fields and not all(f.split(":")[0] in detail for f in fields):
                detail = f"{detail} [{'; '.join(fields)}]"
        hint = {
            401: "the credentials were refused (an expired or revoked token?); log in again "
            "or refresh them",
            403: "the user or service account lacks RBAC rights on tfjobs.kubeflow.org "
            "(create, get) in this namespace",
            404: "is the Kubeflow training operator (TFJob CRD) installed, and does the "
            "namespace exist?",
            409: "a TFJob with this name already exists; delete it "
            "(kubectl delete tfjob NAME -n NAMESPACE) or choose another name",
            422: "the API server rejected the TFJob manifest; fix the named field in the "
            "cluster config (tfjob: block)",
        }.get(status, "")
        where = f" ({source})" if source else ""
        message = f"Kubernetes API {method} {url} answered {status}{where}: {detail}"
        super().__init__(f"{message}. {hint}" if hint else message)


_MEMORY_FILES: dict[bytes, str] = {}


def _memory_file(name: str, content: bytes) -> str:
    """A path to `content` that lives in memory only (Linux memfd, closed at exit).

    The client, like Python's ssl module, loads certificates and keys from file paths;
    given inline `*-data` it would write them to a temporary file. A memfd path reads like
    a file but never reaches a disk. Without memfd (not Linux) the caller keeps the data
    inline and the client falls back to its own temporary files."""
    if content not in _MEMORY_FILES:
        fd = os.memfd_create(f"islr-{name}")  # close-on-exec: no child inherits it
        os.write(fd, content)
        _MEMORY_FILES[content] = f"/proc/self/fd/{fd}"
    return _MEMORY_FILES[content]


def _prepare(config: dict[str, Any], base: Path) -> dict[str, Any]:
    """The kubeconfig as the client should see it: `certificate-authority-data`,
    `client-certificate-data` and `client-key-data` turned into memory-file paths (see
    `_memory_file`), and a `tokenFile` read with its trailing newline stripped (an
    editor's newline would otherwise end up in the Authorization header)."""
    config = copy.deepcopy(config)
    for item in config.get("users") or []:
        user = (item or {}).get("user") or {}
        if user.get("tokenFile") and not user.get("token"):
            try:
                user["token"] = (base / user["tokenFile"]).read_text().strip()
            except OSError as exc:
                raise KubeconfigError(
                    f"users[{item.get('name')!r}].user.tokenFile {user['tokenFile']!r} cannot "
                    f"be read ({exc.strerror})"
                ) from exc
    if not hasattr(os, "memfd_create"):
        return config
    for section, key, field in (
        ("clusters", "cluster", "certificate-authority"),
        ("users", "user", "client-certificate"),
        ("users", "user", "client-key"),
    ):
        for item in config.get(section) or []:
            body = (item or {}).get(key) or {}
            data = body.pop(f"{field}-data", None)
            if data:
                try:
                    body[field] = _memory_file(field, base64.b64decode(data, validate=True))
                except binascii.Error as exc:
                    raise KubeconfigError(
                        f"{section}[{item.get('name')!r}].{key}.{field}-data is not base64 ({exc})"
                    ) from exc
    return config


def _default_kubeconfig() -> tuple[Path | None, list[str]]:
    env = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in env.split(os.pathsep) if p] or [str(Path.home() / ".kube/config")]
    return next((Path(p) for p in candidates if Path(p).is_file()), None), candidates


def kube_client(
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> TFJobClient:
    """A TFJob client with the credentials of `kubeconfig` (else the first file of
    `$KUBECONFIG`, else ~/.kube/config) and `context` (else its current-context), or of
    the pod's service account when there is no kubeconfig inside a cluster."""
    path = Path(kubeconfig) if kubeconfig else None
    if path is None:
        path, candidates = _default_kubeconfig()
        if path is None:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                return _in_cluster(service_account_dir)
            raise KubeconfigError(
                f"no kubeconfig found (looked at {', '.join(candidates)}) and not running "
                "inside a cluster; set KUBECONFIG or the `kubeconfig` setting"
            )
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise KubeconfigError(f"{path}: cannot read kubeconfig ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise KubeconfigError(
            f"{path}: not a valid kubeconfig: YAML error{where}: {problem}"
        ) from None
    if not isinstance(data, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig (a {type(data).__name__}, not a mapping)")
    name = context or data.get("current-context")
    available = [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict)]
    if not name:
        raise KubeconfigError(
            f"{path}: current-context is empty and no context was given (available: {available})"
        )
    if name not in available:
        raise KubeconfigError(f"{path}: context {name!r} not found (available: {available})")
    source = f"kubeconfig {path}, context {name!r}"
    configuration = kubernetes.client.Configuration()
    try:
        loader = KubeConfigLoader(
            config_dict=_prepare(data, path.resolve().parent),
            active_context=name,
            config_base_path=str(path.resolve().parent),
        )
        loader.load_and_set(configuration)
    except KubeconfigError as exc:
        raise KubeconfigError(f"{path}: {exc}") from exc
    except (ConfigException, ValueError, TypeError, KeyError, OSError) as exc:
        raise KubeconfigError(f"{source}: {exc}") from exc
    expiry = getattr(loader, "expiry", None)
    if expiry is not None and expiry <= datetime.now(UTC):
        user = (loader._current_context.value.get("context") or {}).get("user")
        raise KubeconfigError(
            f"{source}: the token of user {user!r} expired at {expiry.isoformat()}; log in "
            "again (the credential plugin or `kubectl` refreshes it)"
        )
    return TFJobClient(kubernetes.client.ApiClient(configuration), source)


def _in_cluster(directory: Path) -> TFJobClient:
    configuration = kubernetes.client.Configuration()
    try:
        InClusterConfigLoader(
            token_filename=str(directory / "token"), cert_filename=str(directory / "ca.crt")
        ).load_and_set(configuration)
    except ConfigException as exc:
        raise KubeconfigError(f"in-cluster service account {directory}: {exc}") from exc
    return TFJobClient(kubernetes.client.ApiClient(configuration), f"service account {directory}")


class TFJobClient:
    """Create and read TFJobs; API errors become one line naming the credentials'
    source (kubeconfig file and context, or the service account)."""

    def __init__(self, api_client: kubernetes.client.ApiClient, source: str) -> None:
        self.api = kubernetes.client.CustomObjectsApi(api_client)
        self.host = api_client.configuration.host
        self.source = source
        self.request_timeout_s = 30.0

    def _call(self, method: str, path: str, call: Callable[..., Any], *args: Any) -> Any:
        url = f"{self.host}{path}"
        try:
            return call(GROUP, VERSION, *args, _request_timeout=self.request_timeout_s)
        except ApiException as exc:
            raise KubernetesApiError(
                method, url, exc.status, exc.body or exc.reason or "", self.source
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # connection refused, DNS, TLS or a timeout: the server never answered
            reason = getattr(exc, "reason", None) or exc
            raise ApiUnreachableError(
                f"{method} {url}: cannot reach the Kubernetes API server ({reason}); check "
                f"the server of {self.source} and that the cluster is up"
            ) from exc

    def create_tfjob(self, manifest: dict[str, Any]) -> dict[str, Any]:
        namespace = manifest["metadata"]["namespace"]
        return self._call(
            "POST",
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}",
            self.api.create_namespaced_custom_object,
            namespace,
            PLURAL,
            manifest,
        )

    def get_tfjob(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call(
            "GET",
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}",
            self.api.get_namespaced_custom_object,
            namespace,
            PLURAL,
            name,
        )
