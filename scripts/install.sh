#!/usr/bin/env bash
# install.sh: install Colony as a system service, like Ant Media Server's
# install script.
#
#   sudo scripts/install.sh [options]
#
# It installs, idempotently (run it again to upgrade; your config is kept):
#   PREFIX/colony                    the server binary (and /usr/local/bin/colony -> it)
#   PREFIX/plugins/colony-transcoder-*  the transcoder plugins found beside the binary
#   PREFIX/colony.yaml               a default config, only if there is none
#   PREFIX/change_server_mode.sh     Ant Media style mode switch
#   PREFIX/data, PREFIX/log          owned by the colony user
#   /etc/systemd/system/colony.service   the systemd unit (LimitNOFILE=1048576)
#   /etc/security/limits.d/90-colony.conf  open-files limits (limits.conf) for colony and root
# creates the `colony` system user, then enables and starts the service.
#
# Options:
#   --bin FILE      colony binary to install (default: colony beside this
#                   script, else bin/colony of the repository; run `make build`)
#   --plugins DIR   directory of colony-transcoder-* plugins (default: the binary's)
#   --prefix DIR    install prefix (default /usr/local/colony)
#   --root DIR      install into DIR as a scratch root (packaging, tests): files
#                   only, under DIR; no user is created, systemd is not touched
#   --no-start      enable the service but do not (re)start it
#   -h, --help      this help
#
# Ports: open 1935 (RTMP), 5080 (HTTP) and WebRTC's UDP 50000 to clients;
# keep 5000 (cluster relay) and MongoDB on the internal network.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

here=$(cd "$(dirname "$0")" && pwd)
bin="" plugins="" prefix=/usr/local/colony root="" start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=${2:?--bin needs a file}; shift 2 ;;
    --plugins) plugins=${2:?--plugins needs a directory}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
elif [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo), or give --root DIR to install into a scratch root" >&2
  exit 1
fi
if [ -z "$bin" ]; then
  for c in "$here/colony" "$here/../bin/colony"; do
    if [ -f "$c" ]; then bin=$c; break; fi
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "install.sh: no colony binary (build it with make build, or give --bin FILE)" >&2; exit 1; }
plugins=${plugins:-$(dirname "$bin")}
for f in colony.service colony.yaml.default change_server_mode.sh; do
  [ -f "$here/$f" ] || { echo "install.sh: $here/$f is missing" >&2; exit 1; }
done

dest=$root$prefix
changed=0
say() { echo "install.sh: $*"; }

# put SRC DST MODE: install SRC as DST unless DST already has that content.
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    say "unchanged $2"
  else
    mkdir -p "$(dirname "$2")"
    install -m "$3" "$1" "$2.new.$$"
    mv -f "$2.new.$$" "$2"
    say "installed $2"
    changed=1
  fi
}

# template SRC DST MODE: put SRC with @PREFIX@ replaced.
template() {
  local tmp
  tmp=$(mktemp)
  sed "s|@PREFIX@|$prefix|g" "$1" > "$tmp"
  put "$tmp" "$2" "$3"
  rm -f "$tmp"
}

mkdir -p "$dest/plugins" "$dest/data" "$dest/log"
put "$bin" "$dest/colony" 0755
found=0
for p in "$plugins"/colony-transcoder-*; do
  [ -f "$p" ] && [ -x "$p" ] || continue
  case "$(basename "$p")" in *.*) continue ;; esac # checksums, backups
  put "$p" "$dest/plugins/$(basename "$p")" 0755
  found=1
done
[ $found -eq 1 ] || say "no colony-transcoder-* plugin in $plugins (transcoding will be unavailable)"
put "$here/change_server_mode.sh" "$dest/change_server_mode.sh" 0755
if [ -f "$dest/colony.yaml" ]; then
  say "kept $dest/colony.yaml"
else
  template "$here/colony.yaml.default" "$dest/colony.yaml" 0640
fi
template "$here/colony.service" "$root/etc/systemd/system/colony.service" 0644

limits=$(mktemp)
cat > "$limits" <<LIMITS
# Colony: every viewer and publisher holds a socket (installed by install.sh).
colony soft nofile 1048576
colony hard nofile 1048576
root soft nofile 1048576
root hard nofile 1048576
LIMITS
put "$limits" "$root/etc/security/limits.d/90-colony.conf" 0644
rm -f "$limits"

mkdir -p "$root/usr/local/bin"
if [ "$(readlink "$root/usr/local/bin/colony" 2>/dev/null)" != "$prefix/colony" ]; then
  ln -sfn "$prefix/colony" "$root/usr/local/bin/colony"
  say "linked $root/usr/local/bin/colony -> $prefix/colony"
fi

if [ -n "$root" ]; then
  say "skipped creating the colony user and starting the service (--root $root)"
  say "done: Colony installed under $root$prefix"
  exit 0
fi

if id colony >/dev/null 2>&1; then
  say "user colony exists"
else
  useradd --system --user-group --home-dir "$prefix" --no-create-home --shell /usr/sbin/nologin colony
  say "created system user colony"
fi
chown -R colony:colony "$dest/data" "$dest/log"
chown root:colony "$dest/colony.yaml"
chmod 0660 "$dest/colony.yaml"

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable colony >/dev/null 2>&1
  if [ $start -eq 1 ]; then
    if [ $changed -eq 1 ] || ! systemctl is-active --quiet colony; then
      systemctl restart colony
      say "started colony.service"
    else
      say "colony.service running, nothing changed"
    fi
  fi
else
  say "systemd is not running here: start Colony with $prefix/colony run --config $prefix/colony.yaml"
fi
say "done: Colony installed in $prefix (config $prefix/colony.yaml; cluster: $prefix/change_server_mode.sh cluster <mongodb host>)"
