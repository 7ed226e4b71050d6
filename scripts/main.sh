#!/usr/bin/env bash
# The main job on the embedded data: obtain data/ (DVC pull, else regenerate; md5
# checked against data.dvc), then run the data pipeline to TFRecords.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ISLR_ROOT/scripts/stack.sh"
islr data ensure
zenml pipeline run pipelines.data.data_pipeline -c "${ISLR_CONFIG:-configs/data.yaml}"
