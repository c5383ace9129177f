#!/usr/bin/env bash
# The end-to-end demo on the embedded default (local disk + SQLite): the versioned store, then the vision
# pipeline (validate → detect with the real detector → threats by customer rules → analytics with bar charts,
# and a Python stage in Pachyderm's /pfs layout) on real photos uploaded as camera frames, incrementally. Alert
# delivery through a local alert API (vigil alert-sink): signed, idempotent, escalated. The HTTP service comes
# with issue 6.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL="$(swift build --product vigil --show-bin-path)/vigil"
export VIGIL_HOME="$PWD/.vigil-demo"
WORK="$(mktemp -d)"
SINK_PID=""
trap '[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
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
# The vision pipeline on real photos (the detector's sample photos), uploaded as frames by three cameras,
# plus frames a broken camera or a bad client would send.
SAMPLES="$PWD/.deps/model/samples"
mkdir -p "$WORK/uploads"
cp "$SAMPLES/bus.jpg" "$WORK/uploads/frontdoor-1763800000.jpg"
cp "$SAMPLES/zidane.jpg" "$WORK/uploads/garage-1763800060.jpg"
cp "$SAMPLES/bus.jpg" "$WORK/uploads/backyard-1763800120.jpg"
: > "$WORK/uploads/garage-1763800180.jpg"                                  # an empty file
echo "not a picture" > "$WORK/uploads/backyard-1763800240.jpg"           # not an image
cp "$SAMPLES/zidane.jpg" "$WORK/uploads/front-door-1763800300.jpg"         # a device id with '-'
cp "$SAMPLES/bus.jpg" "$WORK/uploads/frontdoor-1763800360.png"             # JPEG bytes named .png
step repo create uploads --description "frames as the cameras sent them"
step put uploads "$WORK/uploads" -m "first frames"

