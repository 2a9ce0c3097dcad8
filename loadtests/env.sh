#!/usr/bin/env bash
# A throw-away production-like stack on this machine, loopback only, for the load and fault scripts:
# PostgreSQL and Redis on free ports, the dataset and the demo scenario loaded, API keys per role,
# gunicorn (DEBUG off) and a Celery worker with beat on Redis. Everything is stopped and its folder
# removed on exit, success or failure.
#
#   loadtests/env.sh uv run python loadtests/load.py --clients 50 --duration 15
#   loadtests/env.sh bash            # a shell with BASE_URL, DATABASE_URL, keys … exported
#
# Or from another script:  source loadtests/env.sh; lt_up; …   (lt_down runs on EXIT)
#
# Exported for the scripts: BASE_URL, DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, CACHE_URL,
# VAR_DIR, MEDIA_ROOT, MAIL_DIR, LT_DIR, LT_AGENCY_KEY (ILO), LT_AGENCY_B_KEY (IOM's partner
# UNHCR), LT_DELEGATION_KEY (Philippines), LT_DELEGATE_USER/LT_DELEGATE_PASSWORD (portal login),
# and the settings gunicorn and Celery read. Functions: lt_pg_restart, lt_redis_stop,
# lt_redis_start, lt_worker_start, lt_worker_kill9, lt_gunicorn_start, lt_gunicorn_stop.
#
# Knobs: LT_WEB_WORKERS (gunicorn workers, default 4), LT_CELERY_CONCURRENCY (default 2),
# LT_THROTTLE (rate for every throttle scope, default 1000000/min).
set -euo pipefail

LT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LT_WEB_WORKERS="${LT_WEB_WORKERS:-4}"
LT_CELERY_CONCURRENCY="${LT_CELERY_CONCURRENCY:-2}"
LT_THROTTLE="${LT_THROTTLE:-1000000/min}"

# Kept when already set: a script sourcing this file inside a running stack (LT_DIR/env) uses it.
LT_DIR="${LT_DIR:-}"
PG_DIR="${PG_DIR:-}"
PG_BIN="${PG_BIN:-}"
REDIS_PORT="${REDIS_PORT:-}"
PG_STARTED=0
GUNICORN_PID=""
WORKER_PID=""

