#!/usr/bin/env python3
"""Outage benchmark: S3 (a real SeaweedFS) killed for minutes while cameras keep sending frames.

`vigil serve` (HTTP API, pipelines validate → detect (the real detector) → threats, notifier to a local
`vigil alert-sink`) runs on the embedded metadata with its blobs in SeaweedFS. Cameras upload real photos
(bus.jpg and zidane.jpg, each with random bytes after the JPEG's end, so no two dedup) at a steady rate and
behave as cameras do: a frame refused (503 while S3 is down) is kept and sent again later. After --before
seconds SeaweedFS is killed (SIGKILL) for --outage seconds, then started again on the same folder and ports;
uploads go on for --after seconds, then stop. The run waits until every accepted frame has a detection
record (the frame was judged) and prints: frames sent, accepted and refused (by phase), judged, left
unjudged, failed datums, dead alerts, and how long after S3 returned the last frame was judged.
"""
import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3_bench import ACCESS_KEY, OUT, SECRET_KEY, client_for, start_weed, wait_ready  # noqa: E402

RULES = """customers:
  - id: acme
    name: Acme Storage Ltd
    contacts: [{name: Ana Lee, email: ana@acme.example}]
    devices: [cam]
    dangerous: {person: 0.5}
"""
SPECS = [
    "{name: validate, input: {pfs: {repo: images, glob: /*}}, transform: {stage: validate}}",
    "{name: detect, input: {pfs: {repo: validate, glob: /valid/*}}, transform: {stage: detect}}",
    "{name: threats, input: {cross: [{pfs: {repo: detect, glob: /*/*}}, "
    "{pfs: {repo: rules, glob: /, reprocess: false}}]}, transform: {stage: threats}}",
]


