#!/usr/bin/env bash
# The test suite: lint, then pytest (pass pytest arguments through, e.g. -k tfrecord).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
ruff check .
ruff format --check .
pytest "$@"
