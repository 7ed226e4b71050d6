#!/usr/bin/env bash
# A shared MLflow tracking server and model registry for the team (or the cluster):
# a SQL backend for runs and the registry, an artifact root that the server proxies, so
# clients need only the server's URL (no bucket credentials on laptops).
#
#   bash scripts/mlflow_server.sh                    # sqlite + local folder, 127.0.0.1:5000
#   MLFLOW_BACKEND_STORE_URI=postgresql://islr:PW@db:5432/mlflow \
#   MLFLOW_ARTIFACTS_DESTINATION=s3://my-bucket/islr/mlflow \
#   MLFLOW_HOST=0.0.0.0 MLFLOW_ALLOWED_HOSTS=mlflow.example.com bash scripts/mlflow_server.sh
#
# Environment (all optional):
#   MLFLOW_BACKEND_STORE_URI      any SQLAlchemy URI (default sqlite in $ISLR_MLFLOW_DIR)
#   MLFLOW_ARTIFACTS_DESTINATION  folder or s3://, gs://, ... (default $ISLR_MLFLOW_DIR/artifacts)
#   MLFLOW_HOST                   interface to bind (default 127.0.0.1: this machine only)
#   MLFLOW_PORT                   port (default 5000)
#   MLFLOW_ALLOWED_HOSTS          Host headers to accept besides localhost and private IPs
#   ISLR_MLFLOW_DIR               where the default sqlite file and artifacts live
# Extra arguments go to `mlflow server` (e.g. --app-name basic-auth for logins).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if [ -x "$ISLR_ROOT/.venv/bin/mlflow" ]; then
    export PATH="$ISLR_ROOT/.venv/bin:$PATH"
fi
command -v mlflow >/dev/null 2>&1 || {
    echo "mlflow_server: mlflow is not installed; run 'source scripts/bootstrap.sh' first" >&2
    exit 1
}

ISLR_MLFLOW_DIR="${ISLR_MLFLOW_DIR:-$ISLR_ROOT/outputs/mlflow-server}"
backend="${MLFLOW_BACKEND_STORE_URI:-sqlite:///$ISLR_MLFLOW_DIR/mlflow.db}"
artifacts="${MLFLOW_ARTIFACTS_DESTINATION:-$ISLR_MLFLOW_DIR/artifacts}"
host="${MLFLOW_HOST:-127.0.0.1}"
port="${MLFLOW_PORT:-5000}"
case "$port" in
    '' | *[!0-9]*) echo "mlflow_server: MLFLOW_PORT must be a number, got '$port'" >&2; exit 2 ;;
esac

# Local stores need their folders; remote ones (postgresql://, s3://, ...) are left alone.
case "$backend" in
    sqlite:////*) mkdir -p "$(dirname "${backend#sqlite:///}")" ;;
    sqlite:///*) mkdir -p "$(dirname "${backend#sqlite:///}")" ;;
esac
case "$artifacts" in
    *://*) ;;
    *) mkdir -p "$artifacts" ;;
esac

extra=()
if [ -n "${MLFLOW_ALLOWED_HOSTS:-}" ]; then
    extra+=(--allowed-hosts "$MLFLOW_ALLOWED_HOSTS")
fi
# The job-execution workers are not used by this project and cost ~1.8 GB of memory.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
echo "mlflow_server: http://$host:$port (backend $backend, artifacts $artifacts)" >&2
# exec: the server replaces this shell, so stopping the script's PID stops the server.
exec mlflow server \
    --backend-store-uri "$backend" \
    --artifacts-destination "$artifacts" \
    --host "$host" \
    --port "$port" \
    --workers 1 \
    "${extra[@]}" \
    "$@"
