#!/usr/bin/env bash
# Installs what the dashboard's browser test (crates/server/tests/it/browser.rs) drives: Debian's
# chromium and chromium-driver, with apt, when either is missing. Idempotent and quiet: with both
# present it only says so. Runs as root, or through sudo when that is available.
set -euo pipefail

have() {
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || return 1
  command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ] || return 1
}

if have; then
  echo "browser-deps: ok (chromium and chromedriver present)"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  echo "browser-deps: chromium and chromium-driver are missing, and this is neither root nor has sudo" >&2
  exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/browser-deps.XXXXXX")
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${as_root[@]}" apt-get update -qq && \
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >"$log" 2>&1; then
  echo "browser-deps: apt-get failed:" >&2
  cat "$log" >&2
  exit 1
fi
have || { echo "browser-deps: installed, but chromium or chromedriver is still not found" >&2; exit 1; }
echo "browser-deps: installed $(chromium --version 2>/dev/null || echo chromium) and chromedriver"
