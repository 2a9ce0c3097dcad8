"""The demo's scenario: what a newcomer sees happen without touching a shell."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from idm.demo_data import UPCOMING_WORKSHOP_ID, demo_scenario_ensure
from idm.management.commands.demo import demo_setup
from idm.models import AgendaSlot
from idm.services import agenda_publish
from recommendations.enums import ReminderKind
from recommendations.event_reminders import agenda_change_notify
from recommendations.models import Reminder
from recommendations.reminders import reminder_send, reminders_sweep
from stakeholders.models import Person
from workshops.models import Workshop

pytestmark = pytest.mark.django_db(transaction=False)

TODAY = dt.date(2026, 11, 23)


@pytest.fixture
def scenario(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(_noon(TODAY)):
        demo_setup()  # makes the scenario as of today
    officer = get_user_model().objects.get(username="secretariat")
    return officer


def _sweep_and_send(now) -> list[Reminder]:
    summary = reminders_sweep(now=now, queue=False)
    for reminder in summary.created:
        reminder_send(reminder=reminder)
    return summary.created


def _noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def test_the_first_sweep_sends_one_digest_per_agency_and_escalates_long_overdue(scenario):
    created = _sweep_and_send(_noon(TODAY))

    digests = [r for r in created if r.kind == ReminderKind.FOLLOWUP_DUE]
    organisations = [r.organisation_id for r in digests]
    assert len(organisations) == len(set(organisations))  # one digest per agency
    ilo = next(r for r in digests if r.organisation.acronym == "ILO")
    assert ilo.to_emails == ["followup@ilo.example.org"]
    escalated = [r for r in digests if r.escalated]
    assert escalated
    assert all("idm-secretariat@localhost" in r.cc_emails for r in escalated)
    assert all(any(cc.startswith("head.of.office@") for cc in r.cc_emails) for r in escalated)
    sent = {tuple(message.to) for message in mail.outbox}
    assert ("followup@ilo.example.org",) in sent

    # The same day again: nothing new.
    mail.outbox.clear()
    assert _sweep_and_send(_noon(TODAY) + dt.timedelta(hours=2)) == []
    assert mail.outbox == []


def test_the_upcoming_workshop_reminds_its_participants_with_a_calendar(scenario):
    created = _sweep_and_send(_noon(TODAY))

    workshop = Workshop.objects.get(dataset_id=UPCOMING_WORKSHOP_ID)
    event_reminders = [r for r in created if r.kind == ReminderKind.EVENT]
    registered = set(workshop.registrations.values_list("person__email", flat=True))
    assert registered <= {r.recipient_key for r in event_reminders}
    assert all(r.attachment.startswith("BEGIN:VCALENDAR") for r in event_reminders)


def test_a_changed_published_agenda_notifies_the_participants(
    scenario, monkeypatch, django_capture_on_commit_callbacks
):
    officer = scenario
    workshop = Workshop.objects.get(dataset_id=UPCOMING_WORKSHOP_ID)
    slot = AgendaSlot.objects.filter(item__agenda=workshop.agenda).order_by("day", "start_time")[1]
    slot.start_time, slot.end_time = dt.time(11), dt.time(13)
    slot.save()

    queued = []
    monkeypatch.setattr("config.queue.publish", lambda task, **kwargs: queued.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        version = agenda_publish(agenda=workshop.agenda, by=officer)
    assert queued == [{"version_id": version.pk}]  # the worker's task, run here:
    agenda_change_notify(version=version)

    notices = Reminder.objects.filter(kind=ReminderKind.AGENDA_CHANGED)
    registered = set(workshop.registrations.values_list("person__email", flat=True))
    assert registered <= set(notices.values_list("recipient_key", flat=True))
    assert all("11" in notice.body_text for notice in notices)


def test_the_scenario_is_made_once_and_keeps_the_secretariats_changes(scenario):
    officer = scenario
    assert Person.objects.filter(is_focal_point=True).count() > 20
    ilo_focal = Person.objects.get(organisation__acronym="ILO", is_focal_point=True)
    ilo_focal.email = "changed.by.secretariat@ilo.example.org"
    ilo_focal.save()

    again = demo_scenario_ensure(today=TODAY + dt.timedelta(days=3), by=officer)

    assert (again.addresses, again.contacts, again.due_dates) == (0, 0, 0)
    assert Workshop.objects.filter(dataset_id=UPCOMING_WORKSHOP_ID).count() == 1
    ilo_focal.refresh_from_db()
    assert ilo_focal.email == "changed.by.secretariat@ilo.example.org"
