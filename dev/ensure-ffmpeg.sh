#!/usr/bin/env bash
# The development engine decodes compressed references (MP3, M4A, OGG, WEBM, FLAC) with Debian's ffmpeg,
# as the Modal engine does. Installs it when missing and we are root (as on CI and the team's machines);
# otherwise says exactly what to run. Used by `npm run dev` and the dev engine's tests.
set -euo pipefail
if command -v "${FFMPEG_PATH:-ffmpeg}" >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's ffmpeg for the development engine…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
  exit 0
fi
echo "The development engine needs ffmpeg to read MP3/M4A/OGG/WEBM/FLAC references: run 'sudo apt-get install ffmpeg'." >&2
exit 1
