"""Concurrent writers on one assignment: no lost update; one POST retried: one report.

    loadtests/env.sh uv run python loadtests/contention.py [--clients 50] [--rounds 4]

1. ``--clients`` agency clients answer the same assignment at once, ``--rounds`` times each:
   read it (GET, its ETag), then PATCH a response text of their own with ``If-Match: <ETag>``.
   Checked afterwards in the database (django-simple-history): every write answered 200 is in
   the assignment's history, with its text, exactly once; nothing else was written; no two
   accepted writes were made from the same ETag (each saw the one before it); the assignment
   holds the last accepted text; every other write was answered 412 and changed nothing.
2. ``--clients`` copies of one follow-up report POST, with the same ``Idempotency-Key``, sent
   at once: one 201 that created the report, the others its replay (``Idempotent-Replayed:
   true``, same id); exactly one report with that narrative in the database.

Exit status 1 when a check fails. Environment: BASE_URL, LT_AGENCY_KEY, DATABASE_URL and the
settings of loadtests/env.sh (the checks read the database through Django).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from httpload import ConnectionFailed, Session, percentile  # noqa: E402
from load import Periods  # noqa: E402

RESPONSES = ["supported", "supported_in_part", "noted"]


async def answer(session: Session, assignment_id: int, client: int, rounds: int, results: list):
    path = f"/api/v1/assignments/{assignment_id}/"
    for round_number in range(rounds):
        text = f"contention {uuid.uuid4()} client {client} round {round_number}"
        try:
            read = await session.request("GET", path)
            etag = read.header("ETag")
            reply = await session.request(
                "PATCH",
                path,
                json_body={
                    "response": RESPONSES[(client + round_number) % 3],
                    "response_text": text,
                },
                headers={"If-Match": etag},
            )
        except ConnectionFailed as error:
            results.append({"status": None, "text": text, "etag": None, "error": str(error)})
            continue
        results.append(
            {
                "status": reply.status,
                "text": text,
                "etag": etag,
                "seconds": reply.seconds,
                "body_text": reply.json().get("response_text") if reply.status == 200 else None,
            }
        )


async def if_match_race(session: Session, assignment_id: int, clients: int, rounds: int):
    results: list[dict] = []
    started = time.monotonic()
    await asyncio.gather(
        *(answer(session, assignment_id, n, rounds, results) for n in range(clients))
    )
    return results, time.monotonic() - started


async def idempotent_retries(session: Session, assignment_id: int, clients: int, day: str):
    key = str(uuid.uuid4())
    narrative = f"Idempotency check {key}"
    body = {
        "period_start": day,
        "period_end": day,
        "status": "in_progress",
        "progress": 40,
        "narrative": narrative,
    }
    path = f"/api/v1/assignments/{assignment_id}/follow-ups/"

    async def one():
        try:
            return await session.request(
                "POST", path, json_body=body, headers={"Idempotency-Key": key}
            )
        except ConnectionFailed as error:
            return error

    replies = await asyncio.gather(*(one() for _ in range(clients)))
    return replies, narrative


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def check_history(assignment_id: int, results: list[dict], since) -> list[str]:
    from recommendations.models import Assignment

    problems = []
    accepted = [r for r in results if r["status"] == 200]
    refused = [r for r in results if r["status"] == 412]
    others = [r for r in results if r["status"] not in (200, 412)]
    if others:
        problems.append(
            f"{len(others)} writes answered neither 200 nor 412: "
            f"{Counter(r['status'] for r in others)} {others[0].get('error', '')}"
        )
    history = list(
        Assignment.history.filter(id=assignment_id, history_date__gte=since).order_by(
            "history_date", "history_id"
        )
    )
    texts_in_history = Counter(h.response_text for h in history)
    for result in accepted:
        if texts_in_history[result["text"]] != 1:
            problems.append(
                f"accepted write {result['text']!r} is {texts_in_history[result['text']]} times "
                "in the history (lost update)"
            )
        if result["body_text"] != result["text"]:
            problems.append(f"200 answer does not show its own text: {result['body_text']!r}")
    accepted_texts = {r["text"] for r in accepted}
    strays = [h.response_text for h in history if h.response_text not in accepted_texts]
    if strays:
        problems.append(f"{len(strays)} history rows from writes that were not accepted")
    for result in refused:
        if texts_in_history[result["text"]]:
            problems.append(f"refused write {result['text']!r} is in the history")
    etags = Counter(r["etag"] for r in accepted)
    doubled = [tag for tag, count in etags.items() if count > 1]
    if doubled:
        problems.append(f"{len(doubled)} ETags were accepted more than once (a lost update)")
    current = Assignment.objects.get(pk=assignment_id)
    if history and current.response_text != history[-1].response_text:
        problems.append("the assignment does not hold the last accepted write")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4, help="writes per client")
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:8000"))
    args = parser.parse_args(argv)
    django_setup()
    from django.utils import timezone

    from recommendations.models import FollowUpReport

    base_url = args.base_url.rstrip("/")
    agency = Session(base_url, headers={"Authorization": f"Api-Key {os.environ['LT_AGENCY_KEY']}"})

    async def find_assignment():
        reply = await agency.request(
            "GET", "/api/v1/assignments/", params={"mine": "true", "state": "adopted"}
        )
        return reply.json()["results"][0]["id"]

    assignment_id = asyncio.run(find_assignment())
    problems: list[str] = []

    since = timezone.now()
    results, elapsed = asyncio.run(if_match_race(agency, assignment_id, args.clients, args.rounds))
    statuses = Counter(r["status"] for r in results)
    latencies = [r["seconds"] for r in results if r.get("seconds") is not None]
    history_problems = check_history(assignment_id, results, since)
    problems += history_problems
    accepted = statuses.get(200, 0)
    others = sum(statuses.values()) - accepted - statuses.get(412, 0)
    print(
        f"if-match: {args.clients} clients x {args.rounds} writes on assignment {assignment_id} "
        f"in {elapsed:.1f} s: {accepted} accepted (200, each in the history once), "
        f"{statuses.get(412, 0)} refused (412), other {others}; "
        f"PATCH p50 {percentile(latencies, 0.5) * 1000:.0f} ms "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms; "
        + ("no lost update" if not history_problems else "PROBLEMS")
    )
    if accepted == 0:
        problems.append("no write was accepted at all")

    periods = Periods(os.environ.get("LT_DIR"))
    day = periods.take()
    periods.save()
    replies, narrative = asyncio.run(idempotent_retries(agency, assignment_id, args.clients, day))
    failures = [r for r in replies if isinstance(r, Exception)]
    answered = [r for r in replies if not isinstance(r, Exception)]
    created = [r for r in answered if r.status == 201 and r.header("Idempotent-Replayed") is None]
    replayed = [
        r for r in answered if r.status == 201 and r.header("Idempotent-Replayed") == "true"
    ]
    ids = {r.json()["id"] for r in created + replayed}
    in_db = FollowUpReport.objects.filter(narrative=narrative).count()
    print(
        f"idempotency: {args.clients} concurrent POSTs with one Idempotency-Key: "
        f"{len(created)} created, {len(replayed)} replayed, "
        f"{len(answered) - len(created) - len(replayed)} other answers, {len(failures)} no answer; "
        f"report ids {sorted(ids)}; {in_db} report(s) in the database"
    )
    if len(created) != 1 or len(replayed) != args.clients - 1 or len(ids) != 1 or in_db != 1:
        others = Counter(r.status for r in answered if r not in created and r not in replayed)
        problems.append(
            f"idempotency: expected 1 created + {args.clients - 1} replays, 1 row; "
            f"other statuses {dict(others)}"
        )
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    print("contention: " + ("FAILED" if problems else "all checks passed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
