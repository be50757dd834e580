#!/usr/bin/env bash
# The clip job pipeline against plain ffmpeg, in one run: the same clip set of the same
# input, cut by clip-app's job (upload kept in storage, copied out, probed, cut, probed
# back, posters optimized by clip-cdn, everything stored and recorded) and by the very
# ffmpeg command lines the job ran (read from its debug log, so the settings are the same
# by construction), run one after the other in a directory of their own. Rounds alternate
# between the two sides (the machine is shared); medians are compared.
# Both sides are timed twice: wall time (what a user waits, at the mercy of a shared
# machine's other load) and CPU time (what the work costs: for the pipeline the app with its
# ffmpeg and ffprobe children and its PostgreSQL, for plain ffmpeg its processes), which the
# neighbours' load does not inflate. Ends with `clips ratio=X`, ffmpeg's CPU time / ours
# (1 would be no overhead at all); the wall-time ratio is printed above it.
#
#   scripts/compare/clips.sh [clips] [seconds per clip]     (default 6 clips of 8 s; ROUNDS=3)
#   CLIPS_STORAGE_URL=file:///dir scripts/compare/clips.sh   (the app's files there, not in PostgreSQL)
#
# Input: a 1080p30 H.264/AAC video of scene cuts and a tone, made once by ffmpeg's lavfi
# sources and kept in ${TMPDIR:-/tmp}/clip-compare-clips with the app's embedded PostgreSQL
# (never in the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
CLIPS=${1:-6}
SECONDS_PER_CLIP=${2:-8}
ROUNDS=${ROUNDS:-3}
WORK=${TMPDIR:-/tmp}/clip-compare-clips
PORT=${COMPARE_CLIPS_PORT:-3411}
BASE="http://127.0.0.1:$PORT"
LENGTH=$((CLIPS * SECONDS_PER_CLIP))

./scripts/install-deps.sh --compare
for tool in ffmpeg ffprobe curl python3 sha256sum; do
    command -v "$tool" >/dev/null || { echo "clips.sh: $tool is missing" >&2; exit 1; }
done
mkdir -p "$WORK"

# The input: scenes of 4 s alternating a test pattern and colour bars, 1080p30, a tone.
INPUT="$WORK/input-${LENGTH}s.mp4"
if [ ! -s "$INPUT" ]; then
    echo "making the ${LENGTH}s 1080p input (once)..."
    ffmpeg -nostdin -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$LENGTH" \
        -f lavfi -i "smptebars=size=1920x1080:rate=30:duration=$LENGTH" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$LENGTH" \
        -filter_complex "[0:v][1:v]overlay=enable='gte(mod(t,8),4)'[v]" \
        -map "[v]" -map 2:a -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p -g 60 \
        -c:a aac -b:a 160k -shortest "$INPUT.tmp.mp4"
    mv "$INPUT.tmp.mp4" "$INPUT"
fi

cargo build --quiet --release -p clip-app
APP_BIN=$PWD/target/release/clip-app

