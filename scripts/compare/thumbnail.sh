#!/usr/bin/env bash
# clip_cdn::image::optimize against vipsthumbnail (libvips), in one run, on the same files:
# every photo of testdata/images, COPIES copies of each, to 300x200 (fit inside) WebP at
# quality 85 with metadata stripped, one thread each (VIPS_CONCURRENCY=1; our optimizer is
# single-threaded). Both sides are one process over all files, so start-up counts once.
# Best wall time of ROUNDS rounds per side. Sizes compare the encoded image itself (the
# RIFF header plus VP8/VP8L/ALPH chunks): libvips 8.14 keeps the source's EXIF in WebP
# even with `strip`, which is not part of the image.
# Ends with `thumbnail ratio=X`, X = our images/s over libvips' (X > 1: we are faster).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
images="${CLIP_TEST_IMAGES:-$root/testdata/images}"
copies="${COPIES:-5}"
rounds="${ROUNDS:-3}"
size="300x200"
quality=85

if ! command -v vipsthumbnail >/dev/null; then
  echo "== installing libvips-tools"
  apt-get install -y libvips-tools >/dev/null
fi

echo "== building the optimizer (release)"
cargo build -q --release -p clip-cdn --example thumbnail
ours_bin="$root/target/release/examples/thumbnail"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/ours" "$work/vips"
# A running number keeps every stem unique: vipsthumbnail names its output by stem
# (%s), so a.jpg and a.png would otherwise overwrite each other.
i=0
for c in $(seq 1 "$copies"); do
  for f in "$images"/*.jpg "$images"/*.jpeg "$images"/*.png "$images"/*.webp; do
    [ -f "$f" ] || continue
    i=$((i + 1))
    cp "$f" "$work/in/$i-$(basename "$f")"
  done
done
files=("$work"/in/*)
n=${#files[@]}
echo "== $n images ($copies copies of each file in $images), $size WebP q$quality, $rounds rounds"

now_ns() { date +%s%N; }
best_ours=""
best_vips=""
for r in $(seq 1 "$rounds"); do
  t0=$(now_ns)
  "$ours_bin" "$size" "$quality" "$work/ours" "${files[@]}" >/dev/null
  t1=$(now_ns)
  VIPS_CONCURRENCY=1 vipsthumbnail --size "$size" -o "$work/vips/%s.webp[Q=$quality,strip]" "${files[@]}"
  t2=$(now_ns)
  ours=$((t1 - t0)); vips=$((t2 - t1))
  echo "round $r: ours $((ours / 1000000)) ms, vipsthumbnail $((vips / 1000000)) ms"
  if [ -z "$best_ours" ] || [ "$ours" -lt "$best_ours" ]; then best_ours=$ours; fi
  if [ -z "$best_vips" ] || [ "$vips" -lt "$best_vips" ]; then best_vips=$vips; fi
done

python3 - "$n" "$best_ours" "$best_vips" "$work/ours" "$work/vips" <<'PY'
import os, struct, sys

n, ours_ns, vips_ns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ours_dir, vips_dir = sys.argv[4], sys.argv[5]

def chunks(data):
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack('<I', data[pos + 4:pos + 8])[0]
        padded = size + (size & 1)
        yield tag, data[pos + 8:pos + 8 + size], 8 + padded
        pos += 8 + padded

def measure(directory):
    files = image = 0
    dims = {}
    for name in sorted(os.listdir(directory)):
        data = open(os.path.join(directory, name), 'rb').read()
        if data[:4] != b'RIFF' or data[8:12] != b'WEBP':
            sys.exit(f'{name}: not a WebP file')
        files += len(data)
        image += 12 + sum(n for tag, _, n in chunks(data) if tag in (b'VP8 ', b'VP8L', b'ALPH'))
        for tag, body, _ in chunks(data):
            if tag == b'VP8 ' and len(body) >= 10:
                w, h = struct.unpack('<HH', body[6:10])
                dims[(w & 0x3fff, h & 0x3fff)] = dims.get((w & 0x3fff, h & 0x3fff), 0) + 1
    return files, image, dims

for directory in (ours_dir, vips_dir):
    if len(os.listdir(directory)) != n:
        sys.exit(f'{directory}: {len(os.listdir(directory))} outputs for {n} inputs')
of, oi, od = measure(ours_dir)
vf, vi, vd = measure(vips_dir)
ours_rate, vips_rate = n / (ours_ns / 1e9), n / (vips_ns / 1e9)
print(f'ours:          {ours_rate:7.1f} images/s ({ours_ns / 1e6:.0f} ms), image bytes {oi} ({oi / n:.0f}/image), file bytes {of}')
print(f'vipsthumbnail: {vips_rate:7.1f} images/s ({vips_ns / 1e6:.0f} ms), image bytes {vi} ({vi / n:.0f}/image), file bytes {vf} (with EXIF)')
print(f'output sizes: ours/vips = {oi / vi:.3f}; dimensions ours {sorted(od.items())} vips {sorted(vd.items())}')
print(f'thumbnail ratio={ours_rate / vips_rate:.2f}')
PY
