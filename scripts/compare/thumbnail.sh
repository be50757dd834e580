#!/usr/bin/env bash
# clip_cdn::image::optimize against sharp (npm: libvips with SIMD mozjpeg, what a Node.js
# backend would use) and vipsthumbnail (libvips, Debian), in one run, on the same files:
# every photo of testdata/images, COPIES copies of each, to 300x200 (fit inside) WebP at
# quality 85 (effort/method 4 everywhere, the libraries' default), metadata stripped, one
# thread each (VIPS_CONCURRENCY=1, sharp.concurrency(1); our optimizer is single-threaded).
# Each side is one process over all files, so start-up counts once. Best of ROUNDS rounds
# per side, in CPU time (user + system, all threads: what the work costs, and steady on a
# shared machine where wall time follows the neighbours' load) and in wall time. Both libraries run in both of their JPEG shrink-on-load modes:
# ours by default leaves Lanczos3 a factor of two (like vipsthumbnail), `ours-fast`
# (ImageOptions::fast_shrink_on_load) decodes at the smallest DCT scale covering the
# output, which is sharp's default (fastShrinkOnLoad); `sharp-nofast` turns that off.
#
# Besides speed it measures what the speed buys: the PSNR of each thumbnail's luma against
# a reference (the photo decoded whole by an independent decoder and resized in one step
# with Lanczos3: see clip-cdn/examples/thumbnail_quality.rs), and the size of the encoded
# image (RIFF header plus VP8/VP8L/ALPH chunks: libvips keeps the source's EXIF in WebP
# even with `strip`, which is not part of the image).
#
# sharp is installed, when missing, into ${TMPDIR:-/tmp}/clip-compare-node (never into the
# repository). Ends with `thumbnail ratio=X`, X = our images per CPU-second over sharp's,
# each with its defaults (X > 1: we are faster); the lines before give each mode against
# its counterpart, against vipsthumbnail, and the same ratios in wall time.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
images="${CLIP_TEST_IMAGES:-$root/testdata/images}"
copies="${COPIES:-5}"
rounds="${ROUNDS:-3}"
width=300
height=200
quality=85
sharp_version="${SHARP_VERSION:-0.35.5}"
node_dir="${TMPDIR:-/tmp}/clip-compare-node"

./scripts/install-deps.sh --compare

if ! node -e "require('$node_dir/node_modules/sharp')" 2>/dev/null; then
  echo "== installing sharp@$sharp_version into $node_dir"
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"private": true}' > "$node_dir/package.json"
  npm install --prefix "$node_dir" --no-audit --no-fund --silent "sharp@$sharp_version"
fi

echo "== building the optimizer (release)"
cargo build -q --release -p clip-cdn --example thumbnail --example thumbnail_quality
ours_bin="$root/target/release/examples/thumbnail"
quality_bin="$root/target/release/examples/thumbnail_quality"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sides=(ours ours-fast sharp sharp-nofast vips)
mkdir -p "$work/in" "$work/first"
for side in "${sides[@]}"; do mkdir -p "$work/$side"; done
# Stems are unique (c<copy>-<name>): every tool names its output after the input's stem.
for c in $(seq 1 "$copies"); do
  for f in "$images"/*.jpg "$images"/*.jpeg "$images"/*.png "$images"/*.webp; do
    [ -f "$f" ] || continue
    cp "$f" "$work/in/c$c-$(basename "$f")"
    [ "$c" = 1 ] && ln "$work/in/c1-$(basename "$f")" "$work/first/"
  done
done
files=("$work"/in/*)
n=${#files[@]}

cat > "$work/sharp-thumbnail.js" <<'JS'
// sharp's side: one process, one libvips thread, files one after another.
const path = require('path');
const [sharpPath, fast, width, height, quality, outDir, ...files] = process.argv.slice(2);
const sharp = require(sharpPath);
sharp.concurrency(1);
(async () => {
  for (const file of files) {
    const out = path.join(outDir, path.parse(file).name + '.webp');
    await sharp(file)
      .resize(Number(width), Number(height), { fit: 'inside', fastShrinkOnLoad: fast === 'fast' })
      .webp({ quality: Number(quality) })
      .toFile(out);
  }
})().catch((e) => { console.error(e); process.exit(1); });
JS

ours_simd=$("$ours_bin" "${width}x${height}" "$quality" "$work/ours" "${files[0]}" | sed -n 's/.*jpeg_simd=\([a-z]*\).*/\1/p')
sharp_simd=$(node -e "console.log(require('$node_dir/node_modules/sharp').simd())")
sharp_versions=$(node -e "const s=require('$node_dir/node_modules/sharp'); console.log('sharp ' + s.versions.sharp + ', libvips ' + s.versions.vips + ', libwebp ' + s.versions.webp)")
echo "== $n images ($copies copies of each file in $images), ${width}x${height} WebP q$quality, $rounds rounds"
echo "== ours: libjpeg-turbo SIMD $ours_simd; $sharp_versions, SIMD $sharp_simd; $(vips --version)"