APP_PID=
cleanup() {
    if [ -n "$APP_PID" ]; then kill "$APP_PID" 2>/dev/null || true; wait "$APP_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# The app: its embedded PostgreSQL (a fresh one each run), one video worker using every
# core, the debug log of the video jobs (their ffmpeg command lines).
rm -rf "$WORK/data" "$WORK/work" "$WORK/plain"
mkdir -p "$WORK/work" "$WORK/plain"
env -i PATH="$PATH" HOME="${HOME:-/root}" NO_COLOR=1 HOST=127.0.0.1 PORT="$PORT" \
    CLIP_DATA_DIR="$WORK/data" VIDEO_WORK_DIR="$WORK/work" VIDEO_WORKERS=1 IMAGE_WORKERS=1 \
    VIDEO_MAX_BYTES=4294967296 RATE_LIMIT_ENABLED=false AUTOSCALER_URL=off \
    ${CLIPS_STORAGE_URL:+STORAGE_URL="$CLIPS_STORAGE_URL"} \
    RUST_LOG="warn,clip_app::jobs::video=debug" \
    "$APP_BIN" >"$WORK/app.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$BASE/health" 2>/dev/null && break
    kill -0 "$APP_PID" 2>/dev/null || { echo "clips.sh: the app stopped:" >&2; tail "$WORK/app.log" >&2; exit 1; }
    sleep 0.2
done

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
project=$(curl -fsS "$BASE/api/projects" -H 'content-type: application/json' -d '{"name":"clips.sh"}' | json 'd["id"]')
video=$(curl -fsS "$BASE/api/projects/$project/videos?filename=input.mp4" --data-binary @"$INPUT" | json 'd["video"]["id"]')
ranges=$(python3 -c "import json; print(json.dumps({'clips': [{'start': i * $SECONDS_PER_CLIP, 'end': (i + 1) * $SECONDS_PER_CLIP} for i in range($CLIPS)]}))")

# CPU seconds used so far by process $1 and the children it has waited for.
TICKS=$(getconf CLK_TCK)
cpu_of() { awk -v t="$TICKS" '{printf "%.2f\n", ($14 + $15 + $16 + $17) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU seconds of the app and of its PostgreSQL (the postmaster and its processes).
PG_PID=
pipeline_cpu() {
    local total pid
    total=$(cpu_of "$APP_PID")
    for pid in $PG_PID $(pgrep -P "$PG_PID"); do
        total=$(awk -v a="$total" -v b="$(cpu_of "$pid")" 'BEGIN {printf "%.2f", a + b}')
    done
    echo "$total"
}

# One clip job; prints its id, its seconds from request to done (the database's clock) and
# the CPU seconds the app and its database spent meanwhile.
ours() {
    local job state cpu_before cpu_after
    cpu_before=$(pipeline_cpu)
    job=$(curl -fsS "$BASE/api/videos/$video/clips" -H 'content-type: application/json' -d "$ranges" | json 'd["job"]["id"]')
    while :; do
        state=$(curl -fsS "$BASE/api/jobs/$job" | json 'd["state"]')
        case $state in
            succeeded) break ;;
            failed|dead|cancelled) echo "clips.sh: job $job $state" >&2; curl -fsS "$BASE/api/jobs/$job" >&2; exit 1 ;;
        esac
        sleep 1
    done
    cpu_after=$(pipeline_cpu)
    curl -fsS "$BASE/api/jobs/$job" | json '__import__("datetime").datetime.fromisoformat(d["finished_at"].replace("Z","+00:00")).timestamp() - __import__("datetime").datetime.fromisoformat(d["created_at"].replace("Z","+00:00")).timestamp()' |
        awk -v job="$job" -v cpu="$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN {print b - a}')" '{printf "%s %.3f %.2f\n", job, $1, cpu}'
}

# The ffmpeg command lines job $1 ran, as its debug log shows them.
commands_of() {
    sed 's/\x1b\[[0-9;]*m//g' "$WORK/app.log" | grep " ffmpeg dir=" | grep "/job-$1-" | sed 's/.* command=//'
}

