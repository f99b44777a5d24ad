#!/usr/bin/env bash
# compare.sh: the same live load against our server and nginx-rtmp, in one run.
#
# For each scenario it starts the server under test pinned to core 1 (our
# origin standalone, or our edge with workers=1 behind an origin and Redis,
# or nginx with Debian's libnginx-mod-rtmp, one process), publishes the same
# pre-encoded FLV with bench_publisher, runs bench_players pinned to core 0,
# and samples /proc/PID/stat and /proc/PID/status of the server processes
# only, over the steady window (after the ramp and a settle time). It prints
# one row per run and, per scenario, the ratio ours/nginx of the means.
#
# The FLV files are generated once with ffmpeg into the cache dir (720p30,
# GOP 2 s, H.264 + AAC) and reused.
#
# Usage: bench/compare.sh [options]   (see --help). Every process it starts
# is stopped by PID on exit; every wait is bounded.
set -u

BUILD=${BENCH_BUILD:-/tmp/bench-build}
CACHE=${BENCH_CACHE:-/tmp/sc-bench-cache}
BITRATES="500k"
PLAYERS="1000"
RATE=500
WINDOW=15
SETTLE=3
SERVERS="ours nginx"
OURS=origin          # origin | edge
CLUSTER=0
STREAMS=1
SLOW=0
REPEAT=1
PROBE=20             # cluster run: players on the origin measuring the first hop
OURS_SET=()          # extra --set for our server
MERGE=""             # merge_interval values (ms) to run ours at, one row each ("" = server default)
RCVBUF=0             # SO_RCVBUF of slow players (0 = kernel auto-tuning)
OUT=""
NICE=-10             # scheduling priority of every benchmarked process (the machine is shared)

usage() {
    cat <<EOF
usage: $0 [options]
  --build DIR        build dir with origin, edge, bench/ (default $BUILD)
  --cache DIR        where the FLV files are generated once (default $CACHE)
  --bitrate LIST     500k and/or 2m (default "$BITRATES")
  --players LIST     e.g. "1000 2000 5000" (default "$PLAYERS")
  --rate R           player connections per second (default $RATE)
  --window S         steady-state seconds measured (default $WINDOW)
  --settle S         seconds after the ramp before measuring (default $SETTLE)
  --servers LIST     "ours nginx" (default), or one of them
  --ours origin|edge our server under test: standalone origin, or edge (workers=1) + origin + redis
  --cluster          cluster run: edge under test, plus $PROBE players on the origin, hop lag reported
  --streams N        streams published (players spread over them; default 1)
  --slow F           share of players reading at a quarter of the stream rate (default 0)
  --set NAME=VALUE   extra directive for our server (repeatable; also --ours-set)
  --merge LIST       run ours once per merge_interval value, e.g. "0 100" (rows ours-m0, ours-m100)
  --rcvbuf B         SO_RCVBUF of the slow players (small: the server's policy, not the client's
                     kernel buffer, decides how far behind they get; default: kernel)
  --repeat K         runs per scenario (default 1)
  --nice N           nice value for servers and load generators (default $NICE; 0 = unchanged)
  --out DIR          keep logs, CSVs and the results table there (default: a temp dir)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift ;;
    --cache) CACHE=$2; shift ;;
    --bitrate) BITRATES=$2; shift ;;
    --players) PLAYERS=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --window) WINDOW=$2; shift ;;
    --settle) SETTLE=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    --ours) OURS=$2; shift ;;
    --cluster) CLUSTER=1; OURS=edge ;;
    --streams) STREAMS=$2; shift ;;
    --slow) SLOW=$2; shift ;;
    --set|--ours-set) OURS_SET+=(--set "$2"); shift ;;
    --merge) MERGE=$2; shift ;;
    --rcvbuf) RCVBUF=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --out) OUT=$2; shift ;;
    --nice) NICE=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage; exit 2 ;;
    esac
    shift
done

