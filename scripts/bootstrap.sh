# Sourced: create .venv if missing and install the project with the tested versions
# (constraints.txt; pyproject.toml holds the ranges).
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ISLR_ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    echo "islr: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml or constraints.txt changed since the last install.
stamp=".venv/.islr-installed-$ISLR_TF_EXTRA"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    echo "islr: installing the tested dependency set (first time: a few minutes)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -c constraints.txt -e ".[$ISLR_TF_EXTRA,dev]"
    touch "$stamp"
fi
export PATH="$ISLR_ROOT/.venv/bin:$PATH"
