#!/usr/bin/env bash
# Side-by-side load test: Colony, then Debian's nginx with its RTMP module,
# each fed by colony-bench's stamped RTMP publisher and played by its
# viewers; prints one table of both and keeps the JSON lines.
#
#   scripts/bench/matrix.sh [short|full|churn|edge]
#
# short (make bench, about 3 minutes): 1 viewer of each kind, then 100 HLS,
#   100 LL-HLS, 25 WHEP, 25 WebSocket viewers on Colony; 1 and 100 HLS
#   viewers on nginx; 10 s measured per run.
# full (about 15 minutes): the performance issue's matrix: HLS 1/50/200/500,
#   LL-HLS 1/50/200, WHEP 1/25/100/200/400, WebSocket 1/50 on Colony; HLS
#   1/50/200/500 on nginx; 30 s measured per run.
# edge (about 6 minutes): a two-node cluster on FerretDB (origin 127.0.0.2,
#   edge 127.0.0.3; needs bin/ferretdb from make ferretdb); the publisher
#   on the origin, the viewers (HLS 1/200, LL-HLS 1/200, WHEP 1/100/200) on
#   the edge, whose CPU and memory are measured. No nginx. The HLS and
#   LL-HLS runs also follow the origin's playlist (--hls-ref) to report how
#   much later each segment is listed at the edge than at the origin
#   ("segments listed at the played URL ... after the reference"), which
#   the viewers' latency, with its +-40 ms from where their reloads fall,
#   cannot show.
# churn (about 8 minutes): audiences kept up by a stream of joins and
#   departures, each viewer leaving after 5 to 15 s and replaced at once
#   (WHEP 100, WebSocket 25, HLS 200, LL-HLS 100 on Colony; HLS 200 on
#   nginx); 60 s measured per run. Colony's goroutines and WebRTC viewers
#   are read from its /metrics before each run, at its end, and once they
#   are back (or 45 s after the viewers left): what a leak would keep. (An
#   audio bridge stops 30 s after its last viewer.)
# Environment: COLONY_BIN (default bin/colony, built if missing),
# BENCH_BIN (default: bin/colony-bench, built afresh), OUT (results
# directory, default a new one under /tmp), RUNS_COLONY,
# RUNS_NGINX, DURATION, WARMUP (override the profile), COLONY_ARGS (more
# arguments for the standalone Colony, e.g. "--config FILE", or
# "--udp-mux-port 0" for a WebRTC port per session), COLONY_UDP_PORT (its
# WebRTC UDP port, default 19555), VIEWER_GRO=1 (the WebRTC viewers'
# sockets take UDP GRO: on loopback most of their receive work then stays
# off the server's CPU figure; see BENCHMARKS.md), BENCH_NICE=N (run the
# generator at nice N, below the server it measures, which then waits less
# for the cores they share; its rows say "+niceN"; see BENCHMARKS.md).
# nginx is skipped with RUNS_NGINX=none,
# and with a warning if nginx or libnginx-mod-rtmp is not installed.
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
	runs_colony=${RUNS_COLONY:-hls:1,hls:50,hls:200,hls:500,llhls:1,llhls:50,llhls:200,whep:1,whep:25,whep:100,whep:200,whep:400,ws:1,ws:50}
	runs_nginx=${RUNS_NGINX:-hls:1,hls:50,hls:200,hls:500}
	duration=${DURATION:-30s}
	warmup=${WARMUP:-10s}
	;;
churn)
	runs_colony=${RUNS_COLONY:-whep:100@5s-15s,ws:25@5s-15s,hls:200@5s-15s,llhls:100@5s-15s}
	runs_nginx=${RUNS_NGINX:-hls:200@5s-15s}
	duration=${DURATION:-60s}
	warmup=${WARMUP:-5s}
	;;
edge)
	runs_colony=${RUNS_COLONY:-hls:1,hls:200,llhls:1,llhls:200,whep:1,whep:100,whep:200}
	runs_nginx=
	duration=${DURATION:-30s}
	warmup=${WARMUP:-10s}
	;;
