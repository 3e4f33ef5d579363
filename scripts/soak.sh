#!/usr/bin/env bash
# Soak test of the device loop (not part of CI): runs `emoedge run` in real
# time on the bundled demo replay, looped (device/assets/demo: 66 frames at
# 8 fps and a speech clip), samples its memory every 10 s from
# /proc/PID/status, stops it with SIGTERM and checks:
#
#   - peak RSS (VmHWM) flat: at most 5 % above its value after the warm-up
#     (the first 60 s, or the first fifth of a shorter run);
#   - budget misses not growing: the second half of the run misses its
#     stage budgets no more than the first (x1.25, +5 for noise);
#   - every decision logged: the loop's decision counter (stop record)
#     equals the decision records in the log, no record dropped, at least
#     one record every 2 s, and the frames processed (or skipped) are the
#     replay's 8 per second;
#   - a clean stop: the `stop` record, exit status 0, no panic.
#
# It prints a report and exits non-zero when a check fails.
#
# Usage: scripts/soak.sh [--minutes N] [--interval S] [--board NAME|FILE]
#                        [--models DIR] [--bin PATH] [--out DIR]
#   --minutes   length of the run (default 30)
#   --interval  seconds between memory samples (default 10)
#   --board     board profile (default host)
#   --models    models folder instead of the profile's (e.g. one with a
#               stand-in voice model: cargo run --release -p emoedge-device
#               --example stand_in_voice -- DIR, plus face.emo and
#               face_detector.emo copied from models/)
#   --bin       the emoedge binary (default: build target/release/emoedge)
#   --out       folder for the log, the samples and the report (default: a
#               new folder under /tmp)
# Needs python3 for the analysis.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"

minutes=30
interval=10
board=host
models=""
bin=""
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --interval) interval=$2; shift 2 ;;
        --board) board=$2; shift 2 ;;
        --models) models=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "$bin" ]; then
    echo "==> building the release binary"
    cargo build --release -p emoedge-device --bin emoedge
    bin=target/release/emoedge
fi
[ -x "$bin" ] || { echo "soak.sh: $bin is not an executable" >&2; exit 2; }
command -v python3 > /dev/null || { echo "soak.sh: python3 is needed for the report" >&2; exit 2; }
out=${out:-$(mktemp -d /tmp/emoedge-soak.XXXXXX)}
mkdir -p "$out"
if [ -n "$models" ]; then
    # A copy of the profile whose models.dir is that folder.
    src=$board
    [ -f "$src" ] || src=boards/$board.toml
    [ -f "$src" ] || { echo "soak.sh: no board profile $board" >&2; exit 2; }
    models=$(cd "$models" && pwd)
    sed "s|^dir = .*|dir = \"$models\"|" "$src" > "$out/board.toml"
    board=$out/board.toml
fi
log="$out/events.jsonl"
samples="$out/rss.tsv"
rm -f "$log"
demo=device/assets/demo
duration=$((minutes * 60))

echo "==> soak: $bin run, board $board, demo replay looped in real time, $minutes min, memory every $interval s"
echo "    output in $out"
"$bin" run --board "$board" \
    --camera "replay:$demo/frames?fps=8&loop=true" \
    --mic "replay:$demo/speech.flac?loop=true" \
    --leds sim --log "$log" --realtime --quiet \
    > "$out/stdout.txt" 2> "$out/stderr.txt" &
pid=$!
cleanup() { kill -TERM "$pid" 2> /dev/null || true; }
trap cleanup EXIT INT TERM

status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status" 2> /dev/null || true; }
t0=$(date +%s)
printf 't_s\trss_kb\thwm_kb\tlog_lines\n' > "$samples"
while :; do
    sleep "$interval"
    now=$(($(date +%s) - t0))
    if ! kill -0 "$pid" 2> /dev/null; then
        echo "soak.sh: emoedge exited early after $now s" >&2
        break
    fi
    rss=$(status_kb VmRSS)
    hwm=$(status_kb VmHWM)
    lines=$(wc -l < "$log" 2> /dev/null || echo 0)
    printf '%s\t%s\t%s\t%s\n' "$now" "$rss" "$hwm" "$lines" >> "$samples"
    printf '    %5d s  RSS %6d kB  peak %6d kB  %7d log lines\n' "$now" "$rss" "$hwm" "$lines"
    [ "$now" -ge "$duration" ] && break
done
kill -TERM "$pid" 2> /dev/null || true
rc=0
wait "$pid" || rc=$?
trap - EXIT INT TERM
elapsed=$(($(date +%s) - t0))

python3 - "$log" "$samples" "$out/stderr.txt" "$rc" "$elapsed" "$duration" > "$out/report.txt" <<'PY' || fail=1
import json, sys

