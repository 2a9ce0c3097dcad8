"""Many concurrent clients against a running server: API reads, follow-up reports, portal pages.

    loadtests/env.sh uv run python loadtests/load.py --clients 200 --duration 60

Each client loops until the duration is over, picking at random (weights below): an API read as
the agency or the delegation (recommendations, assignments, meetings: lists and details), a
follow-up report POSTed by the agency (ILO) on one of its assignments (a fresh reporting period
each time, with an Idempotency-Key), or a portal page as the logged-in delegate. Every answer
must be the expected one (200, 201 for a report); anything else is an error: a 5xx, a 429 (the
throttles are raised for the run), a 4xx, a refused or reset connection, a timeout.

Prints requests, errors, p50/p99 latency and throughput, overall and per kind, and exits 1 on
any error (``--allow-errors``: 0; the fault scripts count the errors themselves). ``--json``
writes the figures and every error with its time, for the fault scripts.

Environment (set by loadtests/env.sh): BASE_URL, LT_AGENCY_KEY, LT_DELEGATION_KEY,
LT_DELEGATE_USER, LT_DELEGATE_PASSWORD, LT_DIR (where the next free reporting period is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httpload import ConnectionFailed, Session, percentile, portal_login  # noqa: E402

WEIGHTS = {"api_read": 60, "followup_post": 10, "portal": 30}
PORTAL_SESSIONS = 8


class Targets:
    """What the clients ask for, found once before the load starts."""

    def __init__(self):
        self.recommendations: list[str] = []
        self.assignments: list[int] = []
        self.agency_assignments: list[int] = []
        self.meetings: list[str] = []
        self.portal_pages: list[str] = []


class Periods:
    """A reporting period nobody has used: a day counted on from 1900-01-01, kept across runs."""

    def __init__(self, state_dir: str | None):
        self.path = Path(state_dir) / "next-period" if state_dir else None
        self.next = int(self.path.read_text()) if self.path and self.path.exists() else 0
        if not self.path:
            self.next = random.randrange(0, 60_000) * 10

    def take(self) -> str:
        day = dt.date(1900, 1, 1) + dt.timedelta(days=self.next)
        self.next += 1
        return day.isoformat()

    def save(self):
        if self.path:
            self.path.write_text(str(self.next))


class Stats:
    def __init__(self):
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter = Counter()
        self.errors: list[dict] = []
        self.ok_times: list[float] = []
        self.created_reports: list[int] = []

    def ok(self, kind: str, seconds: float, status: int):
        self.latencies[kind].append(seconds)
        self.statuses[status] += 1
        self.ok_times.append(time.time())

    def error(self, kind: str, what: str, status: int | None = None):
        self.errors.append({"at": time.time(), "kind": kind, "status": status, "what": what[:300]})
        self.statuses[status if status is not None else "no answer"] += 1


async def discover(base_url: str, agency: Session, delegation: Session, portal: Session) -> Targets:
    targets = Targets()
    reply = await delegation.request("GET", "/api/v1/recommendations/", params={"page_size": 100})
    targets.recommendations = [r["reference"] for r in reply.json()["results"]]
    reply = await delegation.request("GET", "/api/v1/assignments/", params={"page_size": 100})
    targets.assignments = [a["id"] for a in reply.json()["results"]]
    reply = await agency.request(
        "GET", "/api/v1/assignments/", params={"mine": "true", "state": "adopted"}
    )
    targets.agency_assignments = [a["id"] for a in reply.json()["results"]]
    reply = await delegation.request("GET", "/api/v1/meetings/", params={"page_size": 100})
    targets.meetings = [str(m["id"]) for m in reply.json()["results"]]
    reply = await delegation.request("GET", "/api/v1/proposal-rounds/")
    rounds = [r["id"] for r in reply.json()["results"]] if reply.status == 200 else []
    targets.portal_pages = ["/", "/rounds/", "/my-delegation/"] + [
        f"/rounds/{pk}/" for pk in rounds
    ]
    for page in targets.portal_pages:
        check = await portal.request("GET", page)
        if check.status != 200:
            raise SystemExit(f"load.py: portal page {page} answers {check.status} before the load")
    if not (targets.recommendations and targets.assignments and targets.agency_assignments):
        raise SystemExit("load.py: no recommendations or assignments found (dataset loaded?)")
    return targets


def api_read(targets: Targets, rng: random.Random) -> tuple[str, str, dict | None]:
    choice = rng.randrange(6)
    if choice == 0:
        return "GET", "/api/v1/recommendations/", {"page": rng.randint(1, 2)}
    if choice == 1:
        return "GET", f"/api/v1/recommendations/{rng.choice(targets.recommendations)}/", None
    if choice == 2:
        return "GET", "/api/v1/assignments/", {"overdue": rng.choice(["true", "false"])}
    if choice == 3:
        return "GET", f"/api/v1/assignments/{rng.choice(targets.assignments)}/", None
    if choice == 4:
        return "GET", "/api/v1/meetings/", None
    return "GET", f"/api/v1/meetings/{rng.choice(targets.meetings)}/", None


async def client(
    number: int,
    deadline: float,
    targets: Targets,
    sessions: dict,
    periods: Periods,
    stats: Stats,
):
    rng = random.Random(number)
    kinds = list(WEIGHTS)
    weights = list(WEIGHTS.values())
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        expected = 200
        json_body = headers = params = None
        if kind == "api_read":
            session = sessions["agency"] if rng.random() < 0.5 else sessions["delegation"]
            method, path, params = api_read(targets, rng)
        elif kind == "followup_post":
            session = sessions["agency"]
            method = "POST"
            path = f"/api/v1/assignments/{rng.choice(targets.agency_assignments)}/follow-ups/"
            day = periods.take()
            json_body = {
                "period_start": day,
                "period_end": day,
                "status": "in_progress",
                "progress": rng.randint(1, 99),
                "narrative": f"Load test report {uuid.uuid4()}",
            }
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            expected = 201
        else:
            session = rng.choice(sessions["portal"])
            method, path = "GET", rng.choice(targets.portal_pages)
        try:
            reply = await session.request(
                method, path, params=params, json_body=json_body, headers=headers
            )
        except ConnectionFailed as error:
            stats.error(kind, str(error))
            await asyncio.sleep(0.05)
            continue
        if reply.status == expected:
            stats.ok(kind, reply.seconds, reply.status)
            if kind == "followup_post":
                stats.created_reports.append(reply.json()["id"])
        else:
            stats.error(kind, f"{method} {path}: {reply.body[:200]!r}", reply.status)


def report(stats: Stats, elapsed: float, clients: int) -> dict:
    everything = [s for values in stats.latencies.values() for s in values]
    total = len(everything) + len(stats.errors)
    figures = {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": total,
        "errors": len(stats.errors),
        "p50_ms": round(percentile(everything, 0.50) * 1000, 1),
        "p99_ms": round(percentile(everything, 0.99) * 1000, 1),
        "throughput_rps": round(total / elapsed, 1) if elapsed else 0,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items(), key=str)},
        "by_kind": {
            kind: {
                "ok": len(values),
                "p50_ms": round(percentile(values, 0.50) * 1000, 1),
                "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            }
            for kind, values in sorted(stats.latencies.items())
        },
    }
    with contextlib.suppress(OSError):
        figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return figures


async def main(args) -> int:
    base_url = args.base_url.rstrip("/")
    agency = Session(base_url, headers={"Authorization": f"Api-Key {os.environ['LT_AGENCY_KEY']}"})
    delegation = Session(
        base_url, headers={"Authorization": f"Api-Key {os.environ['LT_DELEGATION_KEY']}"}
    )
    user = os.environ.get("LT_DELEGATE_USER", "delegate")
    password = os.environ.get("LT_DELEGATE_PASSWORD", "idm-demo-delegate")
    portal = [await portal_login(base_url, user, password) for _ in range(PORTAL_SESSIONS)]
    targets = await discover(base_url, agency, delegation, portal[0])
    sessions = {"agency": agency, "delegation": delegation, "portal": portal}
    periods = Periods(os.environ.get("LT_DIR"))
    stats = Stats()
    print(
        f"load: {args.clients} clients for {args.duration:g} s against {base_url} "
        f"(mix {WEIGHTS}; {len(targets.agency_assignments)} agency assignments, "
        f"{len(targets.portal_pages)} portal pages)",
        flush=True,
    )
    started_wall = time.time()
    started = time.monotonic()
    deadline = started + args.duration
    await asyncio.gather(
        *(client(n, deadline, targets, sessions, periods, stats) for n in range(args.clients))
    )
    elapsed = time.monotonic() - started
    periods.save()
    figures = report(stats, elapsed, args.clients)
    figures["started_at"] = started_wall
    print(
        f"load: {figures['requests']} requests in {figures['seconds']} s, "
        f"{figures['errors']} errors, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"{figures['throughput_rps']} req/s; load average {figures.get('load_average')}"
    )
    for kind, values in figures["by_kind"].items():
        print(
            f"  {kind:<14} {values['ok']:>6} ok  "
            f"p50 {values['p50_ms']} ms  p99 {values['p99_ms']} ms"
        )
    print(f"  statuses: {figures['statuses']}")
    for error in stats.errors[:10]:
        print(f"  error: {error['kind']} {error['status']} {error['what']}")
    if args.json:
        figures["error_list"] = stats.errors
        figures["created_reports"] = stats.created_reports
        figures["ok_times"] = stats.ok_times if args.with_ok_times else []
        Path(args.json).write_text(json.dumps(figures))
    if stats.errors and not args.allow_errors:
        print("load: FAILED (errors above)")
        return 1
    if not stats.errors:
        print("load: zero errors")
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--json", help="write the figures and the errors to this file")
    parser.add_argument("--with-ok-times", action="store_true", help="record each success's time")
    parser.add_argument("--allow-errors", action="store_true", help="exit 0 despite errors")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients and --duration must be positive")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
