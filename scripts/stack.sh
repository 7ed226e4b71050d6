# Sourced: make sure the project's ZenML repository and MLflow stack exist (idempotent).
# The stack: local orchestrator and artifact store, MLflow experiment tracker and model
# registry, tracking into the local store. With MLFLOW_TRACKING_URI set to a server
# (http(s)://...), the shared stack of scripts/stack_shared_mlflow.sh is used instead, so
# the pipelines track and register there.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ISLR_ROOT"
case "${MLFLOW_TRACKING_URI:-}" in
    http://* | https://*)
        echo "islr: MLFLOW_TRACKING_URI is set: tracking and registering on $MLFLOW_TRACKING_URI"
        bash "$ISLR_ROOT/scripts/stack_shared_mlflow.sh"
        return 0
        ;;
esac
ISLR_STACK="${ISLR_STACK:-islr_local}"
if [ ! -d .zen ]; then
    zenml init >/dev/null
fi
if ! zenml stack describe "$ISLR_STACK" >/dev/null 2>&1; then
    echo "islr: registering ZenML stack $ISLR_STACK (local + MLflow)"
    zenml experiment-tracker describe mlflow_tracker >/dev/null 2>&1 \
        || zenml experiment-tracker register mlflow_tracker --flavor=mlflow >/dev/null
    zenml model-registry describe mlflow_registry >/dev/null 2>&1 \
        || zenml model-registry register mlflow_registry --flavor=mlflow >/dev/null
    zenml stack register "$ISLR_STACK" -o default -a default \
        -e mlflow_tracker -r mlflow_registry >/dev/null
fi
zenml stack set "$ISLR_STACK" >/dev/null
