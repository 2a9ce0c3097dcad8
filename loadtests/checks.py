"""Checks of the database and the mail folder after a fault, for loadtests/faults.sh.

    uv run python loadtests/checks.py window <load.json> <start> <end> [--grace S] [--strict]
    uv run python loadtests/checks.py consistency [<load.json>]
    uv run python loadtests/checks.py sweep-during-outage
    uv run python loadtests/checks.py backdate-waiting
    uv run python loadtests/checks.py queue-sweep
    uv run python loadtests/checks.py reminder-counts
    uv run python loadtests/checks.py reminders-exactly-once

Each prints one line per finding and exits 1 when a check fails. Times are Unix seconds.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def window(
    load_json: str, fault_start: float, fault_end: float, grace: float = 3.0, strict: bool = False
) -> int:
    """Errors of a load run only while the fault lasted (plus ``grace``), successes after it;
    ``strict``: no error at all (the fault must not be seen by the clients)."""
    figures = json.loads(Path(load_json).read_text())
    errors = figures["error_list"]
    ok_times = figures.get("ok_times") or []
    outside = [e for e in errors if not fault_start - 0.5 <= e["at"] <= fault_end + grace]
    after = [t for t in ok_times if t > fault_end + grace]
    first = min((e["at"] for e in errors), default=None)
    last = max((e["at"] for e in errors), default=None)
    span = f"{last - first:.2f} s" if errors else "none"
    recovered = min((t for t in ok_times if t > (last or fault_end)), default=None)
    print(
        f"  fault window {fault_end - fault_start:.2f} s; {len(errors)} failed requests of "
        f"{figures['requests']} (statuses {figures['statuses']}), spread over {span}; "
        f"{len(outside)} outside the window; first success after the last error "
        f"{(recovered - (last or fault_end)):.2f} s later"
        if recovered
        else f"  fault window {fault_end - fault_start:.2f} s; {len(errors)} failed requests; "
        "NO success after the fault"
    )
    for error in outside[:5]:
        print(f"    outside: {error}")
    status = 0
    if outside:
        print("  FAIL: requests failed outside the fault window")
        status = 1
    if not after:
        print("  FAIL: no request succeeded after the fault (the web process did not recover)")
        status = 1
    if strict and errors:
        kinds = Counter((e["kind"], e["status"]) for e in errors)
        print(f"  FAIL: {len(errors)} requests failed while it lasted: {dict(kinds)}")
        status = 1
    return status


def consistency(load_json: str | None = None) -> int:
    """No half-written report: every report with its assignment, history and idempotency record."""
    django_setup()
    from django.db import connection

    from recommendations.models import Assignment, EvidenceFile, FollowUpReport
    from stakeholders.models import IdempotencyRecord

    problems = []
    reports = FollowUpReport.objects.count()
    orphans = FollowUpReport.objects.exclude(assignment__in=Assignment.objects.all()).count()
    if orphans:
        problems.append(f"{orphans} reports without their assignment")
    Historical = FollowUpReport.history.model
    without_history = FollowUpReport.objects.exclude(
        pk__in=Historical.objects.filter(history_type="+").values("id")
    ).count()
    if without_history:
        problems.append(f"{without_history} reports without their creation in the history")
    created_ids = set(Historical.objects.filter(history_type="+").values_list("id", flat=True))
    deleted_ids = set(Historical.objects.filter(history_type="-").values_list("id", flat=True))
    existing = set(FollowUpReport.objects.values_list("pk", flat=True))
    ghosts = created_ids - existing - deleted_ids
    if ghosts:
        problems.append(f"{len(ghosts)} history rows of reports that do not exist")
    unfinished = IdempotencyRecord.objects.filter(status_code=0).count()
    if unfinished:
        problems.append(f"{unfinished} idempotency records without their stored response")
    missing_files = [
        e.pk
        for e in EvidenceFile.objects.all()
        if e.file and not e.file.storage.exists(e.file.name)
    ]
    if missing_files:
        problems.append(f"{len(missing_files)} evidence rows without their file")
    answered = 0
    if load_json:
        figures = json.loads(Path(load_json).read_text())
        ids = figures.get("created_reports", [])
        answered = len(ids)
        lost = set(ids) - existing
        if lost:
            problems.append(f"{len(lost)} reports answered 201 are not in the database (lost)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")
        (idle,) = cursor.fetchone()
    if idle:
        problems.append(f"{idle} sessions left idle in a transaction")
    print(
        f"  consistency: {reports} reports ({answered} answered 201 in the run, all present), "
        "each with its assignment and history; idempotency records complete"
        if not problems
        else "  consistency: " + "; ".join(problems)
    )
    if problems:
        print("  FAIL: inconsistent data after the fault")
        return 1
    return 0


def sweep_during_outage() -> int:
    """Run the beat's sweep task in this process while the broker is down (as a worker would)."""
    django_setup()
    import time

    from recommendations.models import Reminder
    from recommendations.tasks import sweep_reminders_task

    started = time.monotonic()
    summary = sweep_reminders_task()
    pending = Reminder.objects.filter(state="pending").count()
    made = len(summary.get("created") or [])
    print(
        f"  sweep with the broker down: {made} reminders made, their sends not queued; "
        f"{pending} waiting; {time.monotonic() - started:.1f} s"
    )
    return 0