def vigil(binary, home, env, *args, check=True):
    result = subprocess.run([binary, *args, "--home", home], env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"vigil {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def wait_for_line(path, needle, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        text = open(path, errors="replace").read() if os.path.exists(path) else ""
        for line in text.splitlines():
            if needle in line:
                return line
        if proc.poll() is not None:
            sys.exit(f"{path}: the process ended: {text[-2000:]}")
        time.sleep(0.1)
    sys.exit(f"{path}: no '{needle}' within {seconds} s")


class Cameras:
    """Uploads a frame every 1/rate s; a refused or failed frame is kept and sent again 5 s later."""

    def __init__(self, base, token, photos, rate):
        self.base, self.token, self.photos, self.rate = base, token, photos, rate
        self.phase = "before"
        self.pending = []  # (name, body, next try)
        self.accepted = {}  # name -> phase it was accepted in
        self.refused = {"before": 0, "outage": 0, "after": 0}
        self.sent = 0
        self.in_flight = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def upload(self, name, body):
        request = urllib.request.Request(
            f"{self.base}/v1/images/{name}", data=body, method="PUT",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "image/jpeg"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status == 201
        except (urllib.error.HTTPError, urllib.error.URLError, TimeoutError, ConnectionError):
            return False

    def attempt(self, name, body):
        accepted = self.upload(name, body)
        with self.lock:
            self.in_flight -= 1
            if accepted:
                self.accepted[name] = self.phase
            else:
                self.refused[self.phase] += 1
                self.pending.append((name, body, time.time() + 5))

    def run(self, until_new):
        second = 1_763_800_000
        start = time.time()
        reported = start
        index = 0
        # Each camera is on its own: an upload that hangs while S3 is down holds up no other frame.
        with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
            while not self.stop.is_set():
                now = time.time()
                if now - reported >= 10:
                    reported = now
                    with self.lock:
                        print(f"  {now - start:4.0f} s ({self.phase}): {len(self.accepted)} accepted, "
                              f"{sum(self.refused.values())} refused, {len(self.pending) + self.in_flight} waiting",
                              file=sys.stderr)
                with self.lock:
                    if now < until_new() and now >= start + index / self.rate:
                        photo = self.photos[index % len(self.photos)]
                        self.pending.append((f"cam-{second + index}.jpg", photo + random.randbytes(32), now))
                        index += 1
                    due = [item for item in self.pending if item[2] <= now]
                    for item in due:
                        self.pending.remove(item)
                    self.in_flight += len(due)
                    self.sent += len(due)
                    if now >= until_new() and not self.pending and self.in_flight == 0:
                        return
                for name, body, _ in due:
                    pool.submit(self.attempt, name, body)
                time.sleep(0.02)


def detected(binary, home, env):
    out = vigil(binary, home, env, "ls", "detect@master:/cam/", "--json", check=False)
    try:
        return {entry["name"][: -len(".json")] for entry in json.loads(out)}
    except (ValueError, KeyError):
        return set()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vigil", required=True)
    parser.add_argument("--weed", required=True)
    parser.add_argument("--samples", required=True, help="the detector's sample photos (bus.jpg, zidane.jpg)")
    parser.add_argument("--rate", type=float, default=1.0, help="frames per second")
    parser.add_argument("--before", type=float, default=30, help="seconds of uploads before the outage")
    parser.add_argument("--outage", type=float, default=300, help="seconds S3 is down")
    parser.add_argument("--after", type=float, default=60, help="seconds of new frames after S3 returns")
    parser.add_argument("--catch-up", type=float, default=900, help="most seconds to wait for every frame")
    args = parser.parse_args()

    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="outage-", dir=OUT)
    weed_folder = os.path.join(work, "weed")
    os.makedirs(weed_folder)
    weed, endpoint = start_weed(args.weed, weed_folder)
    weed_args = weed.args
    wait_ready(endpoint, weed)
    client_for(endpoint, 1).create_bucket(Bucket="outage")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1")
    home = os.path.join(work, "home")
    vigil(args.vigil, home, env, "init", "--store", "s3://outage/vigil", "--s3-endpoint", endpoint)
    rules = os.path.join(work, "rules")
    os.makedirs(rules)
    open(os.path.join(rules, "customers.yaml"), "w").write(RULES)
    for command in (["repo", "create", "images"], ["repo", "create", "rules"], ["put", "rules", rules]):
        vigil(args.vigil, home, env, *command)
    for index, spec in enumerate(SPECS):
        path = os.path.join(work, f"spec{index}.yaml")
        open(path, "w").write(spec)
        vigil(args.vigil, home, env, "pipeline", "create", path)
    token = vigil(args.vigil, home, env, "token", "create", "--role", "device", "--device", "cam").strip()
    secret = os.path.join(work, "alert-secret")
    open(secret, "w").write("outage-benchmark-secret-0123456789")
    sink_log = os.path.join(work, "sink.err")
    sink = subprocess.Popen(
        [args.vigil, "alert-sink", "--port", "0", "--secret-file", secret, "--journal", os.path.join(work, "sink.jsonl")],
        stdout=subprocess.DEVNULL, stderr=open(sink_log, "w"))
    sink_line = wait_for_line(sink_log, "http://", sink)
    sink_url = next(word for word in sink_line.split() if word.startswith("http://")).rstrip(";")
    serve_log = os.path.join(work, "serve.err")
    serve = subprocess.Popen(
        [args.vigil, "serve", "--port", "0", "--home", home, "--alert-url", sink_url, "--alert-secret-file", secret],
        env=env, stdout=subprocess.DEVNULL, stderr=open(serve_log, "w"))
    line = wait_for_line(serve_log, "vigil serve: listening on http://", serve)
    base = line.split("listening on ")[1].split()[0].rstrip("/")
    photos = [open(os.path.join(args.samples, name), "rb").read() for name in ("bus.jpg", "zidane.jpg")]
    cameras = Cameras(base, token, photos, args.rate)
    start = time.time()
    new_until = [float("inf")]
    thread = threading.Thread(target=cameras.run, args=(lambda: new_until[0],))
    thread.start()
    try:
        time.sleep(args.before)
        weed.kill()
        weed.wait()
        cameras.phase = "outage"
        print(f"S3 down at {time.time() - start:.0f} s for {args.outage:.0f} s", file=sys.stderr)
        time.sleep(args.outage)
        log = open(os.path.join(weed_folder, "weed.log"), "ab")
        weed = subprocess.Popen(weed_args, env=dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                                                    AWS_SECRET_ACCESS_KEY=SECRET_KEY),
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        returned = time.time()
        cameras.phase = "after"
        print(f"S3 back at {returned - start:.0f} s", file=sys.stderr)
        time.sleep(args.after)
        new_until[0] = time.time()
        thread.join()
        accepted = dict(cameras.accepted)
        deadline = time.time() + args.catch_up
        judged = set()
        while time.time() < deadline:
            judged = detected(args.vigil, home, env) & set(accepted)
            if len(judged) == len(accepted):
                break
            time.sleep(2)
        caught_up = time.time()
        jobs = json.loads(vigil(args.vigil, home, env, "job", "list", "--json", check=False) or "[]")
        failed_last = {}
        for job in jobs:
            failed_last.setdefault(job["pipeline"], job["counts"]["failed"])
        alerts = json.loads(
            vigil(args.vigil, home, env, "alerts", "list", "--json", "--limit", "1000000", check=False) or "[]")
        dead = sum(1 for alert in alerts if alert.get("state") == "dead")
    finally:
        cameras.stop.set()
        for proc in (serve, sink):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        weed.kill()
    by_phase = {phase: sum(1 for p in accepted.values() if p == phase) for phase in ("before", "outage", "after")}
    result = {
        "rate": args.rate, "outageSeconds": args.outage, "framesMade": len(accepted) + len(cameras.pending),
        "uploadsSent": cameras.sent, "accepted": by_phase, "refused": cameras.refused,
        "judged": len(judged), "unjudged": len(accepted) - len(judged),
        "secondsFromS3BackToLastJudged": round(caught_up - returned, 1),
        "failedDatumsInLastJobs": failed_last, "deadAlerts": dead, "alerts": len(alerts),
    }
    print(json.dumps(result, indent=2))
    json.dump(result, open(os.path.join(OUT, "outage.json"), "w"), indent=2)
    print(f"\nS3 down {args.outage:.0f} s while cameras sent {args.rate:g} frames/s: {sum(by_phase.values())} frames "
          f"accepted ({by_phase['before']} before, {by_phase['outage']} during, {by_phase['after']} after), "
          f"{cameras.refused['outage']} uploads refused during the outage and sent again; {len(judged)} judged, "
          f"{len(accepted) - len(judged)} left unjudged; the last judged {caught_up - returned:.0f} s after S3 "
          f"returned; failed datums in the last jobs {failed_last}; {dead} dead alerts of {len(alerts)}.",
          file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if len(judged) != len(accepted) else 0)


if __name__ == "__main__":
    main()
