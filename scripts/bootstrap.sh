# Sourced: create .venv if missing and install the project with its pinned set.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ISLR_ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    echo "islr: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=".venv/.islr-installed-$ISLR_TF_EXTRA"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "islr: installing the pinned dependency set (first time: a few minutes)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$ISLR_TF_EXTRA,dev]"
    touch "$stamp"
fi
export PATH="$ISLR_ROOT/.venv/bin:$PATH"
