#!/usr/bin/env bash
# System packages the test suite needs, from Debian's archive:
#   postgresql  - a real server for the feedback layer's PostgreSQL tests
#   chromium    - the headless browser the feedback layer's browser test drives
# Idempotent: packages already installed are skipped, so a second run costs
# nothing (no apt-get update, no network).
set -euo pipefail

PACKAGES=(postgresql chromium)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system-deps: all present (${PACKAGES[*]})"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "system-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
