#!/usr/bin/env bash
# The whole check of the workspace, as CI runs it: format, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --all-features --locked --no-fail-fast
