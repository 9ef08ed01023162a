#!/usr/bin/env bash
# System packages the test suite needs beyond Docker: Chromium (the site report is opened in a
# headless browser), openssl, and shellcheck (ansible-test sanity checks our shell scripts with it).
# Idempotent; installs as root only what is missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "[test-tools] missing ${missing[*]}; install them (as root): apt-get install ${missing[*]}" >&2; exit 1; }
echo "[test-tools] installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
