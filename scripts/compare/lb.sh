#!/usr/bin/env bash
# The load balancer's cost: `GET /api/projects` (a page of 20 from 10 000 projects) on the local
# fleet (nginx in front of 3 app instances, scripts/deploy-scaling.sh local) against a single app
# instance of the same build on the same database, by wrk with the same threads, connections
# and duration, alternating sides over several rounds of one run. nginx serves plain HTTP here
# (LB_TLS=false), so the difference is the balancer, not TLS; the load generator is exempt from
# nginx's rate limits as a load test would be. On a machine with few cores the fleet's three
# instances share them with nginx and PostgreSQL: the ratio is what one more hop costs, not what
# more instances gain (that needs more machines).
#
#   scripts/compare/lb.sh            # ROUNDS=3 DURATION=10s CONNECTIONS=32 THREADS=1 ENV=production
#
# Last line: `lb ratio=X`, X = the fleet's requests/s through nginx over the single instance's
# (X > 1: going through the load balancer is faster).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
ENV=${ENV:-production}
PROJECTS=${PROJECTS:-10000}

repo=$(cd "$(dirname "$0")/../.." && pwd)
command -v wrk >/dev/null || "$repo/scripts/install-deps.sh" --compare
"$repo/scripts/install-deps.sh"

work=$(mktemp -d -t clip-lb-compare.XXXXXX)
chmod 755 "$work" # the postgres user keeps its data here
export CLIP_FLEET_DIR="$work/fleet"
cleanup() {
    "$repo/scripts/deploy-scaling.sh" stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_base() { # ten consecutive free loopback ports
    local base
    for _ in $(seq 1 100); do
        base=$((20000 + (RANDOM % 4000) * 10))
        local ok=1
        for i in $(seq 0 9); do
            (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null && { ok=0; break; }
        done
        [ "$ok" = 1 ] && { echo "$base"; return 0; }
    done
    echo "no free ports" >&2
    exit 1
}
base=$(free_base)
export LB_HTTP_PORT=$base LB_HTTPS_PORT=$((base + 1)) LB_STATUS_PORT=$((base + 2)) \
    FLEET_PG_PORT=$((base + 3)) APP_BASE_PORT=$((base + 4)) AUTOSCALER_PORT=$((base + 9)) \
    LB_TLS=false LB_RATE_LIMIT_EXEMPT=127.0.0.1/32

echo "building clip-app (release) and starting the fleet ($ENV, 3 instances)" >&2
"$repo/scripts/deploy-scaling.sh" local "$ENV" 3 >"$work/deploy.log" 2>&1 || {
    cat "$work/deploy.log" >&2
    exit 1
}
# The single instance: a fourth instance of the same build and settings, taken out of nginx.
single_port=$((APP_BASE_PORT + 4))
"$repo/scripts/fleet/instance.sh" start "$single_port" >&2
"$repo/scripts/fleet/instance.sh" drain "$single_port" >&2

# The same table behind both sides.
PGPASSWORD=$(cat "$CLIP_FLEET_DIR/secrets/pg-password") psql -q -h 127.0.0.1 -p "$FLEET_PG_PORT" -U clip -d clip \
    -c "INSERT INTO projects (name) SELECT 'project ' || g FROM generate_series(1, $PROJECTS) AS g" >&2

fleet="http://127.0.0.1:$LB_HTTP_PORT/api/projects"
single="http://127.0.0.1:$single_port/api/projects"
for url in "$fleet" "$single"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "$url")
    [ "$status" = 200 ] || { echo "$url answered $status" >&2; exit 1; }
done
# Same page from both (the newest 20 projects), so the comparison is like with like.
diff <(curl -fsS "$fleet" | jq -S '[.items // . | .[]? | .id]' 2>/dev/null || curl -fsS "$fleet") \
    <(curl -fsS "$single" | jq -S '[.items // . | .[]? | .id]' 2>/dev/null || curl -fsS "$single") >/dev/null \
    || { echo "the two sides answer different pages" >&2; exit 1; }

# wrk's "Requests/sec" and its 99th percentile in milliseconds.
measure() { # url -> "rps p99_ms"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$1" | tee -a "$work/wrk.log" | awk '
        /^Requests\/sec:/ { rps = $2 }
        /^ +99%/ {
            v = $2
            if (v ~ /us$/) { sub(/us$/, "", v); ms = v / 1000 }
            else if (v ~ /ms$/) { sub(/ms$/, "", v); ms = v }
            else if (v ~ /s$/) { sub(/s$/, "", v); ms = v * 1000 }
        }
        END { printf "%s %s\n", rps, ms }'
}

wrk -t1 -c4 -d2s "$fleet" >/dev/null
wrk -t1 -c4 -d2s "$single" >/dev/null
totals="0 0 0 0"
for round in $(seq 1 "$ROUNDS"); do
    read -r f_rps f_p99 <<<"$(measure "$fleet")"
    read -r s_rps s_p99 <<<"$(measure "$single")"
    echo "round $round: fleet via nginx ${f_rps} req/s p99 ${f_p99} ms; single instance ${s_rps} req/s p99 ${s_p99} ms" >&2
    totals=$(awk -v t="$totals" -v a="$f_rps" -v b="$f_p99" -v c="$s_rps" -v d="$s_p99" \
        'BEGIN { split(t, x, " "); printf "%f %f %f %f", x[1] + a, x[2] + b, x[3] + c, x[4] + d }')
done

awk -v t="$totals" -v n="$ROUNDS" -v c="$CONNECTIONS" -v th="$THREADS" -v d="$DURATION" -v cpus="$(nproc)" 'BEGIN {
    split(t, x, " ")
    printf "wrk -t%s -c%s -d%s --latency, %s rounds on %s CPUs (means): fleet via nginx %.0f req/s, p99 %.2f ms; single instance %.0f req/s, p99 %.2f ms\n", th, c, d, n, cpus, x[1] / n, x[2] / n, x[3] / n, x[4] / n
    printf "p99 through nginx: %+.2f ms\n", (x[2] - x[4]) / n
    printf "lb ratio=%.2f\n", x[1] / x[3]
}'
