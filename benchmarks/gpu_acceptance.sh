#!/usr/bin/env bash
# GPU acceptance in one command: every run at full scale for a fixed number of steps on
# the embedded data (see benchmarks/gpu_acceptance.py for the options), e.g.
#   ISLR_TF_EXTRA=gpu bash benchmarks/gpu_acceptance.sh --json outputs/gpu_acceptance/report.json
# On a CPU, with a small scale: bash benchmarks/gpu_acceptance.sh --steps 2 \
#   --scale configs/scales/quickstart.yaml
set -euo pipefail
# env.sh (offline switches) and the project's .venv, created with the pinned set if missing
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/bootstrap.sh"
if command -v nvidia-smi >/dev/null 2>&1 && [ "$ISLR_TF_EXTRA" != gpu ]; then
    # tensorflow-cpu cannot see the GPUs: the figures would be CPU figures
    echo "gpu_acceptance: nvidia-smi found but ISLR_TF_EXTRA=$ISLR_TF_EXTRA;" \
        "rerun with ISLR_TF_EXTRA=gpu to install tensorflow[and-cuda]" >&2
fi
exec .venv/bin/python benchmarks/gpu_acceptance.py "$@"
