# Shared by the local fleet's scripts (sourced, not run): where the fleet lives, its settings,
# and small helpers. See deploy/README.md, "The local fleet".
#
# Every path is under CLIP_FLEET_DIR (default <repo>/.fleet/local):
#   fleet.env               the fleet's settings, written by deploy-scaling.sh (sourced here)
#   app.env                 the environment profile's variables for every instance
#   instances/PORT.pid      a running instance; instances/PORT.upstream: registered in nginx
#   nginx/                  nginx.conf, upstream.conf, tls/, tmp/, cache/, nginx.pid
#   postgres/               data/ (kept across restarts), run/ (socket)
#   secrets/                pg-password, admin-token (0600)
#   logs/                   app-PORT.log, nginx-*.log, postgres.log, autoscaler.log

FLEET_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIP_FLEET_DIR="${CLIP_FLEET_DIR:-$FLEET_REPO/.fleet/local}"
case "$CLIP_FLEET_DIR" in
    /*) ;;
    *) CLIP_FLEET_DIR="$PWD/$CLIP_FLEET_DIR" ;;
esac
export CLIP_FLEET_DIR

die() {
    echo "${FLEET_SCRIPT:-fleet}: $*" >&2
    exit 1
}

info() {
    echo "${FLEET_SCRIPT:-fleet}: $*" >&2
}

have() { command -v "$1" >/dev/null 2>&1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# The fleet's settings; fails with advice when no fleet was ever deployed here.
load_fleet_env() {
    [ -f "$CLIP_FLEET_DIR/fleet.env" ] \
        || die "no local fleet in $CLIP_FLEET_DIR: start one with scripts/deploy-scaling.sh local development"
    # shellcheck disable=SC1091
    . "$CLIP_FLEET_DIR/fleet.env"
}

# A process is alive when kill -0 works on it and it is not a zombie (an instance outlives
# the script that started it; whoever inherits it may reap it late).
pid_alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null || true)"
    [ "$state" != Z ]
}

pid_from() {
    [ -f "$1" ] && cat "$1" 2>/dev/null || true
}

# HTTP status of a GET (000 when nothing answers).
http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time "${2:-2}" "$1" 2>/dev/null || true
}

# Waits until URL answers 200, up to SECONDS; fails early when PID (if given) dies.
wait_http_ok() {
    local url="$1" pid="${3:-}" deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        [ "$(http_status "$url" 1)" = 200 ] && return 0
        if [ -n "$pid" ] && ! pid_alive "$pid"; then
            return 2
        fi
        sleep 0.2
    done
    return 1
}

# A TCP port on 127.0.0.1 that something already listens on.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