ORIGIN=$BUILD/origin
EDGE=$BUILD/edge
PLAYERS_BIN=$BUILD/bench/bench_players
PUBLISHER_BIN=$BUILD/bench/bench_publisher
for b in "$ORIGIN" "$PLAYERS_BIN" "$PUBLISHER_BIN"; do
    [ -x "$b" ] || { echo "missing $b (build first)" >&2; exit 2; }
done
NGINX_MOD=/usr/lib/nginx/modules/ngx_rtmp_module.so
case " $SERVERS " in *" nginx "*)
    command -v nginx >/dev/null && [ -f $NGINX_MOD ] || { echo "nginx + libnginx-mod-rtmp needed" >&2; exit 2; } ;;
esac

[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/sc-compare.XXXXXX)
mkdir -p "$OUT" "$CACHE"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
CLK_TCK=$(getconf CLK_TCK)
BASE=$((20000 + ($$ % 200) * 50))

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    PIDS=()
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

# pin: core, command...: always run in the background (it execs, so $! is the
# process itself), pinned and, when allowed, at a higher priority than
# whatever else shares the machine (both servers get the same treatment).
pin() { local core=$1; shift; if [ "$NICE" != 0 ]; then exec taskset -c "$core" nice -n "$NICE" "$@"; else exec taskset -c "$core" "$@"; fi; }
log() { echo "[$(date +%T)] $*" >&2; }

# ---- media, generated once ----
flv_for() {
    local br=$1 f=$CACHE/stream-$1.flv v a
    case $br in
    500k) v=450k; a=48k ;;
    2m) v=1900k; a=96k ;;
    *) echo "unknown bitrate $br" >&2; exit 2 ;;
    esac
    if [ ! -s "$f" ]; then
        log "generating $f (720p30, GOP 2 s, once)"
        timeout 600 ffmpeg -nostdin -hide_banner -loglevel error -y \
            -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=44100 -t 60 \
            -c:v libx264 -preset veryfast -b:v $v -maxrate $v -bufsize $v -g 60 -keyint_min 60 -sc_threshold 0 \
            -pix_fmt yuv420p -c:a aac -b:a $a -ac 2 -f flv "$f.tmp" && mv "$f.tmp" "$f" || { echo "ffmpeg failed" >&2; exit 2; }
    fi
    echo "$f"
}

