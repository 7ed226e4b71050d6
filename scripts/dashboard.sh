#!/usr/bin/env bash
# The ZenML dashboard on this machine: pipeline runs as DAGs, each step's inputs and
# outputs, and the artifacts' lineage, read from the project's own ZenML store (.zenml/).
#
#   bash scripts/dashboard.sh            # http://127.0.0.1:8237, until Ctrl+C
#
# Needs the `dashboard` extra: pip install -e ".[dashboard]" (zenml[server], checked to
# install with the project's pins). Environment (optional):
#   ZENML_DASHBOARD_PORT   port (default 8237)
#   ZENML_DASHBOARD_IP     interface (default 127.0.0.1: this machine only)
# The server reads the same local store that pipelines on this machine write (in blocking
# mode the client is not switched over to it), so new runs show up while it runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ISLR_ROOT"
if [ -x .venv/bin/zenml ]; then
    export PATH="$ISLR_ROOT/.venv/bin:$PATH"
fi
port="${ZENML_DASHBOARD_PORT:-8237}"
ip="${ZENML_DASHBOARD_IP:-127.0.0.1}"
if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    echo "dashboard: ZENML_DASHBOARD_PORT must be a port number (1-65535), got '$port'" >&2
    exit 2
fi
python -c "import zenml.zen_server.deploy, uvicorn" 2>/dev/null || {
    echo "dashboard: the ZenML server is not installed; run: .venv/bin/pip install -e '.[dashboard]'" >&2
    exit 1
}
echo "dashboard: http://$ip:$port (the main job: Pipelines > main_pipeline > a run)" >&2
zenml login --local --blocking --port "$port" --ip-address "$ip"
