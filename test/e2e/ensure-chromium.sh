#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never a downloaded browser).
# Installs it when missing and we are root (as on CI and the team's machines);
# otherwise says exactly what to run.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "The browser tests need Debian's Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'." >&2
exit 1
