"""Reminders: work out from the database what is due, record each message once, send it once.

How it fits together
--------------------
* ``reminders_sweep`` (Celery beat, every 15 minutes; ``manage.py send_reminders``) computes
  from the database state what is due *now*: the follow-up digests here, the event, agenda,
  proposal-round and document reminders through ``event_reminders.plan_*``. Nothing is kept
  about the sweeps themselves, so a sweep that did not run (broker down) is caught up by the
  next one.
* Each message is a ``Reminder`` row, unique on (kind, recipient, occurrence): two sweeps at
  once, or the same sweep twice, make one row. A follow-up digest also records one
  ``ReminderItem`` per assignment and occurrence (unique on assignment, due date, occurrence),
  so that each assignment is reminded of each occurrence once; a changed due date starts afresh.
* ``reminder_send`` first claims a row (state *being sent*, under the row lock, committed), then
  hands the message to the mail backend, then records it sent: a task delivered twice (a worker
  died, the sweep re-queued it) finds it sent, or being sent, and does nothing. A worker killed
  between the claim and the record leaves a claim that the sweep resolves after
  ``SENDING_STALE_AFTER``: marked sent when the mail backend holds its Message-ID, else sent.
  The Message-ID is derived from the row, so that when the backend cannot tell (SMTP) the one
  copy sent again is one the receiving mail systems recognise.
  A temporary failure is retried after 2, 4, 8 and 16 minutes; after the fifth attempt the
  reminder is *failed* and shows so in the admin ("Retry failed" queues it again).

Follow-up due, one digest per agency and day
--------------------------------------------
For each open assignment (adopted, non-archived recommendation; status not started or in
progress) with an effective due date D, the rule of kind ``followup_due`` gives the occurrences
``before-<n>`` at D-n for each lead time n, ``due`` at D (when "on the day" is set) and
``overdue-<k>`` at D + k·repeat (k ≥ 1, when a repeat is set). Only the latest occurrence whose
date has come is sent: a sweep after a missed week sends that one, not the backlog. A ``before``
reminder is not sent once the date has passed, nor ``due`` once the first overdue reminder is due
(or, without a repeat, more than a week after the date). ``overdue-<k>`` with k above "escalate
after" is escalated: the digest copies the agency's heads of office and the secretariat.

The new lines of an agency go into that day's digest ``(followup_due, organisation:<id>,
<day>)`` addressed to its focal points (else the logins acting for it). A later sweep the same
day adds its new lines to the day's digest while that is still waiting to be sent; once it is
sent, the lines are not recorded and so come again in the first sweep of the next day: an agency
never gets two follow-up digests on one day. An agency without any address gets nothing; the
sweep logs it and counts it ("no address") and tries again at each sweep.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.mime.text import MIMEText
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import (
    Case,
    CharField,
    DateField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat, Substr
from django.template import TemplateDoesNotExist
from django.template.loader import select_template
from django.utils import timezone, translation
from django.utils.text import Truncator

from config.mail import message_delivered
from config.queue import enqueue_on_commit
from stakeholders.models import Organisation, Person, Representative

from .enums import AssignmentRole, ImplementationStatus, ReminderKind, ReminderState
from .models import Assignment, Reminder, ReminderItem, ReminderRule
from .selectors import OPEN_STATUSES, public_recommendations_q

logger = logging.getLogger(__name__)

REMINDER_MAX_ATTEMPTS = 5
RETRY_FIRST_DELAY = dt.timedelta(minutes=2)  # then 4, 8, 16 minutes
# A pending reminder younger than this still has its own task on the way: not re-queued yet.
REQUEUE_AFTER = dt.timedelta(minutes=5)
# A reminder "being sent" for longer than this lost its worker: the sending task is stopped well
# before (its time limit, ``tasks.send_reminder_task``); the sweep queues it again and the next
# attempt resolves the claim.
SENDING_STALE_AFTER = dt.timedelta(minutes=5)
# A task arriving this much before its retry time is on time (clocks of two machines).
EARLY_TOLERANCE = dt.timedelta(seconds=5)
# Without a repeat, a missed "due" reminder is still sent this many days after the date.
DUE_CATCH_UP_DAYS = 7
# Proposal decisions recorded within this many days and never emailed are emailed by the sweep.
DECISION_CATCH_UP = dt.timedelta(days=30)
SWEEP_BATCH_SIZE = 5000
FOLLOWUP_TEMPLATE = "emails/reminders/followup_due"
EXCERPT_CHARS = 160


class ReminderError(Exception):
    """A reminder action that cannot be done (the message says why)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class ReminderRetry(Exception):
    """A temporary sending failure: try again in ``countdown`` seconds."""

    def __init__(self, *, countdown: int, error: Exception):
        super().__init__(f"retry in {countdown} s: {error}")
        self.countdown = countdown
        self.error = error


