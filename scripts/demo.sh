#!/usr/bin/env bash
# The end-to-end demo on the embedded default (local disk + SQLite). Until the image stages land, it walks
# through the versioned store, then runs a two-stage pipeline (Python stages in Pachyderm's /pfs layout)
# incrementally over it.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL="$(swift build --product vigil --show-bin-path)/vigil"
export VIGIL_HOME="$PWD/.vigil-demo"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
rm -rf "$VIGIL_HOME"

step() { printf '\n\033[1m$ vigil %s\033[0m\n' "$*" >&2; "$VIGIL" "$@"; }

# Camera frames named by the contract <deviceId>-<unixSeconds>.jpg: 3 devices, 400 frames each over a day.
python3 - "$WORK/frames" <<'PY'
import os, random, sys
out = sys.argv[1]; os.makedirs(out)
random.seed(7)
for device in ("frontdoor", "garage", "backyard"):
    for i in range(400):
        with open(os.path.join(out, f"{device}-{1763769600 + i * 216}.jpg"), "wb") as f:
            f.write(random.randbytes(20_000))
PY

step init
step repo create images --description "camera frames as uploaded"
step put images@master:/ "$WORK/frames" -m "frames of 2025-11-22"
step repo list
step ls images@master:/ --json | python3 -c 'import json,sys; e=json.load(sys.stdin); print(len(e), "entries, first:", e[0]["name"])'

# A camera re-sends one frame and sends a new one: the next commit stores only the new bytes.
cp "$WORK/frames/garage-1763769600.jpg" "$WORK/resent.jpg"
mkdir -p "$WORK/more" && head -c 20000 /dev/urandom > "$WORK/more/garage-1763856000.jpg"
cp "$WORK/resent.jpg" "$WORK/more/garage-1763769600.jpg"
step put images "$WORK/more" -m "late frames"
step log images
step diff images@master^1 images@master

# A copy of the whole repo costs no file bytes: both name the same blobs and tree nodes.
step repo create archive --description "what was reviewed"
step copy images@master archive@master:/2025-11-22
step inspect archive@master
step branch create images review --head master^1
step ls images@review:/ --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)), "entries on review")'
step cat images@master:/garage-1763856000.jpg | wc -c
# Pipelines: a Pachyderm-style Python stage per frame, then a summary over everything it wrote.
cat > "$WORK/frames.yaml" <<'YAML'
name: frames
description: one record per frame, from its name (the naming contract)
input: {pfs: {repo: images, glob: /*}}
transform:
  cmd: [python3, -c, "import json,os,sys; p=os.environ['images']; n=os.path.basename(p); d,t=n.rsplit('.',1)[0].rsplit('-',1); os.makedirs('/pfs/out/'+d,exist_ok=True); json.dump({'device':d,'time':int(t),'bytes':os.path.getsize(p)},open('/pfs/out/'+d+'/'+n+'.json','w'))"]
parallelism: 2
YAML
cat > "$WORK/per-device.yaml" <<'YAML'
name: per-device
description: frames per device, recomputed from all records
input: {pfs: {repo: frames, glob: /}}
transform:
  cmd: [sh, -c, 'cd /pfs/frames && for d in */; do echo "${d%/},$(ls "$d" | wc -l)"; done > /pfs/out/counts.csv']
YAML
step pipeline create "$WORK/frames.yaml"
step pipeline create "$WORK/per-device.yaml"
step engine --until-idle
step cat per-device@master:/counts.csv
# One new frame: only its datum runs upstream; the summary (one datum over everything) is recomputed.
mkdir -p "$WORK/late" && head -c 20000 /dev/urandom > "$WORK/late/frontdoor-1763857000.jpg"
step put images "$WORK/late" -m "one more frame"
step engine --until-idle
step cat per-device@master:/counts.csv
step job list
step inspect per-device@master --transitive
step fsck
step gc --grace 0
echo
echo "Demo data is in $VIGIL_HOME (delete it freely). Try: VIGIL_HOME=$VIGIL_HOME $VIGIL ls frames:/garage"
echo "or keep an engine running (VIGIL_HOME=$VIGIL_HOME $VIGIL engine) and put more frames from another shell."
