#!/usr/bin/env bash
# Registers the cluster stack: a Kubernetes (or Kubeflow) orchestrator, an artifact store
# on object storage, a container registry and image builder for docker/train.Dockerfile,
# and the MLflow tracker and registry on the shared server (scripts/stack_shared_mlflow.sh).
# Needs a cluster, so it is not run by the tests; docs/cluster.md walks through it.
#
#   KUBE_CONTEXT=gke_my-project_europe-west4_islr \
#   ARTIFACT_STORE_URI=gs://my-bucket/islr/zenml \
#   CONTAINER_REGISTRY_URI=europe-west4-docker.pkg.dev/my-project/islr \
#   MLFLOW_TRACKING_URI=https://mlflow.example.com MLFLOW_TRACKING_TOKEN=... \
#   bash scripts/stack_cluster.sh
#
# Environment:
#   KUBE_CONTEXT              kubectl context of the cluster (required)
#   ARTIFACT_STORE_URI        s3://... or gs://... (required)
#   CONTAINER_REGISTRY_URI    where images are pushed (required)
#   MLFLOW_TRACKING_URI       the shared server, reachable from laptops, CI and pods (required)
#   ISLR_ORCHESTRATOR_FLAVOR  kubernetes (default) or kubeflow
#   KUBEFLOW_HOST             the Kubeflow Pipelines API, for the kubeflow flavor
#   K8S_NAMESPACE             namespace of the pipeline pods (default islr)
#   ISLR_IMAGE_BUILDER        local (docker on this machine, default) or kaniko (in-cluster)
#   ISLR_CLUSTER_STACK        stack name (default islr_cluster)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ISLR_ROOT"
if [ -x .venv/bin/zenml ]; then
    export PATH="$ISLR_ROOT/.venv/bin:$PATH"
fi

for var in KUBE_CONTEXT ARTIFACT_STORE_URI CONTAINER_REGISTRY_URI MLFLOW_TRACKING_URI; do
    if [ -z "${!var:-}" ]; then
        echo "stack_cluster: set $var (see the header of $0)" >&2
        exit 2
    fi
done
stack="${ISLR_CLUSTER_STACK:-islr_cluster}"
namespace="${K8S_NAMESPACE:-islr}"
flavor="${ISLR_ORCHESTRATOR_FLAVOR:-kubernetes}"
builder="${ISLR_IMAGE_BUILDER:-local}"
case "$ARTIFACT_STORE_URI" in
    s3://*) store_flavor=s3; cloud=s3 ;;
    gs://*) store_flavor=gcp; cloud=gcp ;;
    *) echo "stack_cluster: ARTIFACT_STORE_URI must be s3:// or gs://, got $ARTIFACT_STORE_URI" >&2; exit 2 ;;
esac
case "$flavor" in
    kubernetes | kubeflow) ;;
    *) echo "stack_cluster: ISLR_ORCHESTRATOR_FLAVOR must be kubernetes or kubeflow" >&2; exit 2 ;;
esac

# The integrations' client libraries, constrained by constraints.txt (the tested set) so
# they cannot move a tested package (the same rule as docker/train.Dockerfile).
integrations="$flavor $cloud"
[ "$builder" = kaniko ] && integrations="$integrations kaniko"
requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT
# shellcheck disable=SC2086
zenml integration export-requirements $integrations --output-file "$requirements" >/dev/null
pip install --disable-pip-version-check -r "$requirements" -c constraints.txt

[ -d .zen ] || zenml init >/dev/null

# The commands, each idempotent: register when missing.
zenml artifact-store describe islr_artifacts >/dev/null 2>&1 \
    || zenml artifact-store register islr_artifacts --flavor="$store_flavor" \
        --path="$ARTIFACT_STORE_URI"
zenml container-registry describe islr_images >/dev/null 2>&1 \
    || zenml container-registry register islr_images --flavor=default \
        --uri="$CONTAINER_REGISTRY_URI"
if [ "$builder" = kaniko ]; then
    zenml image-builder describe islr_builder >/dev/null 2>&1 \
        || zenml image-builder register islr_builder --flavor=kaniko \
            --kubernetes_context="$KUBE_CONTEXT" --kubernetes_namespace="$namespace"
else
    zenml image-builder describe islr_builder >/dev/null 2>&1 \
        || zenml image-builder register islr_builder --flavor=local
fi
if [ "$flavor" = kubeflow ]; then
    : "${KUBEFLOW_HOST:?set KUBEFLOW_HOST to the Kubeflow Pipelines API for the kubeflow flavor}"
    zenml orchestrator describe islr_orchestrator >/dev/null 2>&1 \
        || zenml orchestrator register islr_orchestrator --flavor=kubeflow \
            --kubernetes_context="$KUBE_CONTEXT" --kubeflow_hostname="$KUBEFLOW_HOST"
else
    zenml orchestrator describe islr_orchestrator >/dev/null 2>&1 \
        || zenml orchestrator register islr_orchestrator --flavor=kubernetes \
            --kubernetes_context="$KUBE_CONTEXT" --kubernetes_namespace="$namespace"
fi

# MLflow tracker and registry on the shared server, in a stack with the components above.
ISLR_SHARED_STACK="$stack" ISLR_ORCHESTRATOR=islr_orchestrator \
    ISLR_ARTIFACT_STORE=islr_artifacts ISLR_STACK_SET=0 \
    bash scripts/stack_shared_mlflow.sh
zenml stack update "$stack" -c islr_images -i islr_builder
zenml stack set "$stack"
cat >&2 <<MSG
stack_cluster: stack $stack is active. Next (docs/cluster.md):
  kubectl --context $KUBE_CONTEXT apply -f configs/stacks/kubernetes.yaml
  zenml pipeline run pipelines.main.main_pipeline -c configs/retrain.yaml
  islr cluster tfjob --run configs/runs/cnn_transformer.yaml --scale configs/scales/full.yaml \\
      --cluster configs/cluster.yaml --tfrecords ${ARTIFACT_STORE_URI%/}/... --out ${ARTIFACT_STORE_URI%/}/tfjobs/...
MSG
