#!/usr/bin/env bash
# clip-pool against pgbench on the same local PostgreSQL, in one run:
# SELECT 1 for a fixed time, 16 connections each (we run 64 concurrent tasks on ours).
# Ends with `pool ratio=X` (our transactions per second / pgbench's; > 1: we are faster).
#
#   scripts/compare/pool.sh [seconds]      (default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
./scripts/install-deps.sh --compare
cargo run --quiet --release -p clip-pool --features launcher --example pool_compare -- "${1:-10}"
