#!/usr/bin/env bash
# Installs, only when missing, the Debian packages that the tests and scripts start on
# loopback. Idempotent and quiet when everything is present.
#
#   scripts/install-deps.sh            # what the test suite needs
#   scripts/install-deps.sh --compare  # also the anchors of scripts/compare/*.sh
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }

# PostgreSQL server binaries, found the way a user's machine finds them.
pg_bindir() {
    if have pg_config && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
    if have initdb; then dirname "$(command -v initdb)"; return; fi
    return 1
}
pg_bindir >/dev/null || need+=(postgresql)
have pgbouncer || need+=(pgbouncer)
have nginx || [ -x /usr/sbin/nginx ] || need+=(nginx)
have openssl || need+=(openssl)
# The fleet's tests: promtool checks the alert rules, docker-compose checks the Compose file,
# curl drives the local deploy scripts, unshare checks container-mode nginx configs.
have promtool || need+=(prometheus)
have docker-compose || need+=(docker-compose)
have curl || need+=(curl)
have unshare || need+=(util-linux)
# clip-fleet reads oha's request database through the system SQLite; the load test builds oha
# (cargo install, once) against the system OpenSSL.
[ -e /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
{ have pkg-config && pkg-config --exists openssl; } || need+=(libssl-dev pkg-config)
# The browser tests of the pages and the dashboard (tests/app/browser.rs).
have chromium || [ -x /usr/bin/chromium ] || need+=(chromium)
have chromedriver || [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)

if [ "${1:-}" = "--compare" ]; then
    have wrk || need+=(wrk)
    have vipsthumbnail || need+=(libvips-tools)
    have hyperfine || need+=(hyperfine)
    have pgbench || need+=(postgresql-contrib)
    # scripts/compare/app.sh: Fastify on Node.js.
    have node || need+=(nodejs)
    have npm || need+=(npm)
fi

if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing ${need[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # The Debian packages start their own services; the tests run their own on loopback.
    for svc in postgresql pgbouncer nginx prometheus; do
        $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
fi
