#!/usr/bin/env bash
# netfence benchmark harness (issue 11 item 1; SPEC §19). One command, loopback only, never the
# internet; 10-15 minutes on 2 cores with the defaults, plus any build. Never run by CI or tests.
#
#   bench/run.sh                                     full comparison, writes docs/benchmarks.{md,png}
#   ROUNDS=1 DURATION=2 IDLE_COUNTS=1000 BULK_MB=64 OUT=/tmp/b.md bench/run.sh   smoke run
#
# Installs what is missing (Debian packages, with service start-up blocked; the sandbox-runtime
# proxy from npm into the scratch directory), builds netfence and bench_policy (Release), starts a
# private nginx origin, netfence and every peer proxy (tinyproxy, squid, privoxy, dante, the
# @anthropic-ai/sandbox-runtime proxy) on fixed loopback ports chosen free at run time, each with a
# generated config (single-origin allowlist, no caching, minimal logging, foreground), then
# measures direct and every proxy in the same run, interleaved, ROUNDS times, and writes the
# medians, ratios to direct, a gnuplot chart and short perf profiles of netfence.
#
# Knobs (defaults in brackets):
#   ROUNDS [3]              rounds; every table cell is the median over them
#   DURATION [5]            seconds per 64-connection wrk run
#   SINGLE_DURATION [2]     seconds per single-connection wrk run
#   SETUP_N [2000]          sequential tunnel set-ups per set-up measurement
#   IDLE_COUNTS ["1000 10000"]  idle tunnel counts held (each on a freshly started proxy)
#   BULK_MB [1024]          size of the bulk download (MiB)
#   PEERS ["tinyproxy squid privoxy dante srt"]  peers to include (srt = sandbox-runtime)
#   SRT_VERSION [latest]    npm version of @anthropic-ai/sandbox-runtime
#   PROFILE [1]             0 skips the perf profiles of netfence
#   BUILD_DIR [build]; NO_BUILD [unset] uses the binaries already in BUILD_DIR
#   OUT [docs/benchmarks.md]; CHART [OUT with .png]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SINGLE_DURATION=${SINGLE_DURATION:-2}
SETUP_N=${SETUP_N:-2000}
IDLE_COUNTS=${IDLE_COUNTS:-"1000 10000"}
BULK_MB=${BULK_MB:-1024}
PEERS=${PEERS:-"tinyproxy squid privoxy dante srt"}
SRT_VERSION=${SRT_VERSION:-latest}
PROFILE=${PROFILE:-1}
BUILD_DIR=${BUILD_DIR:-build}
NO_BUILD=${NO_BUILD:-}
OUT=${OUT:-docs/benchmarks.md}
CHART=${CHART:-${OUT%.md}.png}
case $CHART in /*) ;; *) CHART=$PWD/$CHART ;; esac
CONNS=64
THREADS=2
BULK_LABEL="${BULK_MB} MiB"
[ "$BULK_MB" = 1024 ] && BULK_LABEL="1 GiB"

# Loopback only: no proxy from the environment may leak into curl, wrk, node or netfence.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
WARN=()
warn() { log "warning: $*"; WARN+=("$*"); }
INFO=()  # facts about a proxy's behaviour seen during the run (each said once)
info() { case " ${INFO[*]:-} " in *"$*"*) return 0 ;; esac; log "note: $*"; INFO+=("$*"); }

# ---------------------------------------------------------------------------------------------
# Dependencies and build
# ---------------------------------------------------------------------------------------------
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
DAEMONS="nginx squid tinyproxy privoxy danted"

apt_install() {  # packages...
  # Installing a daemon must not start the system service: a policy-rc.d that refuses service
  # starts is put in place for the install if there is none, and whatever still started is
  # stopped again afterwards (only processes that were not running before the install).
  local made_policy="" before d p
  before=$(pgrep -x "$(echo $DAEMONS | tr ' ' '|')" | tr '\n' ' ' || true)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local ok="" attempt
  # Another apt may hold the dpkg lock (shared machines): retry.
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null ||
       { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
           >/dev/null; }; then
      ok=1
      break
    fi
    log "apt-get failed (attempt $attempt); retrying in 15 s"
    sleep 15
  done
  [ -n "$made_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
  [ -n "$ok" ] || die "could not install $*"
  for d in $DAEMONS; do
    for p in $(pgrep -x "$d" || true); do
      case " $before " in *" $p "*) continue ;; esac
      log "stopping $d (pid $p) that the package install started"
      { [ -x "/etc/init.d/$d" ] && $SUDO "/etc/init.d/$d" stop >/dev/null 2>&1; } ||
        $SUDO kill "$p" 2>/dev/null || true
    done
  done
}

has_peer() { case " $PEERS " in *" $1 "*) return 0 ;; esac; return 1; }

deps() {
  [ -n "$NO_BUILD" ] || ./dev deps
  local missing=()
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx-light)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v cc >/dev/null || missing+=(gcc)
  command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
  command -v python3 >/dev/null || missing+=(python3)
  command -v perf >/dev/null || [ "$PROFILE" = 0 ] || missing+=(linux-perf)
  has_peer tinyproxy && ! command -v tinyproxy >/dev/null && missing+=(tinyproxy)
  has_peer squid && ! [ -x /usr/sbin/squid ] && missing+=(squid)
  has_peer privoxy && ! [ -x /usr/sbin/privoxy ] && missing+=(privoxy)
  has_peer dante && ! [ -x /usr/sbin/danted ] && missing+=(dante-server)
  has_peer srt && ! command -v node >/dev/null && missing+=(nodejs npm)
  has_peer srt && ! command -v npm >/dev/null && missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

deps
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ -z "$NO_BUILD" ]; then
  log "building netfence and bench_policy (Release) in $BUILD_DIR"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD_DIR" netfence bench_policy >/dev/null
fi
NETFENCE=$ROOT/$BUILD_DIR/apps/cli/netfence
BENCH_POLICY=$ROOT/$BUILD_DIR/bench/bench_policy
[ -x "$NETFENCE" ] || die "$NETFENCE was not built"

# ---------------------------------------------------------------------------------------------
# Scratch directory, process bookkeeping, cleanup
# ---------------------------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/netfence-bench.XXXXXX)
chmod 755 "$TMP"  # nginx workers and squid run as unprivileged users and must read the files
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_TMP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 10,000 idle tunnels need ~20,000 descriptors in a proxy (40,000 in sandbox-runtime, whose HTTP
# side sits behind a unix-socket hop), 10,000 in the client and 10,000 in nginx. Children inherit
# the limit, so every proxy started below gets it too.
MAX_IDLE=0
for n in $IDLE_COUNTS; do [ "$n" -gt "$MAX_IDLE" ] && MAX_IDLE=$n; done
want_fds=$((MAX_IDLE * 4 + 4096))
[ "$want_fds" -ge 65536 ] || want_fds=65536
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want_fds" ]; then
  ulimit -Hn "$want_fds" 2>/dev/null || true  # root may raise the hard limit
fi
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$want_fds" ]; then
  ulimit -n "$want_fds"
else
  ulimit -n "$(ulimit -Hn)"
fi
FDS=$(ulimit -n)
# A proxy process holding N tunnels needs 2 N descriptors (client and origin side) plus its own;
# without CAP_SYS_RESOURCE the hard limit cannot be raised, so a count that does not fit is
# lowered to the largest multiple of 1,000 that does, and the report says so.
IDLE_RUN=""
IDLE_NOTE=""
for n in $IDLE_COUNTS; do
  m=$n
  if [ $((n * 2 + 512)) -gt "$FDS" ]; then
    m=$(((FDS - 512) / 2 / 1000 * 1000))
    IDLE_NOTE="$n idle tunnels need more than the $FDS descriptors one process may open here (the hard \`ulimit -n\`, which this machine does not let even root raise), so the large count is $m."
    log "ulimit -n is $FDS (hard limit): measuring $m idle tunnels instead of $n"
  fi
  [ "$m" -ge 100 ] || continue
  case " $IDLE_RUN " in *" $m "*) ;; *) IDLE_RUN="$IDLE_RUN $m" ;; esac
done
IDLE_RUN=${IDLE_RUN# }

log "compiling bench/tunnel_client.c"
cc -O2 -Wall -o "$TMP/tunnel_client" bench/tunnel_client.c
TUNNEL=$TMP/tunnel_client

# Fixed ports below the ephemeral range, chosen free now (bind test), never handed out twice.
USED_PORTS=" "
free_port() {
  local p i
  for i in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    case $USED_PORTS in *" $p "*) continue ;; esac
    if python3 - "$p" <<'EOF' 2>/dev/null; then USED_PORTS="$USED_PORTS$p "; echo "$p"; return 0; fi
import socket, sys
for host in ("127.0.0.1", "127.0.0.2"):
    s = socket.socket()
    s.bind((host, int(sys.argv[1])))
    s.close()
EOF
  done
  die "no free port found"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A proxy's process tree (dante forks children; squid may): pid and all descendants.
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { queue[1] = root; n = 1; for (i = 1; i <= n; ++i) { print queue[i];
            m = split(kids[queue[i]], k, " "); for (j = 1; j <= m; ++j) queue[++n] = k[j] } }'
}
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {  # utime+stime of the whole tree, in clock ticks, plus cutime+cstime: the CPU of
               # children that exited and were reaped (dante's children come and go)
  local p t=0 v
  for p in $(tree_pids "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
mem_kib() {  # proportional set size (PSS) of the whole tree in KiB; = RSS for one process less
             # its share of shared libraries, and counts memory shared between forks once
  local p t=0 v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^Pss:/ { print $2; exit }' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# ---------------------------------------------------------------------------------------------
# nginx origin (also answers on 127.0.0.2, a destination outside every proxy's allowlist, so the
# start-up check can prove each proxy enforces its allowlist)
# ---------------------------------------------------------------------------------------------
mkdir -p "$TMP/www" "$TMP/nginx/tmp"
head -c 100 /dev/zero | tr '\0' 'a' >"$TMP/www/100b"
head -c 65536 /dev/zero | tr '\0' 'b' >"$TMP/www/64k"
truncate -s "${BULK_MB}M" "$TMP/www/bulk"  # sparse: reads as zeros, costs no disk
BULK_BYTES=$(stat -c %s "$TMP/www/bulk")
chmod 644 "$TMP"/www/*
chmod 755 "$TMP/www"

start_nginx() {
  NGINX_PORT=$(free_port)
  cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $FDS;
error_log $TMP/nginx/error.log warn;
pid $TMP/nginx/nginx.pid;
events { worker_connections $((MAX_IDLE + 8192)); }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_header_timeout 600s;
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    listen 127.0.0.2:$NGINX_PORT;
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
OUTSIDE=127.0.0.2:$NGINX_PORT
log "nginx origin on $ORIGIN (pid $NGINX_PID)"

# ---------------------------------------------------------------------------------------------
# Proxies. start_<name> <dir> <http port> <socks port> writes a config into <dir>, starts the
# proxy in the foreground and sets SPID. Every config: loopback only, the single origin 127.0.0.1
# allowed (any port) and nothing else, no cache, minimal logging, limits raised for 10,000 tunnels.
# ---------------------------------------------------------------------------------------------
SRT_PKG=""
if has_peer srt; then
  log "installing @anthropic-ai/sandbox-runtime@$SRT_VERSION from npm into $TMP/srt"
  mkdir -p "$TMP/srt"
  if (cd "$TMP/srt" && npm install --no-audit --no-fund --no-save --loglevel=error \
        "@anthropic-ai/sandbox-runtime@$SRT_VERSION" >"$TMP/srt/npm.log" 2>&1); then
    SRT_PKG=$TMP/srt/node_modules/@anthropic-ai/sandbox-runtime
  else
    warn "npm install of @anthropic-ai/sandbox-runtime failed ($(tail -1 "$TMP/srt/npm.log")); sandbox-runtime skipped"
    PEERS=$(echo " $PEERS " | sed 's/ srt / /')
  fi
fi

start_netfence() {
  cat >"$1/netfence.toml" <<EOF
[network]
enabled = true
allowed_domains = ["127.0.0.1"]
allow_local_binding = true
allow_upstream_proxy = false
enable_socks5 = true
enable_socks5_udp = false
enable_admin = false
max_connections = $((MAX_IDLE * 2 + 4096))
proxy_url = "http://127.0.0.1:$2"
socks_url = "http://127.0.0.1:$3"
EOF
  "$NETFENCE" run --config "$1/netfence.toml" --log-level warn 2>"$1/stderr" &
  SPID=$!
}

start_tinyproxy() {
  printf '^127\\.0\\.0\\.1$\n' >"$1/filter"
  cat >"$1/tinyproxy.conf" <<EOF
Port $2
Listen 127.0.0.1
Timeout 600
LogFile "$1/tinyproxy.log"
LogLevel Critical
PidFile "$1/tinyproxy.pid"
MaxClients $((MAX_IDLE + 4096))
Allow 127.0.0.1
DisableViaHeader Yes
Filter "$1/filter"
FilterType ere
FilterURLs Off
FilterDefaultDeny Yes
EOF
  tinyproxy -d -c "$1/tinyproxy.conf" >"$1/stderr" 2>&1 &
  SPID=$!
}

start_squid() {
  chmod 777 "$1"  # squid drops root for its cache_effective_user (proxy) and writes its files here
  cat >"$1/squid.conf" <<EOF
http_port 127.0.0.1:$2
visible_hostname netfence-bench
acl client src 127.0.0.1/32
acl origin dst 127.0.0.1/32
http_access allow client origin
http_access deny all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log $1/cache.log
debug_options ALL,0
logfile_rotate 0
pid_filename $1/squid.pid
coredump_dir $1
netdb_filename none
icp_port 0
htcp_port 0
pinger_enable off
max_filedescriptors $FDS
shutdown_lifetime 0 seconds
via off
forwarded_for transparent
EOF
  /usr/sbin/squid -N -f "$1/squid.conf" >"$1/stderr" 2>&1 &
  SPID=$!
}

start_privoxy() {
  cat >"$1/allowlist.action" <<EOF
{+block{not on the allowlist}}
/
{-block}
127.0.0.1
EOF
  cat >"$1/config" <<EOF
confdir $1
logdir $1
actionsfile $1/allowlist.action
listen-address 127.0.0.1:$2
toggle 1
enable-remote-toggle 0
enable-remote-http-toggle 0
enable-edit-actions 0
enforce-blocks 1
max-client-connections $((MAX_IDLE + 4096))
keep-alive-timeout 600
default-server-timeout 600
socket-timeout 600
connection-sharing 1
tolerate-pipelining 1
EOF
  /usr/sbin/privoxy --no-daemon "$1/config" >"$1/stderr" 2>&1 &
  SPID=$!
}

start_dante() {
  cat >"$1/danted.conf" <<EOF
logoutput: stderr
errorlog: stderr
internal: 127.0.0.1 port = $3
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
timeout.negotiate: 60
timeout.io: 0
client pass { from: 127.0.0.1/32 to: 0.0.0.0/0 }
client block { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.1/32 to: 127.0.0.1/32 command: connect }
socks block { from: 0.0.0.0/0 to: 0.0.0.0/0 }
EOF
  /usr/sbin/danted -f "$1/danted.conf" -p "$1/danted.pid" >"$1/stderr" 2>&1 &
  SPID=$!
}

start_srt() {
  node "$ROOT/bench/srt_proxy.mjs" "$SRT_PKG" "$2" 127.0.0.1 >"$1/stderr" 2>&1 &
  SPID=$!
}

# What each target speaks. srt serves HTTP and SOCKS5 on one port.
speaks_http() { case $1 in direct|netfence|tinyproxy|squid|privoxy|srt) return 0 ;; esac; return 1; }
speaks_connect() { case $1 in netfence|tinyproxy|squid|privoxy|srt) return 0 ;; esac; return 1; }
speaks_socks() { case $1 in netfence|dante|srt) return 0 ;; esac; return 1; }
label() {
  case $1 in
    srt) echo "sandbox-runtime" ;; dante) echo "dante" ;; *) echo "$1" ;;
  esac
}

# Starts target $1 as instance $2 on fresh ports; sets SPID, HP (HTTP port), SP (SOCKS port),
# START_MS (exec to accepting, ~10 ms resolution) and START_MEM (PSS 0.5 s after, KiB).
start_target() {
  local name=$1 dir=$TMP/$1-$2 t0 i ready
  mkdir -p "$dir"
  HP=$(free_port)
  SP=$HP
  [ "$name" = netfence ] && SP=$(free_port)
  t0=$(date +%s%N)
  "start_$name" "$dir" "$HP" "$SP"
  PIDS+=("$SPID")
  ready=""
  for i in $(seq 1000); do
    kill -0 "$SPID" 2>/dev/null || break
    if { ! speaks_http "$name" || port_open "$HP"; } && { ! speaks_socks "$name" || port_open "$SP"; }; then
      ready=1; break
    fi
    sleep 0.01
  done
  if [ -z "$ready" ]; then
    log "$name did not start; its output:"; tail -20 "$dir"/stderr "$dir"/*.log >&2 2>/dev/null || true
    stop_target "$SPID"
    return 1
  fi
  START_MS=$((($(date +%s%N) - t0) / 1000000))
  sleep 0.5
  START_MEM=$(mem_kib "$SPID")
}
stop_target() {  # <pid>
  local p keep=() tree
  tree=$(tree_pids "$1")
  kill "$1" 2>/dev/null || true
  for p in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 $tree 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# The body every proxy must serve, and the refusal every proxy must give for 127.0.0.2.
check_target() {  # <name>
  local n=$1 want got code
  want=$(cat "$TMP/www/100b")
  if speaks_http "$n"; then
    got=$(curl -s --max-time 5 -x "http://127.0.0.1:${HPORT[$n]}" "http://$ORIGIN/100b") || true
    [ "$got" = "$want" ] || { echo "GET through it failed"; return 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "http://127.0.0.1:${HPORT[$n]}" \
      "http://$OUTSIDE/100b") || true
    [ "$code" != 200 ] || { echo "it proxied a GET to $OUTSIDE, outside its allowlist"; return 1; }
  fi
  if speaks_connect "$n"; then
    got=$(curl -s --max-time 5 -p -x "http://127.0.0.1:${HPORT[$n]}" "http://$ORIGIN/100b") || true
    [ "$got" = "$want" ] || { echo "CONNECT through it failed"; return 1; }
    got=$(curl -s --max-time 5 -p -x "http://127.0.0.1:${HPORT[$n]}" "http://$OUTSIDE/100b") || true
    [ "$got" != "$want" ] || { echo "it opened a CONNECT tunnel to $OUTSIDE, outside its allowlist"; return 1; }
  fi
  if speaks_socks "$n"; then
    got=$(curl -s --max-time 5 -x "socks5://127.0.0.1:${SPORT[$n]}" "http://$ORIGIN/100b") || true
    [ "$got" = "$want" ] || { echo "SOCKS5 through it failed"; return 1; }
    got=$(curl -s --max-time 5 -x "socks5://127.0.0.1:${SPORT[$n]}" "http://$OUTSIDE/100b") || true
    [ "$got" != "$want" ] || { echo "it opened a SOCKS5 tunnel to $OUTSIDE, outside its allowlist"; return 1; }
  fi
  return 0
}

declare -A HPORT SPORT TPID
TARGETS=(direct)
for name in netfence $PEERS; do
  if ! start_target "$name" main; then
    [ "$name" = netfence ] && die "netfence did not start"
    warn "$(label "$name") did not start; left out"; continue
  fi
  HPORT[$name]=$HP SPORT[$name]=$SP TPID[$name]=$SPID
  if ! why=$(check_target "$name"); then
    [ "$name" = netfence ] && die "netfence: $why"
    warn "$(label "$name"): $why; left out"; stop_target "$SPID"; continue
  fi
  TARGETS+=("$name")
  log "$(label "$name") on 127.0.0.1:$HP$([ "$SP" != "$HP" ] && echo " (SOCKS5 $SP)") (pid $SPID), accepting after $START_MS ms"
done

# ---------------------------------------------------------------------------------------------
# Measurements. Each result is appended to R[metric|target] (space-separated, one per round).
# ---------------------------------------------------------------------------------------------
declare -A R
add() { R[$1|$2]="${R[$1|$2]:-}${R[$1|$2]:+ }$3"; }
median() {  # values... (none -> "n/a")
  [ $# -gt 0 ] || { echo n/a; return; }
  printf '%s\n' "$@" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { median ${R[$1|$2]:-}; }  # <metric> <target>
ratio() {  # <value> <direct>
  { [ "$1" = n/a ] || [ "$2" = n/a ]; } && { echo n/a; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else if (a / b < 0.095) printf "%.3f", a / b;
    else printf "%.2f", a / b }'
}
num() {  # <value> <kind>: int (thousands separators), ms (from us), f1, f2
  [ "$1" = n/a ] && { echo "n/a"; return; }
  case $2 in
    int) LC_ALL=C awk -v v="$1" 'BEGIN { s = sprintf("%.0f", v); r = "";
           while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
           print s r }' ;;
    ms) awk -v v="$1" 'BEGIN { printf (v < 10000 ? "%.2f" : "%.1f"), v / 1000 }' ;;
    f1) awk -v v="$1" 'BEGIN { printf "%.1f", v }' ;;
    f2) awk -v v="$1" 'BEGIN { printf "%.2f", v }' ;;
  esac
}

run_wrk() {  # <target> <path> <duration> <connections> <threads> <close>
  local t=$1 url direct=""
  if [ "$t" = direct ]; then url="http://$ORIGIN/"; direct=1; else url="http://127.0.0.1:${HPORT[$t]}/"; fi
  BENCH_ORIGIN=$ORIGIN BENCH_PATH=$2 BENCH_DIRECT=$direct BENCH_CLOSE=$6 \
    timeout $(($3 + 30)) wrk -t"$5" -c"$4" -d"${3}s" --timeout 5s \
      -s bench/absolute_form.lua "$url" 2>/dev/null | grep '^RESULT' || echo "RESULT failed"
}

# nginx's counters "accepts requests": origin connections per request shows upstream reuse.
nginx_counters() { curl -s "http://$ORIGIN/nginx_status" | awk 'NR == 3 { print $1, $3 }'; }

wrk_case() {  # <target> <path> <metric> <duration> <connections> <threads> [close]
  local t=$1 line a0 r0 a1 r1 c0=0 c1=0
  read -r a0 r0 <<<"$(nginx_counters)"
  [ "$t" = direct ] || c0=$(cpu_ticks "${TPID[$t]}")
  line=$(run_wrk "$t" "$2" "$4" "$5" "$6" "${7:-}")
  [ "$t" = direct ] || c1=$(cpu_ticks "${TPID[$t]}")
  read -r a1 r1 <<<"$(nginx_counters)"
  if [ "$line" = "RESULT failed" ]; then
    warn "wrk $3 $(label "$t") failed in one round"; return
  fi
  local kv rps p50 p99 non2xx errors requests
  for kv in ${line#RESULT }; do
    case $kv in
      rps=*) rps=${kv#rps=} ;; p50_us=*) p50=${kv#p50_us=} ;; p99_us=*) p99=${kv#p99_us=} ;;
      non2xx=*) non2xx=${kv#non2xx=} ;; errors=*) errors=${kv#errors=} ;;
      requests=*) requests=${kv#requests=} ;;
    esac
  done
  if [ "$non2xx" = 0 ] && [ "$t" != direct ] && [ "$requests" -gt 0 ] &&
     [ "$errors" -ge $((requests * 9 / 10)) ]; then
    # wrk counts a read error and reconnects when a proxy closes the connection after a response
    # that did not say "Connection: close"; when that happens to (nearly) every response, the
    # proxy does not keep client connections alive.
    info "$(label "$t") closes the client connection after every response, so wrk reconnects (and counts a read error) for each request: its keep-alive rows are in effect new-connection rows."
  elif [ "$non2xx" != 0 ] || [ "$errors" -gt $((requests / 100)) ]; then
    warn "wrk $3 $(label "$t"): $non2xx non-2xx responses and $errors socket errors out of $requests requests"
  fi
  add "$3.rps" "$t" "$rps"; add "$3.p50" "$t" "$p50"; add "$3.p99" "$t" "$p99"
  add "$3.origin_conns" "$t" "$(awk -v a=$((a1 - a0)) -v r=$((r1 - r0)) 'BEGIN { printf "%.1f", r ? a * 1000 / r : 0 }')"
  [ "$t" = direct ] || add "$3.cpu_us" "$t" \
    "$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", n ? d / hz * 1e6 / n : 0 }')"
  log "  $3 $(label "$t"): $rps req/s, p50 $p50 us, p99 $p99 us, $((a1 - a0)) origin conns / $((r1 - r0)) origin requests"
}

bulk_case() {  # <target> <connect|socks|direct>
  local t=$1 mode=$2 line port=0 c0=0 c1=0 bytes mbps kv
  [ "$t" = direct ] || { c0=$(cpu_ticks "${TPID[$t]}"); }
  case $mode in connect) port=${HPORT[$t]} ;; socks) port=${SPORT[$t]} ;; esac
  line=$(timeout 300 "$TUNNEL" get "$mode" "$port" "$ORIGIN" /bulk 2>&1) || true
  [ "$t" = direct ] || { c1=$(cpu_ticks "${TPID[$t]}"); }
  case $line in bytes=*) ;; *) warn "bulk $mode $(label "$t") failed: $line"; return ;; esac
  for kv in $line; do
    case $kv in bytes=*) bytes=${kv#bytes=} ;; mbps=*) mbps=${kv#mbps=} ;; esac
  done
  [ "$bytes" = "$BULK_BYTES" ] || { warn "bulk $mode $(label "$t"): $bytes of $BULK_BYTES bytes"; return; }
  local key=bulk_$mode
  [ "$t" = direct ] && key=bulk_connect
  add "$key" "$t" "$mbps"
  [ "$t" = direct ] && add bulk_socks direct "$mbps"
  [ "$t" = direct ] || add "$key.cpu" "$t" \
    "$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v b="$bytes" 'BEGIN { printf "%.2f", d / hz * 1073741824 / b }')"
  log "  bulk $mode $(label "$t"): $mbps MB/s"
}

setup_case() {  # <target> <connect|socks|direct>
  local t=$1 mode=$2 line kv key
  case $mode in
    direct) line=$(timeout 300 "$TUNNEL" direct "$NGINX_PORT" "$SETUP_N" 2>&1) || true ;;
    connect) line=$(timeout 300 "$TUNNEL" setup "${HPORT[$t]}" "$ORIGIN" "$SETUP_N" 2>&1) || true ;;
    socks) line=$(timeout 300 "$TUNNEL" socks-setup "${SPORT[$t]}" "$ORIGIN" "$SETUP_N" 2>&1) || true ;;
  esac
  case $line in ok=*) ;; *) warn "setup $mode $(label "$t") failed: $line"; return ;; esac
  for key in setup_connect setup_socks; do
    [ "$mode" = direct ] || [ "$key" = "setup_$mode" ] || continue
    for kv in $line; do
      case $kv in
        rate=*) add "$key" "$t" "${kv#rate=}" ;;
        p50_us=*) add "$key.p50" "$t" "${kv#p50_us=}" ;;
        p99_us=*) add "$key.p99" "$t" "${kv#p99_us=}" ;;
      esac
    done
  done
  log "  setup $mode $(label "$t"): $line"
}

# Idle tunnels are held on a freshly started proxy: memory an earlier test made an allocator keep
# would otherwise hide the cost of the tunnels. CONNECT tunnels, or SOCKS5 for dante.
idle_case() {  # <target> <count> <round>
  local t=$1 n=$2 mode=hold port pid before with hp i
  if [ "$t" = srt ] && [ $((n * 4 + 512)) -gt "$FDS" ]; then
    info "sandbox-runtime needs 4 descriptors per CONNECT tunnel (its HTTP side sits behind a unix-socket hop inside the process), so $(num "$n" int) tunnels do not fit in $FDS descriptors and were not measured."
    return
  fi
  start_target "$t" "idle$n-r$3" || { warn "idle: $(label "$t") did not start"; return; }
  pid=$SPID port=$HP before=$START_MEM
  add start_ms "$t" "$START_MS"; add start_mem "$t" "$START_MEM"
  if ! speaks_connect "$t"; then mode=socks-hold; port=$SP; fi
  timeout 400 "$TUNNEL" "$mode" "$port" "$ORIGIN" "$n" >"$TMP/hold.out" 2>"$TMP/hold.err" &
  hp=$!
  for i in $(seq 3000); do
    grep -q '^ready' "$TMP/hold.out" 2>/dev/null && break
    kill -0 "$hp" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^ready' "$TMP/hold.out"; then
    warn "$n idle tunnels through $(label "$t"): $(head -c 300 "$TMP/hold.err")"
    kill "$hp" 2>/dev/null || true; wait "$hp" 2>/dev/null || true; stop_target "$pid"; return
  fi
  sleep 1
  with=$(mem_kib "$pid")
  kill "$hp" 2>/dev/null || true
  wait "$hp" 2>/dev/null || true
  stop_target "$pid"
  add "idle$n" "$t" "$(awk -v b="$before" -v w="$with" -v n="$n" 'BEGIN { printf "%.1f", (w - b) / n }')"
  add "idle$n.total" "$t" "$with"
  log "  idle $(label "$t"): PSS $before KiB at start, $with KiB with $n tunnels ($(awk -v b="$before" -v w="$with" -v n="$n" 'BEGIN { printf "%.1f", (w - b) / n }') KiB each)"
}

# The first read of the sparse bulk file fills the page cache; keep that out of the first round.
cat "$TMP/www/bulk" >/dev/null
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_TS=$(date +%s)
log "warm-up (1 s through each proxy)"
for t in "${TARGETS[@]}"; do speaks_http "$t" && run_wrk "$t" /100b 1 8 1 "" >/dev/null; done

# Order of the targets within a measurement rotates from round to round, so a slow phase of a
# shared machine does not always hit the same proxy.
rotated() {  # <round>
  local n=${#TARGETS[@]} i
  for i in $(seq 0 $((n - 1))); do echo "${TARGETS[$(((i + $1 - 1) % n))]}"; done
}

for round in $(seq "$ROUNDS"); do
  log "round $round/$ROUNDS"
  ORDER=$(rotated "$round")
  for t in $ORDER; do speaks_http "$t" && wrk_case "$t" /100b ka100 "$DURATION" "$CONNS" "$THREADS"; done
  for t in $ORDER; do speaks_http "$t" && wrk_case "$t" /64k ka64k "$DURATION" "$CONNS" "$THREADS"; done
  for t in $ORDER; do speaks_http "$t" && wrk_case "$t" /100b newconn "$DURATION" "$CONNS" "$THREADS" 1; done
  for t in $ORDER; do speaks_http "$t" && wrk_case "$t" /100b ka1 "$SINGLE_DURATION" 1 1; done
  for t in $ORDER; do
    if [ "$t" = direct ]; then bulk_case direct direct; continue; fi
    speaks_connect "$t" && bulk_case "$t" connect
    speaks_socks "$t" && bulk_case "$t" socks
  done
  for t in $ORDER; do
    if [ "$t" = direct ]; then setup_case direct direct; continue; fi
    speaks_connect "$t" && setup_case "$t" connect
    speaks_socks "$t" && setup_case "$t" socks
  done
  for n in $IDLE_RUN; do
    for t in $ORDER; do [ "$t" = direct ] || idle_case "$t" "$n" "$round"; done
  done
  true
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

log "bench_policy"
POLICY_TABLE=$("$BENCH_POLICY" --benchmark_min_time=0.2 2>/dev/null |
  grep -E '^(-|Benchmark|BM_)' || echo "(bench_policy failed)")
POLICY_10K=$(echo "$POLICY_TABLE" | awk '/^BM_Evaluate[A-Za-z]*\/10000 / {
    v = $2; if ($3 == "us") v *= 1000; if ($3 == "ms") v *= 1e6; if (v > m) m = v } END { if (m) print m }')

# ---------------------------------------------------------------------------------------------
# Short perf profiles of netfence (system-wide, so the CPU split between wrk, nginx and the proxy
# on the two cores shows too).
# ---------------------------------------------------------------------------------------------
PROFILES=""
profile() {  # <title> <command...>: records while the command runs
  local title=$1; shift
  local data=$TMP/perf.data
  perf record -q -a -F 999 -o "$data" -- "$@" >/dev/null 2>"$TMP/perf.err" || {
    PROFILES="$PROFILES
#### $title

perf failed: $(head -c 300 "$TMP/perf.err")
"; return; }
  local split ku kern user rep  # (every pipe with head ends in || true: pipefail + SIGPIPE)
  split=$(perf report -i "$data" --stdio --sort comm --percent-limit 3 2>/dev/null |
    grep -E '^ *[0-9]' | head -8 | sed 's/^ *//' || true)
  # netfence's own samples, as shares of them: kernel vs user space, then the hottest of each
  # (template arguments and parameter lists cut off so a symbol fits on a line).
  rep=$(perf report -i "$data" --stdio --comms netfence --percentage relative \
    --sort dso,sym 2>/dev/null | grep -E '^ *[0-9.]+%' || true)
  ku=$(echo "$rep" | awk '{ v = $1; sub("%", "", v); if ($3 == "[k]") k += v; else u += v }
    END { printf "kernel %.0f %%, user space %.0f %% (netfence, libc, libstdc++, vdso)", k, u }')
  kern=$(echo "$rep" | awk '$3 == "[k]"' | head -8 | awk '{ printf "%7s  %s\n", $1, $4 }' || true)
  user=$(echo "$rep" | awk '$3 == "[.]"' | head -10 |
    awk '{ s = $4; for (i = 5; i <= NF; ++i) s = s " " $i; gsub(/\(anonymous namespace\)/, "{anon}", s);
           sub(/<.*/, "", s); sub(/\(.*/, "", s);
           printf "%7s  %-12s %s\n", $1, $2, substr(s, 1, 90) }' || true)
  PROFILES="$PROFILES
#### $title

CPU samples by command (whole machine, both cores):

\`\`\`
$split
\`\`\`

netfence's samples: $ku. Hottest, as shares of netfence's samples — kernel:

\`\`\`
$kern
\`\`\`

user space:

\`\`\`
$user
\`\`\`
"
}
if [ "$PROFILE" != 0 ] && command -v perf >/dev/null; then
  log "perf profiles of netfence"
  PD=$((DURATION < 3 ? DURATION : 3))
  NFP=${HPORT[netfence]}
  profile "Keep-alive GET 100 B, 64 connections ($PD s)" env BENCH_ORIGIN="$ORIGIN" BENCH_PATH=/100b \
    wrk -t"$THREADS" -c"$CONNS" -d"${PD}s" -s bench/absolute_form.lua "http://127.0.0.1:$NFP/"
  profile "New connection per request, 100 B, 64 connections ($PD s)" env BENCH_ORIGIN="$ORIGIN" \
    BENCH_PATH=/100b BENCH_CLOSE=1 \
    wrk -t"$THREADS" -c"$CONNS" -d"${PD}s" -s bench/absolute_form.lua "http://127.0.0.1:$NFP/"
  profile "CONNECT set-up, $SETUP_N sequential" "$TUNNEL" setup "$NFP" "$ORIGIN" "$SETUP_N"
  profile "CONNECT bulk, $BULK_LABEL" "$TUNNEL" get connect "$NFP" "$ORIGIN" /bulk
  profile "SOCKS5 set-up, $SETUP_N sequential" "$TUNNEL" socks-setup "${SPORT[netfence]}" "$ORIGIN" "$SETUP_N"
fi
# Kernel work per operation of every HTTP proxy (perf stat on all its threads, children
# included): system calls and context switches per keep-alive request and per CONNECT set-up.
stat_case() {  # <target> <metric> <command...>: the command prints RESULT requests=N or ok=N
  local t=$1 key=$2 out ops sys cs; shift 2
  out=$(perf stat -x, -o "$TMP/stat.out" -e raw_syscalls:sys_enter,context-switches \
    -p "$(tree_pids "${TPID[$t]}" | paste -sd,)" -- "$@" 2>/dev/null) || true
  ops=$(echo "$out" | sed -n 's/.*requests=\([0-9]*\).*/\1/p; s/^ok=\([0-9]*\).*/\1/p' | head -1 || true)
  sys=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$TMP/stat.out" 2>/dev/null)
  cs=$(awk -F, '$3 == "context-switches" { print $1 }' "$TMP/stat.out" 2>/dev/null)
  case "${ops:-0}/${sys:-x}/${cs:-x}" in
    0/*|*/x/*|*/x|*"not counted"*) warn "perf stat $key $(label "$t") failed"; return ;;
  esac
  add "stat.$key.sys" "$t" "$(awk -v a="$sys" -v n="$ops" 'BEGIN { printf "%.1f", a / n }')"
  add "stat.$key.cs" "$t" "$(awk -v a="$cs" -v n="$ops" 'BEGIN { printf "%.2f", a / n }')"
}
if [ "$PROFILE" != 0 ] && command -v perf >/dev/null; then
  log "perf stat of every HTTP proxy"
  PD=$((DURATION < 3 ? DURATION : 3))
  for t in "${TARGETS[@]}"; do
    speaks_connect "$t" || continue
    stat_case "$t" ka100 env BENCH_ORIGIN="$ORIGIN" BENCH_PATH=/100b \
      wrk -t"$THREADS" -c"$CONNS" -d"${PD}s" -s bench/absolute_form.lua "http://127.0.0.1:${HPORT[$t]}/"
    stat_case "$t" setup "$TUNNEL" setup "${HPORT[$t]}" "$ORIGIN" "$SETUP_N"
  done
fi
ELAPSED=$(($(date +%s) - START_TS))

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
COLS=()
for t in "${TARGETS[@]}"; do COLS+=("$t"); done
header() {  # <first column title>
  local h="| $1 |" s="|---|" t
  for t in "${COLS[@]}"; do
    if [ "$t" = netfence ]; then h="$h **netfence** |"; else h="$h $(label "$t") |"; fi
    s="$s---:|"
  done
  echo "$h"; echo "$s"
}
# One row: value (ratio to direct) per target; "—" where a target cannot do it.
row() {  # <label> <metric> <kind> <with ratio: 1|0>
  local line="| $1 |" t v d cell
  d=$(med "$2" direct)
  for t in "${COLS[@]}"; do
    v=$(med "$2" "$t")
    if [ -z "${R[$2|$t]:-}" ]; then
      if can "$2" "$t"; then cell="n/a"; else cell="—"; fi
    else
      cell=$(num "$v" "$3")
      if [ "$4" = 1 ] && [ "$t" != direct ]; then cell="$cell ($(ratio "$v" "$d"))"; fi
    fi
    [ "$t" = netfence ] && [ "$cell" != "—" ] && cell="**$cell**"
    line="$line $cell |"
  done
  echo "$line"
}
can() {  # <metric> <target>: whether the target takes part in the metric at all
  case $1 in
    ka*.cpu_us|newconn.cpu_us|stat.ka100.*) [ "$2" != direct ] && speaks_http "$2" ;;
    bulk_connect.cpu|stat.setup.*) speaks_connect "$2" ;;
    bulk_socks.cpu) speaks_socks "$2" ;;
    start_*|idle*) [ "$2" != direct ] ;;
    ka100*|ka64k*|newconn*|ka1.*) speaks_http "$2" ;;
    bulk_connect*|setup_connect*) [ "$2" = direct ] || speaks_connect "$2" ;;
    bulk_socks*|setup_socks*) [ "$2" = direct ] || speaks_socks "$2" ;;
    *) [ "$2" != direct ] ;;
  esac
}

IDLE_MAX_RUN=0
for n in $IDLE_RUN; do [ "$n" -gt "$IDLE_MAX_RUN" ] && IDLE_MAX_RUN=$n; done

GLANCE=$(
  header "Metric (median of $ROUNDS; ratio to direct)"
  row "Keep-alive GET 100 B, req/s" ka100.rps int 1
  row "Keep-alive GET 64 KiB, req/s" ka64k.rps int 1
  row "New connection per request (100 B), req/s" newconn.rps int 1
  row "CONNECT bulk $BULK_LABEL, MB/s" bulk_connect f1 1
  row "SOCKS5 bulk $BULK_LABEL, MB/s" bulk_socks f1 1
  row "CONNECT set-up, tunnels/s (direct: TCP connects/s)" setup_connect int 1
  row "SOCKS5 set-up, tunnels/s (direct: TCP connects/s)" setup_socks int 1
  for n in $IDLE_RUN; do row "KiB per idle tunnel, $(num "$n" int) tunnels" "idle$n" f1 0; done
)

LATENCY=$(
  header "Latency, ms (median of $ROUNDS)"
  row "Keep-alive 100 B, 64 conn., p50" ka100.p50 ms 1
  row "Keep-alive 100 B, 64 conn., p99" ka100.p99 ms 1
  row "Keep-alive 64 KiB, 64 conn., p50" ka64k.p50 ms 1
  row "Keep-alive 64 KiB, 64 conn., p99" ka64k.p99 ms 1
  row "New connection per request, p50" newconn.p50 ms 1
  row "New connection per request, p99" newconn.p99 ms 1
  row "Keep-alive 100 B, 1 connection (unloaded), p50" ka1.p50 ms 1
  row "Keep-alive 100 B, 1 connection (unloaded), p99" ka1.p99 ms 1
  row "CONNECT set-up, p50" setup_connect.p50 ms 1
  row "CONNECT set-up, p99" setup_connect.p99 ms 1
  row "SOCKS5 set-up, p50" setup_socks.p50 ms 1
  row "SOCKS5 set-up, p99" setup_socks.p99 ms 1
)

COST=$(
  header "Proxy cost (median of $ROUNDS)"
  row "CPU µs per request, keep-alive 100 B" ka100.cpu_us f1 0
  row "CPU µs per request, keep-alive 64 KiB" ka64k.cpu_us f1 0
  row "CPU µs per request, new connection" newconn.cpu_us f1 0
  row "CPU s per GiB, CONNECT bulk" bulk_connect.cpu f2 0
  row "CPU s per GiB, SOCKS5 bulk" bulk_socks.cpu f2 0
  row "Origin connections per 1,000 requests, keep-alive 100 B" ka100.origin_conns f1 0
  row "Origin connections per 1,000 requests, keep-alive 64 KiB" ka64k.origin_conns f1 0
  row "Start-up: exec to accepting, ms (~10 ms resolution)" start_ms int 0
  row "Memory 0.5 s after start, PSS KiB" start_mem int 0
  for n in $IDLE_RUN; do row "Memory with $(num "$n" int) idle tunnels, PSS KiB" "idle$n.total" int 0; done
  if [ -n "$(printf '%s\n' "${!R[@]}" | grep '^stat\.' || true)" ]; then
    row "System calls per keep-alive 100 B request (perf stat)" stat.ka100.sys f1 0
    row "Context switches per keep-alive 100 B request (perf stat)" stat.ka100.cs f2 0
    row "System calls per CONNECT set-up (perf stat)" stat.setup.sys f1 0
    row "Context switches per CONNECT set-up (perf stat)" stat.setup.cs f2 0
  fi
)

# Issue 11 targets for netfence, and the best peer on each metric.
best_peer() {  # <metric> <higher|lower> -> "name value"
  local t v best="" bv=""
  for t in "${COLS[@]}"; do
    case $t in direct|netfence) continue ;; esac
    v=$(med "$1" "$t"); [ "$v" = n/a ] && continue
    if [ -z "$bv" ] || awk -v a="$v" -v b="$bv" -v d="$2" 'BEGIN { exit !(d == "higher" ? a > b : a < b) }'; then
      best=$t bv=$v
    fi
  done
  [ -n "$best" ] && echo "$best $bv" || echo "none n/a"
}
verdict() {  # <ok expression for awk with v> <v>
  [ "$2" = n/a ] && { echo "not measured"; return; }
  awk -v v="$2" "BEGIN { exit !($1) }" && echo "met" || echo "**not met**"
}
TARGET_ROWS=$(
  echo "| Issue 11 target | netfence | best peer | netfence vs best peer | verdict |"
  echo "|---|---:|---:|---:|---|"
  tr_row() {  # <label> <metric> <min ratio> [x best peer]
    local d n r bpn bpv bpr lead ok
    d=$(med "$2" direct); n=$(med "$2" netfence); r=$(ratio "$n" "$d")
    read -r bpn bpv <<<"$(best_peer "$2" higher)"
    bpr=$(ratio "$bpv" "$d")
    lead=$(ratio "$n" "$bpv")
    ok="v >= $3"
    [ -n "${4:-}" ] && [ "$bpr" != n/a ] && ok="$ok && v >= $4 * $bpr"
    local label="$1 ≥ $3 of direct"
    [ -n "${4:-}" ] && label="$label and ≥ $4× best peer"
    echo "| $label | $r | $bpr ($(label "$bpn")) | $lead× | $(verdict "$ok" "$r") |"
  }
  tr_row "Keep-alive 100 B" ka100.rps 0.35 2
  tr_row "Keep-alive 64 KiB" ka64k.rps 0.40
  tr_row "New connection per request" newconn.rps 0.45
  tr_row "CONNECT bulk" bulk_connect 0.90
  tr_row "SOCKS5 bulk" bulk_socks 0.90
  tr_row "CONNECT set-up" setup_connect 0.50
  tr_row "SOCKS5 set-up" setup_socks 0.40
  if [ "$IDLE_MAX_RUN" -gt 0 ]; then
    n=$(med "idle$IDLE_MAX_RUN" netfence)
    read -r bpn bpv <<<"$(best_peer "idle$IDLE_MAX_RUN" lower)"
    echo "| ≤ 8 KiB per idle tunnel at $(num "$IDLE_MAX_RUN" int) tunnels$([ "$IDLE_MAX_RUN" -lt 10000 ] && echo " (target is stated at 10,000)") | $(num "$n" f1) KiB | $(num "$bpv" f1) KiB ($(label "$bpn")) | $(ratio "$n" "$bpv")× | $(verdict "v <= 8" "$n") |"
  fi
  echo "| Policy evaluation ≤ 2 µs at 10,000 patterns (worst case of bench_policy) | ${POLICY_10K:-n/a} ns | — | — | $(verdict "v <= 2000" "${POLICY_10K:-n/a}") |"
)

RAW=$(
  echo "| Series | Target | Values per round |"
  echo "|---|---|---|"
  for k in $(printf '%s\n' "${!R[@]}" | sort); do
    echo "| \`${k%%|*}\` | $(label "${k#*|}") | $(echo "${R[$k]}" | sed 's/ /, /g') |"
  done
)

# Chart: ratio to direct per metric and proxy (left), KiB per idle tunnel (right).
chart() {
  local dat=$TMP/ratios.dat mem=$TMP/mem.dat t m d v cols=() i
  for t in "${COLS[@]}"; do [ "$t" = direct ] || cols+=("$t"); done
  {
    printf 'metric'; for t in "${cols[@]}"; do printf '\t%s' "$(label "$t")"; done; echo
    for m in "ka100.rps:keep-alive 100 B" "ka64k.rps:keep-alive 64 KiB" "newconn.rps:new conn./request" \
             "bulk_connect:CONNECT bulk" "bulk_socks:SOCKS5 bulk" "setup_connect:CONNECT set-up" \
             "setup_socks:SOCKS5 set-up"; do
      printf '"%s"' "${m#*:}"
      d=$(med "${m%%:*}" direct)
      for t in "${cols[@]}"; do
        v=$(med "${m%%:*}" "$t"); v=$(ratio "$v" "$d"); [ "$v" = n/a ] && v="?"
        printf '\t%s' "$v"
      done
      echo
    done
  } >"$dat"
  {
    printf 'tunnels'; for t in "${cols[@]}"; do printf '\t%s' "$(label "$t")"; done; echo
    for n in $IDLE_RUN; do
      printf '"%s"' "$(num "$n" int)"
      for t in "${cols[@]}"; do v=$(med "idle$n" "$t"); [ "$v" = n/a ] && v="?"; printf '\t%s' "$v"; done
      echo
    done
  } >"$mem"
  local ncols=${#cols[@]} plot="" mplot="" ymax
  # The dashed "direct = 1" line must be inside the plot.
  ymax=$(awk -F'\t' 'NR > 1 { for (i = 2; i <= NF; ++i) if ($i != "?" && $i + 0 > m) m = $i + 0 }
    END { m = m * 1.15; if (m < 1.15) m = 1.15; printf "%.2f", m }' "$dat")
  for i in $(seq 2 $((ncols + 1))); do
    plot="$plot${plot:+, }'$dat' using $i:xtic(1) title columnheader($i)"
    mplot="$mplot${mplot:+, }'$mem' using $i:xtic(1) title columnheader($i)"
  done
  gnuplot >"$TMP/gnuplot.out" 2>&1 <<EOF || { warn "gnuplot failed: $(head -c 300 "$TMP/gnuplot.out")"; return; }
set terminal pngcairo size 1500,620 font "sans,10"
set output "$CHART"
set datafile missing "?"
set datafile separator "\t"
set multiplot layout 1,2 title "netfence and peers on $(nproc) cores, loopback, median of $ROUNDS rounds ($(date -u +%Y-%m-%d))"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set grid ytics
set key top center horizontal maxrows 1 samplen 2
set xtics rotate by 20 right scale 0
set size 0.74, 0.95
set origin 0, 0
set yrange [0:$ymax]
set ylabel "ratio to a direct connection (higher is better)"
set label 2 "direct = 1" at graph 0.01, first 1.03 left font ",8"
set title "Throughput and set-up rate relative to direct"
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "black"
set linetype 1 lc rgb "#d62728"
set linetype 2 lc rgb "#1f77b4"
set linetype 3 lc rgb "#ff7f0e"
set linetype 4 lc rgb "#2ca02c"
set linetype 5 lc rgb "#9467bd"
set linetype 6 lc rgb "#8c564b"
plot $plot
unset arrow 1
unset label 2
set size 0.26, 0.95
set origin 0.74, 0
set title "Memory per idle tunnel (lower is better)"
set ylabel "KiB (PSS) per tunnel, log scale"
set logscale y
set yrange [1:*]
unset key
set offsets 0, 0, 0, 0
set xtics rotate by 0 center
set xlabel "idle tunnels held (colours as on the left)"
set arrow 2 from graph 0, first 8 to graph 1, first 8 nohead dt 3 lc rgb "black"
set label 1 "target 8 KiB" at graph 0.03, first 5 left front font ",8"
plot $mplot
unset multiplot
EOF
}
chart

WARNINGS=""
[ ${#WARN[@]} -gt 0 ] && WARNINGS=$(printf -- '- %s\n' "${WARN[@]}")
RUN_NOTES=""
[ ${#INFO[@]} -gt 0 ] && RUN_NOTES=$(printf -- '- %s\n' "${INFO[@]}")
[ -n "$IDLE_NOTE" ] && RUN_NOTES="$RUN_NOTES${RUN_NOTES:+
}- $IDLE_NOTE"

NOTES_BEGIN='<!-- notes:begin (written by a person; bench/run.sh keeps this section) -->'
NOTES_END='<!-- notes:end -->'
NOTES=""
if [ -f "$OUT" ] && grep -qF "$NOTES_BEGIN" "$OUT"; then
  NOTES=$(awk -v b="$NOTES_BEGIN" -v e="$NOTES_END" \
    '$0 == b { on = 1; next } $0 == e { on = 0 } on' "$OUT")
fi
[ -n "$NOTES" ] || NOTES="_Not written yet: read the tables above and say here what they show._"

CPU_MODEL=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')
MEM_TOTAL=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src apps include 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes under src/)"
deb() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "not installed"; }
SRT_VER=n/a
[ -n "$SRT_PKG" ] && SRT_VER=$(node -p "require('$SRT_PKG/package.json').version" 2>/dev/null || echo "?")
QUIET="quiet (1-minute load below 0.5 at the start)"
awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l >= 0.5) }' && QUIET="**busy**: 1-minute load ${LOAD_BEFORE%% *} at the start, so other work shared the cores and every number is noisier than usual"
SMOKE=""
if [ "$ROUNDS" -lt 3 ] || [ "$DURATION" -lt 5 ] || [ "$BULK_MB" -lt 1024 ]; then
  SMOKE="> **Smoke run** (ROUNDS=$ROUNDS, DURATION=$DURATION s, BULK_MB=$BULK_MB, idle counts: ${IDLE_RUN:-none}): fewer or shorter runs than the defaults, so these numbers show that the harness works, not how the proxies compare. Re-run \`bench/run.sh\` with the defaults on a quiet machine for the real comparison."
fi
PEER_LIST=""
for t in "${COLS[@]}"; do case $t in direct|netfence) ;; *) PEER_LIST="$PEER_LIST $(label "$t")" ;; esac; done

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<EOF
# netfence benchmarks

Generated by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') ($((ELAPSED / 60)) min $((ELAPSED % 60)) s of measuring).
Benchmarks are never run by CI or tests; \`bench/README.md\` says how to run them and what each
number means.

$SMOKE

![Ratios to a direct connection per metric and proxy, and memory per idle tunnel]($(basename "$CHART"))

## At a glance

Each cell is the median over $ROUNDS rounds and, in brackets, its ratio to the direct connection
(wrk or the tunnel client talking to nginx itself, the physical limit on this machine). Higher is
better except for memory. "—": that proxy does not speak the protocol (dante is SOCKS5 only, the
direct row has no tunnel).

$GLANCE

$( [ -n "$RUN_NOTES" ] && printf 'Seen during the run:\n\n%s\n' "$RUN_NOTES" )

## netfence against the issue 11 targets

$TARGET_ROWS

Ratios are to direct in this run; "netfence vs best peer" is netfence's value divided by the best
peer's (for memory, lower is better, so below 1 is better).

## Latency

Latencies at full load are closed-loop (64 connections as fast as they go), not at half of the peak
rate that SPEC §19 states its added-p99 target at; the 1-connection rows are the unloaded view.
Ratios here are slowdowns: above 1 is slower than direct.

$LATENCY

## Cost

CPU is the proxy's utime+stime over the run (all its processes and threads, \`/proc/<pid>/stat\`),
divided by the requests wrk completed or scaled to one GiB of tunnel data. Memory is the
proportional set size (PSS, \`/proc/<pid>/smaps_rollup\`) summed over the proxy's processes, so
dante's forked children count their shared pages once. Per idle tunnel = (PSS with N idle tunnels
− PSS of the freshly started proxy) / N. The system-call and context-switch rows come from one
\`perf stat\` of each proxy after the rounds (all its threads; ${DURATION}-s keep-alive wrk run capped at 3 s,
and $SETUP_N sequential CONNECT set-ups), not from the rounds.

$COST

$( [ -n "$WARNINGS" ] && printf '### Problems seen during the run\n\n%s\n' "$WARNINGS" )

## Machine and software

- CPU: \`nproc\` = $(nproc), $CPU_MODEL; $MEM_TOTAL RAM; $(uname -sr); \`ulimit -n\` $FDS
- Load average (1/5/15 min) before / after the run: $LOAD_BEFORE / $LOAD_AFTER — $QUIET
- netfence: $("$NETFENCE" --version 2>/dev/null | head -1), commit $COMMIT, Release build
- Peers (Debian packages unless said): tinyproxy $(deb tinyproxy), squid $(deb squid), privoxy $(deb privoxy), dante-server $(deb dante-server), @anthropic-ai/sandbox-runtime $SRT_VER (npm) on node $(node --version 2>/dev/null || echo n/a)
- Taking part in this run:$PEER_LIST
- Tools: nginx-light $(deb nginx-light) (1 worker, sendfile, no access log), wrk $(deb wrk), curl $(deb curl) (start-up checks only), gnuplot $(deb gnuplot-nox), \`bench/tunnel_client.c\` (cc -O2)

## Method

Everything runs on 127.0.0.1, started by \`bench/run.sh\` from a temporary directory on ports
chosen free at run time: a private nginx (files of 100 B, 64 KiB and a sparse ${BULK_MB} MiB file),
netfence from \`$BUILD_DIR\`, and each peer in the foreground with a generated configuration. Every
proxy allows the single origin 127.0.0.1 (any port) and nothing else, keeps no cache and logs
only errors; the harness checks at start that each one serves the origin and refuses 127.0.0.2
(where nginx also listens). Per proxy:

- **netfence**: \`allowed_domains = ["127.0.0.1"]\`, \`allow_local_binding = true\`, HTTP and
  SOCKS5 listeners, admin API off, \`--log-level warn\`, \`max_connections\` raised.
- **tinyproxy**: \`Filter\` with \`^127\\.0\\.0\\.1$\` and \`FilterDefaultDeny Yes\`, \`Allow 127.0.0.1\`,
  \`LogLevel Critical\`, \`MaxClients\` raised, no \`ConnectPort\` restriction, \`-d\` (foreground).
- **squid**: \`http_access allow\` for \`src 127.0.0.1/32\` to \`dst 127.0.0.1/32\` only,
  \`cache deny all\`, \`cache_mem 0\`, no disk cache, \`access_log none\`, \`debug_options ALL,0\`,
  \`max_filedescriptors\` raised, \`-N\` (foreground, one process). Squid will not run as root, so
  it switches to its \`proxy\` user.
- **privoxy**: an actions file that blocks everything except host 127.0.0.1 (\`toggle 1\`,
  \`enforce-blocks 1\`), no filters, \`keep-alive-timeout 600\` and \`connection-sharing 1\` (so
  it keeps client and origin connections open), \`max-client-connections\` raised, no log file,
  \`--no-daemon\`.
- **dante** (\`danted\`, SOCKS5 only): no authentication, \`socks pass\` from 127.0.0.1/32 to
  127.0.0.1/32 for \`connect\` only, everything else blocked, errors to stderr only,
  \`timeout.io: 0\`; foreground, its usual pool of forked children.
- **sandbox-runtime**: the package's own proxy building blocks wired by \`bench/srt_proxy.mjs\`
  exactly as its \`SandboxManager\` wires them (one port, first byte picks SOCKS5 or HTTP, HTTP
  handed on over a unix socket), with its allowlist filter (\`allowedDomains: ["127.0.0.1"]\`);
  without the per-session proxy auth token, like every other proxy here. \`SandboxManager\` itself
  cannot start only the proxy: it first requires bubblewrap, socat, ripgrep and a seccomp helper.

Each round measures, with the order of the proxies rotating from round to round so slow phases
of a shared machine do not always hit the same one: wrk keep-alive GETs of 100 B and 64 KiB
($CONNS connections, $THREADS threads, ${DURATION} s; absolute-form request lines through the HTTP
proxies via \`bench/absolute_form.lua\`); the same 100 B GET with \`Connection: close\`, so every
request opens a new connection to the proxy (or to nginx, direct); one connection, one request in
flight (${SINGLE_DURATION} s); one ${BULK_MB} MiB download through a CONNECT and a SOCKS5 tunnel with
\`tunnel_client get\` (1 MiB reads, so the client is not the bottleneck; direct = the same GET to
nginx), with the proxy's CPU time; $SETUP_N sequential CONNECT and SOCKS5 set-ups (open, read the
success reply, close; direct = a TCP connect and close to nginx); and, on a freshly started
instance of each proxy, the memory it holds with $(echo "${IDLE_RUN:-no}" | sed 's/ / and /') idle tunnels (CONNECT;
SOCKS5 for dante). wrk counts connections a proxy closes after each response (tinyproxy does not
keep client connections alive) as reconnects; such a proxy's keep-alive rows are in effect
new-connection rows.

## Policy evaluation micro-benchmark (\`$BUILD_DIR/bench/bench_policy\`, Google Benchmark)

\`\`\`
$POLICY_TABLE
\`\`\`

## Profiles of netfence

$( [ -n "$PROFILES" ] && echo "Short \`perf record -a -F 999\` samples taken after the rounds, one load at a time, on the netfence instance that served the rounds. Read them with the two cores in mind: wrk, nginx and netfence share them, so the split by command says as much as the symbols do." || echo "Not taken (PROFILE=0 or perf missing)." )
$PROFILES

## What the numbers say

$NOTES_BEGIN
$NOTES
$NOTES_END

## Per-round values

<details><summary>Every series, one value per round</summary>

$RAW

</details>
EOF

echo
echo "$GLANCE"
echo
echo "$TARGET_ROWS"
[ -n "$WARNINGS" ] && { echo; echo "Problems:"; echo "$WARNINGS"; }
echo
log "wrote $OUT and $CHART"
