#!/usr/bin/env bash
# Installs the Debian packages watchnet's tests and demo use, only those that are missing.
#   ffmpeg      encodes test videos and serves a real RTSP stream in the stream tests
#   postgresql  the second database the schema is tested on
#   chromium    the dashboard's end-to-end tests (headless)
set -euo pipefail
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
((${#need[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "system-deps: missing ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
