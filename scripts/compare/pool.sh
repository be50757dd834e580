#!/usr/bin/env bash
# clip-pool against deadpool-postgres, raw tokio-postgres and pgbench on the same local
# PostgreSQL, in one run: SELECT 1 for a fixed time per side, 16 connections each (the pools
# run 64 concurrent tasks; raw tokio-postgres 16 clients, one query at a time each). Rounds
# alternate the sides; ratios are medians of per-round ratios. Prints each side's rate and
# client CPU per call, the ratios, and ends with `pool ratio=X` (clip-pool's pipelined mode /
# pgbench -M prepared; > 1: we are faster).
#
#   scripts/compare/pool.sh [seconds per side] [rounds]      (default 5 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
./scripts/install-deps.sh --compare
cargo run --quiet --release -p clip-pool --features launcher --example pool_compare -- "${1:-5}" "${2:-3}"
