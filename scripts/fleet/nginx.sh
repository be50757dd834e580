#!/usr/bin/env bash
# The local fleet's nginx: its config from deploy/nginx/nginx.conf.template (through
# `clip-fleet nginx --mode local`), a self-signed certificate, and the upstream file that
# scripts/fleet/instance.sh keeps in step with the running instances.
#
#   scripts/fleet/nginx.sh start     # render, check (nginx -t), start
#   scripts/fleet/nginx.sh reload    # re-render nginx.conf (fleet.env may have changed), rewrite
#                                    # upstream.conf from instances/*.upstream, reload, and wait
#                                    # until the old workers stopped taking requests
#   scripts/fleet/nginx.sh stop      # graceful: in-flight requests finish
#   scripts/fleet/nginx.sh status
set -euo pipefail
# shellcheck disable=SC2034 # read by fleet/common.sh
FLEET_SCRIPT="nginx.sh"
. "$(dirname "$0")/common.sh"
load_fleet_env

NGINX_DIR="$CLIP_FLEET_DIR/nginx"
CONF="$NGINX_DIR/nginx.conf"
UPSTREAM="$NGINX_DIR/upstream.conf"
PID_FILE="$NGINX_DIR/nginx.pid"
ERROR_LOG="$CLIP_FLEET_DIR/logs/nginx-error.log"

nginx_bin() {
    if have nginx; then command -v nginx
    elif [ -x /usr/sbin/nginx ]; then echo /usr/sbin/nginx
    else die "nginx not found: run scripts/install-deps.sh (Debian: apt-get install nginx)"
    fi
}
NGINX="$(nginx_bin)"

master_pid() {
    local pid
    pid="$(pid_from "$PID_FILE")"
    pid_alive "$pid" && echo "$pid"
}

# The master's worker processes; with "shutting" only those finishing old requests.
workers() {
    local master="$1" which="${2:-all}" child cmd
    for child in $(pgrep -P "$master" 2>/dev/null); do
        cmd="$( (tr '\0' ' ' <"/proc/$child/cmdline") 2>/dev/null || true)"
        case "$cmd" in
            *"worker process is shutting down"*) [ "$which" != active ] && echo "$child" ;;
            *"worker process"*) [ "$which" != shutting ] && echo "$child" ;;
        esac
    done
    return 0
}

