#!/usr/bin/env bash
# Load-tests the fleet through its load balancer, in five phases: baseline, gradual ramp,
# sustained full load, a spike of twice the users, cool-down. While it runs it prints each
# step's figures and polls the autoscaler's /status and the app's /metrics.
#
#   scripts/load-test.sh URL DURATION USERS
#   scripts/load-test.sh https://localhost:8443 60 10     # quick test (1 minute, 10 users)
#   scripts/load-test.sh https://localhost:8443 300 50    # standard test
#   scripts/load-test.sh https://localhost:8443 600 100   # stress test
#
# Requests are sent by oha at a constant rate with latency correction (no coordinated
# omission); it is installed with `cargo install` when missing (once, several minutes).
# Output: report.md and report.html (charts, opens offline) in LOAD_TEST_OUT
# (default target/load-test/<UTC time>); the Markdown summary is also printed.
#
# Settings (environment): LOAD_TEST_PATH (/api/projects), LOAD_TEST_RATE_PER_USER (10 req/s),
# LOAD_TEST_TIMEOUT (10 s per request), AUTOSCALER_URL (http://127.0.0.1:3002), OHA (path to
# oha), CLIP_FLEET_BIN (the clip-fleet binary; built when unset).
set -euo pipefail
# shellcheck disable=SC2034 # read by fleet/common.sh
FLEET_SCRIPT="load-test.sh"
. "$(dirname "$0")/fleet/common.sh"

[ $# -eq 3 ] || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
url="${1%/}" duration="$2" users="$3"
[[ "$url" =~ ^https?://[^/]+ ]] || die "URL must look like http://host[:port] or https://host[:port], got \`$url\`"
[[ "$duration" =~ ^[0-9]+$ ]] && [ "$duration" -ge 5 ] || die "DURATION must be a whole number of seconds, at least 5, got \`$duration\`"
[[ "$users" =~ ^[0-9]+$ ]] && [ "$users" -ge 1 ] || die "USERS must be a whole number, at least 1, got \`$users\`"
have curl || die "curl not found: run scripts/install-deps.sh"

# oha: the one on PATH, in cargo's bin directory, or installed now.
oha="${OHA:-}"
if [ -z "$oha" ]; then
    if have oha; then
        oha="$(command -v oha)"
    elif [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/oha" ]; then
        oha="${CARGO_HOME:-$HOME/.cargo}/bin/oha"
    else
        info "installing oha with cargo (once; several minutes)"
        # native-tls uses the system's OpenSSL instead of compiling a TLS library.
        cargo install oha --locked --no-default-features --features native-tls >&2 \
            || die "cargo install oha failed; install it yourself and set OHA=/path/to/oha"
        oha="${CARGO_HOME:-$HOME/.cargo}/bin/oha"
    fi
fi
[ -x "$oha" ] || die "oha at $oha is not an executable"

fleet_bin="${CLIP_FLEET_BIN:-}"
if [ -z "$fleet_bin" ]; then
    (cd "$FLEET_REPO" && cargo build --locked -q -p clip-fleet) >&2 || die "cargo build -p clip-fleet failed"
    fleet_bin="${CARGO_TARGET_DIR:-$FLEET_REPO/target}/debug/clip-fleet"
fi

# The guide's http://localhost redirects to HTTPS: follow it once here, so oha measures the
# service and not 301s.
path="${LOAD_TEST_PATH:-/api/projects}"
probe="$(curl -sk -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 "$url$path" || true)"
case "$probe" in
    000*) die "nothing answers at $url$path: is the fleet up? (scripts/deploy-scaling.sh local development)" ;;
    301\ https://* | 302\ https://* | 307\ https://* | 308\ https://*)
        location="${probe#* }"
        url="$(printf '%s' "$location" | sed -E 's#^(https://[^/]+).*#\1#')"
        info "$1 redirects to HTTPS: testing $url (certificate not verified: the local fleet's is self-signed)"
        ;;
esac

out="${LOAD_TEST_OUT:-$FLEET_REPO/target/load-test/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
info "$url$path for ${duration}s, up to $users users; reports in $out"
"$fleet_bin" load-test --url "$url" --duration "$duration" --users "$users" --path "$path" \
    --oha "$oha" --out "$out"
echo
echo "Reports: $out/report.md  $out/report.html"
