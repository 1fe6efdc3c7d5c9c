#!/usr/bin/env bash
# Installs what Colony's tests need on Debian 12, idempotently: ffmpeg and
# ffprobe (publishers and players), nginx with its stream module and HAProxy
# (the load balancer tests), Chromium and npm with the browser tests' npm
# project in testdata/web. Run as root (or with sudo available).
set -euo pipefail
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have nginx || need+=(nginx)
have haproxy || need+=(haproxy)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
have chromium || need+=(chromium)
have npm || need+=(npm)
if [ ${#need[@]} -eq 0 ]; then
  echo "test dependencies present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
  echo "installed: ${need[*]}"
fi
# The browser tests' npm project (the Ant Media SDK), as its lock file says.
web="$(cd "$(dirname "$0")/.." && pwd)/testdata/web"
if [ -f "$web/package-lock.json" ] && [ ! -f "$web/node_modules/@antmedia/webrtc_adaptor/dist/browser/webrtc_adaptor.js" ]; then
  (cd "$web" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
  echo "installed: testdata/web/node_modules (npm ci)"
fi
