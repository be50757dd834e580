#!/usr/bin/env bash
# Liveness throughput: clip-health's /health (axum on a current-thread tokio runtime, the crate's
# router behind its LivenessLayer fast path, RED metrics on)
# against nginx answering the same body with `return 200` (one worker process), both on
# loopback, measured by wrk with the same threads, connections and duration, alternating
# servers over several rounds of one run. With two CPUs or more, both servers share the last
# CPU and wrk runs on the others (taskset), so the load generator neither steals the server's
# core nor preempts it on every response it wakes up for; PIN=0 lets the kernel place them.
#
#   scripts/compare/health.sh            # ROUNDS=3 DURATION=5s CONNECTIONS=32 THREADS=1 PIN=1
#
# Last line: `health ratio=X`, X = our requests/s over nginx's (X > 1: we are faster).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
PIN=${PIN:-1}

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d -t clip-health-compare.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

need() { # command, Debian package
    command -v "$1" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$1" >/dev/null 2>&1 || {
        echo "installing $2" >&2
        sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
        $sudo_cmd apt-get install -y "$2" >&2
    }
}
need wrk wrk
need nginx nginx
NGINX=$(PATH="$PATH:/usr/sbin" command -v nginx)

free_port() { # a loopback port nobody listens on
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
    done
    echo "no free port found" >&2
    exit 1
}

wait_for() { # url
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "server at $1 did not come up" >&2
    exit 1
}

echo "building the example server (release)" >&2
cargo build --release --quiet -p clip-health --example health_server --manifest-path "$repo/Cargo.toml" >&2
target_dir=${CARGO_TARGET_DIR:-$repo/target}

server_cpu=() client_cpu=()
cpus=$(nproc)
if [ "$PIN" = 1 ] && [ "$cpus" -ge 2 ] && command -v taskset >/dev/null; then
    server_cpu=(taskset -c "$((cpus - 1))")
    client_cpu=(taskset -c "0-$((cpus - 2))")
    echo "servers pinned to CPU $((cpus - 1)), wrk to CPUs 0-$((cpus - 2))" >&2
fi

ours_port=$(free_port)
"${server_cpu[@]}" "$target_dir/release/examples/health_server" "127.0.0.1:$ours_port" >"$work/ours.log" 2>&1 &
pids+=($!)

nginx_port=$(free_port)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /health {
            default_type application/health+json;
            add_header Cache-Control no-store;
            return 200 '{"status":"pass"}';
        }
    }
}
CONF
"${server_cpu[@]}" "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" &
pids+=($!)

ours="http://127.0.0.1:$ours_port/health"
theirs="http://127.0.0.1:$nginx_port/health"
wait_for "$ours"
wait_for "$theirs"
# Same answer from both, so the comparison is like with like.
diff <(curl -fsS "$ours") <(curl -fsS "$theirs") >/dev/null || { echo "bodies differ" >&2; exit 1; }

rps() { # url -> requests/s
    "${client_cpu[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$1" | tee -a "$work/wrk.log" |
        awk '/^Requests\/sec:/ { print $2 }'
}

# Warm both (connection setup, page faults), then alternate so drift hits both sides alike.
"${client_cpu[@]}" wrk -t1 -c4 -d1s "$ours" >/dev/null
"${client_cpu[@]}" wrk -t1 -c4 -d1s "$theirs" >/dev/null
ours_total=0
theirs_total=0
for round in $(seq 1 "$ROUNDS"); do
    a=$(rps "$ours")
    b=$(rps "$theirs")
    echo "round $round: clip-health ${a} req/s, nginx ${b} req/s" >&2
    ours_total=$(awk -v t="$ours_total" -v x="$a" 'BEGIN { print t + x }')
    theirs_total=$(awk -v t="$theirs_total" -v x="$b" 'BEGIN { print t + x }')
done

awk -v a="$ours_total" -v b="$theirs_total" -v n="$ROUNDS" -v c="$CONNECTIONS" -v t="$THREADS" -v d="$DURATION" 'BEGIN {
    printf "wrk -t%s -c%s -d%s, %s rounds: clip-health %.0f req/s, nginx %.0f req/s (means)\n", t, c, d, n, a / n, b / n
    printf "health ratio=%.2f\n", a / b
}'
