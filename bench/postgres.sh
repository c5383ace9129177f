#!/usr/bin/env bash
# `make bench-postgres`, run inside bench/with-postgres.sh: the metadata figures (SQLite and PostgreSQL in one
# run), then upload→alert at 5 images/s through `vigil serve`'s whole path, runs alternating between SQLite and
# PostgreSQL (each PostgreSQL run in a fresh database: metadata, jobs, alerts and tokens there), then the
# medians and their ratios. Raw figures in bench-out/.
set -euo pipefail
out=bench-out
runs=${VIGIL_BENCH_SERVE_RUNS:-3}
seconds=${VIGIL_BENCH_SERVE_SECONDS:-30}
stamp=$(date +%s)
mkdir -p "$out"
bench=.build/release/vigil-bench
"$bench" metadata --home "$out/metadata-$stamp" --database "$VIGIL_BENCH_DATABASE" > "$out/postgres.json"
base=${VIGIL_BENCH_DATABASE%%\?*}
base=${base%/*}
for run in $(seq "$runs"); do
	echo "upload→alert, run $run of $runs: SQLite" >&2
	"$bench" serve --rates 5 --seconds "$seconds" --home "$out/serve-sqlite-$stamp-$run" \
		> "$out/serve-sqlite-$run.json"
	database="vigil_serve_${stamp}_$run"
	"$VIGIL_BENCH_PSQL" -q -c "CREATE DATABASE $database"
	echo "upload→alert, run $run of $runs: PostgreSQL" >&2
	"$bench" serve --rates 5 --seconds "$seconds" --home "$out/serve-postgres-$stamp-$run" \
		--database "$base/$database?sslmode=disable" > "$out/serve-postgres-$run.json"
done
python3 bench/postgres-summary.py "$out" "$runs"
