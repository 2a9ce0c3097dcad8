#!/usr/bin/env bash
# The API benchmark on a throw-away PostgreSQL: migrate, generate the bulk data, create an API key
# for the most addressed agency, run benchmarks/api_bench.py, stop the server and remove it.
#
#   bash benchmarks/run.sh                      # full size: 100,000 recommendations
#   bash benchmarks/run.sh --recommendations 10000   # arguments go to generate_bulk_data
#   BENCH_ARGS="--profile --show-queries" bash benchmarks/run.sh   # arguments of api_bench.py
#   BENCH_SCRIPT=report_bench.py bash benchmarks/run.sh  # another script of benchmarks/
#
# Runs as root or not (the server runs as the postgres user, as in .ci/run).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
find_pg_bin() {
    pg_bin_with initdb pg_ctl createdb
}
PG_BIN="$(find_pg_bin)" || { echo "PostgreSQL (initdb, pg_ctl) not found: install postgresql" >&2; exit 1; }

if [[ "$(id -u)" -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    as_postgres() { runuser -u postgres -- "$@"; }
else
    as_postgres() { "$@"; }
fi

BENCH_SCRIPT="${BENCH_SCRIPT:-api_bench.py}"
if [[ ! "$BENCH_SCRIPT" =~ ^[A-Za-z0-9_]+\.py$ || ! -f "benchmarks/$BENCH_SCRIPT" ]]; then
    echo "BENCH_SCRIPT: no such script in benchmarks/: $BENCH_SCRIPT" >&2
    exit 1
fi

PG_DIR="$(mktemp -d /tmp/idm-bench-postgres.XXXXXX)"
PG_STARTED=0
cleanup() {
    local status=$?
    if [[ "$PG_STARTED" -eq 1 ]]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$PG_DIR"
    exit "$status"
}
trap cleanup EXIT INT TERM

if [[ "$(id -u)" -eq 0 ]]; then
    chown postgres: "$PG_DIR"
fi
as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >"$PG_DIR/initdb.log" \
    || { cat "$PG_DIR/initdb.log"; exit 1; }

PG_PORT="$(uv run python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
PG_STARTED=1
as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -h 127.0.0.1" start \
    || { cat "$PG_DIR/log"; exit 1; }
as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres idm
echo "PostgreSQL $("$PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT, $(nproc) cores"

export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/idm"
# The benchmark sends a few hundred requests with one key: lift the per-key throttle.
export API_THROTTLE_RATE_KEY="1000000/min"

uv run manage.py migrate --verbosity 0
echo "== generate_bulk_data $*"
start=$(date +%s)
uv run manage.py generate_bulk_data "$@"
echo "generated in $(( $(date +%s) - start )) s"
uv run manage.py shell -c "from django.db import connection; connection.cursor().execute('VACUUM ANALYZE')" \
    >/dev/null
BENCH_API_KEY="$(uv run manage.py create_api_key --organisation BLK01 --name "API benchmark" | tail -n 1)"
export BENCH_API_KEY
echo "== benchmarks/$BENCH_SCRIPT"
# BENCH_ARGS, e.g. "--profile --show-queries", go to the benchmark.
# shellcheck disable=SC2086
uv run python "benchmarks/$BENCH_SCRIPT" ${BENCH_ARGS:-}
