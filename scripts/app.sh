#!/usr/bin/env bash
# The sign recognition app (Streamlit), on http://127.0.0.1:8501 by default.
#
#   bash scripts/app.sh [--model PATH] [--data DIR] [--port P] [--address A] [APP OPTIONS]
#
# Without --model it serves the `champion` version of islr-sign-classifier from the MLflow
# registry of the project's ZenML stack (or of MLFLOW_TRACKING_URI / --tracking-uri).
# Other options go to the app: --model-name, --alias, --composer-config,
# --composer-checkpoint, --composer-backend, --no-composer-fallback, --top-k
# (see docs/app.md). Headless, bound to 127.0.0.1, no usage statistics.
set -euo pipefail

usage() {
    sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

caller_dir="$PWD"
port=8501
address=127.0.0.1
app_args=()
has_model="${ISLR_APP_MODEL:+yes}"
has_uri="${MLFLOW_TRACKING_URI:+yes}"

# Paths are given relative to where the user stands; the app runs from the project root.
absolute() {
    if [[ "$1" != /* && -e "$caller_dir/$1" ]]; then
        printf '%s\n' "$caller_dir/$1"
    else
        printf '%s\n' "$1"
    fi
}

while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --port) port="${2:?--port needs a value}"; shift 2 ;;
        --port=*) port="${1#*=}"; shift ;;
        --address) address="${2:?--address needs a value}"; shift 2 ;;
        --address=*) address="${1#*=}"; shift ;;
        --model | --data | --composer-config | --composer-checkpoint)
            [ "$1" = --model ] && has_model=yes
            app_args+=("$1" "$(absolute "${2:?$1 needs a value}")"); shift 2 ;;
        --tracking-uri) has_uri=yes; app_args+=("$1" "${2:?--tracking-uri needs a value}"); shift 2 ;;
        *) app_args+=("$1"); shift ;;
    esac
done
if ! [[ "$port" =~ ^[0-9]+$ ]]; then
    echo "app.sh: --port must be a number, got '$port'" >&2
    exit 2
fi

source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"   # env, .venv; cd to the project root

# The registry is the MLflow store of the active ZenML stack (the app never imports ZenML).
if [ -z "$has_model" ] && [ -z "$has_uri" ] && [ -d "$ZENML_CONFIG_PATH" ]; then
    if uri="$(python -c 'from zenml.client import Client
print(Client().active_stack.experiment_tracker.get_tracking_uri())' 2>/dev/null)" \
        && [ -n "$uri" ]; then
        app_args+=(--tracking-uri "$uri")
    else
        echo "app.sh: the active ZenML stack has no MLflow experiment tracker;" \
            "run 'bash scripts/main.sh' first or pass --model PATH" >&2
    fi
fi

echo "islr: starting the app on http://$address:$port"
exec streamlit run app/main.py \
    --server.headless true \
    --server.address "$address" \
    --server.port "$port" \
    --server.fileWatcherType none \
    --browser.gatherUsageStats false \
    --client.toolbarMode viewer \
    -- "${app_args[@]}"
