#!/usr/bin/env bash
# Starts the Creator Clip server (examples/app) as the README says: installs what a fresh
# Debian machine lacks (apt-get, only when absent), builds in release, and runs it.
# Without DATABASE_URL it starts an embedded PostgreSQL whose data it keeps in
# CLIP_DATA_DIR (default ./.clip-data). Every variable of examples/app/README.md applies:
#
#   ./scripts/run.sh                                   # http://localhost:3000
#   PORT=8080 ADMIN_TOKEN=$(openssl rand -hex 16) ./scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

if ! command -v cargo >/dev/null 2>&1; then
    echo "run.sh: cargo not found: install Rust from https://rustup.rs, then run this again" >&2
    exit 1
fi

cargo build --release --locked -p clip-app
exec ./target/release/clip-app "$@"
