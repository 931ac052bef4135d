#!/usr/bin/env bash
# What the tests need from the system, installed on Debian/Ubuntu when missing:
# Chromium for the gallery's browser test (tests/test_gallery_browser.py).  The SLURM
# test installs its own daemons (tests/slurm/local_slurm.sh).  As root, or with sudo;
# elsewhere it says what is missing and the browser test fails with how to get it
# (or set NST_SKIP_BROWSER=1 to skip it).
set -euo pipefail
if [ "${NST_SKIP_BROWSER:-}" = 1 ] || command -v chromium >/dev/null 2>&1 || [ -n "${NST_CHROMIUM:-}" ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        echo "setup_system: chromium is missing and this user cannot install it;" \
            "install Debian's chromium package, set NST_CHROMIUM, or NST_SKIP_BROWSER=1" >&2
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_system: no apt-get here; install Chromium yourself and set NST_CHROMIUM" >&2
    exit 0
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
