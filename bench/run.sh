#!/usr/bin/env bash
# netfence benchmark harness (issue 3 item 7; SPEC §19). One command, loopback only, never the
# internet, about 3 minutes on 2 cores plus any build. Never run by CI or tests.
#
#   bench/run.sh
#
# Installs what is missing (Debian: build deps via ./dev deps, nginx-light, wrk), builds netfence
# and bench_policy (Release), starts a private nginx origin and netfence on ephemeral loopback
# ports, measures direct vs through netfence (interleaved, ROUNDS times, medians), prints a Markdown
# table and writes docs/benchmarks.md. The "What the numbers say" section of that file is written
# by a person and kept across runs (between the notes markers).
#
# Environment knobs (defaults in brackets): ROUNDS [3], DURATION wrk seconds per run [10],
# BUILD_DIR [build], OUT [docs/benchmarks.md], SETUP_N sequential tunnels [2000],
# IDLE_N idle tunnels held [1000], BULK_PATH [/1g], SINGLE_DURATION single-connection wrk s [3].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
BUILD_DIR=${BUILD_DIR:-build}
OUT=${OUT:-docs/benchmarks.md}
SETUP_N=${SETUP_N:-2000}
IDLE_N=${IDLE_N:-1000}
BULK_PATH=${BULK_PATH:-/1g}
SINGLE_DURATION=${SINGLE_DURATION:-3}
CONNS=64
THREADS=2

# Loopback only: no proxy from the environment may leak into curl, wrk or netfence.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Dependencies and build
# ---------------------------------------------------------------------------------------------
apt_install() {  # packages...
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Installing nginx must not start the system nginx on port 80: a policy-rc.d that refuses
  # service starts is put in place for the install if there is none.
  local made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local ok=""
  # Another apt may hold the dpkg lock (shared machines): retry.
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null ||
       { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
           >/dev/null; }; then
      ok=1
      break
    fi
    log "apt-get failed (attempt $attempt); retrying in 15 s"
    sleep 15
  done
  [ -n "$made_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d
  [ -n "$ok" ] || die "could not install $*"
}

deps() {
  ./dev deps
  local missing=()
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx-light)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v cc >/dev/null || missing+=(gcc)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

deps
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

log "building netfence and bench_policy (Release) in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD_DIR" netfence bench_policy >/dev/null
NETFENCE=$ROOT/$BUILD_DIR/apps/cli/netfence
BENCH_POLICY=$ROOT/$BUILD_DIR/bench/bench_policy
[ -x "$NETFENCE" ] || die "$NETFENCE was not built"

# ---------------------------------------------------------------------------------------------
# Scratch directory, process bookkeeping, cleanup
# ---------------------------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/netfence-bench.XXXXXX)
chmod 755 "$TMP"  # nginx workers run as an unprivileged user and must read the files
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1,000 idle tunnels need ~2,000 descriptors in netfence and ~1,000 each in the client and nginx.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi
[ "$(ulimit -n)" -ge $((IDLE_N * 2 + 256)) ] || die "ulimit -n $(ulimit -n) is too low for IDLE_N=$IDLE_N"

log "compiling bench/tunnel_client.c"
cc -O2 -Wall -o "$TMP/tunnel_client" bench/tunnel_client.c
TUNNEL=$TMP/tunnel_client

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
    2>/dev/null || echo $((20000 + RANDOM % 12000))
}

