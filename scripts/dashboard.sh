#!/usr/bin/env bash
# The ZenML dashboard on this machine: pipeline runs as DAGs, each step's inputs and
# outputs, and the artifacts' lineage, read from the project's own ZenML store (.zenml/).
#
#   bash scripts/dashboard.sh            # http://127.0.0.1:8237, until Ctrl+C
#
# It prints the pipelines page, http://127.0.0.1:8237/projects/default/pipelines: a
# pipeline there, then one of its runs, shows that run's DAG. The dashboard asks a new
# user to fill in a sign-up survey (name, e-mail, newsletter) before anything else; for
# this machine's own store, with its one passwordless user `default`, the script records
# that survey as answered (no e-mail, no newsletter) before starting, so the dashboard
# opens straight onto the pipelines. A user who has answered it keeps their answers.
#
# Needs the `dashboard` extra: pip install -c constraints.txt -e ".[dashboard]"
# (zenml[server], checked to install with the tested versions). Environment (optional):
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
    echo "dashboard: the ZenML server is not installed; run: .venv/bin/pip install -c constraints.txt -e '.[dashboard]'" >&2
    exit 1
}
# The survey (see above) counts as answered once the user's record has an e-mail opt-in
# and `finished_onboarding_survey` in its metadata: what the dashboard writes on its last
# page. Only a record never answered is touched; a failure only leaves the survey there.
python - <<'PY' || echo "dashboard: could not mark the sign-up survey answered; the dashboard asks for it" >&2
from zenml.config.global_config import GlobalConfiguration
from zenml.constants import DEFAULT_USERNAME
from zenml.models import UserUpdate
from zenml.zen_stores.base_zen_store import BaseZenStore

# the store `zenml login --local` serves: the local default store, whichever store the
# client itself is connected to
store = BaseZenStore.create_store(GlobalConfiguration().get_default_store())
user = store.get_user(DEFAULT_USERNAME)
if user.email_opted_in is None:
    answered = {**user.user_metadata, "finished_onboarding_survey": True}
    store.update_user(user.id, UserUpdate(email_opted_in=False, user_metadata=answered))
PY
echo "dashboard: http://$ip:$port/projects/default/pipelines (the main job: main_pipeline > a run)" >&2
zenml login --local --blocking --port "$port" --ip-address "$ip"
