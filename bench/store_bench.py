#!/usr/bin/env python3
"""Store benchmark: Vigil's versioned store beside DVC on the same data, in the same run.

Prints, with medians of several runs:
  (a) ingest of 10,000 files of 50 KB into one commit (files/s, MB/s), Vigil vs `dvc add`, and the ratio;
      then adding one file to that folder, Vigil vs DVC;
  (b) time to commit 1 file into a repo of 100,000 and of 1,000,000 files (in-process, vigil-bench);
  (c) diff of that one change in the 1M-file repo;
  (d) extra bytes stored by copying the 10,000-file repo;
  (e) peak memory (max RSS) of `vigil put` of 100,000 files in one commit.
Writes everything to bench-out/store.json as well.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

OUT = os.path.abspath("bench-out")
FILES, FILE_SIZE = 10_000, 50_000


def run(cmd, cwd=None, env=None):
    """Runs a command to the end; returns (seconds, max RSS in KiB).

    Dirty pages left by the previous command are written out first, untimed: otherwise a command that syncs
    (Vigil publishes a commit only after a syncfs barrier) would also pay for the previous command's writeback
    (DVC does not sync, so its own writeback is never charged to it; this still favours DVC).
    """
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return elapsed, usage.ru_maxrss


def make_files(folder, count, size, seed):
    if os.path.isdir(folder) and len(os.listdir(folder)) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rng = __import__("random").Random(seed)
    for i in range(count):
        with open(os.path.join(folder, f"cam{i % 20}-{1700000000 + i}.jpg"), "wb") as f:
            f.write(rng.randbytes(size))


def settle(seconds):
    # Deleting or writing hundreds of MB makes the next file creations slow for a while on this machine.
    subprocess.run(["sync"])
    time.sleep(seconds)


def tree_bytes(folder):
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            total += os.path.getsize(os.path.join(root, name))
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vigil", required=True)
    parser.add_argument("--vigil-bench", required=True)
    parser.add_argument("--dvc", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=60)
    parser.add_argument("--tree-sizes", default="100000,1000000")
    args = parser.parse_args()
    vigil, bench, dvc = map(os.path.abspath, (args.vigil, args.vigil_bench, args.dvc))

    shutil.rmtree(os.path.join(OUT, "work"), ignore_errors=True)
    work = os.path.join(OUT, "work")
    os.makedirs(work)
    frames = os.path.join(OUT, "data", "frames")
    extra = os.path.join(OUT, "data", "extra.jpg")
    print(f"preparing {FILES} files of {FILE_SIZE // 1000} KB ...", flush=True)
    make_files(frames, FILES, FILE_SIZE, seed=1)
    with open(extra, "wb") as f:
        f.write(os.urandom(FILE_SIZE))
    megabytes = FILES * FILE_SIZE / 1e6
    settle(args.settle)

    results = {"machine": f"{os.cpu_count()} cores", "files": FILES, "fileBytes": FILE_SIZE}

    # (a) Vigil and DVC take turns on the same folder, so both meet the same disk conditions. Each Vigil run uses
    # a fresh data folder, so every byte is new; each DVC run a fresh `dvc init --no-scm` repo.
    vigil_add, vigil_one, dvc_add, dvc_one = [], [], [], []
    for r in range(args.runs):
        home = os.path.join(work, f"vigil{r}")
        env = dict(os.environ, VIGIL_HOME=home)
        run([vigil, "init"], env=env)
        run([vigil, "repo", "create", "images"], env=env)
        seconds, _ = run([vigil, "put", "images", frames], env=env)
        vigil_add.append(seconds)
        seconds, _ = run([vigil, "put", "images", extra], env=env)
        vigil_one.append(seconds)
        print(f"  vigil run {r + 1}: {FILES / vigil_add[-1]:.0f} files/s, one more file {vigil_one[-1] * 1000:.0f} ms",
              flush=True)

        # DVC on the same folder: `dvc add` of the folder, then again after one file is added to it.
        repo = os.path.join(work, f"dvc{r}")
        os.makedirs(repo)
        subprocess.run(["cp", "-al", frames, os.path.join(repo, "frames")], check=True)
        run([dvc, "init", "--no-scm", "-q"], cwd=repo)
        seconds, _ = run([dvc, "add", "-q", "frames"], cwd=repo)
        dvc_add.append(seconds)
        shutil.copy(extra, os.path.join(repo, "frames", "extra.jpg"))
        seconds, _ = run([dvc, "add", "-q", "frames"], cwd=repo)
        dvc_one.append(seconds)
        print(f"  dvc run {r + 1}: {FILES / dvc_add[-1]:.0f} files/s, one more file {dvc_one[-1] * 1000:.0f} ms",
              flush=True)

    va, da = statistics.median(vigil_add), statistics.median(dvc_add)
    vo, do = statistics.median(vigil_one), statistics.median(dvc_one)
    results["ingest"] = {
        "vigilSeconds": vigil_add, "dvcSeconds": dvc_add,
        "vigilFilesPerSecond": FILES / va, "vigilMBPerSecond": megabytes / va,
        "dvcFilesPerSecond": FILES / da, "dvcMBPerSecond": megabytes / da, "ratio": da / va,
        "oneMoreFileVigilSeconds": vigil_one, "oneMoreFileDvcSeconds": dvc_one,
    }

    # (d) Copy the 10,000-file repo: bytes the store grows by.
    env = dict(os.environ, VIGIL_HOME=os.path.join(work, "vigil0"))
    blobs = os.path.join(work, "vigil0", "blobs")
    before = tree_bytes(blobs)
    run([vigil, "repo", "create", "images-copy"], env=env)
    run([vigil, "copy", "images", "images-copy"], env=env)
    copied = tree_bytes(blobs) - before
    results["copy"] = {"originalBytes": before, "extraBytes": copied, "percent": 100 * copied / before}

    # (e) Peak memory of one put of 100,000 files.
    many = os.path.join(OUT, "data", "many")
    print("preparing 100,000 files of 1 KB ...", flush=True)
    make_files(many, 100_000, 1_000, seed=2)
    settle(args.settle)
    home = os.path.join(work, "vigil-many")
    env = dict(os.environ, VIGIL_HOME=home)
    run([vigil, "init"], env=env)
    run([vigil, "repo", "create", "images"], env=env)
    seconds, rss = run([vigil, "put", "images", many], env=env)
    results["put100k"] = {"seconds": seconds, "filesPerSecond": 100_000 / seconds, "maxRSSMiB": rss / 1024}

    # (b), (c) Tree costs in-process.
    print("building trees of " + args.tree_sizes + " files ...", flush=True)
    tree_home = os.path.join(work, "tree")
    proc = subprocess.run([bench, "tree", "--home", tree_home, "--sizes", *args.tree_sizes.split(",")],
                          check=True, stdout=subprocess.PIPE)
    results["tree"] = json.loads(proc.stdout)

    with open(os.path.join(OUT, "store.json"), "w") as f:
        json.dump(results, f, indent=2)

    print()
    print(f"Store benchmark ({os.cpu_count()} cores; medians of {args.runs} runs)")
    print(f"(a) ingest {FILES} x {FILE_SIZE // 1000} KB, one commit:")
    print(f"      vigil put  {FILES / va:8.0f} files/s  {megabytes / va:6.1f} MB/s   ({va:.2f} s)")
    print(f"      dvc add    {FILES / da:8.0f} files/s  {megabytes / da:6.1f} MB/s   ({da:.2f} s)")
    print(f"      ratio vigil/dvc: {da / va:.2f}x")
    print(f"    add 1 file to the 10,000: vigil {vo * 1000:.0f} ms, dvc {do * 1000:.0f} ms, ratio {do / vo:.1f}x"
          " (whole commands, process start included)")
    for t in results["tree"]:
        print(f"(b) commit 1 file into {t['files']:>9,} files: {t['commitMedian']:6.2f} ms"
              f"   (c) diff: {t['diffMedian']:6.2f} ms   lookup: {t['lookupMedian']:5.2f} ms")
    c = results["copy"]
    print(f"(d) copy of the 10,000-file repo stored {c['extraBytes']:,} extra bytes"
          f" = {c['percent']:.4f}% of {c['originalBytes']:,}")
    p = results["put100k"]
    print(f"(e) vigil put of 100,000 files: peak RSS {p['maxRSSMiB']:.0f} MiB, {p['filesPerSecond']:.0f} files/s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