# Runs job $1's command lines one after the other in the plain directory (the same input as
# "source"); prints their wall seconds and CPU seconds (rusage of the children).
plain() {
    ln -sf "$INPUT" "$WORK/plain/source"
    commands_of "$1" | (cd "$WORK/plain" && python3 -c '
import resource, subprocess, sys, time
started = time.monotonic()
for line in sys.stdin:
    subprocess.run(["bash", "-c", line], stdout=subprocess.DEVNULL, check=True)
wall = time.monotonic() - started
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f %.2f" % (wall, used.ru_utime + used.ru_stime))')
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "$CLIPS clips of ${SECONDS_PER_CLIP}s from a ${LENGTH}s 1080p30 video ($(du -h "$INPUT" | cut -f1)), 720p out; $ROUNDS rounds each"
echo "$(ffmpeg -hide_banner -version | head -1); $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
PG_PID=$(head -1 "$WORK/data/data/postmaster.pid" 2>/dev/null || true)
[ -n "$PG_PID" ] || { echo "clips.sh: cannot find the app's PostgreSQL (postmaster.pid)" >&2; exit 1; }
read -r job _ < <(ours) # warm-up: page cache, pools; and the command lines to replay
n=$(commands_of "$job" | wc -l)
[ "$n" -eq "$CLIPS" ] || { echo "clips.sh: job $job logged $n ffmpeg commands, not $CLIPS" >&2; exit 1; }
ours_times=() ours_cpus=() plain_times=() plain_cpus=()
for round in $(seq 1 "$ROUNDS"); do
    # Which side goes first alternates, so a neighbour's burst does not always hit the same one.
    if [ $((round % 2)) -eq 0 ]; then read -r plain_seconds plain_cpu < <(plain "$job"); fi
    read -r job seconds cpu < <(ours)
    [ -n "${seconds:-}" ] || { echo "clips.sh: the clip job did not succeed" >&2; exit 1; }
    if [ $((round % 2)) -eq 1 ]; then read -r plain_seconds plain_cpu < <(plain "$job"); fi
    ours_times+=("$seconds") ours_cpus+=("$cpu") plain_times+=("$plain_seconds") plain_cpus+=("$plain_cpu")
    printf 'round %d  pipeline %7.2f s (CPU %6.2f s)   plain ffmpeg %7.2f s (CPU %6.2f s)\n' \
        "$round" "$seconds" "$cpu" "$plain_seconds" "$plain_cpu"
done

# Same settings, same output: the last job's clips and plain ffmpeg's, byte for byte.
same=0
for id in $(curl -fsS "$BASE/api/jobs/$job" | json '" ".join(str(c["id"]) for c in d["result"]["clips"])'); do
    seq=$(curl -fsS "$BASE/api/jobs/$job" | json "[c['seq'] for c in d['result']['clips'] if c['id'] == $id][0]")
    ours_sum=$(curl -fsS "$BASE/media/clips/$id" | sha256sum | cut -d' ' -f1)
    plain_sum=$(sha256sum "$WORK/plain/clip-$seq.mp4" | cut -d' ' -f1)
    [ "$ours_sum" = "$plain_sum" ] && same=$((same + 1))
done

ours_med=$(printf '%s\n' "${ours_times[@]}" | median)
plain_med=$(printf '%s\n' "${plain_times[@]}" | median)
ours_cpu=$(printf '%s\n' "${ours_cpus[@]}" | median)
plain_cpu=$(printf '%s\n' "${plain_cpus[@]}" | median)
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "clips identical to plain ffmpeg's, byte for byte: $same of $CLIPS"
printf 'pipeline      median %7.2f s wall, %7.2f s CPU (request to done: copy out of storage, probe, cut, posters, store; the app and its PostgreSQL)\n' "$ours_med" "$ours_cpu"
printf 'plain ffmpeg  median %7.2f s wall, %7.2f s CPU (the same command lines)\n' "$plain_med" "$plain_cpu"
awk -v o="$ours_med" -v p="$plain_med" -v oc="$ours_cpu" -v pc="$plain_cpu" -v n="$CLIPS" -v s="$SECONDS_PER_CLIP" 'BEGIN {
    printf "overhead: %.2f s wall (%.1f %%), %.2f s CPU (%.1f %%)\n", o - p, (o - p) * 100 / p, oc - pc, (oc - pc) * 100 / pc
    printf "clips of %d s per minute per core (CPU time): pipeline %.2f, plain ffmpeg %.2f\n", s, n * 60 / oc, n * 60 / pc
    printf "wall ratio=%.2f (plain ffmpeg wall / pipeline wall, on this machine at this load)\n", p / o
    printf "clips ratio=%.2f\n", pc / oc
}'
