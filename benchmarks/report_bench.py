"""The follow-up report against its floor: the raw SQL that selects the same rows.

    uv run python benchmarks/report_bench.py [--repeat 3] [--batch-size 2000]

Runs in-process against the database of ``DATABASE_URL`` (filled by ``manage.py
generate_bulk_data``, see ``benchmarks/run.sh``). Files go to a temporary ``MEDIA_ROOT`` and mail
to memory. Prints, each the median of ``--repeat`` runs:

* the floor: the raw SQL a hand-written report would run over the same rows (the recommendations
  under follow-up, their assignments with effective due dates, their policy domains), every row
  fetched into Python by the project's driver (psycopg) and dropped; and, for reference, the same
  three queries fetched by ADBC into Arrow columns (PostgreSQL only), as the report reads;
* the report's build (``report_run_build``): read in batches, counted, HTML, CSV and XLSX
  written and stored, emailed; and its ratio to the floor (target: at most 2x);
* the parts of one more build, timed separately (the wrapping adds a little): reading the rows
  (``iter_batches``: plain columns from the database, fetched by a thread of their own; the
  assignments and recommendations counted, the overdue rows' CSV lines and XLSX rows joined and
  the longest overdue kept, all as Arrow columns), writing them (the XLSX zipped as it goes) and
  comparing with the previous snapshot (``write_batch``), then the CSV, the rest of the XLSX,
  the HTML, and the rest (storing the files, the email, the tables made from the counters);
* the queries per batch (constant: ``reporting.QUERIES_PER_BATCH``), counted by the reading's
  own connection;
* the peak memory of a build: Python allocations traced with ``tracemalloc`` (in a separate
  run, as tracing slows Python down), plus the peak of Arrow's memory pool (its columns are
  not Python allocations), and the growth of the process's maximum resident set.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("EMAIL_URL", "memorymail://")
MEDIA = tempfile.mkdtemp(prefix="idm-report-bench-")
os.environ["MEDIA_ROOT"] = MEDIA

import django  # noqa: E402
import pyarrow  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from recommendations import report_reading, reporting  # noqa: E402
from recommendations.enums import ReportKind, ReportRunState  # noqa: E402
from recommendations.models import Assignment, Recommendation, ReportRun  # noqa: E402
from recommendations.selectors import OPEN_STATUSES  # noqa: E402

TARGET = 2.0
MEMORY_TARGET_MB = 200
RECOMMENDATION = Recommendation._meta.db_table
ASSIGNMENT = Assignment._meta.db_table
DOMAINS = Recommendation.policy_domains.through._meta.db_table
SESSION = "idm_councilsession"
SCOPE = "r.state = 'adopted' AND r.archived_at IS NULL"


def floor() -> int:
    """The same rows by hand: three queries over the whole scope, every row fetched."""
    rows = 0
    with connection.cursor() as cursor:
        for sql, params in floor_queries():
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(10_000):
                rows += len(chunk)
    return rows


def floor_queries() -> list[tuple[str, list]]:
    today = timezone.localdate()
    statuses = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    return [
        (
            f"SELECT r.id, r.reference, r.dialogue_id, r.workshop_id, r.overall_status "  # noqa: S608
            f"FROM {RECOMMENDATION} r WHERE {SCOPE} ORDER BY r.id",
            [],
        ),
        (
            f"""SELECT a.id, a.recommendation_id, a.organisation_id, a.role, a.response, a.status,
                   a.progress, COALESCE(a.due_date, s.start_date),
                   (COALESCE(a.due_date, s.start_date) < %s AND a.status IN ({statuses}))
            FROM {ASSIGNMENT} a JOIN {RECOMMENDATION} r ON r.id = a.recommendation_id
            LEFT JOIN {SESSION} s ON s.id = a.due_before_session_id
            WHERE {SCOPE} ORDER BY a.recommendation_id, a.id""",  # noqa: S608
            [today],
        ),
        (
            f"""SELECT t.recommendation_id, t.policydomain_id FROM {DOMAINS} t
            JOIN {RECOMMENDATION} r ON r.id = t.recommendation_id WHERE {SCOPE}""",  # noqa: S608
            [],
        ),
    ]


def floor_by_adbc() -> int:
    """The floor's queries fetched by ADBC into Arrow columns (for reference)."""
    import adbc_driver_postgresql.dbapi

    rows = 0
    with (
        adbc_driver_postgresql.dbapi.connect(report_reading.adbc_conninfo()) as adbc,
        adbc.cursor() as cursor,
    ):
        for sql, params in floor_queries():
            cursor.execute(report_reading.literal_sql(sql, params))
            rows += cursor.fetch_arrow_table().num_rows
    return rows


def build() -> ReportRun:
    run = reporting.report_run_create(kind=ReportKind.ON_DEMAND, queue=False)
    run = reporting.report_run_build(run=run)
    if run.state != ReportRunState.DONE:
        raise SystemExit(f"the report failed: {run.error}")
    return run


