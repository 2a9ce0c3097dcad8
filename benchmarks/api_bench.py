"""The recommendations API against its floor: the raw SQL that fetches the same rows, json.dumps.

    uv run python benchmarks/api_bench.py [--repeat 20] [--profile]

Runs in-process with Django's test ``Client`` against the database of ``DATABASE_URL`` (filled by
``manage.py generate_bulk_data``), authenticated with ``Authorization: Api-Key`` as a partner
agency: the key in ``BENCH_API_KEY``, or one created here with ``create_api_key`` for the agency
with the most assignments. Each case is warmed up, then timed ``--repeat`` times; the median is
reported. The floor of each endpoint runs the queries a hand-written implementation would need
for the same response (the page's ``COUNT``, its rows, their assignments with organisation names,
and for recommendations their policy domains) and serialises the result with ``json.dumps``.
The query count of each request is taken with ``CaptureQueriesContext`` at page sizes 10 and 100.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("API_THROTTLE_RATE_KEY", "1000000/min")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from recommendations.models import Assignment, FollowUpReport, Recommendation  # noqa: E402
from recommendations.selectors import OPEN_STATUSES  # noqa: E402
from stakeholders.models import DELEGATION_KINDS, Organisation, OrganisationAPIKey  # noqa: E402

TARGET = 2.5
RECOMMENDATION = Recommendation._meta.db_table
ASSIGNMENT = Assignment._meta.db_table
ORGANISATION = Organisation._meta.db_table
SESSION = "idm_councilsession"
DOMAINS = Recommendation.policy_domains.through._meta.db_table
DOMAIN = "idm_policydomain"

ASSIGNMENT_COLUMNS = """
    a.id, o.id, o.acronym, o.name, a.role, a.response, a.response_text, a.status, a.progress,
    a.due_date, s.id, s.number, s.name, s.start_date, COALESCE(a.due_date, s.start_date),
    a.updated_at
"""


def iso(value) -> str | None:
    """ISO 8601 of a date or datetime (SQLite hands back computed dates as text already)."""
    return value if value is None or isinstance(value, str) else value.isoformat()


def assignment_dict(row, today, open_statuses, recommendation=None) -> dict:
    (pk, org_id, acronym, name, role, response, text, status, progress, due, session_id) = row[:11]
    number, session_name, session_start, effective, updated = row[11:16]
    item = {"id": pk}
    if recommendation is not None:
        item.update(recommendation)
    item.update(
        {
            "organisation": {"id": org_id, "acronym": acronym, "name": name},
            "role": role,
            "response": response,
            "response_text": text,
            "status": status,
            "progress": progress,
            "due_date": iso(due),
            "due_before_session": (
                {
                    "id": f"council-session-{session_id}",
                    "number": number,
                    "name": session_name,
                    "start_date": iso(session_start),
                }
                if session_id
                else None
            ),
            "effective_due_date": iso(effective),
            "overdue": bool(effective and iso(effective) < today and status in open_statuses),
            "updated_at": iso(updated),
        }
    )
    return item


def floor_recommendations(page_size: int) -> bytes:
    """The first page of adopted recommendations with their addressees, by hand."""
    today = timezone.localdate().isoformat()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {RECOMMENDATION} "  # noqa: S608 (names from the models)
            "WHERE state = 'adopted' AND archived_at IS NULL"
        )
        count = cursor.fetchone()[0]
        cursor.execute(
            f"""SELECT id, reference, text, kind, state, dialogue_id, paragraph, addressed_to_text,
                       overall_status, overall_progress, created_at, updated_at
                FROM {RECOMMENDATION} WHERE state = 'adopted' AND archived_at IS NULL
                ORDER BY reference LIMIT %s""",  # noqa: S608 (table names from the models)
            [page_size],
        )
        rows = cursor.fetchall()
        ids = [row[0] for row in rows]
        cursor.execute(
            f"""SELECT a.recommendation_id, {ASSIGNMENT_COLUMNS}
                FROM {ASSIGNMENT} a JOIN {ORGANISATION} o ON o.id = a.organisation_id
                LEFT JOIN {SESSION} s ON s.id = a.due_before_session_id
                WHERE a.recommendation_id IN ({",".join(["%s"] * len(ids)) or "NULL"})
                ORDER BY a.role, o.name, a.id""",  # noqa: S608
            ids,
        )
        assignments: dict[int, list] = {pk: [] for pk in ids}
        for row in cursor.fetchall():
            assignments[row[0]].append(assignment_dict(row[1:], today, OPEN_STATUSES))
        cursor.execute(
            f"""SELECT t.recommendation_id, d.slug FROM {DOMAINS} t
                JOIN {DOMAIN} d ON d.id = t.policydomain_id
                WHERE t.recommendation_id IN ({",".join(["%s"] * len(ids)) or "NULL"})""",  # noqa: S608
            ids,
        )
        domains: dict[int, list] = {pk: [] for pk in ids}
        for recommendation_id, slug in cursor.fetchall():
            domains[recommendation_id].append(slug)
    results = [
        {
            "reference": row[1],
            "text": row[2],
            "kind": row[3],
            "state": row[4],
            "dialogue": row[5],
            "paragraph": row[6],
            "policy_domains": domains[row[0]],
            "addressed_to_text": row[7],
            "overall_status": row[8],
            "overall_progress": row[9],
            "assignments": assignments[row[0]],
            "created_at": iso(row[10]),
            "updated_at": iso(row[11]),
        }
        for row in rows
    ]
    return json.dumps({"count": count, "next": None, "previous": None, "results": results}).encode()


def floor_overdue(organisation_id: int, page_size: int) -> bytes:
    """The first page of the organisation's overdue assignments, by hand."""
    today = timezone.localdate()
    statuses = ",".join(["%s"] * len(OPEN_STATUSES))
    where = f"""
        FROM {ASSIGNMENT} a JOIN {RECOMMENDATION} r ON r.id = a.recommendation_id
        JOIN {ORGANISATION} o ON o.id = a.organisation_id
        LEFT JOIN {SESSION} s ON s.id = a.due_before_session_id
        WHERE r.state = 'adopted' AND r.archived_at IS NULL AND a.organisation_id = %s
          AND COALESCE(a.due_date, s.start_date) < %s AND a.status IN ({statuses})
    """
    params = [organisation_id, today, *OPEN_STATUSES]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {where}", params)
        count = cursor.fetchone()[0]
        cursor.execute(
            f"""SELECT r.reference, r.text, r.state, {ASSIGNMENT_COLUMNS} {where}
                ORDER BY r.reference, o.name, a.id LIMIT %s""",
            [*params, page_size],
        )
        results = [
            assignment_dict(
                row[3:],
                today.isoformat(),
                OPEN_STATUSES,
                {
                    "recommendation": row[0],
                    "recommendation_text": row[1],
                    "recommendation_state": row[2],
                },
            )
            for row in cursor.fetchall()
        ]
    return json.dumps({"count": count, "next": None, "previous": None, "results": results}).encode()


