#!/usr/bin/env bash
# Every load and fault script on one throw-away stack (loadtests/env.sh), with their figures:
#
#   loadtests/run_all.sh            # 200 clients x 60 s, contention 50 clients, faults (Redis 60 s)
#   SHORT=1 loadtests/run_all.sh    # CI size: 50 clients x 15 s, 30 fault clients, Redis 10 s
#
# About 4 minutes in full (2 cores), 2 in short. Knobs: LOAD_CLIENTS, LOAD_SECONDS,
# CONTENTION_CLIENTS, and those of env.sh and faults.sh. Loopback only; nothing is left behind.
# Exit status: 1 when any part failed (the others still run).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=loadtests/faults.sh
source "$HERE/faults.sh"   # also sources env.sh

if [[ -n "${SHORT:-}" ]]; then
    LOAD_CLIENTS="${LOAD_CLIENTS:-50}"
    LOAD_SECONDS="${LOAD_SECONDS:-15}"
else
    LOAD_CLIENTS="${LOAD_CLIENTS:-200}"
    LOAD_SECONDS="${LOAD_SECONDS:-60}"
fi
CONTENTION_CLIENTS="${CONTENTION_CLIENTS:-50}"

started=$SECONDS
echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
lt_up
failed=()

echo "== load: $LOAD_CLIENTS clients, $LOAD_SECONDS s"
py "$HERE/load.py" --clients "$LOAD_CLIENTS" --duration "$LOAD_SECONDS" || failed+=(load)

echo "== contention: $CONTENTION_CLIENTS clients"
py "$HERE/contention.py" --clients "$CONTENTION_CLIENTS" || failed+=(contention)

faults_main || failed+=(faults)

echo "== done in $((SECONDS - started)) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#failed[@]})); then
    echo "run_all: FAILED: ${failed[*]}"
    exit 1
fi
echo "run_all: all passed"
