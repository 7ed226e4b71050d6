#!/usr/bin/env bash
# Builds the landmark extractor's own environment now (it is otherwise built on the first
# `islr landmarks` or video upload): .venv-landmarks/ with mediapipe==0.10.14, NumPy 1.x
# and OpenCV from islr/resources/landmarks-requirements.txt (about 130 MB to download,
# 390 MB on disk). A venv of its own because mediapipe 0.10.14 needs protobuf<5 and
# NumPy 1.x, which the main pinned set cannot hold (docs/landmarks.md).
#
#   bash scripts/landmarks_env.sh [VENV_DIR]      # default: $ISLR_LANDMARKS_VENV or .venv-landmarks
#
# Rebuilds only when the requirements changed; offline it fails with pip's reason.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
python -m islr.landmarks "$@"
