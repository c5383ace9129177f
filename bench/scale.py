#!/usr/bin/env python3
"""`make bench-scale`: how datum throughput grows with workers on several hosts.

Hosts are network namespaces made here (as the multi-host tests make them): host 0 holds PostgreSQL (fsync on),
SeaweedFS and the coordinator (`vigil engine --no-workers`); `vigil worker` processes run on four other hosts,
spread round robin, each with an empty data folder of its own. Measured, each a median of several runs:

- a stage whose datums wait 50 ms (`copy` with `delayMilliseconds`: a stand-in for I/O or a remote model; this
  machine has 2 cores) over 400 new inputs, with 1, 2, 4 and 8 workers of one slot each: datums/s from the job's
  own start and finish, and the ratio to linear (rate(n) / (n * rate(1)));
- no-op datums/s with 4 workers (16 slots each) over 2,000 inputs;
- wake-up latency: a commit made by `vigil put` on one host to the first claim of its datum by a worker on
  another (the datum record's start), p50/p99 over 60 commits;
- how long after `kill -9` of a worker its datums are claimed again, against its lease.

Figures come from the database (job, commit and datum times), not from polling. Needs root (namespaces),
Debian's PostgreSQL 15, the weed binary and a release build.
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

IP = "/usr/sbin/ip"
PG_BIN = os.environ.get("VIGIL_PG_BIN", "/usr/lib/postgresql/15/bin")
# Dates in job and datum records are seconds since 2001-01-01 (Foundation's reference date).
REFERENCE_DATE = 978307200.0


def sh(*args, check=True, **kwargs):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields), fields[7] if len(fields) > 7 else 0


class Lab:
    """Namespaces joined by a bridge in host 0, on a private /24; deleted by `close`."""

    def __init__(self, hosts):
        self.prefix = "vb%05x" % random.randrange(1 << 20)
        self.subnet = "10.%d.%d" % (random.randint(200, 250), random.randint(1, 254))
        self.hosts = hosts
        hub = self.ns(0)
        self.run("netns", "add", hub)
        self.run("-n", hub, "link", "set", "lo", "up")
        self.run("-n", hub, "link", "add", "br0", "type", "bridge")
        self.run("-n", hub, "addr", "add", self.address(0) + "/24", "dev", "br0")
        self.run("-n", hub, "link", "set", "br0", "up")
        for host in range(1, hosts):
            name, link = self.ns(host), "%sh%d" % (self.prefix, host)
            self.run("netns", "add", name)
            self.run("-n", name, "link", "set", "lo", "up")
            self.run("-n", hub, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name)
            self.run("-n", name, "addr", "add", self.address(host) + "/24", "dev", "eth0")
            self.run("-n", name, "link", "set", "eth0", "up")
            self.run("-n", hub, "link", "set", link, "master", "br0")
            self.run("-n", hub, "link", "set", link, "up")

    def ns(self, host):
        return "%s-%d" % (self.prefix, host)

    def address(self, host):
        return "%s.%d" % (self.subnet, host + 1)

    def run(self, *args):
        sh(IP, *args)

    def on(self, host, argv):
        return [IP, "netns", "exec", self.ns(host)] + argv

    def close(self):
        for host in range(self.hosts):
            pids = sh(IP, "netns", "pids", self.ns(host), check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            sh(IP, "netns", "del", self.ns(host), check=False)


class Services:
    """PostgreSQL (fsync on, as in production) and SeaweedFS on host 0 of `lab`."""

    def __init__(self, lab, folder, weed):
        self.lab, self.folder = lab, folder
        self.host = lab.address(0)
        self.port = 5432
        data = os.path.join(folder, "pg")
        os.makedirs(data)
        os.chmod(folder, 0o755)
        with open(os.path.join(folder, "password"), "w") as f:
            f.write("bench-password")
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(os.path.join(folder, "password"), "postgres", "postgres")
        self.as_postgres(f"{PG_BIN}/initdb -D {data} -U postgres -A scram-sha-256 --pwfile={folder}/password "
                         f"-E UTF8 --locale=C.UTF-8 > {folder}/initdb.log")
        with open(os.path.join(data, "pg_hba.conf"), "a") as f:
            f.write(f"host all all {lab.subnet}.0/24 scram-sha-256\n")
        self.as_postgres(f"{PG_BIN}/pg_ctl -D {data} -o '-p {self.port} -c listen_addresses={self.host} "
                         f"-c max_connections=300 -k {folder}' -l {folder}/pg.log -w start > /dev/null", namespace=True)
        self.env = dict(os.environ, PGPASSWORD="bench-password")
        self.psql("CREATE DATABASE vigil_scale")
        self.url = f"postgres://postgres@{self.host}:{self.port}/vigil_scale?sslmode=disable"
        ports = [19333 + i for i in range(10)]
        self.weed = subprocess.Popen(
            lab.on(0, [weed, "mini", f"-dir={folder}/weed", f"-ip={self.host}", f"-ip.bind={self.host}",
                       "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                       "-master.telemetry=false", f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}",
                       f"-volume.port={ports[2]}", f"-volume.port.grpc={ports[3]}", f"-filer.port={ports[4]}",
                       f"-filer.port.grpc={ports[5]}", f"-s3.port={ports[6]}", f"-s3.port.grpc={ports[7]}",
                       f"-admin.port={ports[8]}", f"-admin.port.grpc={ports[9]}"]),
            env=dict(os.environ, AWS_ACCESS_KEY_ID="bench-key", AWS_SECRET_ACCESS_KEY="bench-secret-0123456789"),
            stdout=open(f"{folder}/weed.log", "w"), stderr=subprocess.STDOUT)
        os.makedirs(f"{folder}/weed", exist_ok=True)
        self.endpoint = f"http://{self.host}:{ports[6]}"
        deadline = time.time() + 60
        while True:
            code = sh(*lab.on(0, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                                  self.endpoint + "/"]), check=False).stdout
            if code not in ("", "000"):
                break
            if time.time() > deadline:
                raise SystemExit("SeaweedFS did not start: see " + folder + "/weed.log")
            time.sleep(0.3)
        made = sh(*lab.on(0, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                              f"http://{self.host}:{ports[4]}/buckets/scale/"])).stdout
        if made not in ("200", "201"):
            raise SystemExit("could not make the bucket: HTTP " + made)
        self.vigil_env = dict(os.environ, PGPASSWORD="bench-password", AWS_ACCESS_KEY_ID="bench-key",
                              AWS_SECRET_ACCESS_KEY="bench-secret-0123456789", AWS_REGION="us-east-1",
                              VIGIL_DATABASE_URL=self.url, VIGIL_STORE="s3://scale/vigil",
                              VIGIL_S3_ENDPOINT=self.endpoint)

    def as_postgres(self, command, namespace=False):
        argv = ["su", "postgres", "-s", "/bin/sh", "-c", command]
        subprocess.run(self.lab.on(0, argv) if namespace else argv, check=True)

    def psql(self, sql, database="postgres"):
        return sh(*self.lab.on(0, [f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-h", self.host, "-p", str(self.port),
                                   "-U", "postgres", "-d", database, "-c", sql]), env=self.env).stdout.strip()

    def query(self, sql):
        return [line.split("|") for line in self.psql(sql, "vigil_scale").splitlines() if line]

    def close(self):
        self.weed.kill()
        data = os.path.join(self.folder, "pg")
        self.as_postgres(f"{PG_BIN}/pg_ctl -D {data} -m fast stop > /dev/null", namespace=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="vigil-scale-")
        os.chmod(self.root, 0o755)  # the postgres user reaches its folder inside
        self.lab = Lab(5)
        try:
            self.services = Services(self.lab, os.path.join(self.root, "services"), args.weed)
        except BaseException:
            self.lab.close()
            raise
        self.workers = []
        self.engine = None
        self.homes = 0
        self.named = 0
        self.frames = 0

    def vigil(self, host, arguments, home=None, background=False, log=None):
        self.homes += 1
        home = home or os.path.join(self.root, "home-%d" % self.homes)
        argv = self.lab.on(host, [self.args.vigil] + arguments + ["--home", home])
        if background:
            return subprocess.Popen(argv, env=self.services.vigil_env, stdout=subprocess.DEVNULL,
                                    stderr=open(log or os.devnull, "a"))
        result = subprocess.run(argv, env=self.services.vigil_env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"vigil {' '.join(arguments)} failed: {result.stderr}")
        return result.stdout

    def coordinator(self, arguments):
        return self.vigil(0, arguments, home=os.path.join(self.root, "coordinator"))

    def pipeline(self, name, repo, stage, delay, parallelism=1):
        spec = os.path.join(self.root, name + ".yaml")
        with open(spec, "w") as f:
            f.write(f"{{name: {name}, input: {{pfs: {{repo: {repo}, glob: '/*'}}}}, parallelism: {parallelism}, "
                    f"transform: {{stage: {stage}, options: {{delayMilliseconds: '{delay}'}}}}}}\n")
        self.coordinator(["repo", "create", repo])
        self.coordinator(["pipeline", "create", spec])

    def start_workers(self, pipeline, count, concurrency):
        started = []
        known = int(self.services.query(f"SELECT count(*) FROM workers WHERE pipeline = '{pipeline}'")[0][0])
        for index in range(count):
            host = 1 + index % 4
            self.named += 1
            started.append(self.vigil(host, ["worker", "--pipeline", pipeline, "--name", f"{pipeline}-{self.named}",
                                              "--concurrency", str(concurrency)], background=True,
                                       log=os.path.join(self.root, f"{pipeline}-{index}.log")))
        deadline = time.time() + 60
        while int(self.services.query(f"SELECT count(*) FROM workers WHERE pipeline = '{pipeline}'")[0][0]) < (
                known + count):
            if time.time() > deadline:
                raise SystemExit(f"workers of {pipeline} did not register; logs in {self.root}")
            time.sleep(0.2)
        self.workers += started
        return started

    def put(self, repo, count, tag):
        """`count` new frames, named as cameras name them: later runs bring later timestamps, never the same name."""
        folder = os.path.join(self.root, f"in-{repo}-{tag}")
        os.makedirs(folder)
        self.frames += count
        for index in range(count):
            stamp = 1_700_000_000 + self.frames + index
            with open(os.path.join(folder, f"cam{index % 7}-{stamp}.jpg"), "wb") as f:
                f.write(f"{repo} {tag} {index} ".encode() + os.urandom(64))
        self.coordinator(["put", repo, folder])

    def wait_jobs(self, pipeline, count, timeout=600):
        deadline = time.time() + timeout
        while True:
            done = self.services.query(
                f"SELECT count(*) FROM jobs WHERE pipeline = '{pipeline}' AND state <> 'running'")[0][0]
            if int(done) >= count:
                return
            if time.time() > deadline:
                raise SystemExit(f"{pipeline}: jobs did not finish; logs in {self.root}")
            time.sleep(0.1)

    def job_rates(self, pipeline):
        rows = self.services.query(
            f"SELECT (body::json->'counts'->>'processed')::int, (body::json->>'finished')::float8 "
            f"- (body::json->>'started')::float8, state FROM jobs WHERE pipeline = '{pipeline}' ORDER BY seq")
        return [(int(processed), float(seconds), state) for processed, seconds, state in rows]

    def phases(self, pipeline):
        """Median seconds of a pipeline's jobs in each phase: planning and queueing (job start to the first datum
        starting), running (first datum start to last datum end), assembling (last datum end to the job's end)."""
        rows = self.services.query(
            "SELECT (j.body::json->>'started')::float8, min((d.body::json->>'started')::float8), "
            "max((d.body::json->>'finished')::float8), (j.body::json->>'finished')::float8 "
            f"FROM jobs j JOIN datums d ON d.job = j.id WHERE j.pipeline = '{pipeline}' GROUP BY j.id, j.body")
        spans = [[float(x) for x in row] for row in rows]
        # Per worker, each datum's own time and the gap before its next one (recording, claiming, waking).
        datums = self.services.query(
            "SELECT d.body::json->>'worker', (d.body::json->>'started')::float8, (d.body::json->>'finished')::float8 "
            f"FROM datums d JOIN jobs j ON j.id = d.job WHERE j.pipeline = '{pipeline}'")
        by_worker = {}
        for worker, started, finished in datums:
            by_worker.setdefault(worker, []).append((float(started), float(finished)))
        durations, gaps = [], []
        for runs in by_worker.values():
            runs.sort()
            durations += [f - s for s, f in runs]
            gaps += [b[0] - a[1] for a, b in zip(runs, runs[1:]) if b[0] - a[1] < 1]
        # Per job, how evenly its datums spread over the workers: how far apart the workers started and ended,
        # and the fewest and most datums one of them ran.
        per_worker = self.services.query(
            "SELECT d.job, count(*), min((d.body::json->>'started')::float8), max((d.body::json->>'finished')::float8) "
            f"FROM datums d JOIN jobs j ON j.id = d.job WHERE j.pipeline = '{pipeline}' "
            "GROUP BY d.job, d.body::json->>'worker'")
        jobs = {}
        for job, count, first, last in per_worker:
            jobs.setdefault(job, []).append((int(count), float(first), float(last)))
        starts = [max(w[1] for w in ws) - min(w[1] for w in ws) for ws in jobs.values()]
        ends = [max(w[2] for w in ws) - min(w[2] for w in ws) for ws in jobs.values()]
        return {"planSeconds": statistics.median(s[1] - s[0] for s in spans),
                "workerStartSpreadMilliseconds": 1000 * statistics.median(starts),
                "workerEndSpreadMilliseconds": 1000 * statistics.median(ends),
                "fewestDatumsOnAWorker": min(min(w[0] for w in ws) for ws in jobs.values()),
                "mostDatumsOnAWorker": max(max(w[0] for w in ws) for ws in jobs.values()),
                "runSeconds": statistics.median(s[2] - s[1] for s in spans),
                "assembleSeconds": statistics.median(s[3] - s[2] for s in spans),
                "datumMilliseconds": 1000 * statistics.median(durations),
                "gapMilliseconds": 1000 * statistics.median(gaps) if gaps else None}

    def throughput(self, pipeline, repo, inputs, runs):
        rates = []
        for run in range(runs):
            self.put(repo, inputs, f"run{run}")
            self.wait_jobs(pipeline, run + 1)
        for processed, seconds, state in self.job_rates(pipeline):
            if state != "finished" or processed != inputs:
                raise SystemExit(f"{pipeline}: a job ended {state} with {processed} of {inputs} datums processed")
            rates.append(processed / seconds)
        return rates

    def stop(self, processes):
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def main(self):
        args = self.args
        result = {"runs": args.runs, "inputs": args.inputs, "delayMilliseconds": args.delay}
        total0, steal0 = cpu_times()
        self.coordinator(["init"])
        self.engine = self.vigil(0, ["engine", "--no-workers"], home=os.path.join(self.root, "coordinator"),
                                 background=True, log=os.path.join(self.root, "engine.log"))
        # Waiting datums: 1, 2, 4, 8 workers of one slot, spread over four hosts.
        scaling = []
        for count in args.workers:
            name = f"wait{count}"
            self.pipeline(name, f"in{count}", "copy", args.delay)
            started = self.start_workers(name, count, 1)
            rates = self.throughput(name, f"in{count}", args.inputs, args.runs)
            self.stop(started)
            phases = self.phases(name)
            scaling.append({"workers": count, "datumsPerSecond": rates, "median": statistics.median(rates),
                            "phases": phases})
            print(f"{count} worker(s): {statistics.median(rates):7.1f} datums/s (runs: "
                  + ", ".join(f"{r:.1f}" for r in rates) + "); plan %.2f s, run %.2f s, assemble %.2f s; "
                  "a datum %.1f ms, then %.1f ms to the next; workers started %.0f ms and ended %.0f ms apart, "
                  "ran %d to %d datums each" % (
                      phases["planSeconds"], phases["runSeconds"], phases["assembleSeconds"],
                      phases["datumMilliseconds"], phases["gapMilliseconds"] or 0,
                      phases["workerStartSpreadMilliseconds"], phases["workerEndSpreadMilliseconds"],
                      phases["fewestDatumsOnAWorker"], phases["mostDatumsOnAWorker"]), file=sys.stderr)
        base = scaling[0]["median"]
        for entry in scaling:
            entry["ratioToLinear"] = entry["median"] / (entry["workers"] * base)
        result["waitingStage"] = scaling
        # No-op datums with 4 workers of 16 slots.
        self.pipeline("noop4", "noopin", "noop", 0, parallelism=16)
        started = self.start_workers("noop4", 4, 16)
        rates = self.throughput("noop4", "noopin", args.noop_inputs, args.runs)
        self.stop(started)
        phases = self.phases("noop4")
        result["noop"] = {"workers": 4, "datumsPerSecond": rates, "median": statistics.median(rates),
                          "phases": phases}
        print(f"no-op, 4 workers: {statistics.median(rates):7.1f} datums/s; plan %.2f s, run %.2f s, "
              "assemble %.2f s" % (phases["planSeconds"], phases["runSeconds"], phases["assembleSeconds"]),
              file=sys.stderr)
        # Wake-up: a commit made on host 3 to the first claim by a worker on host 1.
        self.pipeline("wake", "wakein", "noop", 0)
        started = self.start_workers("wake", 1, 1)
        for index in range(args.wakeups):
            folder = os.path.join(self.root, f"wake-{index}")
            os.makedirs(folder)
            with open(os.path.join(folder, f"cam9-{1_700_100_000 + index}.jpg"), "wb") as f:
                f.write(os.urandom(64))
            self.vigil(3, ["put", "wakein", folder])
            self.wait_jobs("wake", index + 1)
            time.sleep(0.05)
        latencies = [float(row[0]) * 1000 for row in self.services.query(
            "SELECT (d.body::json->>'started')::float8 + 978307200 - c.finished FROM datums d "
            "JOIN jobs j ON j.id = d.job JOIN commits c ON c.id = d.body::json->'inputs'->0->>'commit' "
            "WHERE j.pipeline = 'wake'")]
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
        result["wakeUp"] = {"commits": len(latencies), "p50Milliseconds": p(0.5), "p99Milliseconds": p(0.99),
                            "maxMilliseconds": latencies[-1]}
        print(f"commit → claim on another host: p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms over "
              f"{len(latencies)} commits", file=sys.stderr)
        # kill -9 of a worker holding datums: how long until they are claimed again, against its lease.
        self.pipeline("reclaim", "reclaimin", "copy", 4000)
        victim = self.start_workers("reclaim", 1, 4)[0]
        self.put("reclaimin", 4, "kill")
        deadline = time.time() + 60
        while int(self.services.query("SELECT count(*) FROM datum_queue WHERE state = 'claimed'")[0][0]) < 4:
            if time.time() > deadline:
                raise SystemExit("the reclaim worker claimed nothing")
            time.sleep(0.05)
        lease_ends = float(self.services.query(
            "SELECT max(lease_until) FROM datum_queue WHERE state = 'claimed'")[0][0])
        victim.kill()
        killed = float(self.services.query("SELECT extract(epoch FROM clock_timestamp())")[0][0])
        self.start_workers("reclaim", 1, 4)
        while True:
            row = self.services.query("SELECT count(*), min(lease_until) FROM datum_queue "
                                      "WHERE state = 'claimed' AND claims = 2")[0]
            if int(row[0]) == 4:
                break
            time.sleep(0.02)
        reclaimed = float(self.services.query("SELECT extract(epoch FROM clock_timestamp())")[0][0])
        result["reclaim"] = {"leaseSeconds": 10, "killToReclaimSeconds": reclaimed - killed,
                             "afterLeaseEndSeconds": reclaimed - lease_ends}
        print(f"kill -9 → claimed again: {reclaimed - killed:.2f} s after the kill, "
              f"{reclaimed - lease_ends:.2f} s after its lease ended (lease 10 s)", file=sys.stderr)
        total1, steal1 = cpu_times()
        result["stealPercent"] = 100.0 * (steal1 - steal0) / max(1, total1 - total0)
        print(f"steal: {result['stealPercent']:.1f} %", file=sys.stderr)
        print(json.dumps(result, indent=2))

    def close(self):
        for process in self.workers + ([self.engine] if self.engine else []):
            process.kill()
        try:
            self.services.close()
        finally:
            self.lab.close()
            if not os.environ.get("VIGIL_BENCH_KEEP"):
                shutil.rmtree(self.root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vigil", default=".build/release/vigil")
    parser.add_argument("--weed", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--inputs", type=int, default=400)
    parser.add_argument("--noop-inputs", type=int, default=2000)
    parser.add_argument("--delay", type=int, default=50)
    parser.add_argument("--wakeups", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("make bench-scale makes network namespaces: run it as root")
    args.vigil = os.path.abspath(args.vigil)
    bench = Bench(args)
    try:
        bench.main()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