def build_parts() -> dict[str, float]:
    """One build with its parts timed by wrapping the module's functions."""
    parts = dict.fromkeys(
        [
            "read rows, count (iter_batches)",
            "write rows, compare (write_batch)",
            "CSV",
            "XLSX",
            "HTML",
        ],
        0.0,
    )
    originals = {}

    def wrap(name, part):
        original = originals[name] = getattr(reporting, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                parts[part] += time.perf_counter() - start

        setattr(reporting, name, wrapper)

    def wrap_generator(name, part):
        original = originals[name] = getattr(reporting, name)

        def wrapper(*args, **kwargs):
            iterator = original(*args, **kwargs)
            while True:
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    parts[part] += time.perf_counter() - start
                    return
                parts[part] += time.perf_counter() - start
                yield item

        setattr(reporting, name, wrapper)

    wrap_generator("iter_batches", "read rows, count (iter_batches)")
    wrap("write_batch", "write rows, compare (write_batch)")
    wrap("write_csv", "CSV")
    wrap("write_xlsx", "XLSX")
    wrap("render_to_string", "HTML")
    try:
        seconds, _run = timed(build)
    finally:
        for name, original in originals.items():
            setattr(reporting, name, original)
    parts["rest (store, mail, figures)"] = seconds - sum(parts.values())
    parts["whole build"] = seconds
    return parts


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=reporting.BATCH_SIZE)
    options = parser.parse_args()
    report_reading.BATCH_SIZE = options.batch_size
    count = reporting.report_scope().count()
    assignments = Assignment.objects.filter(recommendation__in=reporting.report_scope()).count()
    print(f"{count:,} recommendations under follow-up, {assignments:,} assignments")

    floor()  # warm the caches
    floor_times, build_times = [], []
    for _ in range(options.repeat):
        seconds, rows = timed(floor)
        floor_times.append(seconds)
        seconds, run = timed(build)
        build_times.append(seconds)
    floor_s, build_s = statistics.median(floor_times), statistics.median(build_times)
    ratio = build_s / floor_s
    print(f"floor (raw SQL, {rows:,} rows fetched by psycopg): {floor_s:.2f} s")
    if connection.vendor == "postgresql":
        adbc_s = statistics.median(timed(floor_by_adbc)[0] for _ in range(options.repeat))
        print(
            f"  for reference, the same SQL fetched by ADBC into Arrow: {adbc_s:.2f} s "
            f"(the build is {build_s / adbc_s:.2f}x that)"
        )
    print(
        f"report build (read, count, HTML + CSV + XLSX, store, mail): {build_s:.2f} s "
        f"= {ratio:.2f}x the floor (target {TARGET:.0f}x) {'OK' if ratio <= TARGET else 'OVER'}"
    )
    sizes = {name: getattr(run, name).size for name in ("html_file", "csv_file", "xlsx_file")}
    print(
        "files: "
        + ", ".join(f"{name.split('_')[0]} {size / 1e6:.1f} MB" for name, size in sizes.items())
        + f"; {run.figures['totals']['overdue']:,} overdue rows"
    )

    parts = build_parts()
    print("parts of one build (seconds, and times the floor):")
    for name, seconds in parts.items():
        print(f"  {name:<44} {seconds:6.2f} s  {seconds / floor_s:5.2f}x")

    fetchers = []
    with CaptureQueriesContext(connection) as setup_queries, reporting.consistent_reading() as at:
        batches = sum(
            1
            for _ in reporting.iter_batches(
                reporting.report_scope(),
                today=timezone.localdate(),
                batch_size=options.batch_size,
                snapshot=at,
                fetched=fetchers.append,
            )
        )
    queries = fetchers[0].queries
    expected = math.ceil(count / options.batch_size)
    last = queries - batches * reporting.QUERIES_PER_BATCH
    print(
        f"queries: {queries} by {type(fetchers[0]).__name__} for {batches} batches of "
        f"{options.batch_size} (expected {expected}): {reporting.QUERIES_PER_BATCH} per batch "
        f"and {last} finding no more; {len(setup_queries)} on Django's connection (the labels, "
        f"the snapshot); the counting is done from the batches' rows"
    )

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pool = pyarrow.default_memory_pool()
    pool.release_unused()
    arrow_before = pool.max_memory()
    tracemalloc.start()
    build()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The pool's peak since the process began: at most this build's (the earlier builds read
    # the same batches).
    arrow_mb = pool.max_memory() / 1024 / 1024
    peak_mb = peak / 1024 / 1024 + arrow_mb
    print(
        f"peak memory of a build: {peak_mb:.1f} MB (target < {MEMORY_TARGET_MB} MB) "
        f"{'OK' if peak_mb < MEMORY_TARGET_MB else 'OVER'}: {peak / 1024 / 1024:.1f} MB "
        f"traced Python allocations, Arrow's pool at most {arrow_mb:.1f} MB "
        f"({'as high as' if pool.max_memory() == arrow_before else 'higher than'} in the "
        f"earlier builds); max RSS {rss_after:.0f} MB (+{rss_after - rss_before:.0f} MB over the "
        f"earlier runs)"
    )


if __name__ == "__main__":
    main()
