#!/usr/bin/env bash
# change_server_mode.sh: switch a Colony node between standalone and cluster
# mode, for people used to Ant Media Server's script of the same name.
#
#   change_server_mode.sh cluster <mongo host | mongodb://... | mongodb+srv://...> [user password]
#   change_server_mode.sh standalone
#
# Environment: COLONY_BIN (default: colony on PATH, else /usr/local/colony/colony),
# COLONY_CONFIG (default /usr/local/colony/colony.yaml).
set -euo pipefail
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
[ $# -ge 1 ] || usage 2
case "$1" in -h|--help) usage 0 ;; esac
bin=${COLONY_BIN:-$(command -v colony || echo /usr/local/colony/colony)}
config=${COLONY_CONFIG:-/usr/local/colony/colony.yaml}
mode=$1; shift
case "$mode" in
  cluster)
    [ $# -eq 1 ] || [ $# -eq 3 ] || usage 2
    exec "$bin" mode cluster --config "$config" "$@" ;;
  standalone)
    [ $# -eq 0 ] || usage 2
    exec "$bin" mode standalone --config "$config" ;;
  *) usage 2 ;;
esac
