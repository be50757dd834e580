#!/usr/bin/env bash
# Deploys the Creator Clip fleet: PostgreSQL, N app instances, nginx in front, the autoscaler.
#
#   scripts/deploy-scaling.sh local ENV [N]           # processes on this machine, no containers
#   scripts/deploy-scaling.sh local status | stop     # (also: scripts/deploy-scaling.sh status | stop)
#   scripts/deploy-scaling.sh docker-compose ENV [N]  # deploy/docker-compose.scale.yml
#   scripts/deploy-scaling.sh kubernetes ENV          # deploy/kubernetes/scaling-config.yaml
#
# ENV is development, staging or production: it picks the sizes, pool, rate limits and scaling
# thresholds (deploy/fleet/src/profile.rs). N defaults to the profile's instance count (3).
# Where a mode cannot run (no Docker engine, no cluster), the script validates what it can,
# says what it could not do, and exits 1.
#
# Local mode settings (environment): CLIP_FLEET_DIR (.fleet/local), APP_BASE_PORT (4000:
# instances on 4001, 4002, ...), LB_HTTP_PORT (8000), LB_HTTPS_PORT (8443), LB_STATUS_PORT
# (8080), AUTOSCALER_PORT (3002), FLEET_PG_PORT (55432), SESSION_AFFINITY (false),
# LB_RATE_LIMIT_EXEMPT (none), LB_TLS (true; false: plain HTTP, no redirect),
# CLIP_APP_BIN / CLIP_FLEET_BIN / CLIP_AUTOSCALER_BIN (built with cargo when unset),
# CLIP_BUILD_PROFILE (release).
set -euo pipefail
# shellcheck disable=SC2034 # read by fleet/common.sh
FLEET_SCRIPT="deploy-scaling.sh"
. "$(dirname "$0")/fleet/common.sh"
REPO="$FLEET_REPO"

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

parse_env() {
    case "${1:-}" in
        development | dev) echo development ;;
        staging) echo staging ;;
        production | prod) echo production ;;
        "") die "ENV is missing: development, staging or production" ;;
        *) die "unknown ENV \`$1\`: use development, staging or production" ;;
    esac
}

parse_count() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 64 ] \
        || die "the instance count must be a number from 1 to 64, got \`${1:-}\`"
    echo "$1"
}

# A binary of the workspace: $2 when set, else built with cargo in CLIP_BUILD_PROFILE.
workspace_binary() {
    local package="$1" given="$2" profile="${CLIP_BUILD_PROFILE:-release}" flag dir
    if [ -n "$given" ]; then
        [ -x "$given" ] || die "$given is not an executable"
        echo "$given"
        return
    fi
    case "$profile" in
        release) flag=--release; dir=release ;;
        dev | debug) flag=; dir=debug ;;
        *) die "CLIP_BUILD_PROFILE must be release or debug, got \`$profile\`" ;;
    esac
    info "building $package ($profile)"
    (cd "$REPO" && cargo build $flag --locked -q -p "$package" --bin "$package") >&2 \
        || die "cargo build -p $package failed"
    echo "${CARGO_TARGET_DIR:-$REPO/target}/$dir/$package"
}

autoscaler_package_exists() {
    [ -f "$REPO/examples/autoscaler/Cargo.toml" ]
}

# ---------------------------------------------------------------------------------- local

