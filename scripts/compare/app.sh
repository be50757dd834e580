#!/usr/bin/env bash
# clip-app against the guide's original stack, Fastify with node-postgres
# (scripts/compare/app-node/server.js), serving the same GET /api/projects (a keyset page of
# 20, newest first, from a table of 10 000 projects) from the same PostgreSQL, in one run.
# Each server is pinned to CPU 0 with taskset, wrk to CPU 1; rounds alternate between the
# two servers (the machine is shared) and the medians are compared. Beside requests per
# second, each round counts the server's own CPU time (utime + stime): requests per
# CPU-second stay comparable when other work on a shared machine steals the CPUs.
# Ends with `app ratio=X` (our requests per second / Fastify's; > 1: we are faster).
#
#   scripts/compare/app.sh [seconds per round]      (default 10; ROUNDS=3, CONNECTIONS=64)
#
# The npm packages install into ${TMPDIR:-/tmp}/clip-compare-app (never into the
# repository), the throwaway PostgreSQL cluster too.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
WORK=${TMPDIR:-/tmp}/clip-compare-app
PG_PORT=${COMPARE_PG_PORT:-55432}
OURS_PORT=${COMPARE_OURS_PORT:-3401}
NODE_PORT=${COMPARE_NODE_PORT:-3402}
PROJECTS=10000

./scripts/install-deps.sh --compare
for tool in node npm taskset wrk psql; do
    command -v "$tool" >/dev/null || { echo "app.sh: $tool is missing" >&2; exit 1; }
done
mkdir -p "$WORK"

