#!/usr/bin/env bash
# The whole check of the workspace, as CI runs it: format, lints, docs, every test, and the
# published crates packaged and built on their own.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

echo "== cargo clippy, published crates without their default features"
# What `default-features = false` gives a user (the generic pool, the registry without axum)
# must build on its own, warning-free.
cargo clippy --locked -p clip-pool -p clip-health --no-default-features --lib -- -D warnings

echo "== cargo doc"
# Broken intra-doc links and malformed docs fail here, not on docs.rs after a release.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked

echo "== cargo test"
cargo test --workspace --all-features --locked --no-fail-fast

echo "== cargo package (the published crates, each built alone from its .crate)"
# What a user downloads: each crate's package is unpacked under target/package and built
# outside the workspace, so a file left out of `include`, a path dependency without a
# version or a feature that only builds unified with the workspace's fails here. Packaged
# together, a crate that depends on another of them resolves it from the freshly packaged
# .crate (a local registry cargo builds under target/package), which is the only honest
# check before the first of them is on crates.io. --allow-dirty: CI runs on a clean clone;
# locally it checks the files as they are. The test photos (testdata/, GPL-2+) are in none
# of these packages: each crate's `include` ships src/, examples/, README, CHANGELOG and the
# licences only.
cargo package --locked --allow-dirty --all-features \
  -p clip-scaling-policy -p clip-pool -p clip-cdn -p clip-health