@dataclass
class PlannedReminder:
    kind: str  # ReminderKind value
    recipient_key: str  # "organisation:<id>" or an email address (lower-case)
    occurrence: str  # e.g. "2026-11-23" (digest day), "workshop-5:before-14"
    due_on: dt.date
    to: list[str]
    template: str  # base name under templates/, e.g. "emails/reminders/event"
    context: dict  # template context
    cc: list[str] = field(default_factory=list)
    language: str = "en"
    escalated: bool = False
    organisation_id: int | None = None
    person_id: int | None = None
    event_key: str = ""
    agenda_version_id: int | None = None
    proposal_round_id: int | None = None
    document_id: int | None = None
    attachment_name: str = ""  # e.g. "workshop-5.ics"
    attachment: str = ""  # iCalendar text

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.recipient_key.lower(), self.occurrence)


@dataclass
class SweepSummary:
    """What one sweep found and did."""

    now: dt.datetime
    dry_run: bool = False
    planned: list[PlannedReminder] = field(default_factory=list)
    created: list[Reminder] = field(default_factory=list)
    followup_lines: int = 0  # follow-up lines recorded (or, dry, that would be)
    deferred_lines: int = 0  # lines left for tomorrow: the day's digest was already sent
    attached: list[int] = field(default_factory=list)  # pending digests that got new lines
    no_address: list[str] = field(default_factory=list)  # agencies without any address
    to_send: list[int] = field(default_factory=list)  # pending reminders queued again
    decisions: list[int] = field(default_factory=list)  # proposal decisions queued again
    skipped_kinds: list[str] = field(default_factory=list)  # disabled (or missing) rules

    def line(self) -> str:
        made = Counter(reminder.kind for reminder in self.created)
        if self.dry_run:
            made = Counter(planned.kind for planned in self.planned)
        parts = [
            f"{'would make' if self.dry_run else 'made'} {sum(made.values())} reminder(s)"
            + (f" ({', '.join(f'{k} {n}' for k, n in sorted(made.items()))})" if made else ""),
            f"{self.followup_lines} follow-up line(s)",
        ]
        if self.attached:
            parts.append(f"{len(self.attached)} digest(s) of the day completed")
        if self.deferred_lines:
            parts.append(f"{self.deferred_lines} line(s) held for tomorrow's digest")
        if self.to_send:
            parts.append(f"{len(self.to_send)} waiting reminder(s) re-queued")
        if self.decisions:
            parts.append(f"{len(self.decisions)} proposal decision(s) re-notified")
        if self.no_address:
            parts.append(f"{len(self.no_address)} agency(ies) with no address")
        if self.skipped_kinds:
            parts.append(f"off: {', '.join(self.skipped_kinds)}")
        when = timezone.localtime(self.now).strftime("%Y-%m-%d %H:%M")
        return f"{when}{' (dry run)' if self.dry_run else ''}: " + ", ".join(parts)

    def as_dict(self) -> dict:
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "planned": len(self.planned),
            "created": [reminder.pk for reminder in self.created],
            "created_by_kind": dict(Counter(reminder.kind for reminder in self.created)),
            "followup_lines": self.followup_lines,
            "deferred_lines": self.deferred_lines,
            "attached": list(self.attached),
            "no_address": list(self.no_address),
            "requeued": list(self.to_send),
            "decisions": list(self.decisions),
            "skipped_kinds": list(self.skipped_kinds),
        }


# --- Rendering and creating ----------------------------------------------------------------------


def _template_names(template: str, suffix: str, language: str) -> list[str]:
    return [f"{template}.{language}.{suffix}", f"{template}.{suffix}"]


def reminder_render(*, template: str, language: str, context: dict) -> tuple[str, str, str]:
    """Subject, text and HTML of a reminder, in ``language`` where that template variant exists.

    Django's own strings (month names, labels) follow the language too.
    """
    language = language or "en"
    with translation.override(language):
        context = {**context, "language": language, "site_url": settings.SITE_URL.rstrip("/")}
        subject = select_template(_template_names(template, "subject.txt", language)).render(
            context
        )
        text = select_template(_template_names(template, "txt", language)).render(context)
        try:
            html = select_template(_template_names(template, "html", language)).render(context)
        except TemplateDoesNotExist:  # a kind without an HTML template sends text only
            html = ""
    subject = " ".join(subject.split())
    return Truncator(subject).chars(255), text.strip() + "\n", html.strip()