# upstream.conf from the registered instances. An upstream needs one server: with none
# registered, a placeholder marked down (nginx then answers 502 at once).
write_upstream() {
    local tmp="$UPSTREAM.tmp" marker port n=0
    : >"$tmp"
    for marker in "$CLIP_FLEET_DIR"/instances/*.upstream; do
        [ -e "$marker" ] || continue
        port="$(basename "$marker" .upstream)"
        echo "server 127.0.0.1:$port max_fails=$LB_MAX_FAILS fail_timeout=${LB_FAIL_TIMEOUT}s;" >>"$tmp"
        n=$((n + 1))
    done
    [ "$n" -eq 0 ] && echo "server 127.0.0.1:9 down; # no instance registered" >>"$tmp"
    mv "$tmp" "$UPSTREAM"
}

certificate() {
    local tls="$NGINX_DIR/tls"
    [ -s "$tls/tls.crt" ] && [ -s "$tls/tls.key" ] && return 0
    mkdir -p "$tls"
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -days 365 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$tls/tls.key" -out "$tls/tls.crt" 2>/dev/null) \
        || die "openssl could not make the self-signed certificate"
    chmod 644 "$tls/tls.crt"
    info "self-signed certificate for localhost in $tls (production: use real ones)"
}

render() {
    local user_args=()
    if is_root; then
        # Workers run unprivileged; they write only their temp and cache directories.
        local group=nogroup
        getent group nogroup >/dev/null || group=nobody
        user_args=(--user "nobody $group")
    fi
    "$FLEET_BIN" nginx --mode local --env "$FLEET_ENV" --fleet-dir "$CLIP_FLEET_DIR" \
        --http-port "$LB_HTTP_PORT" --https-port "$LB_HTTPS_PORT" --status-port "$LB_STATUS_PORT" \
        --status-allow "$LB_STATUS_ALLOW" --rate-limit-exempt "$LB_RATE_LIMIT_EXEMPT" \
        --session-affinity "$SESSION_AFFINITY" --tls "${LB_TLS:-true}" --max-fails "$LB_MAX_FAILS" \
        --fail-timeout "$LB_FAIL_TIMEOUT" "${user_args[@]}" -o "$CONF"
    mkdir -p "$NGINX_DIR/tmp" "$NGINX_DIR/cache"
    is_root && chown -R nobody "$NGINX_DIR/tmp" "$NGINX_DIR/cache"
    return 0
}

check() {
    "$NGINX" -t -q -c "$CONF" -e "$ERROR_LOG" 2>&1 || die "nginx -t refused $CONF (see above)"
}

start() {
    if master_pid >/dev/null; then
        info "already running (pid $(master_pid))"
        return 0
    fi
    mkdir -p "$CLIP_FLEET_DIR/logs" "$CLIP_FLEET_DIR/instances"
    for port in "$LB_HTTP_PORT" "$LB_HTTPS_PORT" "$LB_STATUS_PORT"; do
        port_in_use "$port" && die "port $port is taken: set LB_HTTP_PORT / LB_HTTPS_PORT / LB_STATUS_PORT"
    done
    certificate
    render
    write_upstream
    check
    "$NGINX" -c "$CONF" -e "$ERROR_LOG" || die "nginx did not start; see $ERROR_LOG"
    wait_http_ok "http://127.0.0.1:$LB_STATUS_PORT/lb-health" 10 \
        || die "nginx started but /lb-health does not answer; see $ERROR_LOG"
}

# Reload with the registered instances. Returns once the new workers serve and the old ones
# accept nothing new; prints the old workers' pids (they may still be finishing requests).
reload() {
    local master before pid deadline
    master="$(master_pid)" || die "nginx is not running: scripts/deploy-scaling.sh local ENV starts it"
    render
    write_upstream
    check
    before="$(workers "$master" active)"
    kill -HUP "$master"
    deadline=$((SECONDS + 10))
    for pid in $before; do
        while pid_alive "$pid" && workers "$master" active | grep -qx "$pid"; do
            [ "$SECONDS" -lt "$deadline" ] || die "nginx did not replace worker $pid within 10 s after reload; see $ERROR_LOG"
            sleep 0.05
        done
    done
    echo $before
}

# Waits until the given old workers have exited (their requests are done), up to the
# request timeout plus a margin (nginx's worker_shutdown_timeout ends them by then).
wait_workers() {
    local deadline=$((SECONDS + REQUEST_TIMEOUT_SECONDS + 10)) pid
    for pid in "$@"; do
        while pid_alive "$pid" && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; do
            [ "$SECONDS" -lt "$deadline" ] || { info "old nginx worker $pid still running; going on"; return 0; }
            sleep 0.1
        done
    done
}

stop() {
    local master
    master="$(master_pid)" || { info "not running"; return 0; }
    kill -QUIT "$master"
    local deadline=$((SECONDS + REQUEST_TIMEOUT_SECONDS + 10))
    while pid_alive "$master"; do
        [ "$SECONDS" -lt "$deadline" ] || { kill -TERM "$master"; break; }
        sleep 0.1
    done
    info "stopped"
}

case "${1:-}" in
    start) start ;;
    reload) reload ;;
    wait-workers) shift; wait_workers "$@" ;;
    stop) stop ;;
    status)
        if master_pid >/dev/null; then
            echo "nginx: running (pid $(master_pid)), https://localhost:$LB_HTTPS_PORT, status http://127.0.0.1:$LB_STATUS_PORT/nginx-status"
        else
            echo "nginx: stopped"
            exit 3
        fi
        ;;
    *) die "usage: $0 start|reload|stop|status" ;;
esac
