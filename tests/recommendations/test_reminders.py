"""Follow-up reminders: one digest per agency and day, each occurrence once, sent once.

The clock is frozen (time-machine) and moved from sweep to sweep; the broker is replaced by a
list of queued reminder ids, sent by ``reminder_send`` as the worker would.
"""

import datetime as dt
import importlib
import smtplib
import threading
import zoneinfo
from unittest import mock

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, connections
from django.utils import timezone

from config import queue
from recommendations import tasks
from recommendations.enums import ImplementationStatus, RecommendationState, ReminderKind
from recommendations.enums import ReminderState as State
from recommendations.models import Assignment, Reminder, ReminderItem, ReminderRule
from recommendations.reminders import (
    REMINDER_MAX_ATTEMPTS,
    FollowupRule,
    ReminderError,
    ReminderRetry,
    followup_occurrence,
    reminder_retry,
    reminder_send,
    reminders_sweep,
)
from tests.factories.idm import CouncilSessionFactory
from tests.factories.reminders import (
    FocalPointFactory,
    HeadOfOfficeFactory,
    OpenAssignmentFactory,
    ReminderFactory,
    ReminderItemFactory,
)
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory, UserFactory
from tests.factories.workshops import ThemeProposalFactory
from workshops.enums import ProposalState

pytestmark = pytest.mark.django_db

ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")
DUE = dt.date(2026, 12, 31)
SECRETARIAT = ["idm-secretariat@example.org"]


def day(offset: int) -> dt.date:
    """The day ``offset`` days after the due date (before it when negative)."""
    return DUE + dt.timedelta(days=offset)


def at(when: dt.date, hour: int = 8, minute: int = 0) -> dt.datetime:
    return dt.datetime(when.year, when.month, when.day, hour, minute, tzinfo=ZURICH)


