#!/usr/bin/env bash
# The end-to-end demo on the embedded default (local disk + SQLite). First the versioned store by hand; then
# the whole system as it runs: `vigil serve` (the HTTP API, the pipelines and the notifier in one process) and
# a local alert API (`vigil alert-sink`). Cameras upload real photos over HTTP across a simulated day, plus
# frames a broken camera would send; validate → detect (the real detector) → threats (customer rules) →
# signed alerts at the sink, analytics with bar charts, a Python stage in Pachyderm's /pfs layout; then the
# alerts, the stats, the charts, a lineage and the dashboard. `scripts/demo.sh --keep-running` leaves the
# service up.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL="$(swift build --product vigil --show-bin-path)/vigil"
export VIGIL_HOME="$PWD/.vigil-demo"
WORK="$(mktemp -d)"
KEEP_RUNNING=false
[ "${1:-}" = "--keep-running" ] && KEEP_RUNNING=true
SINK_PID=""
SERVE_PID=""
stop_services() {
    [ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    SERVE_PID=""
    SINK_PID=""
}
trap 'stop_services; rm -rf "$WORK"' EXIT
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
# ---- The service. Customer rules in their own versioned repo (docs/RULES.md): who fears what, who is told.
SAMPLES="$PWD/.deps/model/samples"
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
step repo create uploads --description "frames as the cameras sent them"
step repo create rules --description "customers' alerting rules"
step put rules "$WORK/rules" -m "first rules"
cat > "$WORK/validate.yaml" <<'YAML'
name: validate
description: well-formed, colour, large enough (docs/CONTRACT.md)
input: {pfs: {repo: uploads, glob: /*}}
transform: {stage: validate}
YAML
cat > "$WORK/detect.yaml" <<'YAML'
name: detect
description: YOLOv4-tiny on every valid frame (docs/MODEL.md)
input: {pfs: {repo: validate, glob: /valid/*}}
transform: {stage: detect, options: {intraOpThreads: 2}}
YAML
cat > "$WORK/threats.yaml" <<'YAML'
name: threats
description: detections that match a customer's rules, with the image
input:
  cross:
    - pfs: {repo: detect, glob: /*/*}
    - pfs: {repo: rules, glob: /, reprocess: false}   # a rules change judges new images only
transform: {stage: threats}
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
cat > "$WORK/stats.yaml" <<'YAML'
name: stats
description: alert counts and invalid images, as tables and bar charts
input: {cross: [{pfs: {repo: threats, glob: /}}, {pfs: {repo: validate, glob: /}}]}
transform: {stage: analytics}
YAML
for spec in validate detect threats per-device stats; do step pipeline create "$WORK/$spec.yaml"; done

# Tokens (stored hashed, shown once): an operator, two customers, one per camera.
token() { "$VIGIL" token create "$@" 2>/dev/null; }
ADMIN=$(token --role admin --name demo-admin)
ACME=$(token --role customer --customer acme)
SMITHS=$(token --role customer --customer smiths)
declare -A DEVICE
for device in frontdoor garage backyard; do DEVICE[$device]=$(token --role device --device "$device"); done
step token list

# The alert API (a local stand-in for the email service), then the service itself.
openssl rand -hex 32 > "$WORK/alert-secret" 2>/dev/null || python3 -c 'import secrets; print(secrets.token_hex(32))' > "$WORK/alert-secret"
"$VIGIL" alert-sink --port 0 --secret-file "$WORK/alert-secret" --journal "$VIGIL_HOME/alert-sink.jsonl" \
    > "$WORK/sink.out" 2> "$WORK/sink.err" &
SINK_PID=$!
for _ in $(seq 200); do grep -q listening "$WORK/sink.err" && break; sleep 0.05; done
ALERT_URL=$(grep -o 'http://[0-9.:]*/v1/alerts' "$WORK/sink.err")
"$VIGIL" serve --port 0 --images-repo uploads --alert-url "$ALERT_URL" --alert-secret-file "$WORK/alert-secret" \
    2> "$VIGIL_HOME/serve.log" &
SERVE_PID=$!
for _ in $(seq 200); do grep -q "vigil serve: listening" "$VIGIL_HOME/serve.log" && break; sleep 0.05; done
API=$(grep "vigil serve: listening" "$VIGIL_HOME/serve.log" | grep -o 'http://[0-9.:]*/' | head -1)
API=${API%/}
echo "alert API: $ALERT_URL; Vigil: $API (log: $VIGIL_HOME/serve.log)" >&2

# A simulated day: the cameras upload real photos every two hours (as their own devices, over HTTP).
upload() { # device seconds file [ext]
    local name="$1-$2.${4:-jpg}"
    local answer
    answer=$(curl -s -w ' %{http_code}' -X PUT --data-binary "@$3" -H "Authorization: Bearer ${DEVICE[$1]}" \
        "$API/v1/images/$name")
    printf '  PUT /v1/images/%-28s → %s\n' "$name" "${answer##* }" >&2
    [ "${answer##* }" = 201 ]
}
printf '\n\033[1m$ curl -X PUT --data-binary @photo -H "Authorization: Bearer <device token>" %s/v1/images/<name>\033[0m\n' "$API" >&2
DAY=1763769600   # 2025-11-22T00:00:00Z
EXPECTED=0
devices=(frontdoor garage backyard)
for slot in $(seq 0 11); do
    device=${devices[$((slot % 3))]}
    photo=$([ $((slot % 2)) = 0 ] && echo bus.jpg || echo zidane.jpg)
    upload "$device" $((DAY + slot * 7200 + 1800)) "$SAMPLES/$photo"
    # acme fears persons (both photos have them); the Smiths fear buses (only bus.jpg has one).
    if [ "$device" != garage ] || [ "$photo" = bus.jpg ]; then EXPECTED=$((EXPECTED + 1)); fi
done
# What a broken camera or a bad client sends: kept aside by validate with a reason, or refused at the door.
head -c 30000 "$SAMPLES/bus.jpg" > "$WORK/truncated.jpg"
{ printf '\xff\xd8\xff\xe0'; head -c 5000 /dev/urandom; } > "$WORK/corrupt.jpg"
upload garage $((DAY + 80000)) "$WORK/truncated.jpg"
upload backyard $((DAY + 80100)) "$WORK/corrupt.jpg"
upload frontdoor $((DAY + 80200)) "$SAMPLES/bus.jpg" png || true                    # JPEG bytes named .png: 400
curl -s -X PUT --data-binary "@$SAMPLES/bus.jpg" -H "Authorization: Bearer ${DEVICE[frontdoor]}" \
    "$API/v1/images/garage-$((DAY + 80300)).jpg"; echo                           # another camera's name: 403
curl -s -X PUT --data-binary "@$SAMPLES/bus.jpg" "$API/v1/images/frontdoor-$((DAY + 80400)).jpg"; echo   # no token: 401

# Wait until every threat has been alerted and the analytics caught up (the service works as commits land).
count_alerts() { curl -s -H "Authorization: Bearer $ADMIN" "$API/v1/alerts?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["alerts"]))'; }
stats_total() { curl -s -H "Authorization: Bearer $ADMIN" "$API/v1/stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["alerts"]["total"], d["invalid"]["total"])'; }
for _ in $(seq 600); do
    [ "$(count_alerts)" = "$EXPECTED" ] && [ "$(wc -l < "$WORK/sink.out")" -ge "$EXPECTED" ] \
        && [ "$(stats_total)" = "$EXPECTED 2" ] && break
    sleep 0.2
done
echo "--- the alert API received $(wc -l < "$WORK/sink.out") alerts (expected $EXPECTED):" >&2
cat "$WORK/sink.out"
step alerts list
FIRST=$("$VIGIL" alerts list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
step alerts show "${FIRST:0:8}"
printf '\n\033[1m$ curl -X POST -H "Authorization: Bearer <acme token>" %s/v1/alerts/%s/ack\033[0m\n' "$API" "${FIRST:0:8}" >&2
curl -s -X POST -H "Authorization: Bearer $ACME" "$API/v1/alerts/${FIRST:0:8}/ack" \
    | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["id"], a["state"], "by", a["acknowledgedBy"])'
step ls validate@master:/invalid
step cat per-device@master:/frontdoor.csv
step stats
mkdir -p "$VIGIL_HOME/charts"
for chart in by-device by-day by-hour by-label invalid-by-device invalid-by-reason; do
    curl -s -H "Authorization: Bearer $ADMIN" "$API/v1/stats/$chart.svg" > "$VIGIL_HOME/charts/$chart.svg"
done
echo "bar charts: $VIGIL_HOME/charts/*.svg (open in a browser)"
printf '\n\033[1m$ curl -H "Authorization: Bearer <smiths token>" %s/v1/stats\033[0m  (a customer sees its own)\n' "$API" >&2
curl -s -H "Authorization: Bearer $SMITHS" "$API/v1/stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("alerts per device:", d["alerts"]["byDevice"], "invalid per device:", d["invalid"]["byDevice"])'
THREAT=$("$VIGIL" alerts list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["threat"])')
printf '\n\033[1m$ curl %s/v1/lineage?address=%s\033[0m\n' "$API" "$THREAT" >&2
curl -s -G -H "Authorization: Bearer $ADMIN" --data-urlencode "address=$THREAT" "$API/v1/lineage" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["commits"]:
    origin = c.get("origin") or c["message"]
    print("  " + c["repo"] + "@" + c["commit"][:12] + "  " + origin[:100])'
step audit --limit 8
step fsck
echo
echo "Dashboard: $API/ - sign in with a token: $ACME (customer acme), $SMITHS (the Smiths), $ADMIN (admin)"
$KEEP_RUNNING || echo "(the service stops now; scripts/demo.sh --keep-running keeps it up)"
if $KEEP_RUNNING; then
    echo "The service is running (VIGIL_HOME=$VIGIL_HOME); Ctrl-C stops it."
    wait "$SERVE_PID"
fi
stop_services
tail -1 "$WORK/sink.err"
echo "Demo data is in $VIGIL_HOME (delete it freely)."
