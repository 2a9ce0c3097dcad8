"""Make the reminders due now and send them here and now (without a Celery worker).

    manage.py send_reminders                    # sweep and send, with a progress bar on a terminal
    manage.py send_reminders --dry-run          # list what would be sent; writes nothing
    manage.py send_reminders --date 2026-11-23  # as if it were that day (at this time of day)

The same sweep as the scheduled task (``recommendations.sweep_reminders``): what it makes is
sent once whichever runs first; a reminder that the mail server refuses is tried again by the
next sweep after its retry delay.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import sys
from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from recommendations.models import Reminder
from recommendations.reminders import ReminderRetry, reminder_send, reminders_sweep


def _moment(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            f"--date: “{value}” is not a date; give it as YYYY-MM-DD, e.g. 2026-11-23."
        ) from None
    now = timezone.localtime()
    return timezone.make_aware(dt.datetime.combine(day, now.time().replace(tzinfo=None)))


class Command(BaseCommand):
    help = (
        "Make the reminders due now (follow-up digests, events, agenda changes, proposal rounds, "
        "documents) and send them; --dry-run lists them without writing anything."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would be sent (kind, recipient, occurrence, to, cc); write nothing.",
        )
        parser.add_argument(
            "--date",
            metavar="YYYY-MM-DD",
            help="Run as if it were this day (default: today).",
        )

    def handle(self, *args, **options):
        now = _moment(options["date"])
        if options["dry_run"]:
            return self._dry_run(now)
        summary = reminders_sweep(now=now, queue=False)
        to_send = [reminder.pk for reminder in summary.created] + list(summary.to_send)
        outcomes = Counter()
        quiet = options["verbosity"] == 0
        with tqdm(
            total=len(to_send),
            unit="mail",
            desc="send_reminders",
            disable=quiet or not sys.stderr.isatty(),
        ) as bar:
            for pk in to_send:
                reminder = Reminder.objects.filter(pk=pk).first()
                if reminder is None:
                    outcomes["gone"] += 1
                else:
                    outcomes[self._send(reminder)] += 1
                bar.update(1)
        outcomes.update(self._notify_decisions(summary.decisions))
        if not quiet:
            self.stdout.write(summary.line())
            if outcomes:
                self.stdout.write(
                    "sending: " + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
                )

    def _send(self, reminder: Reminder) -> str:
        try:
            return reminder_send(reminder=reminder, now=None)
        except ReminderRetry as retry:
            self.stderr.write(
                f"not sent: {reminder} ({retry.error}); tried again by the sweep in "
                f"{retry.countdown // 60} min"
            )
            return "to retry"

    def _notify_decisions(self, proposal_ids: list[int]) -> Counter:
        from workshops.models import ThemeProposal
        from workshops.services import proposal_decision_notify

        outcomes = Counter()
        for proposal in ThemeProposal.objects.filter(pk__in=proposal_ids).order_by("pk"):
            try:
                proposal_decision_notify(proposal=proposal)
            except (smtplib.SMTPException, OSError) as error:
                self.stderr.write(f"decision on “{proposal.title}” not emailed: {error}")
                outcomes["decision emails to retry"] += 1
            else:
                outcomes["decisions emailed"] += 1
        return outcomes

    def _dry_run(self, now):
        summary = reminders_sweep(now=now, dry_run=True)
        rows = [
            (
                planned.kind,
                planned.recipient_key,
                planned.occurrence,
                ", ".join(planned.to),
                ", ".join(planned.cc),
            )
            for planned in summary.planned
        ]
        if rows:
            header = ("kind", "recipient", "occurrence", "to", "cc")
            widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
            for row in [header, *rows]:
                self.stdout.write(
                    "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:4]))
                    + "  "
                    + row[4]
                )
        else:
            self.stdout.write("Nothing new to send.")
        if summary.to_send:
            self.stdout.write(
                f"{len(summary.to_send)} reminder(s) made earlier and waiting would be sent: "
                + ", ".join(str(pk) for pk in summary.to_send)
            )
        if summary.no_address:
            self.stdout.write(
                "Not sent, no focal point or login with an email: " + ", ".join(summary.no_address)
            )
        self.stdout.write(summary.line())
