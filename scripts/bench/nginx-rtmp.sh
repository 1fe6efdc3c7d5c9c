#!/usr/bin/env bash
# Start or stop Debian's nginx with its RTMP module as colony-bench's
# comparison server, entirely inside one directory (its own -p prefix,
# -c config and -e error log; nothing in /etc or /var/log).
#
#   nginx-rtmp.sh start DIR [RTMP_PORT] [HTTP_PORT]   prints the master PID
#   nginx-rtmp.sh stop DIR
#
# Publish to rtmp://127.0.0.1:RTMP_PORT/live/NAME and play
# http://127.0.0.1:HTTP_PORT/hls/NAME.m3u8. NGINX_WORKERS (default 1)
# sets worker_processes. Needs: apt-get install -y nginx libnginx-mod-rtmp
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: nginx-rtmp.sh start|stop DIR [RTMP_PORT] [HTTP_PORT]}
dir=${2:?usage: nginx-rtmp.sh start|stop DIR [RTMP_PORT] [HTTP_PORT]}

case $cmd in
start)
	rtmp_port=${3:-1936}
	http_port=${4:-8088}
	[ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || {
		echo "nginx-rtmp.sh: needs nginx and libnginx-mod-rtmp (apt-get install -y nginx libnginx-mod-rtmp)" >&2
		exit 1
	}
	mkdir -p "$dir/hls" "$dir/tmp"
	dir=$(cd "$dir" && pwd)
	sed -e "s|@PREFIX@|$dir|g" -e "s|@RTMP_PORT@|$rtmp_port|g" \
		-e "s|@HTTP_PORT@|$http_port|g" -e "s|@WORKERS@|${NGINX_WORKERS:-1}|g" -e "s|@USER@|$(id -un) $(id -gn)|g" \
		"$here/nginx-rtmp.conf.tmpl" >"$dir/nginx.conf"
	/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -t -q
	/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" </dev/null >>"$dir/error.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		if [ -s "$dir/nginx.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$rtmp_port") 2>/dev/null; then
			echo "$pid"
			exit 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "nginx-rtmp.sh: nginx did not start; see $dir/error.log" >&2
	cat "$dir/error.log" >&2
	kill "$pid" 2>/dev/null || true
	exit 1
	;;
stop)
	[ -s "$dir/nginx.pid" ] || exit 0
	pid=$(cat "$dir/nginx.pid")
	kill -QUIT "$pid" 2>/dev/null || exit 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || exit 0
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null || true
	;;
*)
	echo "usage: nginx-rtmp.sh start|stop DIR [RTMP_PORT] [HTTP_PORT]" >&2
	exit 2
	;;
esac
