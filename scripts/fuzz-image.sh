#!/usr/bin/env bash
# Fuzzes clip_cdn::image::optimize with cargo-fuzz (libFuzzer, nightly) for a while.
# Usage: scripts/fuzz-image.sh [SECONDS]   (default 60; FUZZ_JOBS=N for parallel jobs)
# Seeds: small JPEG/PNG/WebP thumbnails made from testdata/images, prefixed with an options byte.
# Crashes land in clip-cdn/fuzz/artifacts/optimize/; replay one with
#   cargo +nightly fuzz run optimize clip-cdn/fuzz/artifacts/optimize/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
root="$(pwd)"
images="${CLIP_TEST_IMAGES:-$root/testdata/images}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

corpus="$root/clip-cdn/fuzz/corpus/optimize"
mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ] && [ -d "$images" ]; then
  echo "== seeding the corpus from $images"
  cargo run -q --release -p clip-cdn --example optimize -- --seed-corpus "$images" "$corpus"
fi

cd clip-cdn/fuzz
echo "== fuzzing optimize for ${seconds}s"
flags=(-max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048)
# libFuzzer writes each job's output to fuzz-N.log when jobs are asked for.
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then flags+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
cargo +nightly fuzz run optimize "$corpus" -- "${flags[@]}"