cat > "$WORK/validate.yaml" <<'YAML'
name: validate
description: well-formed, colour, large enough (docs/CONTRACT.md)
input: {pfs: {repo: uploads, glob: /*}}
transform: {stage: validate}
parallelism: 2
YAML
cat > "$WORK/detect.yaml" <<'YAML'
name: detect
description: YOLOv4-tiny on every valid frame (docs/MODEL.md)
input: {pfs: {repo: validate, glob: /valid/*}}
transform: {stage: detect}
parallelism: 2
YAML
# A Pachyderm-style Python stage: one datum per device folder of detection records.
cat > "$WORK/per-device.yaml" <<'YAML'
name: per-device
description: objects seen per device, from the detection records
input: {pfs: {repo: detect, glob: /*}}
transform:
  cmd: [python3, "-"]
  stdin:
    - "import collections, glob, json, os"
    - "device = os.environ['detect']  # this datum: /pfs/detect/<device>"
    - "counts = collections.Counter()"
    - "for record in glob.glob(device + '/*.json'):"
    - "    counts.update(json.load(open(record))['counts'])"
    - "with open('/pfs/out/' + os.path.basename(device) + '.csv', 'w') as out:"
    - "    out.writelines(f'{label},{n}\\n' for label, n in sorted(counts.items()))"
YAML
# Customer rules in their own versioned repo (docs/RULES.md): who fears what, when, and who is told.
mkdir -p "$WORK/rules" && cat > "$WORK/rules/customers.yaml" <<'YAML'
customers:
  - id: acme
    name: Acme Storage Ltd
    timezone: Europe/London
    contacts:
      - {name: Ana Lee, email: ana@acme.example}
      - {name: Bo Chen, email: bo@acme.example, phone: "+44 20 7946 0000"}
    devices: [frontdoor, backyard]
    dangerous: {person: 0.6, car: 0.7}
    escalation: {order: [Ana Lee, Bo Chen], acknowledgeWithin: 10m}
  - id: smiths
    name: The Smiths
    contacts: [{name: Sam Smith, phone: "07700 900123"}]
    devices: [garage]
    dangerous: {bus: 0.5}
YAML
step repo create rules --description "customers' alerting rules"
step put rules "$WORK/rules" -m "first rules"
cat > "$WORK/threats.yaml" <<'YAML'
name: threats
description: detections that match a customer's rules, with the image
input:
  cross:
    - pfs: {repo: detect, glob: /*/*}
    - pfs: {repo: rules, glob: /, reprocess: false}   # a rules change judges new images only
transform: {stage: threats}
YAML
step pipeline create "$WORK/validate.yaml"
step pipeline create "$WORK/detect.yaml"
step pipeline create "$WORK/threats.yaml"
step pipeline create "$WORK/per-device.yaml"
cat > "$WORK/stats.yaml" <<'YAML'
name: stats
description: alert counts and invalid images, as tables and bar charts
input: {cross: [{pfs: {repo: threats, glob: /}}, {pfs: {repo: validate, glob: /}}]}
transform: {stage: analytics}
YAML
step pipeline create "$WORK/stats.yaml"
# The alert API: a local stand-in for the email service that checks signatures and keeps each alert once.
openssl rand -hex 32 > "$WORK/alert-secret" 2>/dev/null || python3 -c 'import secrets; print(secrets.token_hex(32))' > "$WORK/alert-secret"
"$VIGIL" alert-sink --port 0 --secret-file "$WORK/alert-secret" --journal "$VIGIL_HOME/alert-sink.jsonl" \
    > "$WORK/sink.out" 2> "$WORK/sink.err" &
SINK_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/sink.err" && break; sleep 0.05; done
ALERT_URL=$(grep -o 'http://[0-9.:]*/v1/alerts' "$WORK/sink.err")
echo "alert sink listening on $ALERT_URL" >&2
ALERTS=(--alert-url "$ALERT_URL" --alert-secret-file "$WORK/alert-secret")
# The pipelines and the notifier in one process: each threat goes to its customer's first contact.
step engine --until-idle "${ALERTS[@]}"
echo "--- what the alert API received:" >&2
cat "$WORK/sink.out"
step alerts list
FIRST=$("$VIGIL" alerts list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
step alerts show "${FIRST:0:8}"
step alerts ack "${FIRST:0:8}" --by "Ana Lee"
step ls validate@master:/invalid
step cat validate@master:/invalid/garage-1763800180.jpg.reason.json
step cat detect@master:/frontdoor/frontdoor-1763800000.jpg.json | head -28
step cat per-device@master:/frontdoor.csv
step ls threats@master:/frontdoor
step cat threats@master:/frontdoor/frontdoor-1763800000.jpg.json | head -20
# One more frame: only its datum runs in each stage; the other devices' summaries are not recomputed.
mkdir -p "$WORK/late" && cp "$SAMPLES/zidane.jpg" "$WORK/late/frontdoor-1763800420.jpg"
step put uploads "$WORK/late" -m "one more frame"
step engine --until-idle "${ALERTS[@]}"
echo "--- the alert API now has:" >&2
cat "$WORK/sink.out"
step cat per-device@master:/frontdoor.csv
step job list
step inspect threats@master --transitive
step stats
step ls stats@master:/
mkdir -p "$VIGIL_HOME/charts"
for chart in by-device by-day by-hour by-label invalid-by-device invalid-by-reason; do
    "$VIGIL" cat "stats@master:/$chart.svg" > "$VIGIL_HOME/charts/$chart.svg"
done
echo "bar charts: $VIGIL_HOME/charts/*.svg (open in a browser)"
step detect "$SAMPLES/bus.jpg"
step fsck
step gc --grace 0
kill -TERM "$SINK_PID" && wait "$SINK_PID" 2>/dev/null || true
SINK_PID=""
tail -1 "$WORK/sink.err"
echo
echo "Demo data is in $VIGIL_HOME (delete it freely). Try: VIGIL_HOME=$VIGIL_HOME $VIGIL ls detect:/garage"
echo "or keep an engine running (VIGIL_HOME=$VIGIL_HOME $VIGIL engine) and put more frames from another shell."