log_path, samples_path, stderr_path, rc, elapsed, duration = sys.argv[1:7]
rc, elapsed, duration = int(rc), int(elapsed), int(duration)
FPS = 8.0
ok = True

def check(passed, text):
    global ok
    ok = ok and passed
    print(f"  [{'ok' if passed else 'FAIL'}] {text}")

records = []
with open(log_path) as f:
    for line in f:
        records.append(json.loads(line))
start = records[0] if records else {}
stop = records[-1] if records and records[-1]["type"] == "stop" else None
decisions = [r for r in records if r["type"] == "decision"]
samples = []
with open(samples_path) as f:
    next(f)
    for line in f:
        t, rss, hwm, lines = line.split()
        samples.append((int(t), int(rss), int(hwm), int(lines)))
stderr = open(stderr_path).read()

print(f"emoedge soak: {elapsed} s of `emoedge run --realtime` on the demo replay (8 fps, looped), board {start.get('board', '?')}")
models = start.get("models", {})
print(f"  models: face {models.get('face')}, voice {models.get('voice')}, detector {models.get('detector')}")
print(f"  {len(samples)} memory samples, {len(records)} log records, {len(decisions)} decision records")
print()
print("memory")
warmup = min(60, duration // 5)
base = next((s for s in samples if s[0] >= warmup), samples[0] if samples else None)
if base and samples:
    end = samples[-1]
    growth = (end[2] - base[2]) / base[2] * 100
    rss_after = [s[1] for s in samples if s[0] >= base[0]]
    print(f"  peak RSS {base[2] / 1024:.1f} MiB at {base[0]} s (after the warm-up), {end[2] / 1024:.1f} MiB at {end[0]} s: {growth:+.1f} %")
    print(f"  RSS after the warm-up: {min(rss_after) / 1024:.1f} to {max(rss_after) / 1024:.1f} MiB")
    check(growth <= 5.0, "peak RSS flat within 5 %")
else:
    check(False, "memory samples taken")

print()
print("budget")
def misses_at(t_ms):
    best = 0
    for d in decisions:
        if d["t_ms"] <= t_ms:
            best = d.get("misses_total", 0)
        else:
            break
    return best
if decisions:
    t_end = decisions[-1]["t_ms"]
    t_warm = warmup * 1000
    t_mid = (t_warm + t_end) // 2
    first = misses_at(t_mid) - misses_at(t_warm)
    second = misses_at(t_end) - misses_at(t_mid)
    total = misses_at(t_end)
    print(f"  stage budget misses: {total} in all, {first} in the first half and {second} in the second half after the warm-up")
    if stop:
        per_stage = ", ".join(f"{k} {v}" for k, v in stop.get("misses", {}).items())
        print(f"  per stage: {per_stage}; skipped frames {stop.get('skipped_frames')}")
    check(second <= first * 1.25 + 5, "budget misses not growing")

print()
print("log")
if stop:
    counted = stop["decisions"]
    logged = sum(1 for d in decisions if d["label"] != "none")
    frames = stop["frames"] + stop["skipped_frames"]
    expected = stop["t_ms"] / 1000 * FPS
    print(f"  stop: {stop['reason']} at {stop['t_ms'] / 1000:.1f} s, {stop['frames']} frames used, {stop['skipped_frames']} skipped, {stop['voice_windows']} voice windows, {stop['visits']} visits, {stop['log_dropped']} records dropped")
    check(logged == counted, f"every decision logged: {counted} counted by the loop, {logged} in the log")
    check(stop["log_dropped"] == 0, "no record dropped")
    gaps = [b["t_ms"] - a["t_ms"] for a, b in zip(decisions, decisions[1:])]
    check(bool(gaps) and max(gaps) <= 2000, f"a decision record at least every 2 s (longest gap {max(gaps) if gaps else '?'} ms)")
    check(abs(frames - expected) <= 0.02 * expected + FPS, f"frames at the replay's rate: {frames} processed or skipped, {expected:.0f} expected at {FPS:.0f} fps")
    minutes = {}
    for d in decisions:
        minutes.setdefault(d["t_ms"] // 60000, 0)
        minutes[d["t_ms"] // 60000] += 1
    full = [n for m, n in sorted(minutes.items()) if (m + 1) * 60000 <= stop["t_ms"]]
    if full:
        print(f"  decision records per full minute: {min(full)} to {max(full)}")
    check(stop["reason"] == "signal" and rc == 0, f"clean stop on SIGTERM (reason {stop['reason']}, exit status {rc})")
else:
    check(False, f"a stop record at the end of the log (exit status {rc})")
check("panicked" not in stderr, "no panic")
print()
print("result:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
cat "$out/report.txt"
exit "${fail:-0}"
