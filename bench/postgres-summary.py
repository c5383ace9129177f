"""Prints `make bench-postgres`'s figures: the metadata run's medians and ratios, then upload→alert per run and
the medians of the runs on each backend, with PostgreSQL's ratio to SQLite."""
import json
import statistics
import sys

out, runs = sys.argv[1], int(sys.argv[2])
metadata = json.load(open(f"{out}/postgres.json"))
sqlite, postgres = metadata["sqlite"], metadata["postgres"]
print("metadata (median of runs)             SQLite      PostgreSQL  ratio")
print(f"1-file commit p50 (ms)              {sqlite['commitMedian']:8.2f}   {postgres['commitMedian']:8.2f}   ×{metadata['latencyRatio']:.2f}")
print(f"1-file commit p99 (ms)              {sqlite['commitP99']:8.2f}   {postgres['commitP99']:8.2f}")
print(f"commits/s, 8 writers                {sqlite['commitsPerSecondMedian']:8.0f}   {postgres['commitsPerSecondMedian']:8.0f}   ×{metadata['throughputRatio']:.2f}")
print(f"no-op datums/s through the engine   {sqlite['datumsPerSecondMedian']:8.0f}   {postgres['datumsPerSecondMedian']:8.0f}   ×{metadata['datumsRatio']:.2f}")
steal = metadata.get("stealPercent")
print(f"steal during the metadata runs: {steal:.1f} %" if steal is not None else "steal: not readable here")

print("\nupload→alert at 5 images/s")
print("run  backend     p50 ms   p99 ms   max ms   CPU ms/image  steal %")
figures = {"sqlite": [], "postgres": []}
for run in range(1, runs + 1):
    for backend in ("sqlite", "postgres"):
        rate = json.load(open(f"{out}/serve-{backend}-{run}.json"))["rates"][0]
        figures[backend].append(rate)
        steal = rate.get("stealPercent")
        print(f"{run:3}  {backend:10} {rate['p50']:8.1f} {rate['p99']:8.1f} {rate['max']:8.1f} "
              f"{rate['cpuMillisecondsPerImage']:12.1f}  {steal if steal is not None else float('nan'):6.1f}")
median = {b: {k: statistics.median(r[k] for r in figures[b]) for k in ("p50", "p99")} for b in figures}
print(f"medians: SQLite p50 {median['sqlite']['p50']:.1f} ms, p99 {median['sqlite']['p99']:.1f} ms; "
      f"PostgreSQL p50 {median['postgres']['p50']:.1f} ms (×{median['postgres']['p50'] / median['sqlite']['p50']:.2f}), "
      f"p99 {median['postgres']['p99']:.1f} ms (×{median['postgres']['p99'] / median['sqlite']['p99']:.2f})")
