#!/usr/bin/env bash
# Memory per idle published stream: a standalone Colony, N RTMP publishers
# of the test clip (ffmpeg -c copy, real time), no viewers. Prints the
# server's RSS and Go heap before and after, and the cost per stream.
#
#   scripts/bench/idle-streams.sh [N]      (default 20)
#
# Environment: COLONY_BIN (default bin/colony, built if missing), SETTLE
# (seconds to wait once all publish, default 20: the HLS windows fill), then
# CPU is measured over 10 s. Run with `--config FILE` settings through
# COLONY_ARGS (e.g. a config with hls.directory: memory).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20}
settle=${SETTLE:-20}
colony_bin=${COLONY_BIN:-$root/bin/colony}
[ -x "$colony_bin" ] || (cd "$root" && go build -o "$colony_bin" ./cmd/colony)

work=$(mktemp -d "${TMPDIR:-/tmp}/colony-idle.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

http=${COLONY_HTTP_PORT:-19180}
rtmp=${COLONY_RTMP_PORT:-19450}
"$colony_bin" run --data-dir "$work/data" --http-addr "127.0.0.1:$http" --rtmp-addr "127.0.0.1:$rtmp" \
	--relay-addr "127.0.0.1:${COLONY_RELAY_PORT:-19101}" --log-level warn ${COLONY_ARGS:-} >"$work/colony.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$http/rest/v2/liveness" >/dev/null 2>&1 && break
	sleep 0.1
done

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
heap_b() { curl -fs "http://127.0.0.1:$http/metrics" | awk '/^go_memstats_heap_inuse_bytes / {printf "%d", $2}'; }

sleep 3
rss0=$(rss_kb)
heap0=$(heap_b)
for i in $(seq "$n"); do
	ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i "$root/testdata/clip-720p30.mp4" -c copy \
		-f flv "rtmp://127.0.0.1:$rtmp/LiveApp/idle$i" >"$work/ff$i.log" 2>&1 &
	pids+=("$!")
done
sleep "$settle"
t0=$(cpu_ticks)
sleep 10
t1=$(cpu_ticks)
live=$(curl -fs "http://127.0.0.1:$http/LiveApp/rest/v2/broadcasts/active-live-stream-count" | sed 's/[^0-9]//g')
rss1=$(rss_kb)
heap1=$(heap_b)
echo "streams live: $live of $n (after ${settle}s)"
echo "CPU:     $(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", (b - a) / hz / 10}') cores over 10 s (ingest, muxing; no viewers)"
echo "RSS:     $((rss0 / 1024)) MB idle server -> $((rss1 / 1024)) MB; per stream $(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / 1024 / n}') MB"
echo "Go heap: $((heap0 / 1048576)) MB -> $((heap1 / 1048576)) MB; per stream $(awk -v a="$heap0" -v b="$heap1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / 1048576 / n}') MB"
[ "$live" = "$n" ]
