#!/usr/bin/env bash
# Regenerates the replay of `emoedge demo` in this folder:
#
#   frames/frame000.jpg .. frame065.jpg  66 grayscale 320x240 JPEG frames,
#                                        8 fps (8.25 s), made from two
#                                        public-domain photos of
#                                        scikit-image's data folder by
#                                        device/examples/make_demo_frames.rs
#   speech.flac                          8.3 s of English speech synthesised
#                                        with espeak-ng, 16 kHz mono
#
# Needs: pip (downloads the scikit-image wheel, nothing is installed),
# unzip or python3, espeak-ng and sox (apt-get install -y espeak-ng sox),
# and cargo. The demo itself needs none of this: it only reads the files.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Photos: scikit-image's astronaut.png (Eileen Collins, NASA, public domain)
# and camera.png (CC0, Lav Varshney), straight from the wheel.
pip download --quiet --no-deps --dest "$tmp" scikit-image==0.26.0
python3 - "$tmp" <<'PY'
import glob, sys, zipfile
tmp = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(tmp + "/scikit_image-*.whl")[0])
for name in ("astronaut.png", "camera.png"):
    with open(f"{tmp}/{name}", "wb") as f:
        f.write(wheel.read(f"skimage/data/{name}"))
PY
(cd "$repo" && cargo run --quiet -p emoedge-device --example make_demo_frames -- \
    "$tmp/astronaut.png" "$tmp/camera.png" "$here/frames")

# Speech: two sentences with pauses, timed to the two visitors.
espeak-ng -v en-us -s 150 -w "$tmp/s1.wav" "Hello there! What a lovely day to visit the museum."
espeak-ng -v en-us -s 160 -w "$tmp/s2.wav" "Oh wow, look at that rocket. That is amazing!"
for i in 1 2; do
    # Trim the synthesiser's own leading and trailing silence.
    sox "$tmp/s$i.wav" -r 16000 -c 1 -b 16 "$tmp/t$i.wav" \
        silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
done
for s in 0.7 0.6 0.2; do
    sox -n -r 16000 -c 1 -b 16 "$tmp/silence$s.wav" trim 0 "$s"
done
sox "$tmp/silence0.7.wav" "$tmp/t1.wav" "$tmp/silence0.6.wav" "$tmp/t2.wav" \
    "$tmp/silence0.2.wav" -t flac "$here/speech.flac" norm -3
ls -l "$here/speech.flac"
du -sh "$here/frames"
