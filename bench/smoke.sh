#!/usr/bin/env bash
# smoke.sh BUILD_DIR: what CI runs for bench/. Builds nothing. Starts a
# standalone origin from BUILD_DIR, publishes a short generated FLV with
# bench_publisher and plays it with a handful of bench_players for ~10 s;
# passes when both print their summary line, exit 0, and every player got a
# keyframe. Every process is stopped by PID; the whole run is bounded.
set -u
BUILD=${1:?usage: smoke.sh BUILD_DIR}
ORIGIN=$BUILD/origin
PLAYERS=$BUILD/bench/bench_players
PUBLISHER=$BUILD/bench/bench_publisher
for b in "$ORIGIN" "$PLAYERS" "$PUBLISHER"; do
    [ -x "$b" ] || { echo "smoke: missing $b" >&2; exit 1; }
done
command -v ffmpeg >/dev/null || { echo "smoke: ffmpeg needed" >&2; exit 1; }

TMP=$(mktemp -d /tmp/sc-bench-smoke.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "smoke: FAIL: $*" >&2; for f in "$TMP"/*.log "$TMP"/*.out; do [ -f "$f" ] && sed 's/^/  /' "$f" >&2; done; exit 1; }

# A small clip (QVGA, 10 s, GOP 1 s): a few seconds of encoding at most.
timeout 60 ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=25 \
    -f lavfi -i sine=frequency=440:sample_rate=44100 -t 10 -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p \
    -b:v 300k -c:a aac -b:a 48k -f flv "$TMP/clip.flv" || fail "ffmpeg could not generate the clip"

PORT=$((30000 + $$ % 20000))
"$ORIGIN" --listen 127.0.0.1:$PORT --set log_level=warn 2>"$TMP/origin.log" &
PIDS+=($!)
up=0
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && { up=1; break; }
    sleep 0.1
done
[ $up = 1 ] || fail "origin did not listen on $PORT"

timeout 30 "$PUBLISHER" --url rtmp://127.0.0.1:$PORT/live/smoke --file "$TMP/clip.flv" --streams 2 -t 12 \
    >"$TMP/publisher.out" 2>"$TMP/publisher.log" &
PUB=$!
PIDS+=($PUB)
sleep 1
timeout 30 "$PLAYERS" --url rtmp://127.0.0.1:$PORT/live/smoke --streams 2 -n 8 -r 20 -t 10 --settle 1 \
    --csv "$TMP/players.csv" >"$TMP/players.out" 2>"$TMP/players.log"
prc=$?
wait $PUB
urc=$?

grep -q '^bench_players: ' "$TMP/players.out" || fail "bench_players printed no summary"
grep -q '^bench_publisher: ' "$TMP/publisher.out" || fail "bench_publisher printed no summary"
[ $prc = 0 ] || fail "bench_players exited $prc"
[ $urc = 0 ] || fail "bench_publisher exited $urc"
grep -q ' connected=8 failed=0 ' "$TMP/players.out" || fail "not every player got a keyframe"
grep -q ' lag_samples=0 ' "$TMP/players.out" && fail "no delivery lag measured"
[ "$(wc -l <"$TMP/players.csv")" = 9 ] || fail "CSV should have a header and 8 rows"
cat "$TMP/publisher.out" "$TMP/players.out"
echo "smoke: ok"