class FailingBackend(BaseEmailBackend):
    """A mail server that refuses every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture(autouse=True)
def mail_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SECRETARIAT_EMAILS = SECRETARIAT
    settings.SITE_URL = "https://idm.example.org"


DEFAULT_RULES = importlib.import_module(
    "recommendations.migrations.0004_default_reminder_rules_and_schedule"
).DEFAULT_RULES


@pytest.fixture(autouse=True)
def only_followup_rule():
    """The default rules (a transactional test elsewhere may have flushed the migration's), with
    only the follow-up rule on: the other kinds have their own tests."""
    for kind, lead_days, on_the_day, repeat, escalate in DEFAULT_RULES:
        ReminderRule.objects.update_or_create(
            kind=kind,
            defaults={
                "lead_days": lead_days,
                "on_the_day": on_the_day,
                "repeat_every_days": repeat,
                "escalate_after": escalate,
                "enabled": kind == ReminderKind.FOLLOWUP_DUE,
            },
        )


@pytest.fixture
def queued(monkeypatch):
    """The broker: what was published, reminder ids (sending) and proposal ids (decisions)."""
    from workshops.tasks import notify_proposal_decision_task

    sent = {"reminders": [], "decisions": []}

    def publish(task, **kwargs):
        if task is tasks.send_reminder_task:
            sent["reminders"].append(kwargs["reminder_id"])
        else:
            assert task is notify_proposal_decision_task
            sent["decisions"].append(kwargs["proposal_id"])
        return True

    monkeypatch.setattr(queue, "publish", publish)
    return sent


@pytest.fixture
def sweep(time_machine, queued, django_capture_on_commit_callbacks):
    """Sweep on a day (08:00 Zurich), then send what it queued as the worker would."""

    def run(when: dt.date, hour: int = 8, minute: int = 0, deliver: bool = True):
        time_machine.move_to(at(when, hour, minute), tick=False)
        with django_capture_on_commit_callbacks(execute=True):
            summary = reminders_sweep()
        if deliver:
            for pk in queued["reminders"]:
                reminder_send(reminder=Reminder.objects.get(pk=pk))
            queued["reminders"].clear()
        return summary

    return run


def agency(name="UNHCR", *, language="en", focal_points=1, head=False):
    organisation = OrganisationFactory(acronym=name, name=f"Agency {name}")
    for n in range(focal_points):
        FocalPointFactory(
            organisation=organisation,
            email=f"focal{n}@{name.lower()}.example.org",
            language=language,
        )
    if head:
        HeadOfOfficeFactory(organisation=organisation, email=f"head@{name.lower()}.example.org")
    return organisation


def lines_of(message) -> list[tuple[str, str]]:
    reminder = Reminder.objects.get(message_id=message.extra_headers["Message-ID"])
    return sorted(
        (item.assignment.recommendation.reference, item.occurrence)
        for item in reminder.items.select_related("assignment__recommendation")
    )


# --- Occurrences (the rule alone) -----------------------------------------------------------------

DEFAULT_RULE = FollowupRule(
    lead_days=(30, 7), on_the_day=True, repeat_every_days=7, escalate_after=2
)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-31, None),
        (-30, ("before-30", -30, False)),
        (-8, ("before-30", -30, False)),
        (-7, ("before-7", -7, False)),
        (-1, ("before-7", -7, False)),
        (0, ("due", 0, False)),
        (6, ("due", 0, False)),
        (7, ("overdue-1", 7, False)),
        (14, ("overdue-2", 14, False)),
        (20, ("overdue-2", 14, False)),
        (21, ("overdue-3", 21, True)),
        (365, ("overdue-52", 364, True)),
    ],
)
def test_the_latest_occurrence_whose_day_has_come(offset, expected):
    found = followup_occurrence(due=DUE, today=day(offset), rule=DEFAULT_RULE)

    if expected is None:
        assert found is None
    else:
        name, fire_offset, escalated = expected
        assert found == (name, day(fire_offset), escalated)


@pytest.mark.parametrize(
    "rule",
    [
        DEFAULT_RULE,
        FollowupRule(lead_days=(14, 3), on_the_day=False, repeat_every_days=None),
        FollowupRule(lead_days=(), on_the_day=True, repeat_every_days=3, escalate_after=1),
    ],
)
def test_the_database_names_the_same_occurrence_as_the_rule(rule):
    """The sweep lets the database leave out recorded lines by the occurrence's name: it must
    name it exactly as ``followup_occurrence`` does, or a reminder would be missed."""
    from recommendations.reminders import _candidate_batches

    today = day(0)
    by_pk = {}
    for offset in range(-40, 60):
        assignment = OpenAssignmentFactory(due_date=day(offset))
        by_pk[assignment.pk] = followup_occurrence(due=day(offset), today=today, rule=rule)

    found = {
        pk for batch in _candidate_batches(today=today, rule=rule, batch_size=7) for pk, *_ in batch
    }

    assert found == {pk for pk, occurrence in by_pk.items() if occurrence is not None}
    for pk, occurrence in by_pk.items():
        if occurrence is not None:
            assignment = Assignment.objects.get(pk=pk)
            ReminderItemFactory(
                assignment=assignment, due_date=assignment.due_date, occurrence=occurrence[0]
            )
    assert list(_candidate_batches(today=today, rule=rule, batch_size=7)) == []


def test_without_on_the_day_or_repeat_nothing_is_sent_after_the_date():
    rule = FollowupRule(lead_days=(14,), on_the_day=False, repeat_every_days=None)

    assert followup_occurrence(due=DUE, today=day(-1), rule=rule)[0] == "before-14"
    assert followup_occurrence(due=DUE, today=day(0), rule=rule) is None
    assert followup_occurrence(due=DUE, today=day(30), rule=rule) is None


# --- Each lead time, through the sweep and the mail -----------------------------------------------


@pytest.mark.parametrize(
    ("offset", "occurrence", "wording"),
    [
        (-30, "before-30", "in 30 days"),
        (-7, "before-7", "in 7 days"),
        (0, "due", "DUE TODAY"),
        (7, "overdue-1", "7 days overdue"),
        (14, "overdue-2", "14 days overdue"),
    ],
)
def test_each_lead_time_sends_one_digest_to_the_focal_points(sweep, offset, occurrence, wording):
    unhcr = agency("UNHCR", focal_points=2, head=True)
    assignment = OpenAssignmentFactory(organisation=unhcr, due_date=DUE)

    summary = sweep(day(offset))

    [message] = mail.outbox
    assert message.to == ["focal0@unhcr.example.org", "focal1@unhcr.example.org"]
    assert message.cc == []  # not escalated: no head of office, no secretariat
    assert lines_of(message) == [(assignment.recommendation.reference, occurrence)]
    assert wording in message.body
    assert assignment.recommendation.reference in message.alternatives[0][0]
    assert message.alternatives[0][1] == "text/html"
    assert "IDM follow-up for UNHCR: 1 recommendation" in message.subject
    assert [r.kind for r in summary.created] == [ReminderKind.FOLLOWUP_DUE]


def test_the_third_overdue_reminder_is_escalated_to_the_head_of_office_and_secretariat(sweep):
    unhcr = agency("UNHCR", head=True)
    assignment = OpenAssignmentFactory(organisation=unhcr, due_date=DUE)

    sweep(day(21))

    [message] = mail.outbox
    assert message.to == ["focal0@unhcr.example.org"]
    assert message.cc == ["head@unhcr.example.org", *SECRETARIAT]
    assert message.subject.startswith("[Escalated] ")
    assert "your head of office and the IDM secretariat receive a copy" in message.body
    reminder = Reminder.objects.get()
    assert reminder.escalated
    assert reminder.items.get().assignment == assignment


def test_a_season_of_daily_sweeps_sends_each_occurrence_once(sweep):
    unhcr = agency("UNHCR", head=True)
    OpenAssignmentFactory(organisation=unhcr, due_date=DUE)
    sent_on = {}

    for offset in range(-35, 29):
        before = len(mail.outbox)
        sweep(day(offset))
        sweep(day(offset), hour=8, minute=15)  # the next sweep a quarter of an hour later
        if len(mail.outbox) > before:
            sent_on[offset] = mail.outbox[before:]

    assert {offset: len(messages) for offset, messages in sent_on.items()} == {
        -30: 1,
        -7: 1,
        0: 1,
        7: 1,
        14: 1,
        21: 1,
        28: 1,
    }
    assert [bool(messages[0].cc) for messages in sent_on.values()] == [False] * 5 + [True] * 2
    assert list(
        ReminderItem.objects.order_by("reminder__occurrence").values_list("occurrence", flat=True)
    ) == ["before-30", "before-7", "due", "overdue-1", "overdue-2", "overdue-3", "overdue-4"]


# --- Digests --------------------------------------------------------------------------------------


def test_one_digest_lists_all_of_an_agencys_assignments(sweep):
    unhcr = agency("UNHCR")
    overdue = OpenAssignmentFactory(organisation=unhcr, due_date=day(-7))
    due_today = OpenAssignmentFactory(
        organisation=unhcr, due_date=DUE, status=ImplementationStatus.IN_PROGRESS, progress=40
    )
    coming = OpenAssignmentFactory(organisation=unhcr, due_date=day(30))

    sweep(DUE)

    [message] = mail.outbox
    assert lines_of(message) == sorted(
        [
            (overdue.recommendation.reference, "overdue-1"),
            (due_today.recommendation.reference, "due"),
            (coming.recommendation.reference, "before-30"),
        ]
    )
    assert "3 recommendations, 1 overdue" in message.subject
    body = message.body
    assert body.index("OVERDUE") < body.index("DUE TODAY") < body.index("COMING UP")
    assert "Status: in progress, 40 %" in body
    assert "https://idm.example.org/api/v1/assignments/?mine=true" in body


def test_different_agencies_get_their_own_digests(sweep):
    unhcr, ilo = agency("UNHCR"), agency("ILO")
    a = OpenAssignmentFactory(organisation=unhcr, due_date=DUE)
    b = OpenAssignmentFactory(organisation=ilo, due_date=DUE)
    c = OpenAssignmentFactory(organisation=ilo, due_date=day(7))

    sweep(DUE)

    by_recipient = {tuple(m.to): lines_of(m) for m in mail.outbox}
    assert by_recipient == {
        ("focal0@unhcr.example.org",): [(a.recommendation.reference, "due")],
        ("focal0@ilo.example.org",): sorted(
            [(b.recommendation.reference, "due"), (c.recommendation.reference, "before-7")]
        ),
    }


def test_assignments_done_draft_archived_or_without_a_date_are_not_reminded(sweep):
    unhcr = agency("UNHCR")
    OpenAssignmentFactory(organisation=unhcr, status=ImplementationStatus.IMPLEMENTED)
    OpenAssignmentFactory(organisation=unhcr, due_date=None)
    draft = OpenAssignmentFactory(organisation=unhcr)
    draft.recommendation.state = RecommendationState.DRAFT
    draft.recommendation.save()
    archived = OpenAssignmentFactory(organisation=unhcr)
    archived.recommendation.archived_at = timezone.now()
    archived.recommendation.save()

    summary = sweep(DUE)

    assert mail.outbox == []
    assert summary.created == []


def test_a_due_before_session_date_counts_as_the_due_date(sweep):
    unhcr = agency("UNHCR")
    session = CouncilSessionFactory(start_date=DUE)
    assignment = OpenAssignmentFactory(
        organisation=unhcr, due_date=None, due_before_session=session
    )

    sweep(day(-7))

    [message] = mail.outbox
    assert lines_of(message) == [(assignment.recommendation.reference, "before-7")]


def test_a_second_sweep_the_same_day_sends_nothing_new(sweep):
    unhcr = agency("UNHCR")
    OpenAssignmentFactory(organisation=unhcr, due_date=DUE)
    sweep(DUE)

    summary = sweep(DUE, hour=8, minute=15)

    assert len(mail.outbox) == 1
    assert summary.created == [] and summary.followup_lines == 0
    assert Reminder.objects.count() == 1


def test_a_line_found_before_the_days_digest_is_sent_joins_it(sweep, queued):
    unhcr = agency("UNHCR")
    first = OpenAssignmentFactory(organisation=unhcr, due_date=DUE)
    sweep(DUE, deliver=False)  # the digest waits for the worker
    later = OpenAssignmentFactory(organisation=unhcr, due_date=day(-7))

    summary = sweep(DUE, hour=8, minute=15)

    assert summary.attached and summary.created == []
    [message] = mail.outbox
    assert lines_of(message) == sorted(
        [(first.recommendation.reference, "due"), (later.recommendation.reference, "overdue-1")]
    )


def test_a_line_found_after_the_days_digest_was_sent_waits_for_the_next_day(sweep):
    unhcr = agency("UNHCR")
    OpenAssignmentFactory(organisation=unhcr, due_date=DUE)
    sweep(DUE)
    later = OpenAssignmentFactory(organisation=unhcr, due_date=day(-7))

    summary = sweep(DUE, hour=14)

    assert len(mail.outbox) == 1  # never two follow-up digests on one day
    assert summary.deferred_lines == 1

    sweep(day(1))

    assert len(mail.outbox) == 2
    assert lines_of(mail.outbox[1]) == [(later.recommendation.reference, "overdue-1")]


def test_a_sweep_after_a_missed_week_sends_only_the_latest_occurrence(sweep):
    unhcr = agency("UNHCR")
    assignment = OpenAssignmentFactory(organisation=unhcr, due_date=DUE)
    sweep(day(-7))

    sweep(day(16))  # nothing ran on the day, nor a week after

    assert len(mail.outbox) == 2
    assert lines_of(mail.outbox[1]) == [(assignment.recommendation.reference, "overdue-2")]
    assert "16 days overdue" in mail.outbox[1].body


def test_a_changed_due_date_starts_the_reminders_afresh(sweep):
    unhcr = agency("UNHCR")
    assignment = OpenAssignmentFactory(organisation=unhcr, due_date=DUE)
    sweep(day(-7))
    assignment.due_date = day(60)
    assignment.save()

    sweep(day(-6))
    assert len(mail.outbox) == 1  # 66 days before the new date: nothing yet

    sweep(day(30))

    assert len(mail.outbox) == 2
    assert lines_of(mail.outbox[1]) == [(assignment.recommendation.reference, "before-30")]
    assert list(assignment.reminder_items.order_by("pk").values_list("due_date", "occurrence")) == [
        (DUE, "before-7"),
        (day(60), "before-30"),
    ]


def test_a_disabled_rule_sends_nothing(sweep):
    OpenAssignmentFactory(organisation=agency("UNHCR"), due_date=DUE)
    ReminderRule.objects.filter(kind=ReminderKind.FOLLOWUP_DUE).update(enabled=False)

    summary = sweep(DUE)

    assert mail.outbox == []
    assert ReminderKind.FOLLOWUP_DUE in summary.skipped_kinds
    assert "off: followup_due" in summary.line()


def test_the_lead_times_edited_in_the_admin_apply(sweep):
    OpenAssignmentFactory(organisation=agency("UNHCR"), due_date=DUE)
    ReminderRule.objects.filter(kind=ReminderKind.FOLLOWUP_DUE).update(lead_days="10")

    sweep(day(-30))
    assert mail.outbox == []
    sweep(day(-10))
    assert len(mail.outbox) == 1


# --- Addresses and language -----------------------------------------------------------------------


def test_a_french_focal_point_gets_the_french_digest(sweep):
    oif = agency("OIF", language="fr")
    OpenAssignmentFactory(organisation=oif, due_date=day(-14))

    sweep(DUE)

    [message] = mail.outbox
    assert message.subject == "Suivi du DIM pour OIF : 1 recommandation, dont 1 en retard"
    assert "14 jours de retard" in message.body
    assert "17 décembre 2026" in message.body  # the due date, in French
    assert '<html lang="fr">' in message.alternatives[0][0]
    assert Reminder.objects.get().language == "fr"


def test_a_spanish_focal_point_gets_the_spanish_digest(sweep):
    OpenAssignmentFactory(organisation=agency("OEA", language="es"), due_date=day(30))

    sweep(DUE)

    [message] = mail.outbox
    assert message.subject == "Seguimiento del DIM para OEA: 1 recomendación"
    assert "dentro de 30 días" in message.body
    assert "30 de enero de 2027" in message.body


def test_without_focal_points_the_logins_of_the_agency_are_written_to(sweep):
    iom = OrganisationFactory(acronym="IOM")
    RepresentativeFactory(organisation=iom, user=UserFactory(email="desk@iom.example.org"))
    RepresentativeFactory(organisation=iom, user=UserFactory(email=""))
    OpenAssignmentFactory(organisation=iom, due_date=DUE)

    sweep(DUE)

    [message] = mail.outbox
    assert message.to == ["desk@iom.example.org"]


def test_an_agency_without_any_address_gets_nothing_and_is_counted(sweep):
    nobody = OrganisationFactory(acronym="NOBODY")
    OpenAssignmentFactory(organisation=nobody, due_date=DUE)
    OpenAssignmentFactory(organisation=agency("UNHCR"), due_date=DUE)

    summary = sweep(DUE)

    assert len(mail.outbox) == 1
    assert summary.no_address == ["NOBODY"]
    assert "1 agency(ies) with no address" in summary.line()
    assert not Reminder.objects.filter(organisation=nobody).exists()


# --- Dry run and the queue ------------------------------------------------------------------------


def test_a_dry_run_lists_the_digest_and_writes_nothing(time_machine, queued):
    OpenAssignmentFactory(organisation=agency("UNHCR", head=True), due_date=day(-21))
    time_machine.move_to(at(DUE), tick=False)

    summary = reminders_sweep(dry_run=True)

    assert (Reminder.objects.count(), ReminderItem.objects.count()) == (0, 0)
    assert queued == {"reminders": [], "decisions": []}
    [planned] = summary.planned
    assert (planned.kind, planned.occurrence, planned.to, planned.escalated) == (
        ReminderKind.FOLLOWUP_DUE,
        "2026-12-31",
        ["focal0@unhcr.example.org"],
        True,
    )
    assert planned.cc == ["head@unhcr.example.org", *SECRETARIAT]
    assert summary.line().startswith("2026-12-31 08:00 (dry run): would make 1 reminder(s)")


def test_the_sending_task_is_queued_only_after_commit(
    time_machine, queued, django_capture_on_commit_callbacks
):
    OpenAssignmentFactory(organisation=agency("UNHCR"), due_date=DUE)
    time_machine.move_to(at(DUE), tick=False)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        summary = reminders_sweep()
        assert queued["reminders"] == []
    for callback in callbacks:
        callback()

    assert queued["reminders"] == [summary.created[0].pk]


def test_a_waiting_reminder_whose_task_was_lost_is_queued_again(sweep, queued, time_machine):
    time_machine.move_to(at(day(-1)), tick=False)
    lost = ReminderFactory()  # made yesterday; the broker was down when it was queued
    retrying = ReminderFactory(attempts=1, next_attempt_at=at(DUE, 7, 58))
    ReminderFactory(attempts=1, next_attempt_at=at(DUE, 9))  # its retry time has not come
    ReminderFactory(state=State.SENT, sent_at=at(day(-1)))

    summary = sweep(DUE, deliver=False)

    assert summary.to_send == [lost.pk, retrying.pk]
    assert queued["reminders"] == [lost.pk, retrying.pk]


def test_a_proposal_decision_never_emailed_is_emailed_by_the_sweep(sweep, queued, time_machine):
    time_machine.move_to(at(DUE, 6), tick=False)
    forgotten = ThemeProposalFactory(state=ProposalState.SELECTED, decided_at=timezone.now())
    ThemeProposalFactory(
        state=ProposalState.SELECTED, decided_at=timezone.now(), decision_notified_at=timezone.now()
    )
    ThemeProposalFactory(state=ProposalState.SUBMITTED)

    summary = sweep(DUE)

    assert summary.decisions == [forgotten.pk]
    assert queued["decisions"] == [forgotten.pk]


def test_the_sweep_with_every_kind_on_runs_the_other_planners(sweep):
    ReminderRule.objects.update(enabled=True)
    OpenAssignmentFactory(organisation=agency("UNHCR"), due_date=DUE)

    summary = sweep(DUE)

    assert summary.skipped_kinds == []
    assert len(mail.outbox) == 1


# --- Sending exactly once, retries ----------------------------------------------------------------


def test_a_reminder_is_sent_once_with_a_stable_message_id(time_machine):
    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory(cc_emails=["head@agency.example.org"])

    assert reminder_send(reminder=reminder) == "sent"
    assert reminder_send(reminder=reminder) == "already sent"

    [message] = mail.outbox
    reminder.refresh_from_db()
    assert (reminder.state, reminder.sent_at) == (State.SENT, at(DUE))
    assert (
        message.extra_headers["Message-ID"]
        == f"<reminder-{reminder.pk}.followup_due@idm.example.org>"
    )
    assert reminder.message_id == message.extra_headers["Message-ID"]
    assert message.reply_to == SECRETARIAT
    assert message.attachments == []  # a follow-up digest has no calendar


def test_an_event_reminder_carries_its_calendar(time_machine):
    time_machine.move_to(at(DUE), tick=False)
    calendar = "BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    reminder = ReminderFactory(
        kind=ReminderKind.EVENT, attachment=calendar, attachment_name="workshop-5.ics"
    )

    reminder_send(reminder=reminder)

    [message] = mail.outbox
    [part] = message.attachments
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "PUBLISH"
    assert part.get_filename() == "workshop-5.ics"
    assert part.get_payload(decode=True).decode() == calendar
    assert "text/calendar" in message.message().as_string()


def test_a_refused_send_is_retried_later_and_failed_after_the_last_attempt(settings, time_machine):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory()
    countdowns = []

    for _ in range(REMINDER_MAX_ATTEMPTS - 1):
        with pytest.raises(ReminderRetry) as retry:
            reminder_send(reminder=reminder)
        countdowns.append(retry.value.countdown)
        assert isinstance(retry.value.error, smtplib.SMTPException)
        reminder.refresh_from_db()
        assert reminder_send(reminder=reminder) == "not due yet"  # too early for the next try
        time_machine.move_to(reminder.next_attempt_at, tick=False)

    assert countdowns == [120, 240, 480, 960]
    assert reminder_send(reminder=reminder) == "failed"
    reminder.refresh_from_db()
    assert (reminder.state, reminder.attempts) == (State.FAILED, REMINDER_MAX_ATTEMPTS)
    assert "SMTPServerDisconnected" in reminder.last_error
    assert reminder_send(reminder=reminder) == "failed"  # not tried again by itself


def test_the_task_retries_with_the_growing_countdown(settings, time_machine, monkeypatch):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory(attempts=2)

    class Retried(Exception):
        pass

    retry = mock.Mock(side_effect=Retried)
    monkeypatch.setattr(tasks.send_reminder_task, "retry", retry)
    with pytest.raises(Retried):
        tasks.send_reminder_task.run(reminder_id=reminder.pk)

    assert retry.call_args.kwargs["countdown"] == 480
    assert isinstance(retry.call_args.kwargs["exc"], smtplib.SMTPException)
    assert tasks.send_reminder_task.run(reminder_id=reminder.pk + 1000) == "gone"


class WorkerKilled(BaseException):
    """The worker process dying (kill -9): nothing after it runs, no except Exception sees it."""


class KilledAfterHandOverBackend(BaseEmailBackend):
    """The mail server accepts the message, then the worker dies before recording it."""

    def send_messages(self, email_messages):
        mail.outbox.extend(email_messages)
        raise WorkerKilled


class KilledBeforeHandOverBackend(BaseEmailBackend):
    """The worker dies while connecting: the message never reaches the mail server."""

    def send_messages(self, email_messages):
        raise WorkerKilled


SMTP_LIKE_OUTBOX = []


class SmtpLikeBackend(BaseEmailBackend):
    """Delivers, but cannot be asked afterwards what it delivered (as SMTP)."""

    def send_messages(self, email_messages):
        SMTP_LIKE_OUTBOX.extend(email_messages)
        return len(email_messages)


def _waiting_ids(when):
    from recommendations.reminders import reminders_waiting

    return reminders_waiting(when)


def test_a_worker_killed_after_the_hand_over_does_not_send_a_second_copy(settings, time_machine):
    from recommendations.reminders import SENDING_STALE_AFTER

    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory()
    settings.EMAIL_BACKEND = f"{__name__}.KilledAfterHandOverBackend"
    with pytest.raises(WorkerKilled):
        reminder_send(reminder=reminder)

    # The claim was committed before the hand-over: the row says who was sending it, and when.
    reminder.refresh_from_db()
    assert reminder.state == State.SENDING
    assert reminder.claimed_at == at(DUE)
    assert reminder.claim_token
    assert len(mail.outbox) == 1

    # The task redelivered at once finds it being sent and leaves it alone.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert reminder_send(reminder=reminder) == "being sent"
    assert reminder.pk not in _waiting_ids(at(DUE, minute=4))
    assert len(mail.outbox) == 1

    # Once the claim is stale, the sweep queues it again; the mail backend holds its Message-ID,
    # so it is marked sent, without a second message.
    later = at(DUE) + SENDING_STALE_AFTER
    assert reminder.pk in _waiting_ids(later)
    time_machine.move_to(later, tick=False)
    assert reminder_send(reminder=reminder) == "already sent"
    reminder.refresh_from_db()
    assert (reminder.state, reminder.sent_at, reminder.claim_token) == (State.SENT, at(DUE), "")
    assert len(mail.outbox) == 1
    assert reminder.pk not in _waiting_ids(later)


def test_a_worker_killed_before_the_hand_over_leaves_it_to_be_sent_once(settings, time_machine):
    from recommendations.reminders import SENDING_STALE_AFTER

    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory()
    settings.EMAIL_BACKEND = f"{__name__}.KilledBeforeHandOverBackend"
    with pytest.raises(WorkerKilled):
        reminder_send(reminder=reminder)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    time_machine.move_to(at(DUE) + SENDING_STALE_AFTER, tick=False)
    assert reminder_send(reminder=reminder) == "sent"
    assert reminder_send(reminder=reminder) == "already sent"
    [message] = mail.outbox
    reminder.refresh_from_db()
    assert message.extra_headers["Message-ID"] == reminder.message_id
    assert reminder.state == State.SENT


def test_a_stale_claim_the_mail_backend_cannot_check_is_sent_again_with_the_same_message_id(
    settings, time_machine, caplog
):
    from recommendations.reminders import SENDING_STALE_AFTER

    SMTP_LIKE_OUTBOX.clear()
    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory(
        state=State.SENDING,
        claimed_at=at(DUE),
        claim_token="lost-worker",
        message_id="<reminder-earlier@idm.example.org>",
    )
    settings.EMAIL_BACKEND = f"{__name__}.SmtpLikeBackend"

    assert reminder_send(reminder=reminder) == "being sent"
    time_machine.move_to(at(DUE) + SENDING_STALE_AFTER, tick=False)
    assert reminder_send(reminder=reminder) == "sent"

    [message] = SMTP_LIKE_OUTBOX
    assert message.extra_headers["Message-ID"] == "<reminder-earlier@idm.example.org>"
    assert "cannot tell whether it went out" in caplog.text


def test_a_reminder_whose_sending_keeps_stopping_its_worker_ends_failed(settings, time_machine):
    from recommendations.reminders import SENDING_STALE_AFTER

    SMTP_LIKE_OUTBOX.clear()
    settings.EMAIL_BACKEND = f"{__name__}.SmtpLikeBackend"  # cannot tell what it delivered
    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory()

    def lose_the_claim(token):
        """Claimed, handed over, and the worker killed before it recorded anything."""
        Reminder.objects.filter(pk=reminder.pk).update(
            state=State.SENDING, claimed_at=timezone.now(), claim_token=token
        )
        time_machine.shift(SENDING_STALE_AFTER)

    for attempt in range(1, REMINDER_MAX_ATTEMPTS):
        lose_the_claim(f"lost-{attempt}")
        assert reminder_send(reminder=reminder) == "sent"  # again, with the same Message-ID
        reminder.refresh_from_db()
        assert reminder.attempts == attempt

    lose_the_claim("lost-last")
    assert reminder_send(reminder=reminder) == "failed"
    reminder.refresh_from_db()
    assert (reminder.state, reminder.attempts) == (State.FAILED, REMINDER_MAX_ATTEMPTS)
    assert "The worker sending it stopped" in reminder.last_error
    assert len(SMTP_LIKE_OUTBOX) == REMINDER_MAX_ATTEMPTS - 1


def test_the_sending_task_stops_before_its_claim_could_be_taken_over():
    from recommendations.reminders import SENDING_STALE_AFTER

    task = tasks.send_reminder_task
    assert task.soft_time_limit < task.time_limit < SENDING_STALE_AFTER.total_seconds()


def test_a_send_that_cannot_build_its_message_counts_an_attempt(time_machine, monkeypatch):
    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory()
    monkeypatch.setattr(
        "recommendations.reminders.reminder_message",
        mock.Mock(side_effect=ValueError("bad header")),
    )

    with pytest.raises(ReminderRetry):
        reminder_send(reminder=reminder)

    reminder.refresh_from_db()
    assert (reminder.state, reminder.attempts, reminder.claim_token) == (State.PENDING, 1, "")
    assert "ValueError: bad header" in reminder.last_error


def test_a_failed_reminder_retried_from_the_admin_is_sent(
    time_machine, queued, django_capture_on_commit_callbacks
):
    time_machine.move_to(at(DUE), tick=False)
    reminder = ReminderFactory(state=State.FAILED, attempts=REMINDER_MAX_ATTEMPTS, last_error="x")

    with django_capture_on_commit_callbacks(execute=True):
        reminder_retry(reminder=reminder)

    assert queued["reminders"] == [reminder.pk]
    assert reminder_send(reminder=reminder) == "sent"
    with pytest.raises(ReminderError, match="only a failed reminder can be retried"):
        reminder_retry(reminder=reminder)


def test_the_summary_line_and_dict(sweep):
    OpenAssignmentFactory(organisation=agency("UNHCR"), due_date=DUE)

    summary = sweep(DUE)

    assert summary.line() == (
        "2026-12-31 08:00: made 1 reminder(s) (followup_due 1), 1 follow-up line(s), "
        "off: event, agenda_changed, round_closing, document_due"
    )
    data = summary.as_dict()
    assert data["created_by_kind"] == {"followup_due": 1}
    assert data["followup_lines"] == 1


# --- Two sweeps at once (PostgreSQL) --------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite runs one writer at a time, so two sweeps cannot race there "
    "(set DATABASE_URL to a PostgreSQL database to run it)",
)
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_send_one_digest(time_machine, queued):
    unhcr = agency("UNHCR")
    for _ in range(3):
        OpenAssignmentFactory(organisation=unhcr, due_date=DUE)
    time_machine.move_to(at(DUE), tick=False)
    barrier = threading.Barrier(2, timeout=10)
    outcomes = []

    def run():
        try:
            barrier.wait()
            outcomes.append(reminders_sweep())
        except Exception as error:  # reported by the assertions
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    [reminder] = Reminder.objects.all()
    assert reminder.items.count() == 3
    results = [reminder_send(reminder=Reminder.objects.get(pk=pk)) for pk in queued["reminders"]]
    assert sorted(results)[-1] == "sent" and results.count("sent") == 1
    assert len(mail.outbox) == 1