# The anchor: fastify, pg and @fastify/rate-limit, installed once per package.json.
if ! cmp -s scripts/compare/app-node/package.json "$WORK/package.json" || [ ! -d "$WORK/node_modules/fastify" ]; then
    cp scripts/compare/app-node/package.json "$WORK/package.json"
    (cd "$WORK" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
cp scripts/compare/app-node/server.js "$WORK/server.js"

cargo build --quiet --release -p clip-app
APP_BIN=$ROOT/target/release/clip-app

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    as_postgres "$BINDIR/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# A throwaway PostgreSQL cluster (the server refuses to run as root: it runs as postgres).
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
BINDIR=$(pg_config --bindir 2>/dev/null || dirname "$(command -v initdb)")
as_postgres "$BINDIR/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$WORK/pg"
mkdir -p "$WORK/pg"
[ "$(id -u)" -eq 0 ] && chown postgres "$WORK/pg"
as_postgres "$BINDIR/initdb" -D "$WORK/pg/data" -U clip --auth=trust -E UTF8 >/dev/null
as_postgres "$BINDIR/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o \
    "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" \
    start >/dev/null
DATABASE_URL="postgres://clip@127.0.0.1:$PG_PORT/postgres?sslmode=disable"

wait_for() { # url
    for _ in $(seq 1 150); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "app.sh: $1 did not answer" >&2
    return 1
}

# Ours, release build, the full middleware; its rate limit set high so that it counts
# every request and refuses none (one wrk client would otherwise be limited).
env -i PATH="$PATH" HOME="${HOME:-/root}" DATABASE_URL="$DATABASE_URL" HOST=127.0.0.1 PORT="$OURS_PORT" \
    INSTANCE_ID=compare-ours RUST_LOG=warn AUTOSCALER_URL=off \
    RATE_LIMIT_API_PER_SECOND=1000000000 RATE_LIMIT_API_BURST=1000000000 \
    taskset -c 0 "$APP_BIN" >"$WORK/ours.log" 2>&1 &
OURS_PID=$!
pids+=("$OURS_PID")
wait_for "http://127.0.0.1:$OURS_PORT/health"

# The migrations ran; now the projects (a fresh cluster each run).
psql -q -h 127.0.0.1 -p "$PG_PORT" -U clip -d postgres -v ON_ERROR_STOP=1 \
    -c "INSERT INTO projects (name) SELECT 'Project ' || g FROM generate_series(1, $PROJECTS) g" \
    -c "VACUUM ANALYZE projects" >/dev/null

env -i PATH="$PATH" HOME="${HOME:-/root}" DATABASE_URL="$DATABASE_URL" PORT="$NODE_PORT" INSTANCE_ID=compare-node \
    NODE_ENV=production taskset -c 0 node "$WORK/server.js" >"$WORK/node.log" 2>&1 &
pids+=("$!")
wait_for "http://127.0.0.1:$NODE_PORT/health"

# Both answer the same page.
ours_body=$(curl -fsS "http://127.0.0.1:$OURS_PORT/api/projects")
node_body=$(curl -fsS "http://127.0.0.1:$NODE_PORT/api/projects")
NODE_PID=${pids[-1]}
count() { grep -o '"id":' <<<"$1" | wc -l; }
if [ "$(count "$ours_body")" != 20 ] || [ "$(count "$node_body")" != 20 ] ||
   [ "$(grep -o '"next_cursor":"[0-9]*"' <<<"$ours_body")" != "$(grep -o '"next_cursor":"[0-9]*"' <<<"$node_body")" ]; then
    echo "app.sh: the two servers do not answer the same page" >&2
    echo "ours: ${ours_body:0:200}" >&2
    echo "node: ${node_body:0:200}" >&2
    exit 1
fi

# wrk on CPU 1: requests/s and p99 (ms) of one run.
run_wrk() { # url seconds
    local out rps p99
    out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${2}s" --latency "$1")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "app.sh: non-2xx answers from $1:" >&2
        echo "$out" >&2
        exit 1
    fi
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/, "", v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v*=1000}; print v}' <<<"$out")
    echo "$rps $p99"
}
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
TICKS=$(getconf CLK_TCK)
# Requests per CPU-second of the server, from a round's req/s and its CPU ticks.
per_cpu_second() { awk -v rps="$1" -v d="$DURATION" -v t="$2" -v hz="$TICKS" 'BEGIN {printf "%.0f", (t > 0) ? rps * d / (t / hz) : 0}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "GET /api/projects: page of 20 from $PROJECTS projects; wrk -t1 -c$CONNECTIONS ${DURATION}s x $ROUNDS rounds each, servers on CPU 0"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
run_wrk "http://127.0.0.1:$OURS_PORT/api/projects" 3 >/dev/null # warm-up (JIT, caches, pool)
run_wrk "http://127.0.0.1:$NODE_PORT/api/projects" 3 >/dev/null
ours_rps=() ours_p99=() ours_eff=() node_rps=() node_p99=() node_eff=() rss_peak=0
for round in $(seq 1 "$ROUNDS"); do
    # Our RSS under load: sampled while wrk runs.
    (while sleep 0.5; do rss_mb "$OURS_PID"; echo; done) >"$WORK/rss.txt" 2>/dev/null &
    sampler=$!
    before=$(cpu_ticks "$OURS_PID")
    read -r rps p99 < <(run_wrk "http://127.0.0.1:$OURS_PORT/api/projects" "$DURATION")
    eff=$(per_cpu_second "$rps" $(($(cpu_ticks "$OURS_PID") - before)))
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    peak=$(sort -g "$WORK/rss.txt" | tail -1)
    rss_peak=$(awk -v a="$rss_peak" -v b="${peak:-0}" 'BEGIN {print (b > a) ? b : a}')
    ours_rps+=("$rps") ours_p99+=("$p99") ours_eff+=("$eff")
    printf 'round %d  clip-app  %8.0f req/s  p99 %7.2f ms  %6d req/CPU-s  RSS %s MB\n' "$round" "$rps" "$p99" "$eff" "${peak:-?}"
    before=$(cpu_ticks "$NODE_PID")
    read -r rps p99 < <(run_wrk "http://127.0.0.1:$NODE_PORT/api/projects" "$DURATION")
    eff=$(per_cpu_second "$rps" $(($(cpu_ticks "$NODE_PID") - before)))
    node_rps+=("$rps") node_p99+=("$p99") node_eff+=("$eff")
    printf 'round %d  fastify   %8.0f req/s  p99 %7.2f ms  %6d req/CPU-s\n' "$round" "$rps" "$p99" "$eff"
done

read -r health_rps _ < <(run_wrk "http://127.0.0.1:$OURS_PORT/api/health" "$DURATION")
ours_med=$(printf '%s\n' "${ours_rps[@]}" | median)
node_med=$(printf '%s\n' "${node_rps[@]}" | median)
ours_p99_med=$(printf '%s\n' "${ours_p99[@]}" | median)
node_p99_med=$(printf '%s\n' "${node_p99[@]}" | median)
ours_eff_med=$(printf '%s\n' "${ours_eff[@]}" | median)
node_eff_med=$(printf '%s\n' "${node_eff[@]}" | median)
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'clip-app  median %8.0f req/s  p99 %7.2f ms  %6.0f req/CPU-s  peak RSS under load %s MB\n' "$ours_med" "$ours_p99_med" "$ours_eff_med" "$rss_peak"
printf 'fastify   median %8.0f req/s  p99 %7.2f ms  %6.0f req/CPU-s  (node %s, fastify %s, pg %s)\n' "$node_med" "$node_p99_med" "$node_eff_med" \
    "$(node --version)" "$(node -p 'require(process.argv[1]).version' "$WORK/node_modules/fastify/package.json")" \
    "$(node -p 'require(process.argv[1]).version' "$WORK/node_modules/pg/package.json")"
printf 'clip-app  GET /api/health %10.0f req/s\n' "$health_rps"
awk -v a="$ours_eff_med" -v b="$node_eff_med" 'BEGIN {printf "requests per CPU-second: clip-app / Fastify = %.2f\n", a / b}'
awk -v a="$ours_med" -v b="$node_med" 'BEGIN {printf "app ratio=%.2f\n", a / b}'