*)
	echo "usage: matrix.sh [short|full|churn|edge]" >&2
	exit 2
	;;
esac

colony_bin=${COLONY_BIN:-$root/bin/colony}
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/colony-bench.XXXXXX")}
mkdir -p "$out"
[ -x "$colony_bin" ] || (cd "$root" && go build -o "$colony_bin" ./cmd/colony)
# The clip's AAC reaches WebRTC viewers as Opus through the transcoder
# plugin beside colony; without one they get the video only, which is
# cheaper and not what a default install serves ("aud/s" in the table).
if ! compgen -G "$(dirname "$colony_bin")/colony-transcoder-*" >/dev/null; then
	echo "matrix.sh: no colony-transcoder-* beside $colony_bin (make plugins): WebRTC viewers get no audio" >&2
fi
if [ -z "${BENCH_BIN:-}" ]; then
	bench_bin=$root/bin/colony-bench
	(cd "$root" && go build -o "$bench_bin" ./cmd/colony-bench)
else
	bench_bin=$BENCH_BIN
fi
# bench runs the generator (at BENCH_NICE's priority when set).
bench=("$bench_bin")
[ -z "${BENCH_NICE:-}" ] || bench=(nice -n "$BENCH_NICE" "$bench_bin")

work=$(mktemp -d "${TMPDIR:-/tmp}/colony-bench-run.XXXXXX")
colony_pid=
nginx_dir=
extra_pids=()
cleanup() {
	if [ -n "$colony_pid" ]; then
		kill -TERM "$colony_pid" 2>/dev/null || true
		wait "$colony_pid" 2>/dev/null || true
	fi
	for p in "${extra_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$nginx_dir" ]; then
		bash "$root/scripts/bench/nginx-rtmp.sh" stop "$nginx_dir" || true
		rm -rf "$nginx_dir"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

common=(--duration "$duration" --warmup "$warmup" --pause 1s --clip "$root/testdata/clip-720p30.mp4" --json)
[ -z "${VIEWER_GRO:-}" ] || common+=(--viewer-gro)
status=0

wait_live() {
	for _ in $(seq 150); do
		curl -fs "http://$1/rest/v2/liveness" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "matrix.sh: no colony at $1" >&2
	exit 1
}

