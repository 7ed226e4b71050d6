#!/usr/bin/env bash
# Regenerate constraints.txt, the exact set of versions the project is tested with, from
# the project's venv (.venv, or $VENV): `pip freeze --all` (setuptools and wheel are
# runtime dependencies too) without pip itself and the editable islr line, and with local
# version labels dropped (torch 2.13.0+cpu -> torch==2.13.0, which a +cpu build still
# satisfies). TensorFlow's CPU and GPU packages are one release under two names, so the
# twin of whichever is installed is added: one file serves both extras.
#
# To move to newer versions: change the ranges in pyproject.toml if needed, upgrade the
# venv without the old constraints (`.venv/bin/pip install -U -e ".[cpu,dev]"`), run
# `bash scripts/test.sh`, then `bash scripts/constraints.sh` and commit both files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${VENV:-.venv}"
out="${1:-constraints.txt}"
frozen="$("$venv/bin/python" -m pip freeze --all --exclude-editable --disable-pip-version-check \
    | grep -Ev '^(#|pip==)' | sed -E 's/\+[A-Za-z0-9.]+$//')"
tf_version() { sed -nE "s/^$1==(.+)$/\1/Ip" <<<"$frozen"; }
cpu="$(tf_version 'tensorflow[-_]cpu')"
gpu="$(tf_version tensorflow)"
[ -n "$cpu" ] && [ -z "$gpu" ] && frozen+=$'\n'"tensorflow==$cpu"
[ -n "$gpu" ] && [ -z "$cpu" ] && frozen+=$'\n'"tensorflow-cpu==$gpu"
{
    echo "# The exact versions the project is tested with (Python 3.11, Linux x86_64). Every"
    echo "# install uses it: pip install -c constraints.txt -e \".[cpu,dev]\" (scripts/bootstrap.sh),"
    echo "# the Dockerfiles, scripts/stack_cluster.sh. pyproject.toml holds the ranges."
    echo "# Regenerate, never edit: bash scripts/constraints.sh (its header says how to upgrade)."
    grep -qi '^nvidia-' <<<"$frozen" \
        || echo "# From a CPU venv: the gpu extra's CUDA wheels (nvidia-*) are left to pip."
    LC_ALL=C sort -f -t= -k1,1 <<<"$frozen"
} >"$out"
echo "constraints: wrote $(grep -vc '^#' "$out") versions to $out"
