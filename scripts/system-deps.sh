#!/usr/bin/env bash
# Installs the Debian packages watchnet's tests and demo use, only those that are missing.
#   ffmpeg      encodes test videos and serves a real RTSP stream in the stream tests
#   postgresql  the second database the schema is tested on
#   chromium    the dashboard's end-to-end tests (headless)
#   mosquitto   a real MQTT broker for the alert sink's tests (tests/integration/test_alerts_mqtt.py)
set -euo pipefail
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# chromium: tests/e2e drive it with Playwright (executable_path=/usr/bin/chromium, no browser download)
command -v chromium >/dev/null || need+=(chromium)
command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]] || need+=(mosquitto)
((${#need[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "system-deps: missing ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