lt_log() {
    printf '[env %(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

lt_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# As .ci/run: the folder holding initdb, pg_ctl and createdb.
# shellcheck source=scripts/postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/postgres.sh"
lt_find_pg_bin() {
    pg_bin_with initdb pg_ctl pg_dump
}

if [[ "$(id -u)" -eq 0 ]]; then
    lt_as_postgres() { runuser -u postgres -- "$@"; }
else
    lt_as_postgres() { "$@"; }
fi

lt_wait_for() {  # lt_wait_for <seconds> <command…>: poll until the command succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.2
    done
}

lt_pg_up() {
    PG_BIN="$(lt_find_pg_bin)" || { lt_log "PostgreSQL binaries not found (see .ci/run)"; return 1; }
    if [[ "$(id -u)" -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    fi
    PG_DIR="$(mktemp -d /tmp/idm-load-pg.XXXXXX)"
    [[ "$(id -u)" -eq 0 ]] && chown postgres: "$PG_DIR"
    lt_as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >"$PG_DIR/initdb.log"
    PG_PORT="$(lt_free_port)"
    PG_STARTED=1
    # Room for 4 gunicorn workers, the Celery pool, beat and the checks.
    lt_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
        -o "-p $PG_PORT -k $PG_DIR -h 127.0.0.1 -c max_connections=100 -c fsync=on" start >/dev/null
    lt_as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres idm
    export PG_BIN PG_PORT PG_DIR
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/idm"
    lt_log "PostgreSQL on 127.0.0.1:$PG_PORT ($PG_BIN)"
}

# Restart PostgreSQL the way an operator does (fast: open sessions are cut). Prints the seconds
# the server was down.
lt_pg_restart() {
    lt_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -m fast restart \
        -o "-p $PG_PORT -k $PG_DIR -h 127.0.0.1 -c max_connections=100" >/dev/null
}

lt_redis_start() {
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --daemonize yes --dir "$LT_DIR/redis" --pidfile "$LT_DIR/redis/redis.pid" \
        --logfile "$LT_DIR/redis/redis.log"
    lt_wait_for 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping \
        || { lt_log "redis-server did not start"; return 1; }
}

# Stop Redis as a crash would: nothing saved, queued messages gone.
lt_redis_stop() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    lt_wait_for 10 bash -c "! redis-cli -h 127.0.0.1 -p $REDIS_PORT ping" || true
}

lt_redis_up() {
    if ! command -v redis-server >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends redis-server </dev/null >/dev/null
    fi
    mkdir -p "$LT_DIR/redis"
    REDIS_PORT="$(lt_free_port)"
    lt_redis_start
    export REDIS_PORT
    export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    export CELERY_BROKER_URL="$REDIS_URL"
    export CACHE_URL="redis://127.0.0.1:$REDIS_PORT/1"
    lt_log "Redis on 127.0.0.1:$REDIS_PORT"
}

lt_settings() {
    export DEBUG=false
    export SECRET_KEY="load-test-only-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
    export ALLOWED_HOSTS=127.0.0.1
    export SECURE_SSL_REDIRECT=false
    export CONN_MAX_AGE="${CONN_MAX_AGE:-60}"
    export API_THROTTLE_RATE_KEY="$LT_THROTTLE"
    export API_THROTTLE_RATE_USER="$LT_THROTTLE"
    export API_THROTTLE_RATE_ANON="$LT_THROTTLE"
    export VAR_DIR="$LT_DIR/var"
    export MEDIA_ROOT="$VAR_DIR/media"
    export STATIC_ROOT="$VAR_DIR/static"
    export MAIL_DIR="$LT_DIR/mail"
    # filemail:/// + an absolute path (django-environ drops one slash: four in all).
    export EMAIL_URL="filemail:///$MAIL_DIR"
    # The file backend at a mail server's pace (loadtests/slowmail.py), so that a worker killed
    # mid-send is caught between claiming a reminder and recording it sent.
    export EMAIL_BACKEND=loadtests.slowmail.EmailBackend
    # 0.15 s before the message is written (connect … DATA) and 0.15 s after (QUIT): a kill is as
    # likely to fall before the hand-over as after it.
    export SLOWMAIL_BEFORE_MS="${SLOWMAIL_BEFORE_MS:-150}" SLOWMAIL_AFTER_MS="${SLOWMAIL_AFTER_MS:-150}"
    export PYTHONUNBUFFERED=1
    mkdir -p "$VAR_DIR" "$MEDIA_ROOT" "$MAIL_DIR"
}

lt_manage() {
    (cd "$LT_ROOT" && uv run --quiet manage.py "$@")
}

lt_data() {
    lt_log "migrate, dataset, demo logins and scenario, static files"
    # demo --setup-only: migrate, load_idm_data, the demo logins (secretariat, delegate, agency)
    # and the scenario around today (addresses, follow-up due dates, an upcoming workshop).
    lt_manage demo --setup-only >"$LT_DIR/setup.log"
    lt_manage collectstatic --noinput >/dev/null
    local until
    until="$(date -d tomorrow +%F)"
    LT_AGENCY_KEY="$(lt_manage create_api_key --organisation ILO --name 'load agency' \
        --role agency --expires "$until" | tail -n 1)"
    LT_AGENCY_B_KEY="$(lt_manage create_api_key --organisation UNHCR --name 'load agency B' \
        --role agency --expires "$until" | tail -n 1)"
    LT_DELEGATION_KEY="$(lt_manage create_api_key --organisation org-state-philippines \
        --name 'load delegation' --role delegation --expires "$until" | tail -n 1)"
    export LT_AGENCY_KEY LT_AGENCY_B_KEY LT_DELEGATION_KEY
    export LT_DELEGATE_USER=delegate LT_DELEGATE_PASSWORD=idm-demo-delegate
}

lt_gunicorn_start() {
    WEB_PORT="${WEB_PORT:-$(lt_free_port)}"
    export WEB_PORT BASE_URL="http://127.0.0.1:$WEB_PORT"
    (cd "$LT_ROOT" && exec uv run --quiet gunicorn config.wsgi --bind "127.0.0.1:$WEB_PORT" \
        --workers "$LT_WEB_WORKERS" --backlog 2048 --timeout 60 --graceful-timeout 10 \
        --pid "$LT_DIR/gunicorn.pid" --error-logfile "$LT_DIR/gunicorn.log" \
        >>"$LT_DIR/gunicorn.log" 2>&1) &
    GUNICORN_PID=$!
    lt_wait_for 60 curl -fsS -o /dev/null "$BASE_URL/healthz" \
        || { tail -n 30 "$LT_DIR/gunicorn.log" >&2; lt_log "gunicorn did not answer"; return 1; }
    lt_log "gunicorn on $BASE_URL ($LT_WEB_WORKERS workers, master $(cat "$LT_DIR/gunicorn.pid"))"
}

lt_gunicorn_stop() {
    if [[ -s "$LT_DIR/gunicorn.pid" ]]; then
        kill -TERM "$(cat "$LT_DIR/gunicorn.pid")" 2>/dev/null || true
    fi
    if [[ -n "$GUNICORN_PID" ]]; then
        wait "$GUNICORN_PID" 2>/dev/null || true
        GUNICORN_PID=""
    fi
}

# The master pid of gunicorn, to show that it was never restarted.
lt_gunicorn_master() {
    cat "$LT_DIR/gunicorn.pid"
}

lt_worker_start() {
    rm -f "$LT_DIR/celery.pid" "$LT_DIR/celerybeat.pid"
    (cd "$LT_ROOT" && exec uv run --quiet celery -A config worker --beat \
        --scheduler django_celery_beat.schedulers:DatabaseScheduler \
        --concurrency "$LT_CELERY_CONCURRENCY" --loglevel INFO --hostname "load@%h" \
        --pidfile "$LT_DIR/celery.pid" --schedule "$LT_DIR/celerybeat-schedule" \
        >>"$LT_DIR/celery.log" 2>&1) &
    WORKER_PID=$!
    lt_wait_for 60 grep -q "ready\." "$LT_DIR/celery.log" \
        || { tail -n 30 "$LT_DIR/celery.log" >&2; lt_log "celery worker did not start"; return 1; }
    lt_log "Celery worker with beat (pid $(cat "$LT_DIR/celery.pid"))"
}

# kill -9 the worker's main process and its pool processes, by their ids: nothing acknowledged,
# nothing cleaned up.
lt_worker_kill9() {
    local main children
    main="$(cat "$LT_DIR/celery.pid" 2>/dev/null || true)"
    [[ -n "$main" ]] || return 0
    children="$(pgrep -P "$main" | tr '\n' ' ' || true)"
    # shellcheck disable=SC2086
    kill -9 "$main" $children 2>/dev/null || true
    if [[ -n "$WORKER_PID" ]]; then
        wait "$WORKER_PID" 2>/dev/null || true
        WORKER_PID=""
    fi
    mv "$LT_DIR/celery.log" "$LT_DIR/celery.killed.$(date +%s).log"
    lt_log "Celery worker killed with -9 (pids $main $children)"
}

lt_worker_stop() {
    local main
    main="$(cat "$LT_DIR/celery.pid" 2>/dev/null || true)"
    if [[ -n "$main" ]]; then
        kill -TERM "$main" 2>/dev/null || true
    fi
    if [[ -n "$WORKER_PID" ]]; then
        local deadline=$((SECONDS + 20))
        while kill -0 "$WORKER_PID" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
        kill -0 "$WORKER_PID" 2>/dev/null && lt_worker_kill9
        wait "$WORKER_PID" 2>/dev/null || true
        WORKER_PID=""
    fi
}

lt_down() {
    local status=$?
    set +e
    lt_worker_stop
    lt_gunicorn_stop
    if [[ -n "$REDIS_PORT" ]]; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
    fi
    if [[ "$PG_STARTED" -eq 1 ]]; then
        lt_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
    fi
    if [[ -n "${LT_KEEP:-}" ]]; then
        lt_log "kept $LT_DIR and $PG_DIR (LT_KEEP set)"
    else
        [[ -n "$PG_DIR" ]] && rm -rf "$PG_DIR"
        [[ -n "$LT_DIR" ]] && rm -rf "$LT_DIR"
    fi
    return "$status"
}

lt_up() {
    trap lt_down EXIT
    trap 'exit 130' INT TERM
    LT_DIR="$(mktemp -d /tmp/idm-load.XXXXXX)"
    export LT_DIR LT_ROOT
    lt_settings
    lt_pg_up
    lt_redis_up
    lt_data
    lt_gunicorn_start
    lt_worker_start
    # For another shell:  source $LT_DIR/env  (the stack lives as long as this script runs).
    export -p | grep -E ' (BASE_URL|WEB_PORT|DATABASE_URL|REDIS_URL|REDIS_PORT|CELERY_BROKER_URL|CACHE_URL|PG_[A-Z]+|LT_[A-Z_]+|DEBUG|SECRET_KEY|ALLOWED_HOSTS|SECURE_SSL_REDIRECT|CONN_MAX_AGE|API_THROTTLE_RATE_[A-Z]+|VAR_DIR|MEDIA_ROOT|STATIC_ROOT|MAIL_DIR|EMAIL_URL|EMAIL_BACKEND|SLOWMAIL_[A-Z_]+)=' \
        >"$LT_DIR/env"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    if [[ $# -eq 0 ]]; then
        echo "usage: loadtests/env.sh <command …>  (e.g. uv run python loadtests/load.py)" >&2
        exit 2
    fi
    lt_up
    cd "$LT_ROOT"
    "$@"
fi
