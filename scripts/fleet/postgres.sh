#!/usr/bin/env bash
# The local fleet's one PostgreSQL, started the way clip-pool's launcher starts its clusters:
# the system's own binaries (found through pg_config / PATH), run as the unprivileged `postgres`
# user when we are root (initdb refuses root), SCRAM password auth, loopback only. Unlike the
# launcher's throwaway clusters, the data directory is kept across restarts.
#
#   scripts/fleet/postgres.sh start    # initdb on first use, then start; prints DATABASE_URL
#   scripts/fleet/postgres.sh stop
#   scripts/fleet/postgres.sh status
#
# Settings (environment): CLIP_FLEET_DIR, FLEET_PG_PORT (55432), CLIP_PG_USER (postgres).
set -euo pipefail
# shellcheck disable=SC2034 # read by fleet/common.sh
FLEET_SCRIPT="postgres.sh"
. "$(dirname "$0")/common.sh"

PG_PORT="${FLEET_PG_PORT:-55432}"
PG_DIR="$CLIP_FLEET_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$CLIP_FLEET_DIR/logs/postgres.log"
PG_PASSWORD_FILE="$CLIP_FLEET_DIR/secrets/pg-password"
PG_OWNER="${CLIP_PG_USER:-postgres}"
DB_USER=clip
DB_NAME=clip

pg_bindir() {
    if have pg_config && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir
    elif have initdb; then
        dirname "$(command -v initdb)"
    else
        die "PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql) or run scripts/install-deps.sh"
    fi
}
PG_BIN="$(pg_bindir)"

# Runs a PostgreSQL program as the cluster's owner.
as_owner() {
    if is_root; then
        id "$PG_OWNER" >/dev/null 2>&1 \
            || die "running as root needs an unprivileged user to run PostgreSQL: create \`$PG_OWNER\` (useradd $PG_OWNER) or set CLIP_PG_USER"
        runuser -u "$PG_OWNER" -- "$@"
    else
        "$@"
    fi
}

url() {
    printf 'postgres://%s:%s@127.0.0.1:%s/%s' "$DB_USER" "$(cat "$PG_PASSWORD_FILE")" "$PG_PORT" "$DB_NAME"
}

running() {
    [ -f "$PG_DATA/postmaster.pid" ] && as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

init_cluster() {
    mkdir -p "$PG_DIR" "$PG_RUN" "$CLIP_FLEET_DIR/logs" "$CLIP_FLEET_DIR/secrets"
    chmod 700 "$CLIP_FLEET_DIR/secrets"
    if [ ! -s "$PG_PASSWORD_FILE" ]; then
        (umask 077 && openssl rand -hex 16 >"$PG_PASSWORD_FILE")
    fi
    touch "$PG_LOG"
    if is_root; then
        chown "$PG_OWNER" "$PG_DIR" "$PG_RUN" "$PG_LOG"
        runuser -u "$PG_OWNER" -- test -x "$PG_DIR" \
            || die "$PG_OWNER cannot reach $PG_DIR (a parent directory is private): set CLIP_FLEET_DIR to a directory under /tmp"
    fi
    [ -f "$PG_DATA/PG_VERSION" ] && return 0
    info "initdb $PG_DATA"
    local pwfile="$PG_DIR/initdb-password"
    cp "$PG_PASSWORD_FILE" "$pwfile"
    is_root && chown "$PG_OWNER" "$pwfile"
    as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U "$DB_USER" --auth=scram-sha-256 -E UTF8 \
        --no-sync --no-instructions --pwfile="$pwfile" >>"$PG_LOG" 2>&1 \
        || { rm -f "$pwfile"; die "initdb failed; see $PG_LOG"; }
    rm -f "$pwfile"
    cat >>"$PG_DATA/postgresql.conf" <<EOF
# The local fleet's settings (scripts/fleet/postgres.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_RUN'
max_connections = 400
shared_buffers = 256MB
synchronous_commit = off
EOF
}

start() {
    init_cluster
    if running; then
        info "already running on 127.0.0.1:$PG_PORT"
    else
        port_in_use "$PG_PORT" && die "port $PG_PORT is taken: set FLEET_PG_PORT to a free port"
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $PG_PORT" -w -t 60 start >/dev/null \
            || die "PostgreSQL did not start; see $PG_LOG"
    fi
    export PGPASSWORD
    PGPASSWORD="$(cat "$PG_PASSWORD_FILE")"
    if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
        "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" "$DB_NAME"
    fi
    url
    echo
}

stop() {
    if running; then
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
        info "stopped"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if running; then echo "postgres: running on 127.0.0.1:$PG_PORT ($PG_DATA)"; else echo "postgres: stopped"; exit 3; fi
        ;;
    url) url; echo ;;
    *) die "usage: $0 start|stop|status|url" ;;
esac