if [ "$profile" = edge ]; then
	# A two-node cluster: the registry, an origin and an edge.
	ferretdb_bin=${FERRETDB_BIN:-$root/bin/ferretdb}
	[ -x "$ferretdb_bin" ] || (cd "$root" && make -s ferretdb)
	db_port=${FERRETDB_PORT:-27041}
	"$ferretdb_bin" -listen "127.0.0.1:$db_port" -state-dir "$work/db" >"$out/ferretdb.log" 2>&1 &
	extra_pids+=($!)
	for _ in $(seq 100); do grep -q "ferretdb ready" "$out/ferretdb.log" && break; sleep 0.1; done
	printf 'mode: cluster\nmongo:\n  uri: "mongodb://127.0.0.1:%s/"\n  database: colony_bench\ncluster_secret: "bench-secret-0123456789abcdef0123"\n' "$db_port" >"$work/cluster.yaml"
	"$colony_bin" run --config "$work/cluster.yaml" --data-dir "$work/origin" --role both \
		--http-addr 127.0.0.2:5080 --rtmp-addr 127.0.0.2:1935 --relay-addr 127.0.0.2:5000 \
		--advertise-addr 127.0.0.2 --udp-mux-port 19556 --log-level warn >"$out/origin.log" 2>&1 &
	extra_pids+=($!)
	"$colony_bin" run --config "$work/cluster.yaml" --data-dir "$work/edge" --role edge \
		--http-addr 127.0.0.3:5080 --rtmp-addr 127.0.0.3:1935 --relay-addr 127.0.0.3:5000 \
		--advertise-addr 127.0.0.3 --udp-mux-port 19557 --log-level warn >"$out/edge.log" 2>&1 &
	colony_pid=$!
	wait_live 127.0.0.2:5080
	wait_live 127.0.0.3:5080
	echo "== colony edge (pid $colony_pid, origin 127.0.0.2): $runs_colony" >&2
	"${bench[@]}" matrix --label colony-edge --server-pid "$colony_pid" --runs "$runs_colony" "${common[@]}" \
		--rtmp "rtmp://127.0.0.2:1935/LiveApp/bench" \
		--hls "http://127.0.0.3:5080/LiveApp/streams/bench.m3u8" \
		--hls-ref "http://127.0.0.2:5080/LiveApp/streams/bench.m3u8" \
		--whep "http://127.0.0.3:5080/LiveApp/whep/bench" \
		--ws "ws://127.0.0.3:5080/LiveApp/websocket" >"$out/colony-edge.jsonl" || status=1
	echo "== results in $out" >&2
	"$bench_bin" table "$out"/*.jsonl
	exit $status
fi

# Colony, on ports of its own so that it does not meet a development server.
c_rtmp=${COLONY_RTMP_PORT:-19350}
c_http=${COLONY_HTTP_PORT:-19080}
"$colony_bin" run --data-dir "$work/colony-data" --http-addr "127.0.0.1:$c_http" \
	--rtmp-addr "127.0.0.1:$c_rtmp" --relay-addr "127.0.0.1:${COLONY_RELAY_PORT:-19001}" \
	--udp-mux-port "${COLONY_UDP_PORT:-19555}" --log-level warn ${COLONY_ARGS:-} >"$out/colony.log" 2>&1 &
colony_pid=$!
wait_live "127.0.0.1:$c_http"
gauges=()
[ "$profile" != churn ] || gauges=(--server-metrics "http://127.0.0.1:$c_http/metrics" --settle 45s
	--server-gauges go_goroutines,colony_webrtc_viewers)
echo "== colony (pid $colony_pid): $runs_colony" >&2
"${bench[@]}" matrix --label colony --server-pid "$colony_pid" --runs "$runs_colony" "${common[@]}" "${gauges[@]}" \
	--rtmp "rtmp://127.0.0.1:$c_rtmp/LiveApp/bench" \
	--hls "http://127.0.0.1:$c_http/LiveApp/streams/bench.m3u8" \
	--whep "http://127.0.0.1:$c_http/LiveApp/whep/bench" \
	--ws "ws://127.0.0.1:$c_http/LiveApp/websocket" >"$out/colony.jsonl" || status=1
kill -TERM "$colony_pid" 2>/dev/null || true
wait "$colony_pid" 2>/dev/null || true
colony_pid=

# nginx-rtmp: RTMP in, HLS (MPEG-TS) out.
if [ "$runs_nginx" = none ] || [ -z "$runs_nginx" ]; then
	: # not asked for
elif [ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
	n_rtmp=${NGINX_RTMP_PORT:-19360}
	n_http=${NGINX_HTTP_PORT:-19088}
	nginx_dir=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/colony-bench-nginx.XXXXXX")
	nginx_pid=$(bash "$root/scripts/bench/nginx-rtmp.sh" start "$nginx_dir" "$n_rtmp" "$n_http")
	echo "== nginx-rtmp (pid $nginx_pid): $runs_nginx" >&2
	"${bench[@]}" matrix --label nginx --server-pid "$nginx_pid" --runs "$runs_nginx" "${common[@]}" \
		--rtmp "rtmp://127.0.0.1:$n_rtmp/live/bench" \
		--hls "http://127.0.0.1:$n_http/hls/bench.m3u8" >"$out/nginx.jsonl" || status=1
	bash "$root/scripts/bench/nginx-rtmp.sh" stop "$nginx_dir"
else
	echo "matrix.sh: nginx or libnginx-mod-rtmp missing (apt-get install -y nginx libnginx-mod-rtmp): no comparison" >&2
fi

echo "== results in $out" >&2
"$bench_bin" table "$out"/*.jsonl
exit $status
