#!/usr/bin/env bash
# One app instance of the local fleet: the only way instances are started, taken out of the
# load balancer and stopped, used by scripts/deploy-scaling.sh and by the autoscaler's `local`
# actuator alike (deploy/README.md, "The local fleet", says what each step does).
#
#   scripts/fleet/instance.sh start PORT   # start, wait until ready, register in nginx
#   scripts/fleet/instance.sh drain PORT   # take out of nginx, wait for its requests to finish
#   scripts/fleet/instance.sh stop PORT    # drain, then SIGTERM; SIGKILL after the grace period
#   scripts/fleet/instance.sh list         # PORT PID STATE per instance (STATE: ready, draining, dead)
#   scripts/fleet/instance.sh next-port    # the lowest free port from APP_BASE_PORT + 1
#
# Exit status: 0 done, 1 failed (the message says why), 2 bad usage.
set -euo pipefail
# shellcheck disable=SC2034 # read by fleet/common.sh
FLEET_SCRIPT="instance.sh"
. "$(dirname "$0")/common.sh"
load_fleet_env

INSTANCES_DIR="$CLIP_FLEET_DIR/instances"
LOCK="$CLIP_FLEET_DIR/upstream.lock"
mkdir -p "$INSTANCES_DIR"

usage() {
    echo "usage: $0 start|drain|stop PORT | list | next-port" >&2
    exit 2
}

valid_port() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1024 ] && [ "$1" -le 65535 ] \
        || { echo "$FLEET_SCRIPT: PORT must be a number from 1024 to 65535, got \`${1:-}\`" >&2; exit 2; }
}

# nginx's upstream changes one at a time (instances start and stop concurrently).
with_upstream_lock() {
    (
        flock -w 60 9 || die "another instance.sh held $LOCK for 60 s"
        "$@"
    ) 9>"$LOCK"
}

register() {
    touch "$INSTANCES_DIR/$1.upstream"
    "$FLEET_REPO/scripts/fleet/nginx.sh" reload >/dev/null
}

# Prints the pids of the nginx workers that may still be sending it requests.
deregister() {
    rm -f "$INSTANCES_DIR/$1.upstream"
    "$FLEET_REPO/scripts/fleet/nginx.sh" reload
}

start() {
    local port="$1" pid log="$CLIP_FLEET_DIR/logs/app-$1.log"
    pid="$(pid_from "$INSTANCES_DIR/$port.pid")"
    pid_alive "$pid" && die "instance $port is already running (pid $pid)"
    port_in_use "$port" && die "port $port is taken by another program"
    mkdir -p "$CLIP_FLEET_DIR/logs"
    # Its own session, so signals reach it alone; the profile's variables, then the fleet's.
    (
        set -a
        # shellcheck disable=SC1091
        . "$CLIP_FLEET_DIR/app.env"
        set +a
        export HOST=127.0.0.1 PORT="$port" INSTANCE_ID="local-$port" \
            DATABASE_URL_FILE="$CLIP_FLEET_DIR/secrets/database-url" \
            ADMIN_TOKEN_FILE="$CLIP_FLEET_DIR/secrets/admin-token" \
            ADMIN_ALLOWED_NETWORKS="127.0.0.1/32,::1/128" \
            TRUSTED_PROXIES="127.0.0.1/32,::1/128" \
            CLIP_DATA_DIR="$CLIP_FLEET_DIR/data/$port"
        exec setsid "$APP_BIN" >>"$log" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$INSTANCES_DIR/$port.pid"
    case "$(wait_http_ok "http://127.0.0.1:$port/api/health/ready" "$INSTANCE_START_TIMEOUT" "$pid"; echo $?)" in
        0) ;;
        2) rm -f "$INSTANCES_DIR/$port.pid"
           die "instance $port exited while starting; the end of $log:
$(tail -n 20 "$log")" ;;
        *) kill -KILL "$pid" 2>/dev/null || true
           rm -f "$INSTANCES_DIR/$port.pid"
           die "instance $port was not ready within ${INSTANCE_START_TIMEOUT}s; the end of $log:
$(tail -n 20 "$log")" ;;
    esac
    with_upstream_lock register "$port"
    echo "instance $port ready (pid $pid), registered in nginx"
}

drain() {
    local port="$1" old
    [ -e "$INSTANCES_DIR/$port.upstream" ] || { info "instance $port is not registered in nginx"; return 0; }
    old="$(with_upstream_lock deregister "$port")"
    # New requests already go elsewhere; the old workers finish the ones it is serving.
    # shellcheck disable=SC2086
    "$FLEET_REPO/scripts/fleet/nginx.sh" wait-workers $old
    echo "instance $port drained (out of nginx, no request in flight through it)"
}

stop() {
    local port="$1" pid deadline
    drain "$port"
    pid="$(pid_from "$INSTANCES_DIR/$port.pid")"
    if pid_alive "$pid"; then
        kill -TERM "$pid"
        # The app finishes its own work (jobs, keep-alive clients) within GRACEFUL_SHUTDOWN_TIMEOUT.
        deadline=$((SECONDS + GRACEFUL_SHUTDOWN_SECONDS + 5))
        while pid_alive "$pid"; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                info "instance $port still running ${GRACEFUL_SHUTDOWN_SECONDS}s after SIGTERM: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
        done
    fi
    rm -f "$INSTANCES_DIR/$port.pid"
    echo "instance $port stopped"
}

list() {
    local f port pid state
    for f in "$INSTANCES_DIR"/*.pid; do
        [ -e "$f" ] || continue
        port="$(basename "$f" .pid)"
        pid="$(pid_from "$f")"
        if ! pid_alive "$pid"; then state=dead
        elif [ -e "$INSTANCES_DIR/$port.upstream" ]; then state=ready
        else state=draining
        fi
        echo "$port $pid $state"
    done
}

next_port() {
    local port=$((APP_BASE_PORT + 1))
    while [ -e "$INSTANCES_DIR/$port.pid" ] || port_in_use "$port"; do
        port=$((port + 1))
    done
    echo "$port"
}

case "${1:-}" in
    start) valid_port "${2:-}"; start "$2" ;;
    drain) valid_port "${2:-}"; drain "$2" ;;
    stop) valid_port "${2:-}"; stop "$2" ;;
    list) list ;;
    next-port) next_port ;;
    *) usage ;;
esac
