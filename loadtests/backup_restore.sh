#!/usr/bin/env bash
# Back up and restore the whole system: the PostgreSQL database (pg_dump, custom format) and the
# uploaded and generated files under MEDIA_ROOT (evidence files of follow-up reports, report
# files), which the database only names.
#
#   loadtests/backup_restore.sh backup  <folder>
#       DATABASE_URL  the database to dump (postgres://user:pass@host:port/name, or a libpq
#                     conninfo string "host=… port=… user=… dbname=…"; PGPASSWORD works too)
#       MEDIA_ROOT    the media folder (default var/media)
#     writes <folder>/database.dump, <folder>/media.tar.gz and <folder>/SHA256SUMS. The database
#     is dumped first, the media after it, so every file a dumped row names is in the archive
#     (files are written before the row that names them is committed). Run it while the site is
#     up: pg_dump reads one consistent snapshot.
#
#   loadtests/backup_restore.sh restore <folder>
#       DATABASE_URL  an existing, EMPTY database to restore into (createdb it first)
#       MEDIA_ROOT    an empty (or missing) media folder to unpack the files into
#     checks SHA256SUMS, restores the dump in one transaction (nothing half-restored: any error
#     stops with the database as it was), then unpacks the files. Afterwards point the site at
#     the database and folder and run `uv run manage.py migrate` (nothing to do for a dump of the
#     same version) before starting it. Stop gunicorn and Celery while restoring over a live
#     system, and restore into a new database rather than over the old one.
#
# PG_BIN names the folder of pg_dump/pg_restore; by default the newest found (as .ci/run). The
# client must be at least as new as the server. Exit status non-zero with one line on any error.
set -euo pipefail

die() {
    echo "backup_restore.sh: $*" >&2
    exit 1
}

# shellcheck source=scripts/postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/postgres.sh"
find_pg_bin() {
    pg_bin_with pg_dump pg_restore psql
}

[[ $# -eq 2 ]] || die "usage: $0 backup|restore <folder>"
action="$1"
folder="$2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${DATABASE_URL:?backup_restore.sh: set DATABASE_URL to the PostgreSQL database}"
MEDIA_ROOT="${MEDIA_ROOT:-$ROOT/var/media}"
PG_BIN="${PG_BIN:-$(find_pg_bin)}" || die "pg_dump/pg_restore not found (install postgresql-client)"
case "$DATABASE_URL" in
    sqlite*) die "DATABASE_URL is SQLite: copy the file instead (with the site stopped)" ;;
esac

case "$action" in
    backup)
        mkdir -p "$folder"
        [[ ! -e "$folder/database.dump" ]] || die "$folder already holds a backup"
        "$PG_BIN/pg_dump" --format=custom --compress=6 --no-owner --no-privileges \
            --file="$folder/database.dump" --dbname="$DATABASE_URL" \
            || die "pg_dump failed"
        mkdir -p "$MEDIA_ROOT"
        tar -C "$MEDIA_ROOT" -czf "$folder/media.tar.gz" . || die "could not archive $MEDIA_ROOT"
        (cd "$folder" && sha256sum database.dump media.tar.gz >SHA256SUMS)
        tables="$("$PG_BIN/pg_restore" --list "$folder/database.dump" | grep -c ' TABLE DATA ' || true)"
        files="$(tar -tzf "$folder/media.tar.gz" | grep -vc '/$' || true)"
        echo "backup in $folder: $tables tables ($(du -h "$folder/database.dump" | cut -f1)), $files media files"
        ;;
    restore)
        [[ -f "$folder/database.dump" && -f "$folder/media.tar.gz" ]] || die "no backup in $folder"
        (cd "$folder" && sha256sum --quiet --check SHA256SUMS) || die "checksums do not match"
        existing="$("$PG_BIN/psql" --dbname="$DATABASE_URL" -Atc \
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" \
            || die "cannot connect to the target database"
        [[ "$existing" -eq 0 ]] || die "the target database is not empty ($existing tables)"
        if [[ -d "$MEDIA_ROOT" ]] && [[ -n "$(ls -A "$MEDIA_ROOT")" ]]; then
            die "the target media folder $MEDIA_ROOT is not empty"
        fi
        "$PG_BIN/pg_restore" --no-owner --no-privileges --exit-on-error --single-transaction \
            --dbname="$DATABASE_URL" "$folder/database.dump" || die "pg_restore failed"
        mkdir -p "$MEDIA_ROOT"
        tar -C "$MEDIA_ROOT" -xzf "$folder/media.tar.gz" || die "could not unpack the media files"
        files="$(find "$MEDIA_ROOT" -type f | wc -l)"
        echo "restored into the database and $MEDIA_ROOT ($files media files)"
        ;;
    *)
        die "usage: $0 backup|restore <folder>"
        ;;
esac
