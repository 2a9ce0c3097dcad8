"""The follow-up reminder sweep against its floor: the raw SQL selecting the same candidate rows.

    DATABASE_URL=postgres://… uv run python benchmarks/reminder_sweep.py [--repeat 5] [--date D]

Runs against the database of ``DATABASE_URL`` filled by ``manage.py generate_bulk_data`` (300,000
assignments at full size). Each addressed organisation without a focal point gets one
(``bench-focal-<id>@example.org``) so that digests are made; mail goes to memory. Measured:

* the floor: one raw SQL query (``connection.cursor()``) selecting the sweep's candidate rows,
  the open assignments of adopted, non-archived recommendations whose effective due date can
  have an occurrence today, fetched to the client;
* the steady sweep: ``followup_lines_due`` once every line of the day is recorded, which is what
  every sweep after the day's first does (the database names each candidate's occurrence and
  leaves out those already recorded, one probe of the unique index each; the batches that come
  back get their occurrences computed in Python and checked once more in one query per batch)
  and ``reminders_sweep`` as a whole (other kinds, waiting reminders, proposal decisions);
* the first sweep of a day (recording the lines and making one digest per agency) and the next
  day's (a seventh of the overdue lines move to their next weekly occurrence);
* the queries per batch, at two batch sizes, a week later (when every overdue line has a new
  occurrence to read).

Each timing is the median of ``--repeat`` runs (the first and next-day sweeps run once).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("EMAIL_URL", "memorymail://")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from config import queue  # noqa: E402
from recommendations.enums import RecommendationState, ReminderKind  # noqa: E402
from recommendations.models import (  # noqa: E402
    Assignment,
    Recommendation,
    Reminder,
    ReminderItem,
    ReminderRule,
)
from recommendations.reminders import (  # noqa: E402
    FollowupRule,
    followup_lines_due,
    reminders_sweep,
)
from recommendations.selectors import OPEN_STATUSES  # noqa: E402
from stakeholders.models import Person  # noqa: E402

TARGET = 2.0
FLOOR_SQL = """
    SELECT a.id, a.organisation_id, COALESCE(a.due_date, s.start_date) AS due
    FROM {assignment} a
    JOIN {recommendation} r ON r.id = a.recommendation_id
    LEFT JOIN idm_councilsession s ON s.id = a.due_before_session_id
    WHERE r.state = %s AND r.archived_at IS NULL AND a.status IN ({statuses})
      AND COALESCE(a.due_date, s.start_date) <= %s {after}
"""


def floor(today: dt.date, rule: FollowupRule) -> int:
    after, up_to = rule.due_window(today)
    sql = FLOOR_SQL.format(
        assignment=Assignment._meta.db_table,
        recommendation=Recommendation._meta.db_table,
        statuses=", ".join(["%s"] * len(OPEN_STATUSES)),
        after="AND COALESCE(a.due_date, s.start_date) > %s" if after else "",
    )
    params = [RecommendationState.ADOPTED, *OPEN_STATUSES, up_to, *([after] if after else [])]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return len(cursor.fetchall())


def timed(call, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def ensure_focal_points() -> int:
    organisation_ids = set(Assignment.objects.values_list("organisation_id", flat=True).distinct())
    covered = set(
        Person.objects.filter(organisation_id__in=organisation_ids, is_focal_point=True)
        .exclude(email="")
        .values_list("organisation_id", flat=True)
    )
    missing = sorted(organisation_ids - covered)
    Person.objects.bulk_create(
        [
            Person(
                name=f"Benchmark focal point {pk}",
                organisation_id=pk,
                email=f"bench-focal-{pk}@example.org",
                is_focal_point=True,
            )
            for pk in missing
        ]
    )
    return len(missing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=None)
    args = parser.parse_args()

    queue.publish = lambda task, **kwargs: True  # no broker: the sending is not measured here
    now = timezone.now()
    if args.date:
        now = timezone.make_aware(dt.datetime.combine(args.date, dt.time(8, 0)))
    today = timezone.localdate(now)
    rule_row = ReminderRule.objects.get(kind=ReminderKind.FOLLOWUP_DUE)
    rule = FollowupRule.of(rule_row)
    print(
        f"{connection.vendor}, {Assignment.objects.count():,} assignments, "
        f"{Recommendation.objects.count():,} recommendations; day {today}; rule {rule}"
    )
    added = ensure_focal_points()
    if added:
        print(f"focal points added for {added} organisations")

    floor_ms, candidates = timed(lambda: floor(today, rule), args.repeat)
    print(f"candidates (open, adopted, due date in the window): {candidates:,}")

    start = time.perf_counter()
    first = reminders_sweep(now=now)
    first_ms = (time.perf_counter() - start) * 1000
    print(f"first sweep of the day: {first_ms:,.0f} ms — {first.line()}")

    lines_ms, found = timed(lambda: followup_lines_due(today=today, rule=rule), args.repeat)
    assert not found, "a steady sweep found new lines"
    sweep_ms, steady = timed(lambda: reminders_sweep(now=now), args.repeat)

    # Queries per batch, where there is something to read: a week later every overdue line has
    # moved on to its next weekly occurrence (read only: nothing is recorded).
    week_later = today + dt.timedelta(days=7)
    counts = {}
    for batch_size in (1000, 5000):
        with CaptureQueriesContext(connection) as captured:
            found = followup_lines_due(today=week_later, rule=rule, batch_size=batch_size)
        lines = sum(len(value) for value in found.values())
        batches = -(-lines // batch_size) or 1
        counts[batch_size] = (len(captured.captured_queries), batches, lines)

    next_day = now + dt.timedelta(days=1)
    start = time.perf_counter()
    second = reminders_sweep(now=next_day)
    next_ms = (time.perf_counter() - start) * 1000

    print()
    header = f"{'measure':<58} {'ms':>9} {'floor ms':>9} {'ratio':>6}  target"
    print(header)
    print("-" * len(header))
    for name, ms in (
        ("steady sweep: follow-up lines (followup_lines_due)", lines_ms),
        ("steady sweep: reminders_sweep, all kinds", sweep_ms),
    ):
        ratio = ms / floor_ms
        print(
            f"{name:<58} {ms:>9.0f} {floor_ms:>9.0f} {ratio:>5.2f}×  "
            f"{'met' if ratio <= TARGET else 'MISSED'} (≤ {TARGET:g}×)"
        )
    print(f"{'first sweep of the day (records lines, makes digests)':<58} {first_ms:>9.0f}")
    print(f"{'next day sweep':<58} {next_ms:>9.0f}   {second.line()}")
    print()
    for batch_size, (queries, batches, lines) in counts.items():
        print(
            f"a week later, batch size {batch_size}: {lines:,} new lines in {batches} batch(es), "
            f"{queries} queries (2 per batch: candidates, lines recorded since; "
            "+1 when the last batch is full)"
        )
    print(f"steady sweep: {steady.line()}")
    print(
        f"reminders: {Reminder.objects.filter(kind=ReminderKind.FOLLOWUP_DUE).count():,} "
        f"follow-up digests, {ReminderItem.objects.count():,} lines"
    )


if __name__ == "__main__":
    main()
