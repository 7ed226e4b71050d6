# Sourced by the other scripts: project-local state and telemetry switches.
# shellcheck shell=bash
ISLR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ISLR_ROOT
# ZenML keeps its global config and local store (SQLite, artifacts, MLflow db) here,
# inside the project, not in the user's home.
export ZENML_CONFIG_PATH="${ZENML_CONFIG_PATH:-$ISLR_ROOT/.zenml}"
export ZENML_ANALYTICS_OPT_IN=false
export ZENML_LOGGING_VERBOSITY="${ZENML_LOGGING_VERBOSITY:-INFO}"
export DVC_NO_ANALYTICS=1
export MLFLOW_DISABLE_TELEMETRY=true
export STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
# Not HF_HUB_OFFLINE: the composer downloads FLAN-T5 on first use like any Hugging Face
# tool. Set HF_HUB_OFFLINE=1 (or pass --offline) to keep everything local; the tests
# and CI set it themselves.
export TF_CPP_MIN_LOG_LEVEL=2
export PYTHONUNBUFFERED=1
# A GPU box sets ISLR_TF_EXTRA=gpu to install tensorflow[and-cuda] instead of tensorflow-cpu.
export ISLR_TF_EXTRA="${ISLR_TF_EXTRA:-cpu}"