# ---- /proc sampling ----
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null; }
cpu_ticks() { # sum utime+stime of the given PIDs
    local t=0 p v
    for p in "$@"; do
        v=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12 + $13}')
        t=$((t + ${v:-0}))
    done
    echo $t
}
rss_kb() {
    local t=0 p v
    for p in "$@"; do
        v=$(awk '/^VmRSS/{print $2}' /proc/"$p"/status 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo $t
}
ksoftirqd1() { # the kernel thread that takes over loopback softirq work on core 1
    local p
    for p in /proc/[0-9]*; do [ "$(cat "$p"/comm 2>/dev/null)" = ksoftirqd/1 ] && { echo "${p#/proc/}"; return; }; done
}
KSOFT=$(ksoftirqd1)
# irq+softirq ticks of core 1: loopback receive work done in softirq context
# is charged to no process (IRQ time accounting), so /proc/PID/stat misses it.
core1_irq() { awk '/^cpu1 /{print $7 + $8}' /proc/stat; }
wait_port() { # port, seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
now() { date +%s.%N; }

# ---- servers ----
SERVER_PIDS=()   # measured
start_ours_origin() { # port
    pin 1 "$ORIGIN" --listen 127.0.0.1:"$1" --log-level warn "${OURS_SET[@]}" "${RUN_SET[@]}" \
        2>"$RUN/server.log" &
    PIDS+=($!); SERVER_PIDS=($!)
    PLAY_PORT=$1; PUB_PORT=$1
}
start_cluster() { # port
    local rport=$(($1 + 1)) oport=$(($1 + 2)) zp=$(($1 + 3)) zr=$(($1 + 4))
    pin 0 redis-server --port $rport --bind 127.0.0.1 --save '' --appendonly no >"$RUN/redis.log" 2>&1 &
    PIDS+=($!)
    wait_port $rport 5 || log "redis did not start"
    local oplay=off
    [ $CLUSTER = 1 ] && oplay=on
    pin 0 "$ORIGIN" --listen 127.0.0.1:$oport --set cluster=on --set redis=127.0.0.1:$rport \
        --set pub_listen=tcp://127.0.0.1:$zp --set router_listen=tcp://127.0.0.1:$zr --set play=$oplay \
        --log-level warn 2>"$RUN/origin.log" &
    PIDS+=($!); ORIGIN_PID=$!
    pin 1 "$EDGE" --listen 127.0.0.1:"$1" --set redis=127.0.0.1:$rport --set workers=1 \
        --log-level warn "${OURS_SET[@]}" "${RUN_SET[@]}" 2>"$RUN/server.log" &
    PIDS+=($!)
    local master=$!
    wait_port $oport 10 || log "origin did not start"
    wait_port "$1" 10 || log "edge did not start"
    sleep 0.5
    SERVER_PIDS=($master $(children_of $master))
    PLAY_PORT=$1; PUB_PORT=$oport
}
start_nginx() { # port
    local d=$RUN/nginx
    mkdir -p "$d/logs"
    cat >"$d/nginx.conf" <<EOF
load_module $NGINX_MOD;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $d/logs/error.log warn;
pid $d/nginx.pid;
events { worker_connections 19000; }
rtmp {
    server {
        listen 127.0.0.1:$1;
        chunk_size 4096;
        application live { live on; }
    }
}
EOF
    pin 1 nginx -p "$d" -c "$d/nginx.conf" -g "error_log $d/logs/error.log warn;" 2>"$RUN/server.log" &
    PIDS+=($!); SERVER_PIDS=($!)
    PLAY_PORT=$1; PUB_PORT=$1
}

# ---- one run: prints nothing, appends a TSV row ----
run_one() { # server bitrate players rep
    local server=$1 br=$2 n=$3 rep=$4 flv port
    flv=$(flv_for "$br")
    RUN=$OUT/$server-$br-$n-$rep
    mkdir -p "$RUN"
    BASE=$((BASE + 10))
    port=$BASE
    RUN_SET=()
    case $server in ours-m*) RUN_SET=(--set merge_interval="${server#ours-m}") ;; esac
    case $server in
    ours*) if [ "$OURS" = edge ]; then start_cluster $port; else start_ours_origin $port; fi ;;
    nginx) start_nginx $port ;;
    esac
    wait_port $PUB_PORT 10 || { log "$server did not start"; cleanup; return; }
    local ramp total
    ramp=$(awk -v n="$n" -v r="$RATE" 'BEGIN{printf "%.1f", n / r}')
    total=$(awk -v a="$ramp" -v s="$SETTLE" -v w="$WINDOW" 'BEGIN{printf "%.1f", a + s + w + 1}')
    pin 0 "$PUBLISHER_BIN" --url rtmp://127.0.0.1:$PUB_PORT/live/bench --streams "$STREAMS" --file "$flv" \
        -t "$(awk -v t="$total" 'BEGIN{print t + 12}')" >"$RUN/publisher.out" 2>"$RUN/publisher.err" &
    local pubpid=$!
    PIDS+=($pubpid)
    sleep 4 # the stream is up and a GOP is cached
    local rss0 probe_pid=""
    rss0=$(rss_kb "${SERVER_PIDS[@]}")
    local pargs=(--rate "$RATE" --duration "$total" --settle "$SETTLE" --streams "$STREAMS")
    [ "$SLOW" != 0 ] && pargs+=(--slow-fraction "$SLOW" --slow-kbps "$(awk -v b="$br" 'BEGIN{v = b ~ /m$/ ? b * 1000 : b + 0; print v / 4}')")
    [ "$SLOW" != 0 ] && [ "$RCVBUF" != 0 ] && pargs+=(--rcvbuf "$RCVBUF")
    if [ $CLUSTER = 1 ]; then
        pin 0 "$PLAYERS_BIN" --url rtmp://127.0.0.1:$PUB_PORT/live/bench -n $PROBE --rate "$RATE" \
            --duration "$total" --settle "$SETTLE" --streams "$STREAMS" >"$RUN/probe.out" 2>&1 &
        probe_pid=$!
        PIDS+=($probe_pid)
    fi
    pin 0 "$PLAYERS_BIN" --url rtmp://127.0.0.1:$PLAY_PORT/live/bench -n "$n" "${pargs[@]}" \
        --csv "$RUN/players.csv" >"$RUN/players.out" 2>"$RUN/players.err" &
    local plpid=$!
    PIDS+=($plpid)
    sleep "$(awk -v a="$ramp" -v s="$SETTLE" 'BEGIN{print a + s + 0.5}')"
    local c0 t0 c1 t1 rss1
    local k0 k1 sc=""
    local q0 q1
    c0=$(cpu_ticks "${SERVER_PIDS[@]}"); k0=$(cpu_ticks $KSOFT); q0=$(core1_irq); t0=$(now)
    # Syscalls of the server processes over the window: a figure the noise
    # of a shared machine does not change.
    if command -v perf >/dev/null; then
        perf stat -e raw_syscalls:sys_enter -x, -p "$(IFS=,; echo "${SERVER_PIDS[*]}")" -o "$RUN/syscalls.txt" \
            -- sleep "$(awk -v w="$WINDOW" 'BEGIN{print w - 1}')" 2>/dev/null
        sc=$(awk -F, '/raw_syscalls/{print $1}' "$RUN/syscalls.txt" 2>/dev/null)
    else
        sleep "$(awk -v w="$WINDOW" 'BEGIN{print w - 1}')"
    fi
    c1=$(cpu_ticks "${SERVER_PIDS[@]}"); k1=$(cpu_ticks $KSOFT); q1=$(core1_irq); t1=$(now)
    rss1=$(rss_kb "${SERVER_PIDS[@]}")
    local i
    for ((i = 0; i < 600; i++)); do kill -0 $plpid 2>/dev/null || break; sleep 0.1; done
    wait $plpid 2>/dev/null
    [ -n "$probe_pid" ] && wait "$probe_pid" 2>/dev/null
    local sum probe=""
    sum=$(grep '^bench_players:' "$RUN/players.out")
    [ -n "$probe_pid" ] && probe=$(grep '^bench_players:' "$RUN/probe.out")
    cleanup
    [ -n "$sum" ] || { log "$server $br $n: no summary from bench_players (see $RUN)"; return; }
    local conn
    conn=$(field connected "$sum")
    awk -v s="$server" -v br="$br" -v n="$n" -v rep="$rep" -v conn="$conn" -v c0="$c0" -v c1="$c1" \
        -v k0="$k0" -v k1="$k1" -v q0="$q0" -v q1="$q1" -v sc="${sc:-0}" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v r0="$rss0" -v r1="$rss1" \
        -v fail="$(field failed "$sum")" -v disc="$(field disconnected "$sum")" \
        -v stalled="$(field stalled_players "$sum")" -v ff50="$(field first_frame_ms_p50 "$sum")" \
        -v ff99="$(field first_frame_ms_p99 "$sum")" -v lag50="$(field lag_ms_p50 "$sum")" \
        -v lag99="$(field lag_ms_p99 "$sum")" -v mbps="$(field mbps "$sum")" -v gen="$(field gen_cpu_pct "$sum")" \
        -v slowmax="$(field slow_lag_ms_max "$sum")" -v slowdisc="$(field slow_disconnected "$sum")" \
        -v plag50="$(field lag_ms_p50 "$probe")" -v plag99="$(field lag_ms_p99 "$probe")" \
        'BEGIN {
            dt = t1 - t0; cpu_s = (c1 - c0) / hz;
            us = conn > 0 ? cpu_s * 1e6 / (conn * dt) : 0;
            kb = conn > 0 ? (r1 - r0) / conn : 0;
            printf "%s\t%s\t%d\t%d\t%d\t%.1f\t%.0f\t%.1f\t%d\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.2f\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.0f\t%.0f\n",
                s, br, n, rep, conn, us, cpu_s / dt * 100, kb, stalled, fail, disc, ff50, ff99, lag50, lag99,
                mbps, gen, slowmax, slowdisc, (plag50 == "" ? "-" : plag50), (plag99 == "" ? "-" : plag99), r1 - r0,
                (conn > 0 ? sc / (conn * dt) : 0), (k1 - k0) / hz / dt * 100, (q1 - q0) / hz / dt * 100
        }' >>"$RESULTS"
    log "$server $br $n #$rep: $(tail -1 "$RESULTS")"
}