def median_ms(run, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def api_key_and_organisation() -> tuple[str, Organisation]:
    key = os.environ.get("BENCH_API_KEY")
    if key:
        api_key = OrganisationAPIKey.objects.get_from_key(key)
        return key, api_key.organisation
    organisation = (
        Organisation.objects.exclude(kind__in=DELEGATION_KINDS)
        .annotate(n=Count("assignments"))
        .order_by("-n", "pk")
        .first()
    )
    if organisation is None:
        sys.exit("No agency in the database: run manage.py generate_bulk_data first.")
    out = io.StringIO()
    call_command(
        "create_api_key",
        organisation=organisation.dataset_id or organisation.acronym,
        name="API benchmark",
        stdout=out,
    )
    return out.getvalue().strip().splitlines()[-1], organisation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each endpoint even when on target."
    )
    parser.add_argument(
        "--show-queries", action="store_true", help="Print the SQL of each counted request."
    )
    options = parser.parse_args()

    key, organisation = api_key_and_organisation()
    client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Api-Key {key}")

    def get(url: str) -> bytes:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        return response.content

    recommendations_url = "/api/v1/recommendations/?page_size={}"
    overdue_url = "/api/v1/assignments/?mine=true&overdue=true&page_size={}"
    cases = [
        (
            "GET /api/v1/recommendations/?page_size=100",
            recommendations_url,
            lambda size: floor_recommendations(size),
        ),
        (
            "GET /api/v1/assignments/?mine=true&overdue=true&page_size=100 "
            f"({organisation.acronym})",
            overdue_url,
            lambda size: floor_overdue(organisation.pk, size),
        ),
    ]

    counts = {
        "recommendations": Recommendation.objects.count(),
        "assignments": Assignment.objects.count(),
        "reports": FollowUpReport.objects.count(),
    }
    mine = Assignment.objects.filter(organisation=organisation).count()
    print(
        f"Database: {connection.vendor} {connection.settings_dict.get('NAME')}; "
        f"{counts['recommendations']:,} recommendations, {counts['assignments']:,} assignments, "
        f"{counts['reports']:,} follow-up reports; "
        f"{organisation.acronym} has {mine:,} assignments. "
        f"Median of {options.repeat} after 3 warm-ups."
    )
    print()
    header = (
        f"{'request':<74} {'API ms':>8} {'its SQL':>8} {'floor ms':>9} {'ratio':>6} {'target':>7} "
        f"{'queries@10':>10} {'queries@100':>11} {'items':>5}"
    )
    print(header)
    print("-" * len(header))
    missed = []
    for label, url, floor in cases:
        get(url.format(100))  # the key's first use also records its last-used time
        queries = {}
        for size in (10, 100):
            with CaptureQueriesContext(connection) as captured:
                body = get(url.format(size))
            queries[size] = len(captured)
            if options.show_queries:
                print(f"-- {url.format(size)}: {len(captured)} queries")
                for query in captured:
                    print(f"   {query['time']}s {query['sql'][:160]}")
        sql_ms = sum(float(query["time"]) for query in captured) * 1000
        items = len(json.loads(body)["results"])
        floor_body = floor(100)
        assert len(json.loads(floor_body)["results"]) == items, "floor and API disagree"
        api_ms = median_ms(lambda url=url: get(url.format(100)), options.repeat)
        floor_ms = median_ms(lambda floor=floor: floor(100), options.repeat)
        ratio = api_ms / floor_ms
        met = ratio <= TARGET
        if not met or options.profile:
            missed.append((label, url.format(100)))
        print(
            f"{label:<74} {api_ms:8.1f} {sql_ms:8.1f} {floor_ms:9.1f} {ratio:5.2f}× "
            f"{'met' if met else 'MISSED':>7} {queries[10]:>10} {queries[100]:>11} {items:>5}"
        )
    print()
    print(
        f"Target: API ≤ {TARGET}× the floor; query count the same at page_size 10 and 100. "
        "'its SQL': time in the database of one API request (page_size=100)."
    )

    for label, url in missed:
        print()
        print(f"== cProfile of 10 × {label}")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(10):
            get(url)
        profile.disable()
        for order in ("tottime", "cumulative"):
            stream = io.StringIO()
            stats = pstats.Stats(profile, stream=stream)
            stats.strip_dirs().sort_stats(order).print_stats(18)
            print(f"-- by {order}")
            print("\n".join(line for line in stream.getvalue().splitlines()[2:] if line.strip()))


if __name__ == "__main__":
    main()
