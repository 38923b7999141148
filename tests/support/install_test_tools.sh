#!/bin/sh
# Debian packages some tests need beyond the Python extras, installed once (idempotent; `make test` runs this):
#   chromium, chromium-driver: tests/test_server_page.py drives voxport serve's page in headless Chromium.
# Without apt (not Debian) or without root, it says so and installs nothing: those tests then skip with the reason.
set -eu
PACKAGES="chromium chromium-driver"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_test_tools: no apt-get here; not installing$missing (the browser test will skip)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_test_tools: not root and no sudo; not installing$missing (the browser test will skip)" >&2
        exit 0
    fi
fi
echo "install_test_tools: installing$missing"
$SUDO apt-get update -qq >/dev/null || echo "install_test_tools: apt-get update failed; trying the cached lists" >&2
# shellcheck disable=SC2086  # the package names are words
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null \
    || echo "install_test_tools: could not install$missing (the browser test will skip)" >&2
