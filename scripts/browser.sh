#!/usr/bin/env bash
# Installs the browser the end-to-end app test drives: Debian's chromium (and its
# driver), only when /usr/bin/chromium is missing. Needs root (CI runners, containers)
# or sudo; Playwright's own browser download is not used, so no CDN is involved.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "browser: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium) already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "browser: /usr/bin/chromium is missing and this user cannot install it" \
            "(not root, no sudo); run 'apt-get install chromium chromium-driver' as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver
echo "browser: installed $(/usr/bin/chromium --version)"
