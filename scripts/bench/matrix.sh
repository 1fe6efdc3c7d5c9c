#!/usr/bin/env bash
# Side-by-side load test: Colony, then Debian's nginx with its RTMP module,
# each fed by colony-bench's stamped RTMP publisher and played by its
# viewers; prints one table of both and keeps the JSON lines.
#
#   scripts/bench/matrix.sh [short|full]
#
# short (make bench, about 3 minutes): 1 viewer of each kind, then 100 HLS,
#   100 LL-HLS, 25 WHEP, 25 WebSocket viewers on Colony; 1 and 100 HLS
#   viewers on nginx; 10 s measured per run.
# full: 1, 100 and 500 HLS and LL-HLS viewers, 1, 50 and 200 WHEP and
#   WebSocket viewers on Colony; 1, 100 and 500 HLS viewers on nginx; 30 s
#   measured per run.
# Environment: COLONY_BIN (default bin/colony, built if missing),
# BENCH_BIN (default: bin/colony-bench, built afresh), OUT (results
# directory, default a new one under /tmp), RUNS_COLONY,
# RUNS_NGINX, DURATION, WARMUP (override the profile). nginx is skipped,
# with a warning, if nginx or libnginx-mod-rtmp is not installed.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${1:-short}
case $profile in
short)
	runs_colony=${RUNS_COLONY:-hls:1,llhls:1,whep:1,ws:1,hls:100,llhls:100,whep:25,ws:25}
	runs_nginx=${RUNS_NGINX:-hls:1,hls:100}
	duration=${DURATION:-10s}
	warmup=${WARMUP:-3s}
	;;
full)
	runs_colony=${RUNS_COLONY:-hls:1,hls:100,hls:500,llhls:1,llhls:100,llhls:500,whep:1,whep:50,whep:200,ws:1,ws:50,ws:200}
	runs_nginx=${RUNS_NGINX:-hls:1,hls:100,hls:500}
	duration=${DURATION:-30s}
	warmup=${WARMUP:-10s}
	;;
*)
	echo "usage: matrix.sh [short|full]" >&2
	exit 2
	;;
esac

colony_bin=${COLONY_BIN:-$root/bin/colony}
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/colony-bench.XXXXXX")}
mkdir -p "$out"
[ -x "$colony_bin" ] || (cd "$root" && go build -o "$colony_bin" ./cmd/colony)
if [ -z "${BENCH_BIN:-}" ]; then
	bench_bin=$root/bin/colony-bench
	(cd "$root" && go build -o "$bench_bin" ./cmd/colony-bench)
else
	bench_bin=$BENCH_BIN
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/colony-bench-run.XXXXXX")
colony_pid=
nginx_dir=
cleanup() {
	if [ -n "$colony_pid" ]; then
		kill -TERM "$colony_pid" 2>/dev/null || true
		wait "$colony_pid" 2>/dev/null || true
	fi
	if [ -n "$nginx_dir" ]; then
		bash "$root/scripts/bench/nginx-rtmp.sh" stop "$nginx_dir" || true
		rm -rf "$nginx_dir"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

common=(--duration "$duration" --warmup "$warmup" --pause 1s --clip "$root/testdata/clip-720p30.mp4" --json)
status=0

# Colony, on ports of its own so that it does not meet a development server.
c_rtmp=${COLONY_RTMP_PORT:-19350}
c_http=${COLONY_HTTP_PORT:-19080}
"$colony_bin" run --data-dir "$work/colony-data" --http-addr "127.0.0.1:$c_http" \
	--rtmp-addr "127.0.0.1:$c_rtmp" --relay-addr "127.0.0.1:${COLONY_RELAY_PORT:-19001}" \
	--log-level warn >"$out/colony.log" 2>&1 &
colony_pid=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$c_http/rest/v2/liveness" >/dev/null 2>&1 && break
	sleep 0.1
done
echo "== colony (pid $colony_pid): $runs_colony" >&2
"$bench_bin" matrix --label colony --server-pid "$colony_pid" --runs "$runs_colony" "${common[@]}" \
	--rtmp "rtmp://127.0.0.1:$c_rtmp/LiveApp/bench" \
	--hls "http://127.0.0.1:$c_http/LiveApp/streams/bench.m3u8" \
	--whep "http://127.0.0.1:$c_http/LiveApp/whep/bench" \
	--ws "ws://127.0.0.1:$c_http/LiveApp/websocket" >"$out/colony.jsonl" || status=1
kill -TERM "$colony_pid" 2>/dev/null || true
wait "$colony_pid" 2>/dev/null || true
colony_pid=

# nginx-rtmp: RTMP in, HLS (MPEG-TS) out.
if [ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
	n_rtmp=${NGINX_RTMP_PORT:-19360}
	n_http=${NGINX_HTTP_PORT:-19088}
	nginx_dir=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/colony-bench-nginx.XXXXXX")
	nginx_pid=$(bash "$root/scripts/bench/nginx-rtmp.sh" start "$nginx_dir" "$n_rtmp" "$n_http")
	echo "== nginx-rtmp (pid $nginx_pid): $runs_nginx" >&2
	"$bench_bin" matrix --label nginx --server-pid "$nginx_pid" --runs "$runs_nginx" "${common[@]}" \
		--rtmp "rtmp://127.0.0.1:$n_rtmp/live/bench" \
		--hls "http://127.0.0.1:$n_http/hls/bench.m3u8" >"$out/nginx.jsonl" || status=1
	bash "$root/scripts/bench/nginx-rtmp.sh" stop "$nginx_dir"
else
	echo "matrix.sh: nginx or libnginx-mod-rtmp missing (apt-get install -y nginx libnginx-mod-rtmp): no comparison" >&2
fi

echo "== results in $out" >&2
"$bench_bin" table "$out"/*.jsonl
exit $status
