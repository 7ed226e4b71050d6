#!/usr/bin/env bash
# Registers (or updates) a ZenML stack whose MLflow experiment tracker and model registry
# use a shared tracking server (scripts/mlflow_server.sh) instead of the local store,
# and makes it the active stack. Other components come from the arguments' defaults:
#
#   MLFLOW_TRACKING_URI=http://mlflow.internal:5000 bash scripts/stack_shared_mlflow.sh
#
# Environment:
#   MLFLOW_TRACKING_URI       the server (required), http(s)://HOST:PORT
#   MLFLOW_TRACKING_TOKEN     bearer token, or
#   MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD   basic auth (--app-name basic-auth)
#   ISLR_SHARED_STACK         stack name (default islr_shared)
#   ISLR_TRACKER_NAME         experiment tracker name (default mlflow_shared_tracker; the
#                             tracked steps use whichever tracker the active stack has, so
#                             the local stack's own mlflow_tracker stays local; an existing
#                             component of this name is pointed at the server)
#   ISLR_REGISTRY_NAME        model registry name (default mlflow_registry)
#   ISLR_ORCHESTRATOR, ISLR_ARTIFACT_STORE   existing components (default: default)
#   ISLR_STACK_SET            1 (default) to activate the stack, 0 to only register it
# ZenML requires exactly one credential for an http(s) tracking URI. A server without
# authentication ignores credentials, so for one on this machine (127.0.0.1/localhost)
# a placeholder token is used when none is given; a remote server needs a real one.
# Credentials are kept in a ZenML secret, never in the component's plain config.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ISLR_ROOT"
if [ -x .venv/bin/zenml ]; then
    export PATH="$ISLR_ROOT/.venv/bin:$PATH"
fi

uri="${MLFLOW_TRACKING_URI:-}"
case "$uri" in
    http://* | https://*) ;;
    "") echo "stack_shared_mlflow: set MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:5000)" >&2; exit 2 ;;
    *) echo "stack_shared_mlflow: MLFLOW_TRACKING_URI='$uri' must be http(s)://HOST:PORT" >&2; exit 2 ;;
esac
stack="${ISLR_SHARED_STACK:-islr_shared}"
tracker="${ISLR_TRACKER_NAME:-mlflow_shared_tracker}"
registry="${ISLR_REGISTRY_NAME:-mlflow_registry}"
secret="${tracker}_credentials"

# Credentials reach Python through the environment, never the command line (ps shows it).
if [ -n "${MLFLOW_TRACKING_TOKEN:-}" ]; then
    export _ISLR_AUTH=token _ISLR_TOKEN="$MLFLOW_TRACKING_TOKEN"
elif [ -n "${MLFLOW_TRACKING_USERNAME:-}" ] && [ -n "${MLFLOW_TRACKING_PASSWORD:-}" ]; then
    export _ISLR_AUTH=basic
else
    host="${uri#*://}"
    host="${host%%[:/]*}"
    case "$host" in
        127.0.0.1 | localhost | "[::1]")
            export _ISLR_AUTH=token _ISLR_TOKEN="unauthenticated-local-server"
            ;;
        *)
            echo "stack_shared_mlflow: $uri is remote: set MLFLOW_TRACKING_TOKEN or" \
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" >&2
            exit 2
            ;;
    esac
fi

if [ ! -d .zen ]; then
    zenml init >/dev/null
fi
# One Python process for all registrations (each `zenml` CLI call costs seconds of
# imports). The equivalent commands, for reading:
#   zenml secret create SECRET --token=...
#   zenml experiment-tracker register TRACKER --flavor=mlflow --tracking_uri=URI \
#       --tracking_token={{SECRET.token}}
#   zenml model-registry register REGISTRY --flavor=mlflow
#   zenml stack register STACK -o default -a default -e TRACKER -r REGISTRY --set
python - "$uri" "$stack" "$tracker" "$registry" "$secret" \
    "${ISLR_ORCHESTRATOR:-default}" "${ISLR_ARTIFACT_STORE:-default}" "${ISLR_STACK_SET:-1}" <<'PY'
import logging
import os
import sys

from zenml.client import Client
from zenml.enums import StackComponentType as Kind

log = logging.getLogger("stack_shared_mlflow")
logging.basicConfig(level=logging.INFO, format="stack_shared_mlflow: %(message)s")
uri, stack, tracker, registry, secret, orchestrator, store, activate = sys.argv[1:]
client = Client()

if os.environ["_ISLR_AUTH"] == "token":
    values = {"token": os.environ["_ISLR_TOKEN"]}
    auth = {"tracking_token": f"{{{{{secret}.token}}}}"}
else:
    values = {
        "username": os.environ["MLFLOW_TRACKING_USERNAME"],
        "password": os.environ["MLFLOW_TRACKING_PASSWORD"],
    }
    auth = {
        "tracking_username": f"{{{{{secret}.username}}}}",
        "tracking_password": f"{{{{{secret}.password}}}}",
    }
try:
    client.get_secret(secret, allow_partial_name_match=False, allow_partial_id_match=False)
    client.update_secret(secret, add_or_update_values=values)
except KeyError:
    client.create_secret(secret, values=values)


def existing(kind, name):
    try:
        return client.get_stack_component(kind, name, allow_name_prefix_match=False)
    except KeyError:
        return None


config = {"tracking_uri": uri, **auth}
if existing(Kind.EXPERIMENT_TRACKER, tracker):
    log.info("pointing the existing %s at %s (stacks using it follow)", tracker, uri)
    # drop the other credential kind, so exactly one is configured
    stale = {"tracking_token", "tracking_username", "tracking_password"} - set(auth)
    client.update_stack_component(
        tracker, Kind.EXPERIMENT_TRACKER, configuration={**config, **dict.fromkeys(stale)}
    )
else:
    client.create_stack_component(tracker, "mlflow", Kind.EXPERIMENT_TRACKER, config)
if not existing(Kind.MODEL_REGISTRY, registry):
    client.create_stack_component(registry, "mlflow", Kind.MODEL_REGISTRY, {})
try:
    client.get_stack(stack, allow_name_prefix_match=False)
except KeyError:
    client.create_stack(
        stack,
        {
            Kind.ORCHESTRATOR: orchestrator,
            Kind.ARTIFACT_STORE: store,
            Kind.EXPERIMENT_TRACKER: tracker,
            Kind.MODEL_REGISTRY: registry,
        },
    )
if activate == "1":
    client.activate_stack(stack)
log.info("stack %s tracks to %s%s", stack, uri, " (active)" if activate == "1" else "")
PY
