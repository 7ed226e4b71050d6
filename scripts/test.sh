#!/usr/bin/env bash
# The test suite: lint, then pytest. Other arguments pass through to pytest
# (e.g. -k tfrecord).
#   bash scripts/test.sh          every tier, as CI runs it (.ci/run)
#   bash scripts/test.sh --fast   the unit tier only (tests/unit: no training, pipeline
#                                 runs, processes or servers)
# The tiers: tests/unit, tests/integration (small models trained, single steps,
# subprocesses, loopback servers) and tests/e2e (pipelines end to end, the browser and
# dashboard tests, real signing).
# Tests run in parallel worker processes (pytest-xdist), one per core up to 4 (set
# ISLR_TEST_WORKERS to choose, 0 for none), each test file on one worker: the files
# share module fixtures (trained models, pipeline runs), and every worker has its own
# ZenML store (tests/conftest.py).
# The browser test needs Debian's chromium; scripts/browser.sh installs it when missing
# (root or sudo, e.g. in CI). Where it cannot, the test fails under CI=true and skips
# with its reason otherwise.
set -euo pipefail
fast=0
if [[ "${1:-}" == "--fast" ]]; then
    fast=1
    shift
fi
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [[ $fast == 0 && ! -x /usr/bin/chromium ]]; then
    bash "$ISLR_ROOT/scripts/browser.sh" || echo "test.sh: no browser; the browser test will not run" >&2
fi
ruff check .
ruff format --check .
# No test downloads a model (tests/conftest.py sets the same for pytest's process).
export HF_HUB_OFFLINE=1
export ISLR_TEST_OUTPUT="${ISLR_TEST_OUTPUT:-$ISLR_ROOT/outputs/test-output}"
mkdir -p "$ISLR_TEST_OUTPUT"
workers="${ISLR_TEST_WORKERS:-auto}"
# in collection order, longest files first (tests/conftest.py), not by their number
# of tests
parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder)
[[ $workers == auto ]] && parallel+=(--maxprocesses 4)
if [[ $fast == 1 ]]; then
    pytest "${parallel[@]}" tests/unit "$@"
else
    pytest "${parallel[@]}" "$@"
fi
