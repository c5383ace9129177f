#!/usr/bin/env bash
# Runs "$@" beside a PostgreSQL server of its own (Debian's postgresql 15: initdb in a temporary folder, a free
# loopback port, password authentication, fsync on as in production), and stops and removes it afterwards.
# The command finds the database in $VIGIL_BENCH_DATABASE, the password in $PGPASSWORD and a psql for the
# server in $VIGIL_BENCH_PSQL.
set -euo pipefail
BIN=${VIGIL_PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$BIN/initdb" ] || { echo "PostgreSQL not found in $BIN: install Debian's postgresql (make deps)"; exit 1; }
dir=$(mktemp -d /tmp/vigil-bench-pg-XXXXXX)
chmod 755 "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# initdb and the server refuse to run as root.
as_server_user() {
	if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}
printf '%s' bench-password > "$dir/password"
[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
as_server_user "$BIN/initdb -D $dir/data -U postgres -A scram-sha-256 --pwfile=$dir/password -E UTF8 \
	--locale=C.UTF-8 > $dir/initdb.log"
as_server_user "$BIN/pg_ctl -D $dir/data -o '-p $port -c listen_addresses=127.0.0.1 -k $dir' -l $dir/server.log \
	-w start > /dev/null"
trap 'as_server_user "$BIN/pg_ctl -D $dir/data -m fast stop > /dev/null"; rm -rf "$dir"' EXIT
export PGPASSWORD=bench-password
"$BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -c 'CREATE DATABASE vigil_bench'
export VIGIL_BENCH_DATABASE="postgres://postgres@127.0.0.1:$port/vigil_bench?sslmode=disable"
# For scripts that make more databases: `"$VIGIL_BENCH_PSQL" -c 'CREATE DATABASE …'`.
printf '#!/bin/sh\nexec %s -h 127.0.0.1 -p %s -U postgres -d postgres "$@"\n' "$BIN/psql" "$port" > "$dir/psql"
chmod 755 "$dir/psql"
export VIGIL_BENCH_PSQL="$dir/psql"
"$@"
