#!/usr/bin/env bash
# One command to a working local cluster: installs what is needed, builds,
# starts Redis (the directory), one origin (ingest) and one edge with two
# workers (players), prints the URLs, stays in the foreground and stops
# everything it started on Ctrl-C or SIGTERM.
#   SC_HOST        host name or address printed in the URLs (default 127.0.0.1)
#   SC_RTMP_PORT   origin RTMP port (default 1935); the edge uses the next one;
#                  RTMPS (self-signed certificate made here) on both plus 10
#   SC_REDIS_PORT  Redis port (default 6390, away from a system Redis on 6379)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./tests/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target origin edge >/dev/null

host=${SC_HOST:-127.0.0.1}
origin_port=${SC_RTMP_PORT:-1935}
edge_port=$((origin_port + 1))
redis_port=${SC_REDIS_PORT:-6390}
run=$(mktemp -d /tmp/streamcluster.XXXXXX)
origin_tls_port=$((origin_port + 10))
edge_tls_port=$((edge_port + 10))
edge_rtsp_port=8554
# Self-signed, for rtmps:// (ffmpeg and OBS do not verify it by default).
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$run/tls.key" -out "$run/tls.crt" >"$run/openssl.log" 2>&1
tls=(--set tls_cert="$run/tls.crt" --set tls_key="$run/tls.key")
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1; see the logs in $run" >&2
  exit 1
}

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$run/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port"
./build/origin --config deploy/origin.conf --listen "0.0.0.0:$origin_port" \
  --set cluster=on --set redis="127.0.0.1:$redis_port" --set advertise_host=127.0.0.1 \
  --set rtmps_listen="0.0.0.0:$origin_tls_port" "${tls[@]}" &
pids+=($!)
./build/edge --config deploy/edge.conf --listen "0.0.0.0:$edge_port" \
  --set workers=2 --set drain_timeout=1s --set redis="127.0.0.1:$redis_port" --set advertise_host="$host" \
  --set rtmps_listen="0.0.0.0:$edge_tls_port" --set rtsp_listen="0.0.0.0:$edge_rtsp_port" "${tls[@]}" &
pids+=($!)
wait_port "$origin_port"
wait_port "$edge_port"
wait_port "$origin_tls_port"
wait_port "$edge_tls_port"
wait_port "$edge_rtsp_port"
echo "publish: rtmp://$host:$origin_port/live/stream"
echo "play: rtmp://$host:$edge_port/live/stream"
echo "play-origin: rtmp://$host:$origin_port/live/stream"
echo "publish-tls: rtmps://$host:$origin_tls_port/live/stream"
echo "play-tls: rtmps://$host:$edge_tls_port/live/stream"
echo "hls: http://$host:8081/live/stream.m3u8"
echo "ll-hls: http://$host:8081/live/stream.ll.m3u8"
echo "flv: http://$host:8081/live/stream.flv"
echo "rtsp: rtsp://$host:$edge_rtsp_port/live/stream"
echo "status: http://$host:8081/ (edge: streams, viewers, a player) http://$host:8080/ (origin)"
echo "route: http://$host:8081/v1/route?stream=live/stream&proto=rtmp"
echo "stats: http://$host:8081/v1/stats (edge worker) http://$host:8080/v1/stats (origin); metrics on /metrics"
echo "(publish with: ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine -c:v libx264 -g 50 -c:a aac -f flv rtmp://$host:$origin_port/live/stream"
echo " play with: ffplay rtmp://$host:$edge_port/live/stream or ffplay http://$host:8081/live/stream.m3u8, or open the status page;"
echo " any stream name works; Ctrl-C stops everything)"
wait -n "${pids[@]}"
