#!/usr/bin/env bash
# The main job on the embedded data: obtain data/ (DVC pull, else regenerate; md5
# checked against data.dvc), then run the main pipeline: data -> train the configured
# runs -> evaluate -> TFLite export -> comparison -> registry (champion gate); it ends
# by printing the summary (outputs/reports/summary.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ISLR_ROOT/scripts/stack.sh"
islr data ensure
zenml pipeline run pipelines.main.main_pipeline -c "${ISLR_CONFIG:-configs/quickstart.yaml}"
cat "${ISLR_SUMMARY:-outputs/reports/summary.md}"