# Port of the (single) listening TCP socket that process $1 owns, from /proc (no ss needed).
listen_port() {
  local pid=$1 inodes
  inodes=$(find /proc/"$pid"/fd -lname 'socket:*' -printf '%l\n' 2>/dev/null |
           sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
  [ -n "$inodes" ] || return 1
  local hex
  hex=$(awk -v want=" $inodes" 'NR > 1 && $4 == "0A" && index(want, " " $10 " ") {
      split($2, a, ":"); print a[2]; exit }' /proc/net/tcp)
  [ -n "$hex" ] || return 1
  printf '%d\n' "0x$hex"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status; }
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' /proc/"$1"/stat | awk '{ print $12 + $13 }'; }

# ---------------------------------------------------------------------------------------------
# nginx origin
# ---------------------------------------------------------------------------------------------
mkdir -p "$TMP/www" "$TMP/nginx/tmp"
head -c 100 /dev/zero | tr '\0' 'a' >"$TMP/www/100b"
head -c 65536 /dev/zero | tr '\0' 'b' >"$TMP/www/64k"
truncate -s 1G "$TMP/www/1g"  # sparse: reads as zeros, costs no disk
chmod 644 "$TMP"/www/*
chmod 755 "$TMP/www"

start_nginx() {
  NGINX_PORT=$(free_port)
  cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 16384;
error_log $TMP/nginx/error.log warn;
pid $TMP/nginx/nginx.pid;
events { worker_connections 8192; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $TMP/www;
    location = /nginx_status { stub_status; }
  }
}
EOF
  "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" -g 'daemon off;' \
    2>>"$TMP/nginx/stderr" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  local i
  for i in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/100b" && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
started=""
for attempt in 1 2 3; do
  if start_nginx; then started=1; break; fi
  kill "$NGINX_PID" 2>/dev/null || true
done
[ -n "$started" ] || { cat "$TMP/nginx/stderr" "$TMP/nginx/error.log" >&2 2>/dev/null; die "nginx did not start"; }
ORIGIN=127.0.0.1:$NGINX_PORT
log "nginx origin on $ORIGIN (pid $NGINX_PID)"

# ---------------------------------------------------------------------------------------------
# netfence
# ---------------------------------------------------------------------------------------------
cat >"$TMP/netfence.toml" <<EOF
[network]
enabled = true
allowed_domains = ["127.0.0.1"]
allow_local_binding = true
allow_upstream_proxy = false
enable_socks5 = false
enable_admin = false
proxy_url = "http://127.0.0.1:0"
EOF
# Starts a netfence; sets STARTED_PID, STARTED_PORT, STARTED_MS (exec to listening socket, ms,
# polled every ~10 ms) and STARTED_RSS (VmRSS 0.5 s later, KiB).
start_netfence() {  # <stderr file>
  local t0 i
  t0=$(date +%s%N)
  "$NETFENCE" run --config "$TMP/netfence.toml" --log-level warn 2>"$1" &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  STARTED_PORT=""
  for i in $(seq 500); do
    kill -0 "$STARTED_PID" 2>/dev/null || { cat "$1" >&2; die "netfence exited at start"; }
    STARTED_PORT=$(listen_port "$STARTED_PID" || true)
    [ -n "$STARTED_PORT" ] && break
    sleep 0.01
  done
  [ -n "$STARTED_PORT" ] || die "netfence is not listening"
  STARTED_MS=$((($(date +%s%N) - t0) / 1000000))
  sleep 0.5
  STARTED_RSS=$(rss_kib "$STARTED_PID")
}
stop_netfence() {  # <pid>
  local p keep=()
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

start_netfence "$TMP/netfence.err"
NF_PID=$STARTED_PID
PROXY_PORT=$STARTED_PORT
PROXY=127.0.0.1:$PROXY_PORT
RSS_START=$STARTED_RSS
log "netfence on $PROXY (pid $NF_PID), listening after $STARTED_MS ms, RSS after start $RSS_START KiB"

# Sanity: both paths serve the same bytes before anything is measured.
[ "$(curl -sf -x "http://$PROXY" "http://$ORIGIN/100b")" = "$(cat "$TMP/www/100b")" ] ||
  die "GET through netfence failed: $(curl -si -x "http://$PROXY" "http://$ORIGIN/100b" | head -1)"
[ "$(curl -sf -p -x "http://$PROXY" "http://$ORIGIN/100b")" = "$(cat "$TMP/www/100b")" ] ||
  die "CONNECT through netfence failed"

# ---------------------------------------------------------------------------------------------
# Measurements. Each result is appended to R[key] (space-separated, one per round).
# ---------------------------------------------------------------------------------------------
declare -A R
add() { R[$1]="${R[$1]:-}${R[$1]:+ }$2"; }
WARN=()

run_wrk() {  # <direct|proxy> <path> <duration> [connections threads]
  local mode=$1 path=$2 dur=$3 conns=${4:-$CONNS} threads=${5:-$THREADS} url direct=""
  if [ "$mode" = direct ]; then url="http://$ORIGIN/"; direct=1; else url="http://$PROXY/"; fi
  BENCH_ORIGIN=$ORIGIN BENCH_PATH=$path BENCH_DIRECT=$direct \
    timeout $((dur + 30)) wrk -t"$threads" -c"$conns" -d"${dur}s" --timeout 5s \
      -s bench/absolute_form.lua "$url" | grep '^RESULT' || echo "RESULT failed"
}

# nginx's counters "accepts requests": how many connections the origin accepted per request
# shows whether netfence reused upstream connections.
nginx_counters() { curl -s "http://$ORIGIN/nginx_status" | awk 'NR == 3 { print $1, $3 }'; }

wrk_case() {  # <direct|proxy> <path> <key> [duration connections threads]
  local line a0 r0 a1 r1
  read -r a0 r0 <<<"$(nginx_counters)"
  line=$(run_wrk "$1" "$2" "${4:-$DURATION}" "${5:-$CONNS}" "${6:-$THREADS}")
  read -r a1 r1 <<<"$(nginx_counters)"
  if [ "$line" = "RESULT failed" ]; then
    WARN+=("wrk $1 $2 failed in one round"); return
  fi
  local kv rps p50 p99 non2xx errors requests
  for kv in ${line#RESULT }; do
    case $kv in
      rps=*) rps=${kv#rps=} ;; p50_us=*) p50=${kv#p50_us=} ;; p99_us=*) p99=${kv#p99_us=} ;;
      non2xx=*) non2xx=${kv#non2xx=} ;; errors=*) errors=${kv#errors=} ;;
      requests=*) requests=${kv#requests=} ;;
    esac
  done
  if [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then
    WARN+=("wrk $1 $2: $non2xx non-2xx responses and $errors socket errors out of $requests requests")
  fi
  add "$3.rps" "$rps"; add "$3.p50" "$p50"; add "$3.p99" "$p99"
  add "$3.conns" "$(awk -v a=$((a1 - a0)) -v r=$((r1 - r0)) 'BEGIN { printf "%.1f", r ? a * 1000 / r : 0 }')"
  log "  wrk $1 $2: $rps req/s, p50 ${p50} us, p99 ${p99} us, $((a1 - a0)) origin connections for $((r1 - r0)) origin requests"
}

bulk_case() {  # <direct|proxy>
  local out c0 c1 speed size code
  if [ "$1" = direct ]; then
    out=$(curl -s -o /dev/null --max-time 120 -w '%{speed_download} %{size_download} %{http_code}' \
      "http://$ORIGIN$BULK_PATH") || true
  else
    c0=$(cpu_ticks "$NF_PID")
    out=$(curl -s -o /dev/null --max-time 120 -p -x "http://$PROXY" \
      -w '%{speed_download} %{size_download} %{http_code}' "http://$ORIGIN$BULK_PATH") || true
    c1=$(cpu_ticks "$NF_PID")
  fi
  read -r speed size code <<<"$out"
  if [ "${code:-}" != 200 ] || [ "${size:-0}" != "$(stat -c %s "$TMP/www/${BULK_PATH#/}")" ]; then
    WARN+=("bulk $1: curl got status ${code:-none}, ${size:-0} bytes"); return
  fi
  add "bulk.$1" "$(awk -v s="$speed" 'BEGIN { printf "%.1f", s / 1e6 }')"
  if [ "$1" = proxy ]; then
    # CPU seconds netfence used for the transfer, scaled to one GiB.
    add "bulk.cpu" "$(awk -v d=$((c1 - c0)) -v t="$CLK_TCK" -v s="$size" \
      'BEGIN { printf "%.2f", d / t * 1073741824 / s }')"
  fi
  log "  bulk $1: $(awk -v s="$speed" 'BEGIN { printf "%.1f", s / 1e6 }') MB/s"
}

setup_case() {  # <direct|proxy>
  local line kv
  if [ "$1" = direct ]; then
    line=$(timeout 120 "$TUNNEL" direct "$NGINX_PORT" "$SETUP_N") || true
  else
    line=$(timeout 120 "$TUNNEL" setup "$PROXY_PORT" "$ORIGIN" "$SETUP_N") || true
  fi
  case $line in ok=*) ;; *) WARN+=("setup $1 failed: $line"); return ;; esac
  for kv in $line; do
    case $kv in
      rate=*) add "setup.$1.rate" "${kv#rate=}" ;;
      p50_us=*) add "setup.$1.p50" "${kv#p50_us=}" ;;
      p99_us=*) add "setup.$1.p99" "${kv#p99_us=}" ;;
    esac
  done
  log "  setup $1: $line"
}

# Idle tunnels are measured on a fresh netfence each round: memory an earlier test made the
# allocator keep would otherwise hide the cost of the tunnels.
idle_case() {
  local pid port before with after hp i
  start_netfence "$TMP/netfence-idle.err"
  pid=$STARTED_PID port=$STARTED_PORT before=$STARTED_RSS
  add start.ms "$STARTED_MS"; add start.rss "$STARTED_RSS"
  timeout 200 "$TUNNEL" hold "$port" "$ORIGIN" "$IDLE_N" >"$TMP/hold.out" 2>"$TMP/hold.err" &
  hp=$!
  for i in $(seq 600); do
    grep -q '^ready' "$TMP/hold.out" 2>/dev/null && break
    kill -0 "$hp" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^ready' "$TMP/hold.out"; then
    WARN+=("idle tunnels: $(cat "$TMP/hold.err")"); kill "$hp" 2>/dev/null || true
    wait "$hp" 2>/dev/null || true; stop_netfence "$pid"; return
  fi
  sleep 1
  with=$(rss_kib "$pid")
  kill "$hp" 2>/dev/null || true
  wait "$hp" 2>/dev/null || true
  sleep 1
  after=$(rss_kib "$pid")
  stop_netfence "$pid"
  add idle.before "$before"; add idle.with "$with"; add idle.after "$after"
  add idle.per "$(awk -v b="$before" -v w="$with" -v n="$IDLE_N" 'BEGIN { printf "%.1f", (w - b) / n }')"
  log "  idle (fresh netfence, listening after $STARTED_MS ms): RSS $before KiB at start, $with KiB with $IDLE_N tunnels, $after KiB 1 s after they closed"
}

# The first read of the sparse 1 GiB file fills the page cache; keep that out of the first round.
cat "$TMP/www/1g" >/dev/null
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_TS=$(date +%s)
log "warm-up (2 s through netfence)"
run_wrk proxy /100b 2 >/dev/null

for round in $(seq "$ROUNDS"); do
  log "round $round/$ROUNDS"
  wrk_case direct /100b ka100.direct
  wrk_case proxy /100b ka100.proxy
  wrk_case direct /64k ka64.direct
  wrk_case proxy /64k ka64.proxy
  wrk_case direct /100b ka1.direct "$SINGLE_DURATION" 1 1
  wrk_case proxy /100b ka1.proxy "$SINGLE_DURATION" 1 1
  bulk_case direct
  bulk_case proxy
  setup_case direct
  setup_case proxy
  idle_case
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

log "bench_policy"
POLICY_TABLE=$("$BENCH_POLICY" --benchmark_min_time=0.2 2>/dev/null |
  grep -E '^(-|Benchmark|BM_)' || echo "(bench_policy failed)")
ELAPSED=$(($(date +%s) - START_TS))

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
median() {  # values... (empty -> "n/a")
  [ $# -gt 0 ] || { echo n/a; return; }
  printf '%s\n' "$@" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { median ${R[$1]:-}; }
fmt() {  # <value> <printf format>
  [ "$1" = n/a ] && { echo n/a; return; }
  awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'
}
ratio() {  # <netfence> <direct>
  { [ "$1" = n/a ] || [ "$2" = n/a ]; } && { echo n/a; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else if (a / b < 0.1) printf "%.3f", a / b;
    else printf "%.2f", a / b }'
}
ms() { [ "$1" = n/a ] && echo n/a || awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }'; }
raw() { echo "${R[$1]:-n/a}" | sed 's/ /, /g'; }

row() {  # <metric> <direct> <netfence> <ratio> <target>
  printf '| %s | %s | %s | %s | %s |\n' "$@"
}

ka_rows() {  # <key> <label>
  local d n
  d=$(med "$1.direct.rps"); n=$(med "$1.proxy.rps")
  row "$2, requests/s" "$(fmt "$d" %.0f)" "$(fmt "$n" %.0f)" "$(ratio "$n" "$d")" "$3"
  d=$(med "$1.direct.p50"); n=$(med "$1.proxy.p50")
  row "$2, p50 latency (ms)" "$(ms "$d")" "$(ms "$n")" "$(ratio "$n" "$d")" ""
  d=$(med "$1.direct.p99"); n=$(med "$1.proxy.p99")
  row "$2, p99 latency (ms)" "$(ms "$d")" "$(ms "$n")" "$(ratio "$n" "$d")" ""
  row "$2, origin connections per 1,000 requests" "$(med "$1.direct.conns")" \
    "$(med "$1.proxy.conns")" "" ""
}

TABLE=$(
  echo "| Metric | Direct to nginx | Through netfence | netfence / direct | SPEC §19 target |"
  echo "|---|---:|---:|---:|---|"
  ka_rows ka100 "Keep-alive GET 100 B (64 conn.)" "more than tinyproxy, squid, privoxy"
  ka_rows ka64 "Keep-alive GET 64 KiB (64 conn.)" "more than tinyproxy, squid, privoxy"
  ka_rows ka1 "Keep-alive GET 100 B, 1 conn. (unloaded)" ""
  d=$(med bulk.direct); n=$(med bulk.proxy)
  row "CONNECT bulk 1 GiB, MB/s (1 stream)" "$d" "$n" "$(ratio "$n" "$d")" "≥ 0.90 of direct"
  row "CONNECT bulk, netfence CPU s per GiB" "" "$(med bulk.cpu)" "" ""
  d=$(med setup.direct.rate); n=$(med setup.proxy.rate)
  row "CONNECT set-up, tunnels/s (direct: TCP connects/s), sequential" "$(fmt "$d" %.0f)" \
    "$(fmt "$n" %.0f)" "$(ratio "$n" "$d")" ""
  d=$(med setup.direct.p50); n=$(med setup.proxy.p50)
  row "CONNECT set-up p50 (ms)" "$(ms "$d")" "$(ms "$n")" "$(ratio "$n" "$d")" ""
  d=$(med setup.direct.p99); n=$(med setup.proxy.p99)
  row "CONNECT set-up p99 (ms)" "$(ms "$d")" "$(ms "$n")" "$(ratio "$n" "$d")" "≤ 2 ms"
  row "netfence start-up to listening (ms, ~10 ms resolution)" "" "$(med start.ms)" "" "≤ 200 ms"
  row "netfence RSS after start (KiB)" "" "$(med start.rss)" "" "≤ 32 MiB idle"
  row "netfence RSS with $IDLE_N idle tunnels / 1 s after they closed (KiB)" "" \
    "$(med idle.with) / $(med idle.after)" "" ""
  row "RSS per idle CONNECT tunnel (KiB)" "" "$(med idle.per)" "" "≤ 16 KiB (at 10,000)"
)

RAW=$(
  echo "| Series | Values per round |"
  echo "|---|---|"
  for k in ka100.direct.rps ka100.proxy.rps ka100.direct.p99 ka100.proxy.p99 ka100.proxy.conns \
           ka64.direct.rps ka64.proxy.rps ka64.direct.p99 ka64.proxy.p99 ka64.proxy.conns \
           ka1.direct.p50 ka1.proxy.p50 ka1.direct.p99 ka1.proxy.p99 \
           bulk.direct bulk.proxy bulk.cpu setup.direct.rate setup.proxy.rate \
           setup.direct.p99 setup.proxy.p99 start.ms start.rss idle.with idle.after idle.per; do
    echo "| \`$k\` | $(raw "$k") |"
  done
)

WARNINGS=""
if [ ${#WARN[@]} -gt 0 ]; then
  WARNINGS=$(printf -- '- %s\n' "${WARN[@]}")
fi

NOTES_BEGIN='<!-- notes:begin (written by a person; bench/run.sh keeps this section) -->'
NOTES_END='<!-- notes:end -->'
NOTES=""
if [ -f "$OUT" ] && grep -qF "$NOTES_BEGIN" "$OUT"; then
  NOTES=$(awk -v b="$NOTES_BEGIN" -v e="$NOTES_END" \
    '$0 == b { on = 1; next } $0 == e { on = 0 } on' "$OUT")
fi
[ -n "$NOTES" ] || NOTES="_Not written yet: read the table above and say here what it shows._"

CPU_MODEL=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src apps include 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes under src/)"

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<EOF
# netfence benchmarks

Generated by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (took ${ELAPSED} s of measuring).
Benchmarks are never run by CI or tests; see \`bench/README.md\`.

## Machine and software

- CPU: \`nproc\` = $(nproc), $CPU_MODEL; $(uname -sr)
- Load average (1/5/15 min) before / after the run: $LOAD_BEFORE / $LOAD_AFTER
- netfence: $("$NETFENCE" --version 2>/dev/null | head -1), commit $COMMIT, Release build
- $("$NGINX" -v 2>&1 | head -1) (1 worker, sendfile, no access log)
- $(wrk -v 2>&1 | head -1 | sed 's/ Copyright.*//')
- $(curl --version | head -1 | cut -d' ' -f1-2)

The machine is shared: other engineers were building and running tests during the run, so every
number here is noisy (see the per-round values below). Read ratios, not absolute values, and
only differences well beyond the round-to-round spread.

## Method

Everything runs on 127.0.0.1: a private nginx (one worker, files of 100 B, 64 KiB and a sparse
1 GiB file) is the origin; netfence runs from \`$BUILD_DIR\` with \`allowed_domains = ["127.0.0.1"]\`,
\`allow_local_binding = true\`, SOCKS5 and admin off, \`--log-level warn\`. Each round measures,
in this order, direct then through netfence: wrk keep-alive GETs of 100 B and of 64 KiB
($CONNS connections, $THREADS threads, ${DURATION} s each; through netfence the request line is
absolute-form via \`bench/absolute_form.lua\`), the same 100 B GET over a single connection
(${SINGLE_DURATION} s, one request in flight: the latency a lone client sees), a 1 GiB download with curl (through netfence a
CONNECT tunnel, \`curl -p -x\`, with netfence's utime+stime from \`/proc/<pid>/stat\` before and
after), $SETUP_N sequential CONNECT set-ups by \`bench/tunnel_client.c\` (CONNECT, read the 200,
close; direct = a TCP connect and close to nginx), and, on a freshly started netfence, the time
from exec to a listening socket, VmRSS 0.5 s after start, VmRSS while \`tunnel_client\` holds
$IDLE_N idle CONNECT tunnels and 1 s after it closed them. There were $ROUNDS rounds; the table shows
medians. wrk latencies are at full load (closed loop, 64 connections), not at half of the peak
rate that SPEC §19 specifies for the added-p99 target.

The "origin connections per 1,000 requests" rows come from nginx's \`stub_status\` counters
(accepted connections / requests during the wrk run): about 0 when connections to the origin are
reused (always the case for the direct runs), 1,000 when every proxied request opens a new one.

## Results (median of $ROUNDS)

$TABLE

$( [ -n "$WARNINGS" ] && printf 'Problems seen during the run:\n\n%s\n' "$WARNINGS" )

Per-round values:

$RAW

### Policy evaluation micro-benchmark (\`$BUILD_DIR/bench/bench_policy\`, Google Benchmark)

\`\`\`
$POLICY_TABLE
\`\`\`

## What the numbers say

$NOTES_BEGIN
$NOTES
$NOTES_END
EOF

echo
echo "$TABLE"
[ -n "$WARNINGS" ] && { echo; echo "Problems:"; echo "$WARNINGS"; }
echo
echo '```'
echo "$POLICY_TABLE"
echo '```'
echo
log "wrote $OUT"
