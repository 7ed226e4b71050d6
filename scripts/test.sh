#!/usr/bin/env bash
# The test suite: lint, then pytest (pass pytest arguments through, e.g. -k tfrecord).
# The browser test needs Debian's chromium; scripts/browser.sh installs it when missing
# (root or sudo, e.g. in CI). Where it cannot, the test fails under CI=true and skips
# with its reason otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [[ ! -x /usr/bin/chromium ]]; then
    bash "$ISLR_ROOT/scripts/browser.sh" || echo "test.sh: no browser; the browser test will not run" >&2
fi
ruff check .
ruff format --check .
# No test downloads a model (tests/conftest.py sets the same for pytest's process).
export HF_HUB_OFFLINE=1
export ISLR_TEST_OUTPUT="${ISLR_TEST_OUTPUT:-$ISLR_ROOT/outputs/test-output}"
mkdir -p "$ISLR_TEST_OUTPUT"
pytest "$@"
