#!/usr/bin/env bash
# Faults under load, on the stack of loadtests/env.sh (started here unless already up):
#
# (a) PostgreSQL restarted (pg_ctl restart -m fast) while FAULT_CLIENTS clients load the site:
#     requests fail only during the restart (plus 3 s), then succeed again with the same gunicorn
#     master and workers (Django's CONN_HEALTH_CHECKS drops the dead persistent connections); no
#     half-written report (loadtests/checks.py consistency).
# (b) Redis (broker and cache) stopped for REDIS_DOWN seconds under load, the reminder sweep run
#     while it is down (its sends cannot be queued), Redis back, the sweep queued on the worker and
#     the worker killed with kill -9 while it sends; a new worker, and the sweeps catch up:
#     afterwards every due reminder is sent, each exactly once (one mail per Message-ID in the
#     mail folder), none left waiting or made twice. The web's answers during the outage are
#     counted too: they must not fail.
#
#   loadtests/faults.sh                 # REDIS_DOWN=60, FAULT_SECONDS=30, FAULT_CLIENTS=50
#   SHORT=1 loadtests/faults.sh         # CI: REDIS_DOWN=10, FAULT_SECONDS=20, FAULT_CLIENTS=30
#
# Exit status: 1 when any check failed. Waiting reminders are aged by five minutes before the
# catch-up sweep (checks.py backdate-waiting) instead of waiting for the sweep's requeue delay.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=loadtests/env.sh
source "$HERE/env.sh"

if [[ -n "${SHORT:-}" ]]; then
    REDIS_DOWN="${REDIS_DOWN:-10}"
    FAULT_SECONDS="${FAULT_SECONDS:-20}"
    FAULT_CLIENTS="${FAULT_CLIENTS:-30}"
else
    REDIS_DOWN="${REDIS_DOWN:-60}"
    FAULT_SECONDS="${FAULT_SECONDS:-30}"
    FAULT_CLIENTS="${FAULT_CLIENTS:-50}"
fi
FAULTS_FAILED=0

py() {
    (cd "$LT_ROOT" && uv run --quiet python "$@")
}

psql_value() {
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d idm -Atc "$1"
}

now() {
    date +%s.%N
}

seconds_between() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
}

# Start load.py in the background; returns once its clients are running.
start_load() {  # start_load <name> <seconds> <clients>
    local out="$LT_DIR/$1.out"
    py "$HERE/load.py" --clients "$3" --duration "$2" --allow-errors --with-ok-times \
        --json "$LT_DIR/$1.json" >"$out" 2>&1 &
    LOAD_PID=$!
    lt_wait_for 60 grep -q "^load: .* clients for" "$out" \
        || { cat "$out"; echo "load.py did not start"; return 1; }
}

finish_load() {  # finish_load <name>
    wait "$LOAD_PID" || true
    sed 's/^/  /' "$LT_DIR/$1.out" | grep -v "^  load: FAILED"
}

check() {
    if ! "$@"; then
        FAULTS_FAILED=1
    fi
}

gunicorn_pids() {
    local master
    master="$(lt_gunicorn_master)"
    echo "$master $(pgrep -P "$master" | sort -n | tr '\n' ' ')"
}

fault_postgres_restart() {
    echo "== (a) PostgreSQL restarted under load: $FAULT_CLIENTS clients, $FAULT_SECONDS s"
    local before after t0 t1
    before="$(gunicorn_pids)"
    start_load fault-pg "$FAULT_SECONDS" "$FAULT_CLIENTS"
    sleep "$((FAULT_SECONDS / 3))"
    t0="$(now)"
    lt_pg_restart
    t1="$(now)"
    echo "  pg_ctl restart -m fast took $(seconds_between "$t0" "$t1") s"
    finish_load fault-pg
    after="$(gunicorn_pids)"
    check py "$HERE/checks.py" window "$LT_DIR/fault-pg.json" "$t0" "$t1"
    if [[ "$before" == "$after" ]]; then
        echo "  gunicorn master and workers unchanged (pids $after): not restarted"
    else
        echo "  FAIL: gunicorn processes changed: before $before, after $after"
        FAULTS_FAILED=1
    fi
    check py "$HERE/checks.py" consistency "$LT_DIR/fault-pg.json"
}