local_up() {
    local env="$1" count="$2" d="$CLIP_FLEET_DIR"
    if [ -f "$d/nginx/nginx.pid" ] && pid_alive "$(pid_from "$d/nginx/nginx.pid")"; then
        die "a local fleet is already running in $d: scripts/deploy-scaling.sh stop first (or status)"
    fi
    for tool in curl openssl flock setsid; do
        have "$tool" || die "$tool not found: run scripts/install-deps.sh"
    done
    mkdir -p "$d/logs" "$d/instances" "$d/secrets"
    chmod 700 "$d/secrets"
    # Leftovers of a fleet that was killed rather than stopped.
    rm -f "$d"/instances/*.pid "$d"/instances/*.upstream

    local fleet_bin app_bin autoscaler_bin=""
    fleet_bin="$(CLIP_BUILD_PROFILE=debug workspace_binary clip-fleet "${CLIP_FLEET_BIN:-}")"
    app_bin="$(workspace_binary clip-app "${CLIP_APP_BIN:-}")"
    if [ -n "${CLIP_AUTOSCALER_BIN:-}" ] || autoscaler_package_exists; then
        autoscaler_bin="$(workspace_binary clip-autoscaler "${CLIP_AUTOSCALER_BIN:-}")"
    fi

    # The profile's variables for every instance, then the fleet's own settings.
    "$fleet_bin" env --env "$env" >"$d/app.env"
    local graceful_ms request_ms
    graceful_ms="$(sed -n "s/^GRACEFUL_SHUTDOWN_TIMEOUT='\(.*\)'$/\1/p" "$d/app.env")"
    request_ms="$(sed -n "s/^REQUEST_TIMEOUT='\(.*\)'$/\1/p" "$d/app.env")"
    cat >"$d/fleet.env" <<EOF
# Written by scripts/deploy-scaling.sh local $env; read by scripts/fleet/*.sh and the autoscaler.
FLEET_ENV='$env'
CLIP_FLEET_DIR='$d'
APP_BIN='$app_bin'
FLEET_BIN='$fleet_bin'
AUTOSCALER_BIN='$autoscaler_bin'
APP_BASE_PORT='${APP_BASE_PORT:-4000}'
INITIAL_INSTANCES='$count'
LB_HTTP_PORT='${LB_HTTP_PORT:-8000}'
LB_HTTPS_PORT='${LB_HTTPS_PORT:-8443}'
LB_STATUS_PORT='${LB_STATUS_PORT:-8080}'
LB_MAX_FAILS='${LB_MAX_FAILS:-3}'
LB_FAIL_TIMEOUT='${LB_FAIL_TIMEOUT:-10}'
LB_STATUS_ALLOW='${LB_STATUS_ALLOW:-127.0.0.1/32,::1/128}'
LB_RATE_LIMIT_EXEMPT='${LB_RATE_LIMIT_EXEMPT:-}'
SESSION_AFFINITY='${SESSION_AFFINITY:-false}'
LB_TLS='${LB_TLS:-true}'
AUTOSCALER_PORT='${AUTOSCALER_PORT:-3002}'
FLEET_PG_PORT='${FLEET_PG_PORT:-55432}'
GRACEFUL_SHUTDOWN_SECONDS='$(((graceful_ms + 999) / 1000))'
REQUEST_TIMEOUT_SECONDS='$(((request_ms + 999) / 1000))'
INSTANCE_START_TIMEOUT='${INSTANCE_START_TIMEOUT:-90}'
EOF
    load_fleet_env

    info "PostgreSQL"
    local database_url
    database_url="$(FLEET_PG_PORT="$FLEET_PG_PORT" "$REPO/scripts/fleet/postgres.sh" start)"
    (umask 077 && printf '%s' "$database_url" >"$d/secrets/database-url")
    [ -s "$d/secrets/admin-token" ] || (umask 077 && openssl rand -hex 24 | tr -d '\n' >"$d/secrets/admin-token")

    info "nginx"
    "$REPO/scripts/fleet/nginx.sh" start

    info "starting $count instances"
    # The first one alone (it runs the migrations), the others together.
    local port pids=() failed=0
    "$REPO/scripts/fleet/instance.sh" start "$((APP_BASE_PORT + 1))"
    for port in $(seq $((APP_BASE_PORT + 2)) $((APP_BASE_PORT + count))); do
        "$REPO/scripts/fleet/instance.sh" start "$port" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [ "$failed" -eq 0 ] || die "some instances did not start (see above); scripts/deploy-scaling.sh stop cleans up"

    if [ -n "$autoscaler_bin" ]; then
        info "autoscaler"
        (
            set -a
            . "$d/app.env"
            set +a
            export AUTOSCALER_PORT AUTOSCALER_ACTUATOR=local CLIP_FLEET_DIR="$d" \
                AUTOSCALER_TOKEN_FILE="$d/secrets/admin-token"
            exec setsid "$autoscaler_bin" >>"$d/logs/autoscaler.log" 2>&1 </dev/null
        ) &
        echo $! >"$d/autoscaler.pid"
        wait_http_ok "http://127.0.0.1:$AUTOSCALER_PORT/health" 30 "$(cat "$d/autoscaler.pid")" \
            || die "the autoscaler did not answer /health; see $d/logs/autoscaler.log"
    fi
    local_urls
}

local_urls() {
    load_fleet_env
    cat <<EOF

Creator Clip fleet ($FLEET_ENV) is up: $("$REPO/scripts/fleet/instance.sh" list | grep -c ready || true) instances behind nginx.
$(if [ "$LB_TLS" = false ]; then
    echo "  App (plain HTTP)          http://localhost:$LB_HTTP_PORT/"
else
    echo "  App (HTTPS, self-signed)  https://localhost:$LB_HTTPS_PORT/            (curl -k)"
    echo "  HTTP                      http://localhost:$LB_HTTP_PORT/   -> redirects to HTTPS"
fi)
  Dashboard                 https://localhost:$LB_HTTPS_PORT/admin/scaling  (token: $CLIP_FLEET_DIR/secrets/admin-token)
  Load balancer status      http://127.0.0.1:$LB_STATUS_PORT/nginx-status   http://127.0.0.1:$LB_STATUS_PORT/lb-health
  Instances                 $("$REPO/scripts/fleet/instance.sh" list | awk '{printf "http://127.0.0.1:%s  ", $1}')
EOF
    if [ -n "$AUTOSCALER_BIN" ]; then
        echo "  Autoscaler                http://127.0.0.1:$AUTOSCALER_PORT/status"
    else
        echo "  Autoscaler                not started (examples/autoscaler is not in this checkout)"
    fi
    cat <<EOF
  Logs                      $CLIP_FLEET_DIR/logs/
  Load test                 scripts/load-test.sh $(if [ "$LB_TLS" = false ]; then echo "http://localhost:$LB_HTTP_PORT"; else echo "https://localhost:$LB_HTTPS_PORT"; fi) 60 10$([ -z "$LB_RATE_LIMIT_EXEMPT" ] && printf '\n                            (past %s req/s per client nginx answers 429: deploy with LB_RATE_LIMIT_EXEMPT=127.0.0.1/32 to load-test the fleet)' "$(sed -n "s/.*zone=clip_api:10m rate=\([0-9]*\)r\/s;/\1/p" "$CLIP_FLEET_DIR/nginx/nginx.conf")")
  Stop                      scripts/deploy-scaling.sh stop
EOF
}

local_status() {
    load_fleet_env
    local rc=0
    echo "fleet: $FLEET_ENV in $CLIP_FLEET_DIR"
    FLEET_PG_PORT="$FLEET_PG_PORT" "$REPO/scripts/fleet/postgres.sh" status || rc=3
    "$REPO/scripts/fleet/nginx.sh" status || rc=3
    local port pid state ready
    while read -r port pid state; do
        ready="$(http_status "http://127.0.0.1:$port/api/health/ready")"
        echo "instance $port: pid $pid, $state, readiness $ready"
        [ "$state" = ready ] || rc=3
    done < <("$REPO/scripts/fleet/instance.sh" list)
    if [ -n "$AUTOSCALER_BIN" ]; then
        local apid
        apid="$(pid_from "$CLIP_FLEET_DIR/autoscaler.pid")"
        if pid_alive "$apid"; then
            echo "autoscaler: running (pid $apid), http://127.0.0.1:$AUTOSCALER_PORT/status"
        else
            echo "autoscaler: stopped"
            rc=3
        fi
    fi
    return "$rc"
}

local_down() {
    load_fleet_env
    local apid
    apid="$(pid_from "$CLIP_FLEET_DIR/autoscaler.pid")"
    # The autoscaler first, so it does not replace what we stop.
    if pid_alive "$apid"; then
        kill -TERM "$apid" 2>/dev/null || true
        for _ in $(seq 1 100); do pid_alive "$apid" || break; sleep 0.1; done
        pid_alive "$apid" && kill -KILL "$apid" 2>/dev/null
        info "autoscaler stopped"
    fi
    rm -f "$CLIP_FLEET_DIR/autoscaler.pid"
    # Stopping everything: nginx first (it lets in-flight requests finish), then every
    # instance at once with SIGTERM (no drain: there is no traffic left to move).
    "$REPO/scripts/fleet/nginx.sh" stop
    rm -f "$CLIP_FLEET_DIR"/instances/*.upstream
    local port pid state pids=()
    while read -r port pid state; do
        if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    done < <("$REPO/scripts/fleet/instance.sh" list)
    local deadline=$((SECONDS + GRACEFUL_SHUTDOWN_SECONDS + 5))
    for pid in "${pids[@]}"; do
        while pid_alive "$pid"; do
            if [ "$SECONDS" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
            sleep 0.1
        done
    done
    rm -f "$CLIP_FLEET_DIR"/instances/*.pid
    [ "${#pids[@]}" -gt 0 ] && info "${#pids[@]} instances stopped"
    FLEET_PG_PORT="$FLEET_PG_PORT" "$REPO/scripts/fleet/postgres.sh" stop
    info "fleet stopped (data kept in $CLIP_FLEET_DIR/postgres; logs in $CLIP_FLEET_DIR/logs)"
}

# ------------------------------------------------------------------------- docker-compose

compose_up() {
    local env="$1" count="$2" deploy="$REPO/deploy"
    have docker-compose || die "docker-compose not found: run scripts/install-deps.sh"
    info "checking deploy/docker-compose.scale.yml ($env)"
    (cd "$deploy" && CLIP_ENV="$env" docker-compose -f docker-compose.scale.yml config -q) \
        || die "docker-compose refused deploy/docker-compose.scale.yml"
    [ -f "$deploy/nginx/compose/$env.conf" ] || die "deploy/nginx/compose/$env.conf is missing"
    if ! docker info >/dev/null 2>&1; then
        die "no Docker engine answers here (docker info failed), so nothing was started.
Checked: the Compose file and its env file and nginx config for $env.
On a machine with Docker: scripts/deploy-scaling.sh docker-compose $env $count"
    fi
    # Secrets and the certificate, made once and kept (git-ignored).
    mkdir -p "$deploy/secrets" "$deploy/nginx/tls"
    chmod 700 "$deploy/secrets"
    if [ ! -s "$deploy/secrets/postgres_password" ]; then
        (umask 077 && openssl rand -hex 16 | tr -d '\n' >"$deploy/secrets/postgres_password")
    fi
    (umask 077 && printf 'postgres://clip:%s@postgres:5432/clip' "$(cat "$deploy/secrets/postgres_password")" >"$deploy/secrets/database_url")
    [ -s "$deploy/secrets/admin_token" ] || (umask 077 && openssl rand -hex 24 | tr -d '\n' >"$deploy/secrets/admin_token")
    if [ ! -s "$deploy/nginx/tls/tls.crt" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
            -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$deploy/nginx/tls/tls.key" -out "$deploy/nginx/tls/tls.crt" 2>/dev/null
        info "self-signed certificate in deploy/nginx/tls (production: put real ones there)"
    fi
    (cd "$deploy" && CLIP_ENV="$env" docker-compose -f docker-compose.scale.yml up -d --build --scale app="$count")
    cat <<EOF

Creator Clip fleet ($env) on Docker Compose, $count instances:
  App                https://localhost/
  Load balancer      http://localhost:8080/nginx-status
  Autoscaler         http://localhost:3002/status
  Prometheus         http://localhost:9090/
  Logs               cd deploy && docker-compose -f docker-compose.scale.yml logs -f app
  Scale by hand      cd deploy && docker-compose -f docker-compose.scale.yml up -d --scale app=5
EOF
}

# ----------------------------------------------------------------------------- kubernetes

kubernetes_up() {
    local env="$1" fleet_bin manifest
    local out_dir="$CLIP_FLEET_DIR/../kubernetes/$env"
    fleet_bin="$(CLIP_BUILD_PROFILE=debug workspace_binary clip-fleet "${CLIP_FLEET_BIN:-}")"
    mkdir -p "$out_dir"
    manifest="$(cd "$out_dir" && pwd)/scaling-config.yaml"
    "$fleet_bin" kubernetes --env "$env" -o "$manifest"
    if [ "$env" = production ] && ! cmp -s "$manifest" "$REPO/deploy/kubernetes/scaling-config.yaml"; then
        die "deploy/kubernetes/scaling-config.yaml differs from a fresh generation: regenerate it with
  cargo run -p clip-fleet -- kubernetes --env production -o deploy/kubernetes/scaling-config.yaml"
    fi
    info "manifests for $env: $manifest"
    have kubectl || die "kubectl not found: the manifests are in $manifest; apply them with kubectl apply -f"
    if ! kubectl version --request-timeout=5s >/dev/null 2>&1; then
        die "no Kubernetes cluster answers (kubectl version failed), so nothing was applied.
Generated and checked: $manifest
With a cluster: kubectl apply -f $manifest"
    fi
    local ns=creator-clip-ai
    kubectl apply -f "$manifest"
    for secret in clip-app-secrets clip-tls; do
        kubectl -n "$ns" get secret "$secret" >/dev/null 2>&1 \
            || info "secret $secret is missing: the pods wait for it (see the header of $manifest)"
    done
    kubectl -n "$ns" rollout status deployment/clip-app --timeout=300s
    kubectl -n "$ns" get hpa
}

# ---------------------------------------------------------------------------------- main

mode="${1:-}"
case "$mode" in
    stop) local_down ;;
    status) local_status ;;
    local)
        case "${2:-}" in
            stop) local_down ;;
            status) local_status ;;
            *)
                env="$(parse_env "${2:-}")"
                count="$(parse_count "${3:-${INSTANCES:-3}}")"
                local_up "$env" "$count"
                ;;
        esac
        ;;
    docker-compose)
        env="$(parse_env "${2:-}")"
        count="$(parse_count "${3:-${INSTANCES:-3}}")"
        compose_up "$env" "$count"
        ;;
    kubernetes)
        env="$(parse_env "${2:-}")"
        kubernetes_up "$env"
        ;;
    -h | --help | help | "") usage ;;
    *) die "unknown MODE \`$mode\`: use local, docker-compose or kubernetes (or stop, status)" ;;
esac