def backdate_waiting() -> int:
    """Age the waiting reminders past REQUEUE_AFTER, and the claims of reminders being sent by a
    killed worker past SENDING_STALE_AFTER, as if those minutes had gone by."""
    django_setup()
    from recommendations.models import Reminder
    from recommendations.reminders import REQUEUE_AFTER, SENDING_STALE_AFTER

    waiting = 0
    for reminder in Reminder.objects.filter(state="pending"):
        Reminder.objects.filter(pk=reminder.pk).update(
            created_at=reminder.created_at - REQUEUE_AFTER
        )
        waiting += 1
    claims = 0
    for reminder in Reminder.objects.filter(state="sending"):
        Reminder.objects.filter(pk=reminder.pk, state="sending").update(
            claimed_at=reminder.claimed_at - SENDING_STALE_AFTER
        )
        claims += 1
    print(
        f"  {waiting} waiting reminders aged by {REQUEUE_AFTER} (the sweep's requeue delay), "
        f"{claims} left being sent by a killed worker aged by {SENDING_STALE_AFTER}"
    )
    return 0


def queue_sweep() -> int:
    """Publish the sweep task on the broker, as beat does."""
    django_setup()
    from recommendations.tasks import sweep_reminders_task

    result = sweep_reminders_task.delay()
    print(f"  sweep queued ({result.id})")
    return 0


def reminder_counts() -> int:
    django_setup()
    from recommendations.models import Reminder

    counts = Counter(Reminder.objects.values_list("state", flat=True))
    states = ("pending", "sending", "sent", "failed")
    print(" ".join(f"{state}={counts.get(state, 0)}" for state in states))
    return 0


def _mail_message_ids(mail_dir: Path) -> Counter:
    ids: Counter = Counter()
    for path in mail_dir.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if line.lower().startswith("message-id:") and "<reminder-" in line:
                ids[line.split(":", 1)[1].strip()] += 1
    return ids


def reminders_exactly_once() -> int:
    """Every due reminder made and sent; one mail per sent reminder (by its Message-ID)."""
    django_setup()
    from recommendations.models import Reminder
    from recommendations.reminders import reminders_sweep

    problems = []
    states = Counter(Reminder.objects.values_list("state", flat=True))
    not_sent = {s: n for s, n in states.items() if s != "sent"}
    if not_sent:
        problems.append(f"reminders not sent: {not_sent}")
    still_due = reminders_sweep(dry_run=True).planned
    if still_due:
        problems.append(f"{len(still_due)} due reminders were never made")
    mails = _mail_message_ids(Path(os.environ["MAIL_DIR"]))
    sent_ids = set(Reminder.objects.filter(state="sent").values_list("message_id", flat=True))
    missing = sent_ids - set(mails)
    duplicates = {m: n for m, n in mails.items() if n > 1}
    strays = set(mails) - sent_ids
    if missing:
        problems.append(f"{len(missing)} reminders marked sent without a mail")
    if duplicates:
        problems.append(
            f"{len(duplicates)} reminders mailed more than once (same Message-ID): "
            f"{sorted(duplicates.items())[:3]}"
        )
    if strays:
        problems.append(f"{len(strays)} reminder mails of no sent reminder")
    print(
        f"  reminders: {states.get('sent', 0)} sent, {sum(mails.values())} reminder mails for "
        f"{len(mails)} Message-IDs; "
        + ("every due reminder sent exactly once" if not problems else "; ".join(problems))
    )
    if problems:
        print("  FAIL: reminders not sent exactly once")
        return 1
    return 0


def main(argv: list[str]) -> int:
    command, *rest = argv
    if command == "window":
        grace = 3.0
        strict = "--strict" in rest
        if strict:
            rest.remove("--strict")
        if "--grace" in rest:
            index = rest.index("--grace")
            grace = float(rest[index + 1])
            del rest[index : index + 2]
        return window(rest[0], float(rest[1]), float(rest[2]), grace, strict)
    commands = {
        "consistency": consistency,
        "sweep-during-outage": sweep_during_outage,
        "backdate-waiting": backdate_waiting,
        "queue-sweep": queue_sweep,
        "reminder-counts": reminder_counts,
        "reminders-exactly-once": reminders_exactly_once,
    }
    if command not in commands:
        print(__doc__)
        return 2
    return commands[command](*rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