fault_redis_and_worker() {
    echo "== (b) Redis stopped for $REDIS_DOWN s under load, then a worker killed with -9 mid-sweep"
    local t0 t1 counts sent sending pending left deadline
    echo "  reminders before: $(py "$HERE/checks.py" reminder-counts)"
    # Long enough to see the requests after the outage, which lasts REDIS_DOWN seconds or as long
    # as the sweep run during it, whichever is longer.
    start_load fault-redis "$(( (REDIS_DOWN > 20 ? REDIS_DOWN : 20) + 30 ))" "$((FAULT_CLIENTS / 2 + 1))"
    sleep 3
    t0="$(now)"
    lt_redis_stop
    echo "  Redis stopped (nothing saved: queued tasks and cached counts are gone)"
    # The beat's sweep runs meanwhile: it makes the due reminders and cannot queue their sends.
    py "$HERE/checks.py" sweep-during-outage 2>"$LT_DIR/sweep-during-outage.log" &
    local sweep_pid=$!
    sleep "$REDIS_DOWN"
    wait "$sweep_pid" || { echo "  FAIL: the sweep failed with Redis down"; FAULTS_FAILED=1; }
    lt_redis_start
    t1="$(now)"
    echo "  Redis back after $(seconds_between "$t0" "$t1") s"
    finish_load fault-redis
    # Strict: the web must not depend on Redis (publishing is given up quickly, config/queue.py;
    # the throttling counts live in the cache, CACHE_URL).
    check py "$HERE/checks.py" window "$LT_DIR/fault-redis.json" "$t0" "$t1" --grace 5 --strict

    # The worker reconnects by itself; wait for it to answer a ping.
    lt_wait_for 60 bash -c "cd '$LT_ROOT' && uv run --quiet celery -A config inspect ping -t 2" \
        || { echo "  FAIL: the worker did not reconnect to Redis"; FAULTS_FAILED=1; }
    py "$HERE/checks.py" backdate-waiting
    py "$HERE/checks.py" queue-sweep
    # Kill the worker in the middle of a send: once it has sent a reminder, as soon as another
    # one is being sent (claimed, not yet recorded; the mail backend takes 0.3 s a message,
    # loadtests/slowmail.py).
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        [[ "$(psql_value "SELECT count(*) FILTER (WHERE state = 'sent') > 0 AND count(*) FILTER (WHERE state = 'sending') > 0 FROM recommendations_reminder")" == t ]] && break
    done
    lt_worker_kill9
    counts="$(psql_value "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'sending'), count(*) FILTER (WHERE state = 'pending') FROM recommendations_reminder")"
    IFS='|' read -r sent sending pending <<<"$counts"
    echo "  killed with $sent sent, $sending being sent and $pending waiting"
    lt_worker_start
    # Catch up: the queued sends still in Redis go to the new worker; the one the killed worker
    # held is queued again by a later sweep once its claim is stale (aged here, not waited for),
    # and resolved: marked sent if its message is in the mail folder, else sent.
    deadline=$((SECONDS + 90))
    while ((SECONDS < deadline)); do
        left="$(psql_value "SELECT count(*) FROM recommendations_reminder WHERE state IN ('pending', 'sending')")"
        ((left == 0)) && break
        sleep 5
        left="$(psql_value "SELECT count(*) FROM recommendations_reminder WHERE state IN ('pending', 'sending')")"
        ((left == 0)) && break
        py "$HERE/checks.py" backdate-waiting
        py "$HERE/checks.py" queue-sweep
    done
    grep -h "its worker stopped" "$LT_DIR"/celery*.log | sed 's/^.*WARNING[^:]*: */  /' || true
    check py "$HERE/checks.py" reminders-exactly-once
}

faults_main() {
    fault_postgres_restart
    fault_redis_and_worker
    if ((FAULTS_FAILED)); then
        echo "faults: FAILED (see above)"
        return 1
    fi
    echo "faults: all checks passed"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    lt_up
    faults_main
fi
