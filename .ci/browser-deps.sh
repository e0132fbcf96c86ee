#!/usr/bin/env bash
# Install Debian's chromium for tests/test_browser.py when it is missing; quiet, idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# An already-installed (or half-configured) package is not an error: the test checks the binary.
$SUDO apt-get install -y -qq chromium >/dev/null || true
if [ ! -x /usr/bin/chromium ]; then
    echo "browser-deps: chromium could not be installed; tests/test_browser.py will fail under CI=true" >&2
fi
