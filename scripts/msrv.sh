#!/usr/bin/env bash
# Checks each published crate with the toolchain its `rust-version` names, the way a user on
# that toolchain gets it: the crate's own package (`cargo package`, so the manifest is the
# one crates.io would serve), dependencies resolved afresh by cargo's MSRV-aware resolver
# (versions that support that rust-version where one exists), then
# `cargo +VERSION check --all-features` of the library. rustup installs the toolchain when
# it is missing (profile minimal, from static.rust-lang.org).
# Not part of scripts/test.sh: it needs a second toolchain and builds every dependency again.
# Usage: scripts/msrv.sh [CRATE...]   (default: the four published crates)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${TMPDIR:-/tmp}/clip-msrv"
crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
  crates=(clip-scaling-policy clip-pool clip-health clip-cdn)
fi
mkdir -p "$work"

for crate in "${crates[@]}"; do
  msrv="$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$crate/Cargo.toml")"
  if [ -z "$msrv" ]; then
    echo "$crate: no rust-version of its own in $crate/Cargo.toml" >&2
    exit 1
  fi
  if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
    echo "== installing Rust $msrv"
    rustup toolchain install "$msrv" --profile minimal
  fi
  echo "== $crate: rust-version $msrv"
  # Its own target dir: no wait on the lock of the workspace's.
  cargo package --quiet --allow-dirty --no-verify -p "$crate" --target-dir "$work/package"
  crate_file="$(ls -t "$work/package/package/$crate"-[0-9]*.crate | head -n 1)"
  unpacked="$work/$(basename "$crate_file" .crate)"
  rm -rf "$unpacked"
  tar -xzf "$crate_file" -C "$work"
  (
    cd "$unpacked"
    # The package's lock file is the workspace's, resolved for the newest toolchain.
    rm -f Cargo.lock
    cargo generate-lockfile --quiet
    CARGO_TARGET_DIR="$work/target" cargo "+$msrv" check --locked --all-features --lib
  )
  echo "$crate msrv=$msrv ok"
done
