#!/usr/bin/env bash
# One command to a working local node: installs what is needed, builds, starts
# the origin in standalone mode (it ingests and also serves players), prints
# the URLs, stays in the foreground and stops everything on Ctrl-C/SIGTERM.
#   SC_RTMP_PORT   RTMP port (default 1935)
#   SC_HOST        host name or address printed in the URLs (default 127.0.0.1)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./tests/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

port=${SC_RTMP_PORT:-1935}
host=${SC_HOST:-127.0.0.1}
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

./build/origin --config deploy/origin.conf --listen "0.0.0.0:$port" &
pids+=($!)
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "publish: rtmp://$host:$port/live/stream"
echo "play: rtmp://$host:$port/live/stream"
echo "(try: ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine -c:v libx264 -g 50 -c:a aac -f flv rtmp://$host:$port/live/stream"
echo "  and: ffplay rtmp://$host:$port/live/stream ; Ctrl-C stops the node)"
wait "${pids[0]}"