log "output in $OUT"
for br in $BITRATES; do
    for n in $PLAYERS; do
        for ((rep = 1; rep <= REPEAT; rep++)); do
            for s in $SERVERS; do
                if [ "$s" = ours ] && [ -n "$MERGE" ]; then
                    for m in $MERGE; do run_one "ours-m$m" "$br" "$n" "$rep"; done
                else
                    run_one "$s" "$br" "$n" "$rep"
                fi
            done
        done
    done
done

# ---- table ----
python3 - "$RESULTS" "$OURS" "$CLUSTER" <<'EOF'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
ours, cluster = sys.argv[2], sys.argv[3] == "1"
hdr = ["server", "bitrate", "players", "run", "connected", "cpu_us/pl-s", "srv_cpu%", "KB/player", "stalled",
       "failed", "disconn", "ff_p50", "ff_p99", "lag_p50", "lag_p99", "Mbit/s", "gen_cpu%", "slow_lag_max",
       "slow_disc", "origin_lag_p50", "origin_lag_p99", "rss_growth_KB", "syscalls/pl-s", "ksoftirqd1%", "core1_irq%"]
name = lambda s: "ours-" + ours + s[4:] if s.startswith("ours") else {"nginx": "nginx-rtmp"}.get(s, s)
w = [max(len(h), 8) for h in hdr]
print("  ".join(h.rjust(w[i]) for i, h in enumerate(hdr)))
for r in rows:
    r = [name(r[0])] + r[1:]
    print("  ".join(str(c).rjust(w[i]) for i, c in enumerate(r)))