now_ns() { date +%s%N; }
declare -A best=() best_cpu=()
run() { # name command...
  local name=$1
  shift
  local t0 t1 cpu
  t0=$(now_ns)
  /usr/bin/time -f '%U %S' -o "$work/time.txt" "$@" >/dev/null
  t1=$(now_ns)
  local took=$((t1 - t0))
  cpu=$(awk '{ printf "%d", ($1 + $2) * 1000000000 }' "$work/time.txt")
  printf ' %s %d/%d ms' "$name" $((cpu / 1000000)) $((took / 1000000))
  if [ -z "${best[$name]:-}" ] || [ "$took" -lt "${best[$name]}" ]; then best[$name]=$took; fi
  if [ -z "${best_cpu[$name]:-}" ] || [ "$cpu" -lt "${best_cpu[$name]}" ]; then best_cpu[$name]=$cpu; fi
}
echo "== CPU/wall ms per round"
for r in $(seq 1 "$rounds"); do
  printf 'round %s:' "$r"
  run ours "$ours_bin" "${width}x${height}" "$quality" "$work/ours" "${files[@]}"
  run sharp node "$work/sharp-thumbnail.js" "$node_dir/node_modules/sharp" fast "$width" "$height" "$quality" "$work/sharp" "${files[@]}"
  run ours-fast "$ours_bin" --fast "${width}x${height}" "$quality" "$work/ours-fast" "${files[@]}"
  run sharp-nofast node "$work/sharp-thumbnail.js" "$node_dir/node_modules/sharp" nofast "$width" "$height" "$quality" "$work/sharp-nofast" "${files[@]}"
  run vips env VIPS_CONCURRENCY=1 vipsthumbnail --size "${width}x${height}" -o "$work/vips/%s.webp[Q=$quality,strip]" "${files[@]}"
  echo
done

echo "== quality: luma PSNR against a Lanczos3 reference of the full-resolution photo"
"$quality_bin" "$work/first" $(for side in "${sides[@]}"; do printf '%s=%s ' "$side" "$work/$side"; done) | tee "$work/psnr.txt"

python3 - "$n" "$work" \
  "${best_cpu[ours]}" "${best_cpu[ours-fast]}" "${best_cpu[sharp]}" "${best_cpu[sharp-nofast]}" "${best_cpu[vips]}" \
  "${best[ours]}" "${best[ours-fast]}" "${best[sharp]}" "${best[sharp-nofast]}" "${best[vips]}" <<'PY'
import os, struct, sys

n, work = int(sys.argv[1]), sys.argv[2]
names = ('ours', 'ours-fast', 'sharp', 'sharp-nofast', 'vips')
cpu = dict(zip(names, map(int, sys.argv[3:8])))
wall = dict(zip(names, map(int, sys.argv[8:13])))

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

psnr = dict(kv.split('=') for kv in open(os.path.join(work, 'psnr.txt')).read().split('psnr ')[1].split())
rows = {}
for name in names:
    path = os.path.join(work, name)
    if len(os.listdir(path)) != n:
        sys.exit(f'{path}: {len(os.listdir(path))} outputs for {n} inputs')
    rows[name] = (n / (cpu[name] / 1e9), n / (wall[name] / 1e9)) + measure(path)
ours_image = rows['ours'][3]
print(f"{'':14} {'img/CPU-s':>9} {'img/s':>7} {'image bytes':>12} {'vs ours':>8} {'PSNR JPEGs':>10}")
for name, (per_cpu, per_wall, files, image, dims) in rows.items():
    print(f"{name:14} {per_cpu:9.1f} {per_wall:7.1f} {image:12d} {image / ours_image:8.3f} {float(psnr[name]):10.2f}")
print('dimensions: ' + '; '.join(f"{name} {sorted(r[4].items())}" for name, r in rows.items()))
ratio = lambda a, b, i=0: rows[a][i] / rows[b][i]
print(f"wall time: ours vs sharp {ratio('ours', 'sharp', 1):.2f}, ours-fast vs sharp {ratio('ours-fast', 'sharp', 1):.2f}, "
      f"ours vs sharp-nofast {ratio('ours', 'sharp-nofast', 1):.2f}, ours vs vipsthumbnail {ratio('ours', 'vips', 1):.2f}")
print(f"fast shrink-on-load, ours-fast vs sharp: ratio={ratio('ours-fast', 'sharp'):.2f}")
print(f"Lanczos factor of two, ours vs sharp-nofast: ratio={ratio('ours', 'sharp-nofast'):.2f}")
print(f"vipsthumbnail ratio={ratio('ours', 'vips'):.2f}")
print(f"thumbnail ratio={ratio('ours', 'sharp'):.2f}")
PY