def _clean_emails(emails: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    seen = {email.strip().lower() for email in exclude}
    result = []
    for email in emails:
        email = (email or "").strip()
        if email and email.lower() not in seen:
            seen.add(email.lower())
            result.append(email)
    return result


def _reminder_from_planned(planned: PlannedReminder) -> Reminder:
    subject, text, html = reminder_render(
        template=planned.template, language=planned.language, context=planned.context
    )
    to = _clean_emails(planned.to)
    return Reminder(
        kind=planned.kind,
        recipient_key=planned.recipient_key.lower(),
        occurrence=planned.occurrence,
        due_on=planned.due_on,
        organisation_id=planned.organisation_id,
        person_id=planned.person_id,
        event_key=planned.event_key,
        agenda_version_id=planned.agenda_version_id,
        proposal_round_id=planned.proposal_round_id,
        document_id=planned.document_id,
        language=planned.language or "en",
        to_emails=to,
        cc_emails=_clean_emails(planned.cc, exclude=to),
        escalated=planned.escalated,
        subject=subject,
        body_text=text,
        body_html=html,
        attachment_name=planned.attachment_name,
        attachment=planned.attachment,
    )


def _existing_keys(planned: list[PlannedReminder]) -> set[tuple[str, str, str]]:
    if not planned:
        return set()
    rows = Reminder.objects.filter(
        kind__in={p.kind for p in planned},
        recipient_key__in={p.recipient_key.lower() for p in planned},
        occurrence__in={p.occurrence for p in planned},
    ).values_list("kind", "recipient_key", "occurrence")
    return set(rows)


def reminders_create(planned: Iterable[PlannedReminder]) -> list[Reminder]:
    """Render and insert the planned reminders that do not exist yet; return the new rows.

    A planned reminder without any address is skipped (and logged). A row that exists already
    for (kind, recipient, occurrence), made earlier or by a sweep running at the same moment, is
    skipped: the unique constraint decides, each insert in its own savepoint.
    """
    planned = list(planned)
    with_address = []
    for item in planned:
        if _clean_emails(item.to):
            with_address.append(item)
        else:
            logger.warning(
                "no address for %s reminder %s to %s: not made",
                item.kind,
                item.occurrence,
                item.recipient_key,
            )
    existing = _existing_keys(with_address)
    created = []
    for item in with_address:
        if item.key in existing:
            continue
        existing.add(item.key)
        reminder = _reminder_from_planned(item)
        try:
            with transaction.atomic():
                reminder.save()
        except IntegrityError:
            if not Reminder.objects.filter(
                kind=reminder.kind,
                recipient_key=reminder.recipient_key,
                occurrence=reminder.occurrence,
            ).exists():
                raise
            continue  # made by another sweep at the same moment
        created.append(reminder)
    return created


def reminders_queue(reminders: Iterable[Reminder]) -> None:
    """Queue the sending of each reminder once the current transaction commits."""
    from .tasks import send_reminder_task

    for reminder in reminders:
        enqueue_on_commit(send_reminder_task, reminder_id=reminder.pk)


# --- Sending --------------------------------------------------------------------------------------


def reminder_message_id(reminder: Reminder) -> str:
    """The same Message-ID for every attempt of one reminder: mail systems see a copy as one."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<reminder-{reminder.pk}.{reminder.kind}@{host}>"


def _calendar_part(reminder: Reminder) -> MIMEText:
    method = "PUBLISH"
    for line in reminder.attachment.splitlines():
        if line.upper().startswith("METHOD:"):
            method = line.split(":", 1)[1].strip().upper() or method
            break
    part = MIMEText(reminder.attachment, "calendar", "utf-8")
    part.set_param("method", method)
    part.add_header(
        "Content-Disposition", "attachment", filename=reminder.attachment_name or "event.ics"
    )
    return part


def reminder_message(reminder: Reminder) -> EmailMultiAlternatives:
    """The email of a reminder: text, HTML alternative, iCalendar attachment when it has one."""
    message = EmailMultiAlternatives(
        subject=reminder.subject,
        body=reminder.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(reminder.to_emails),
        cc=list(reminder.cc_emails),
        reply_to=list(settings.SECRETARIAT_EMAILS),
        headers={
            "Message-ID": reminder.message_id or reminder_message_id(reminder),
            "X-IDM-Reminder": f"{reminder.kind} {reminder.occurrence}",
            "Auto-Submitted": "auto-generated",
        },
    )
    if reminder.body_html:
        message.attach_alternative(reminder.body_html, "text/html")
    if reminder.attachment:
        message.attach(_calendar_part(reminder))
    return message


def _retry_delay(attempts: int) -> dt.timedelta:
    return RETRY_FIRST_DELAY * 2 ** (attempts - 1)


def _claim(
    *, reminder: Reminder, now: dt.datetime, force: bool
) -> tuple[Reminder | None, str | None]:
    """Take a reminder for sending: (the reminder, None) with the claim committed, or (None,
    outcome) when there is nothing to send. Runs in its own transaction, under the row lock."""
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
        if reminder.state == ReminderState.SENT:
            return None, "already sent"
        if reminder.state == ReminderState.CANCELLED:
            return None, "cancelled"
        if reminder.state == ReminderState.FAILED:
            return None, "failed"
        if reminder.state == ReminderState.SENDING:
            if reminder.claimed_at > now - SENDING_STALE_AFTER:
                return None, "being sent"
            # The worker that took it is gone: did its message reach the mail backend?
            delivered = message_delivered(
                reminder.message_id or reminder_message_id(reminder), since=reminder.claimed_at
            )
            if delivered:
                reminder.state = ReminderState.SENT
                reminder.sent_at = reminder.claimed_at
                reminder.next_attempt_at = None
                reminder.claim_token = ""
                reminder.save(
                    update_fields=[
                        "state",
                        "sent_at",
                        "next_attempt_at",
                        "claim_token",
                        "updated_at",
                    ]
                )
                logger.warning(
                    "reminder %s: its worker stopped after handing the message over; marked sent",
                    reminder.pk,
                )
                return None, "already sent"
            # A lost claim counts as an attempt: a reminder whose sending keeps stopping its
            # worker ends failed (and shows in the admin) instead of going out again and again.
            reminder.attempts += 1
            reminder.last_error = (
                f"The worker sending it stopped (claimed at {reminder.claimed_at:%Y-%m-%d %H:%M} "
                "UTC)."
            )
            if reminder.attempts >= REMINDER_MAX_ATTEMPTS:
                reminder.state = ReminderState.FAILED
                reminder.claim_token = ""
                reminder.next_attempt_at = None
                reminder.save(
                    update_fields=[
                        "state",
                        "attempts",
                        "last_error",
                        "claim_token",
                        "next_attempt_at",
                        "updated_at",
                    ]
                )
                logger.error(
                    "reminder %s failed: its worker stopped while sending it %s times",
                    reminder.pk,
                    reminder.attempts,
                )
                return None, "failed"
            logger.warning(
                "reminder %s: its worker stopped while sending (since %s); %s",
                reminder.pk,
                reminder.claimed_at,
                "not delivered, sending it"
                if delivered is False
                else "the mail backend cannot tell whether it went out: sending it again with "
                "the same Message-ID",
            )
        elif (
            not force
            and reminder.next_attempt_at is not None
            and reminder.next_attempt_at > now + EARLY_TOLERANCE
        ):
            return None, "not due yet"
        if not reminder.to_emails:
            reminder.state = ReminderState.CANCELLED
            reminder.last_error = "No address to send to."
            reminder.claim_token = ""
            reminder.save(update_fields=["state", "last_error", "claim_token", "updated_at"])
            return None, "no address"
        reminder.message_id = reminder.message_id or reminder_message_id(reminder)
        reminder.state = ReminderState.SENDING
        reminder.claimed_at = now
        reminder.claim_token = uuid.uuid4().hex
        reminder.save(
            update_fields=[
                "state",
                "claimed_at",
                "claim_token",
                "message_id",
                "attempts",
                "last_error",
                "updated_at",
            ]
        )
    return reminder, None


def reminder_send(
    *, reminder: Reminder, now: dt.datetime | None = None, force: bool = False
) -> str:
    """Send one reminder, once.

    First, under the row lock, the reminder is *claimed* and the claim committed: a reminder
    already sent (or cancelled, or failed for good) is not sent again; one whose retry time has
    not come is left for then (unless ``force``); one another worker is sending is left to it.
    Then the message is handed to the mail backend, outside any transaction, and the outcome
    recorded: sent, or a refused or unreachable mail server counts an attempt and raises
    ``ReminderRetry`` with the growing delay (the last attempt marks it failed instead).

    A worker killed between the claim and the record leaves the reminder *being sent*. After
    ``SENDING_STALE_AFTER`` the sweep queues it again and the claim is resolved: when the mail
    backend holds its Message-ID it is marked sent without a second message; when it can tell it
    does not, it is sent; when it cannot tell (SMTP), it is sent again with the same Message-ID.

    Returns "sent", "already sent", "being sent", "cancelled", "failed", "not due yet" or
    "no address".
    """
    now = now or timezone.now()
    claimed, outcome = _claim(reminder=reminder, now=now, force=force)
    if claimed is None:
        return outcome
    reminder, token = claimed, claimed.claim_token
    try:
        reminder_message(reminder).send()
    except Exception as error:  # refused, timed out, unreachable; or a message that cannot be made
        return _record_failure(reminder=reminder, token=token, now=now, error=error)
    with transaction.atomic():
        updated = Reminder.objects.filter(
            pk=reminder.pk, state=ReminderState.SENDING, claim_token=token
        ).update(
            state=ReminderState.SENT,
            sent_at=now,
            next_attempt_at=None,
            claim_token="",
            updated_at=timezone.now(),
        )
    if not updated:
        logger.warning(
            "reminder %s was taken over by another worker while it was sent", reminder.pk
        )
    return "sent"


def _record_failure(*, reminder: Reminder, token: str, now: dt.datetime, error: Exception) -> str:
    """Count a failed attempt of the claim ``token``: back to waiting with a growing delay (raises
    ``ReminderRetry`` after the commit), or failed after the last attempt."""
    retry = None
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
        if reminder.state != ReminderState.SENDING or reminder.claim_token != token:
            logger.warning(
                "reminder %s: an attempt taken over by another worker failed: %s",
                reminder.pk,
                error,
            )
            return "taken over"
        reminder.attempts += 1
        reminder.last_error = f"{error.__class__.__name__}: {error}"[:2000]
        reminder.claim_token = ""
        if reminder.attempts >= REMINDER_MAX_ATTEMPTS:
            reminder.state = ReminderState.FAILED
            reminder.next_attempt_at = None
            logger.error(
                "reminder %s failed after %s attempts: %s",
                reminder.pk,
                reminder.attempts,
                reminder.last_error,
            )
        else:
            reminder.state = ReminderState.PENDING
            delay = _retry_delay(reminder.attempts)
            reminder.next_attempt_at = now + delay
            retry = ReminderRetry(countdown=int(delay.total_seconds()), error=error)
            logger.warning(
                "reminder %s not sent (attempt %s): %s; next try in %s",
                reminder.pk,
                reminder.attempts,
                reminder.last_error,
                delay,
            )
        reminder.save(
            update_fields=[
                "attempts",
                "last_error",
                "state",
                "next_attempt_at",
                "claim_token",
                "updated_at",
            ]
        )
    if retry is None:
        return "failed"
    raise retry  # after the commit, so that the attempt is counted


@transaction.atomic
def reminder_retry(*, reminder: Reminder) -> Reminder:
    """Send a failed reminder again: back to waiting, attempts from zero, queued after commit."""
    reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
    if reminder.state != ReminderState.FAILED:
        raise ReminderError(
            f"{reminder} is {reminder.get_state_display().lower()}; only a failed reminder "
            "can be retried."
        )
    reminder.state = ReminderState.PENDING
    reminder.attempts = 0
    reminder.next_attempt_at = None
    reminder.save(update_fields=["state", "attempts", "next_attempt_at", "updated_at"])
    reminders_queue([reminder])
    return reminder


# --- Follow-up due: occurrences ------------------------------------------------------------------


@dataclass(frozen=True)
class FollowupRule:
    """The follow-up rule in the shape the sweep needs (read once per sweep)."""

    lead_days: tuple[int, ...] = (30, 7)
    on_the_day: bool = True
    repeat_every_days: int | None = 7
    escalate_after: int | None = 2

    @classmethod
    def of(cls, rule: ReminderRule) -> FollowupRule:
        return cls(
            lead_days=tuple(n for n in rule.lead_days_list if n > 0),
            on_the_day=rule.on_the_day,
            repeat_every_days=rule.repeat_every_days,
            escalate_after=rule.escalate_after,
        )

    def due_window(self, today: dt.date) -> tuple[dt.date | None, dt.date]:
        """The effective due dates that can have an occurrence today: (after, up to)."""
        latest = today + dt.timedelta(days=max(self.lead_days, default=0))
        if self.repeat_every_days:
            return None, latest
        if self.on_the_day:
            return today - dt.timedelta(days=DUE_CATCH_UP_DAYS), latest
        return today, latest


def followup_occurrence(*, due: dt.date, today: dt.date, rule: FollowupRule):
    """The latest occurrence of a follow-up reminder for due date ``due`` whose date has come:
    ``(name, date, escalated)``, or None when there is none to send today."""
    days = (today - due).days
    if days < 0:
        eligible = [n for n in rule.lead_days if n >= -days]
        if not eligible:
            return None
        n = min(eligible)
        return f"before-{n}", due - dt.timedelta(days=n), False
    repeat = rule.repeat_every_days
    if repeat:
        k = days // repeat
        if k >= 1:
            escalated = rule.escalate_after is not None and k > rule.escalate_after
            return f"overdue-{k}", due + dt.timedelta(days=k * repeat), escalated
    if rule.on_the_day and days < (repeat or DUE_CATCH_UP_DAYS):
        return "due", due, False
    return None


class _DaysSince(Func):
    """Whole days from a date expression to ``day`` (positive when the date is earlier)."""

    output_field = IntegerField()

    def __init__(self, expression, day: dt.date):
        super().__init__(Value(day, output_field=DateField()), expression)

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(
            compiler, connection, template="(%(expressions)s)", arg_joiner=" - ", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="CAST(julianday(%(expressions)s) AS INTEGER)",
            arg_joiner=") - julianday(",
            **extra,
        )


def _occurrence_sql(rule: FollowupRule, days) -> Case:
    """``followup_occurrence``'s name as SQL over ``days`` (days since the due date), so that
    the database leaves out the lines already recorded; Python stays the authority."""
    whens = [
        When(Q(**{f"{days}__lt": 0, f"{days}__gte": -n}), then=Value(f"before-{n}"))
        for n in sorted(rule.lead_days)
    ]
    repeat = rule.repeat_every_days
    if repeat:
        whens.append(
            When(
                Q(**{f"{days}__gte": repeat}),
                then=Concat(
                    Value("overdue-"),
                    Cast(Cast(F(days) / repeat, IntegerField()), CharField()),
                    output_field=CharField(),
                ),
            )
        )
    if rule.on_the_day:
        whens.append(
            When(
                Q(**{f"{days}__gte": 0, f"{days}__lt": repeat or DUE_CATCH_UP_DAYS}),
                then=Value("due"),
            )
        )
    return Case(*whens, default=Value(""), output_field=CharField())


def _candidate_batches(*, today: dt.date, rule: FollowupRule, batch_size: int):
    """Open assignments with an occurrence today that is not recorded yet, in batches of
    ``(assignment id, organisation id, effective due date)``, one query per batch.

    The database works out each one's occurrence name and leaves out those with a recorded
    line (one probe of the unique index each): a sweep after the day's first reads nothing.
    """
    after, up_to = rule.due_window(today)
    queryset = (
        Assignment.objects.filter(
            public_recommendations_q("recommendation__"), status__in=OPEN_STATUSES
        )
        .annotate(effective_due=Coalesce("due_date", "due_before_session__start_date"))
        .filter(effective_due__lte=up_to)
    )
    if after is not None:
        queryset = queryset.filter(effective_due__gt=after)
    queryset = (
        queryset.annotate(days_since_due=_DaysSince(F("effective_due"), today))
        .annotate(occurrence_now=_occurrence_sql(rule, "days_since_due"))
        .exclude(occurrence_now="")
        .exclude(
            Exists(
                ReminderItem.objects.filter(
                    assignment_id=OuterRef("pk"),
                    due_date=OuterRef("effective_due"),
                    occurrence=OuterRef("occurrence_now"),
                )
            )
        )
        .order_by("pk")
        .values_list("pk", "organisation_id", "effective_due")
    )
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last)[:batch_size])
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        last = batch[-1][0]


@dataclass
class _Line:
    assignment_id: int
    due_date: dt.date
    occurrence: str
    days_overdue: int
    escalated: bool


def followup_lines_due(
    *, today: dt.date, rule: FollowupRule, batch_size: int = SWEEP_BATCH_SIZE
) -> dict[int, list[_Line]]:
    """The follow-up lines to send today that were not sent yet, by organisation id.

    Two queries per batch: the candidates without a recorded line, and (to be sure when two
    sweeps run at once) the lines recorded among them since.
    """
    by_organisation: dict[int, list[_Line]] = defaultdict(list)
    occurrence_of: dict[dt.date, tuple | None] = {}
    for batch in _candidate_batches(today=today, rule=rule, batch_size=batch_size):
        candidates = []
        for assignment_id, organisation_id, due in batch:
            if isinstance(due, str):  # SQLite hands back a COALESCE of dates as text
                due = dt.date.fromisoformat(due)
            if due not in occurrence_of:
                occurrence_of[due] = followup_occurrence(due=due, today=today, rule=rule)
            found = occurrence_of[due]
            if found is not None:
                candidates.append((assignment_id, organisation_id, due, found))
        if not candidates:
            continue
        done = set(
            ReminderItem.objects.filter(
                assignment_id__in=[c[0] for c in candidates],
                occurrence__in={c[3][0] for c in candidates},
            )
            .order_by()  # the model's ordering would join the assignments
            .values_list("assignment_id", "due_date", "occurrence")
        )
        for assignment_id, organisation_id, due, (occurrence, _, escalated) in candidates:
            if (assignment_id, due, occurrence) in done:
                continue
            by_organisation[organisation_id].append(
                _Line(assignment_id, due, occurrence, max(0, (today - due).days), escalated)
            )
    return by_organisation


# --- Follow-up due: addresses and digests --------------------------------------------------------


@dataclass
class _Addresses:
    to: list[str] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    language: str = "en"


def _addresses(organisation_ids: list[int]) -> dict[int, _Addresses]:
    """Focal points (else the logins acting for the organisation) and heads of office."""
    found: dict[int, _Addresses] = defaultdict(_Addresses)
    focal_language: dict[int, str] = {}
    people = (
        Person.objects.filter(organisation_id__in=organisation_ids)
        .filter(Q(is_focal_point=True) | Q(is_head_of_office=True))
        .exclude(email="")
        .order_by("pk")
        .values_list("organisation_id", "email", "language", "is_focal_point", "is_head_of_office")
    )
    for organisation_id, email, language, focal, head in people:
        if focal:
            found[organisation_id].to.append(email)
            focal_language.setdefault(organisation_id, language)
        if head:
            found[organisation_id].heads.append(email)
    logins = (
        Representative.objects.filter(organisation_id__in=organisation_ids, user__is_active=True)
        .exclude(user__email="")
        .order_by("pk")
        .values_list("organisation_id", "user__email", "person__language")
    )
    for organisation_id, email, language in logins:
        addresses = found[organisation_id]
        if organisation_id not in focal_language:
            addresses.to.append(email)
            if language and addresses.language == "en" and len(addresses.to) == 1:
                addresses.language = language
    for organisation_id, language in focal_language.items():
        found[organisation_id].language = language
    for addresses in found.values():
        addresses.to = _clean_emails(addresses.to)
    return found


def _digest_cc(addresses: _Addresses, escalated: bool) -> list[str]:
    if not escalated:
        return []
    return _clean_emails([*addresses.heads, *settings.SECRETARIAT_EMAILS], exclude=addresses.to)


ROLE_LABELS = dict(AssignmentRole.choices)
STATUS_LABELS = dict(ImplementationStatus.choices)


def _digest_context(reminder: Reminder, organisation: Organisation, today: dt.date) -> dict:
    rows = (
        ReminderItem.objects.filter(reminder=reminder)
        .order_by("due_date", "assignment__recommendation__reference", "assignment_id")
        .values_list(
            "assignment_id",
            "due_date",
            "occurrence",
            "escalated",
            "assignment__recommendation__reference",
            Substr("assignment__recommendation__text", 1, EXCERPT_CHARS + 40),
            "assignment__role",
            "assignment__status",
            "assignment__progress",
        )
    )
    lines = []
    for pk, due, occurrence, escalated, reference, text, role, status, progress in rows:
        days = (today - due).days
        lines.append(
            {
                "assignment_id": pk,
                "reference": reference,
                "excerpt": Truncator(" ".join(text.split())).chars(EXCERPT_CHARS),
                "role": role,
                "role_label": ROLE_LABELS.get(role, role),
                "status": status,
                "status_label": STATUS_LABELS.get(status, status),
                "progress": progress,
                "due_date": due,
                "occurrence": occurrence,
                "escalated": escalated,
                "days_overdue": max(0, days),
                "days_left": max(0, -days),
            }
        )
    site = settings.SITE_URL.rstrip("/")
    return {
        "organisation": organisation,
        "day": today,
        "lines": lines,
        "overdue": [line for line in lines if line["days_overdue"] > 0],
        "due_today": [line for line in lines if line["days_overdue"] == 0 == line["days_left"]],
        "upcoming": [line for line in lines if line["days_left"] > 0],
        "escalated": reminder.escalated,
        "assignments_url": f"{site}/api/v1/assignments/?mine=true",
    }


def _digest_store(
    *,
    organisation: Organisation,
    lines: list[_Line],
    addresses: _Addresses,
    today: dt.date,
    queue: bool = True,
) -> tuple[Reminder | None, int, bool]:
    """Put an agency's new lines in the day's digest: (digest, lines added, digest is new).

    The day's digest is made, or, while it still waits to be sent, completed (under its row
    lock, which ``reminder_send`` takes too). Once it is sent nothing is recorded: (None, 0,
    False), and the lines come again in the next day's first sweep.
    """
    key = f"organisation:{organisation.pk}"
    occurrence = today.isoformat()
    lookup = {"kind": ReminderKind.FOLLOWUP_DUE, "recipient_key": key, "occurrence": occurrence}
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().filter(**lookup).first()
        created = False
        if reminder is None:
            reminder = Reminder(
                **lookup,
                due_on=today,  # the day it goes out, as for every kind
                organisation=organisation,
                language=addresses.language,
                to_emails=addresses.to,
            )
            try:
                with transaction.atomic():
                    reminder.save()
                created = True
            except IntegrityError:  # made by a sweep running at the same moment
                reminder = Reminder.objects.select_for_update().get(**lookup)
        if reminder.state != ReminderState.PENDING:
            return None, 0, False
        before = 0 if created else reminder.items.count()
        ReminderItem.objects.bulk_create(
            [
                ReminderItem(
                    reminder=reminder,
                    assignment_id=line.assignment_id,
                    due_date=line.due_date,
                    occurrence=line.occurrence,
                    days_overdue=line.days_overdue,
                    escalated=line.escalated,
                )
                for line in lines
            ],
            batch_size=1000,
            ignore_conflicts=True,  # recorded by a sweep running at the same moment
        )
        items = list(reminder.items.values_list("due_date", "escalated"))
        added = len(items) - before
        if not items:  # every line went to a concurrent sweep's digest
            reminder.delete()
            return None, 0, False
        reminder.escalated = any(escalated for _, escalated in items)
        reminder.language = addresses.language
        reminder.to_emails = addresses.to
        reminder.cc_emails = _digest_cc(addresses, reminder.escalated)
        reminder.subject, reminder.body_text, reminder.body_html = reminder_render(
            template=FOLLOWUP_TEMPLATE,
            language=reminder.language,
            context=_digest_context(reminder, organisation, today),
        )
        reminder.save()
        if created and queue:
            reminders_queue([reminder])
    return reminder, added, created


def _followup_sweep(
    *, today: dt.date, rule: ReminderRule, summary: SweepSummary, queue: bool = True
) -> None:
    followup_rule = FollowupRule.of(rule)
    by_organisation = followup_lines_due(today=today, rule=followup_rule)
    if not by_organisation:
        return
    organisation_ids = sorted(by_organisation)
    organisations = Organisation.objects.only("name", "acronym").in_bulk(organisation_ids)
    addresses = _addresses(organisation_ids)
    for organisation_id in organisation_ids:
        lines = by_organisation[organisation_id]
        organisation = organisations[organisation_id]
        found = addresses.get(organisation_id) or _Addresses()
        if not found.to:
            logger.warning(
                "no focal point or login with an email for %s: %s follow-up line(s) not sent",
                organisation,
                len(lines),
            )
            summary.no_address.append(organisation.short_name)
            continue
        if summary.dry_run:
            escalated = any(line.escalated for line in lines)
            summary.followup_lines += len(lines)
            summary.planned.append(
                PlannedReminder(
                    kind=ReminderKind.FOLLOWUP_DUE,
                    recipient_key=f"organisation:{organisation_id}",
                    occurrence=today.isoformat(),
                    due_on=today,
                    to=found.to,
                    cc=_digest_cc(found, escalated),
                    template=FOLLOWUP_TEMPLATE,
                    context={"organisation": organisation, "lines": lines},
                    language=found.language,
                    escalated=escalated,
                    organisation_id=organisation_id,
                )
            )
            continue
        reminder, added, created = _digest_store(
            organisation=organisation, lines=lines, addresses=found, today=today, queue=queue
        )
        if reminder is None:
            summary.deferred_lines += len(lines)
            continue
        summary.followup_lines += added
        if created:
            summary.created.append(reminder)
        elif added:
            summary.attached.append(reminder.pk)


# --- The sweep ------------------------------------------------------------------------------------


def _planned_by_kind(*, kind: str, rule: ReminderRule, now: dt.datetime, today: dt.date):
    from . import event_reminders

    if kind == ReminderKind.EVENT:
        return event_reminders.plan_event_reminders(today=today, rule=rule)
    if kind == ReminderKind.ROUND_CLOSING:
        return event_reminders.plan_round_closing_reminders(now=now, rule=rule)
    if kind == ReminderKind.DOCUMENT_DUE:
        return event_reminders.plan_document_due_reminders(today=today, rule=rule)
    if kind == ReminderKind.AGENDA_CHANGED:
        return event_reminders.plan_agenda_change_reminders(now=now)
    raise ValueError(kind)


def _decisions_not_notified(now: dt.datetime) -> list[int]:
    from workshops.models import ThemeProposal
    from workshops.services import OUTCOMES

    return list(
        ThemeProposal.objects.filter(
            state__in=OUTCOMES,
            decided_at__gte=now - DECISION_CATCH_UP,
            decided_at__lte=now - REQUEUE_AFTER,
        )
        .filter(Q(decision_notified_at=None) | Q(decision_notified_at__lt=F("decided_at")))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def reminders_waiting(now: dt.datetime) -> list[int]:
    """Reminders whose task may be lost: waiting, with their retry time come or made more than a
    few minutes ago without any attempt; or left *being sent* by a worker that stopped."""
    return list(
        Reminder.objects.filter(
            Q(state=ReminderState.PENDING, next_attempt_at__lte=now)
            | Q(
                state=ReminderState.PENDING,
                next_attempt_at=None,
                created_at__lte=now - REQUEUE_AFTER,
            )
            | Q(state=ReminderState.SENDING, claimed_at__lte=now - SENDING_STALE_AFTER)
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def reminders_sweep(
    *, now: dt.datetime | None = None, dry_run: bool = False, queue: bool = True
) -> SweepSummary:
    """Make every reminder due at ``now`` from the database state and queue what waits.

    ``dry_run`` lists in ``planned`` what would be made and writes (and queues) nothing.
    ``queue=False`` (the command sending synchronously) makes the reminders without queueing
    anything: ``created``, ``to_send`` and ``decisions`` are then the caller's to send.
    """
    from workshops.tasks import notify_proposal_decision_task

    from .tasks import send_reminder_task

    now = now or timezone.now()
    today = timezone.localdate(now)
    summary = SweepSummary(now=now, dry_run=dry_run)
    rules = {rule.kind: rule for rule in ReminderRule.objects.all()}
    for kind in ReminderKind.values:
        rule = rules.get(kind)
        if rule is None or not rule.enabled:
            summary.skipped_kinds.append(kind)
            continue
        if kind == ReminderKind.FOLLOWUP_DUE:
            _followup_sweep(today=today, rule=rule, summary=summary, queue=queue)
            continue
        planned = list(_planned_by_kind(kind=kind, rule=rule, now=now, today=today))
        if dry_run:
            existing = _existing_keys(planned)
            summary.planned.extend(
                p for p in planned if p.key not in existing and _clean_emails(p.to)
            )
            continue
        created = reminders_create(planned)
        summary.created.extend(created)
        if queue:
            reminders_queue(created)
    created_ids = {reminder.pk for reminder in summary.created}
    summary.to_send = [pk for pk in reminders_waiting(now) if pk not in created_ids]
    summary.decisions = _decisions_not_notified(now)
    if queue and not dry_run:
        for pk in summary.to_send:
            enqueue_on_commit(send_reminder_task, reminder_id=pk)
        for pk in summary.decisions:
            enqueue_on_commit(notify_proposal_decision_task, proposal_id=pk)
    return summary