if cluster:
    print("\nhop lag (edge player lag minus origin player lag, same frames, same run):")
    for r in rows:
        if r[0].startswith("ours") and r[19] != "-":
            print(f"  {name(r[0])} {r[1]} {r[2]} players run {r[3]}: p50 {float(r[13]) - float(r[19]):+.2f} ms, "
                  f"p99 {float(r[14]) - float(r[20]):+.2f} ms (edge {r[13]}/{r[14]}, origin {r[19]}/{r[20]})")
print("\nratio ours/nginx (means over runs):")
keys = sorted({(r[1], int(r[2])) for r in rows})
cols = [(5, "cpu_us/pl-s"), (22, "syscalls/pl-s"), (7, "KB/player"), (11, "ff_p50"), (12, "ff_p99"), (13, "lag_p50"), (14, "lag_p99")]
for (br, n), ov in ((k, v) for k in keys for v in sorted({r[0] for r in rows if r[0].startswith("ours")})):
    sel = lambda s: [r for r in rows if r[0] == s and r[1] == br and int(r[2]) == n]
    o, g = sel(ov), sel("nginx")
    if not o or not g:
        continue
    parts = []
    for i, label in cols:
        mo = statistics.mean(float(r[i]) for r in o)
        mg = statistics.mean(float(r[i]) for r in g)
        parts.append(f"{label} {mo:.1f}/{mg:.1f} = {mo / mg:.2f}x" if mg else f"{label} {mo:.1f}/{mg:.1f}")
    print(f"  {name(ov)} {br} {n} players: " + "; ".join(parts))
EOF
echo "(rows: $RESULTS; logs and per-connection CSVs under $OUT)"
