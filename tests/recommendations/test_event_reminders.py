"""Reminders of coming events, changed agendas, closing theme rounds and documents due."""

import datetime as dt
from email import message_from_bytes
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from idm.enums import AgendaState
from idm.services import (
    agenda_adopt,
    agenda_changes_text,
    agenda_publish,
    agenda_versions_diff,
)
from recommendations import event_reminders
from recommendations.enums import ReminderKind, ReminderState
from recommendations.event_reminders import (
    agenda_change_notify,
    plan_agenda_change_reminders,
    plan_document_due_reminders,
    plan_event_reminders,
    plan_round_closing_reminders,
)
from recommendations.models import Reminder, ReminderRule
from recommendations.reminders import reminder_send, reminders_create, reminders_sweep
from recommendations.tasks import notify_agenda_change_task
from stakeholders.enums import ActingRole, OrganisationKind
from tests.factories.idm import (
    AgendaFactory,
    AgendaItemFactory,
    AgendaSlotFactory,
    CouncilSessionFactory,
    DocumentFactory,
    MeetingFactory,
    RoomFactory,
    VenueFactory,
)
from tests.factories.stakeholders import (
    OrganisationFactory,
    PersonFactory,
    RepresentativeFactory,
    UserFactory,
)
from tests.factories.workshops import (
    ProposalRoundFactory,
    ProposalSupportFactory,
    RegistrationFactory,
    ThemeProposalFactory,
    WorkshopFactory,
)
from workshops.enums import ProposalState, RegistrationRole, WorkshopStatus

pytestmark = pytest.mark.django_db

GENEVA = ZoneInfo("Europe/Zurich")
START = dt.date(2030, 3, 20)  # a Wednesday


def at(day: dt.date, hour: int = 9, minute: int = 0):
    return time_machine.travel(
        dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=GENEVA), tick=False
    )


def rule(kind: str) -> ReminderRule:
    return ReminderRule.objects.get(kind=kind)


def by_recipient(planned) -> dict:
    return {p.recipient_key: p for p in planned}


def send_all(reminders) -> None:
    for reminder in reminders:
        assert reminder_send(reminder=reminder) == "sent"


def attachment_of(message):
    """The iCalendar part of a sent message, parsed."""
    parsed = message_from_bytes(message.message().as_bytes())
    for part in parsed.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_filename(), icalendar.Calendar.from_ical(part.get_payload(decode=True))
    raise AssertionError("no calendar attached")


@pytest.fixture
def workshop():
    """A workshop on 20-21 March 2030 with participants, a speaker and a presenter."""
    venue = VenueFactory(name="Palais des Nations", city="Geneva")
    workshop = WorkshopFactory(
        title="Migration and Trade", start_date=START, end_date=START + dt.timedelta(days=1)
    )
    workshop.venue = venue
    workshop.save()
    ana = PersonFactory(name="Ana Silva", email="ana@example.org")
    bruno = PersonFactory(name="Bruno Martin", email="Bruno.Martin@Example.org", language="fr")
    carl = PersonFactory(name="Carl No-Mail", email="")
    dora = PersonFactory(name="Dora Ruiz", email="dora@example.org", language="es")
    RegistrationFactory(workshop=workshop, person=ana)
    RegistrationFactory(workshop=workshop, person=bruno, role=RegistrationRole.SPEAKER)
    RegistrationFactory(workshop=workshop, person=carl)
    agenda = AgendaFactory(workshop=workshop)
    opening = AgendaItemFactory(agenda=agenda, number=1, position=1, title="Opening")
    opening.presenters.set([dora])
    panel = AgendaItemFactory(agenda=agenda, number=2, position=2, title="Panel on trade")
    panel.presenters.set([bruno])
    AgendaSlotFactory(item=opening, day=START, start_time=dt.time(10), end_time=dt.time(11))
    AgendaSlotFactory(item=panel, day=START, start_time=dt.time(11), end_time=dt.time(13))
    workshop.people = {"ana": ana, "bruno": bruno, "carl": carl, "dora": dora}
    workshop.agenda_obj = agenda
    workshop.items = {"opening": opening, "panel": panel}
    return workshop


# --- Events ---------------------------------------------------------------------------------------


def test_event_reminder_14_days_before_goes_to_participants_speakers_and_presenters(workshop):
    with at(START - dt.timedelta(days=14)):
        planned = by_recipient(plan_event_reminders(today=dt.date(2030, 3, 6), rule=rule("event")))

    key = f"workshop-{workshop.pk}"
    assert set(planned) == {"ana@example.org", "bruno.martin@example.org", "dora@example.org"}
    assert {p.occurrence for p in planned.values()} == {f"{key}:before-14"}
    assert {p.kind for p in planned.values()} == {ReminderKind.EVENT}
    bruno = planned["bruno.martin@example.org"]
    assert bruno.to == ["Bruno.Martin@Example.org"]
    assert bruno.language == "fr"
    assert bruno.attachment_name == f"{key}.ics"
    assert bruno.event_key == key
    assert bruno.due_on == dt.date(2030, 3, 6)
    roles = bruno.context["roles"]
    assert {"kind": "registration", "role": "speaker", "label": "Speaker"} in roles
    assert any(r["kind"] == "presenter" and r["title"] == "Panel on trade" for r in roles)
    assert planned["dora@example.org"].context["presents"][0]["title"] == "Opening"


def test_event_reminders_at_each_lead_time_and_none_outside(workshop):
    event = rule("event")
    key = f"workshop-{workshop.pk}"
    expected = {
        START - dt.timedelta(days=15): None,
        START - dt.timedelta(days=14): f"{key}:before-14",
        START - dt.timedelta(days=3): f"{key}:before-14",
        START - dt.timedelta(days=2): f"{key}:before-2",
        START - dt.timedelta(days=1): f"{key}:before-2",
        START: None,  # it has started: too late for a reminder
        START + dt.timedelta(days=1): None,
    }
    for today, occurrence in expected.items():
        planned = plan_event_reminders(today=today, rule=event)
        assert {p.occurrence for p in planned} == ({occurrence} if occurrence else set()), today


def test_missed_sweeps_send_only_the_latest_lead_time(workshop):
    with at(START - dt.timedelta(days=2)):
        created = reminders_create(
            plan_event_reminders(today=START - dt.timedelta(days=2), rule=rule("event"))
        )
    assert {r.occurrence for r in created} == {f"workshop-{workshop.pk}:before-2"}
    assert Reminder.objects.filter(occurrence__endswith="before-14").count() == 0


def test_event_reminders_made_and_sent_once(workshop):
    today = START - dt.timedelta(days=14)
    with at(today):
        created = reminders_create(plan_event_reminders(today=today, rule=rule("event")))
        send_all(created)
        assert plan_event_reminders(today=today, rule=rule("event")) == []
        again = reminders_sweep(queue=False)
    assert len(created) == 3
    assert again.created == []
    assert sorted(m.to[0] for m in mail.outbox) == [
        "Bruno.Martin@Example.org",
        "ana@example.org",
        "dora@example.org",
    ]
    ana = next(m for m in mail.outbox if m.to == ["ana@example.org"])
    assert ana.subject == "In 14 days: Migration and Trade"
    assert "Dear Ana Silva," in ana.body
    assert "Wednesday, 20 March to Thursday, 21 March 2030" in ana.body
    assert "Palais des Nations, Geneva" in ana.body
    assert "participant (registered)" in ana.body
    assert "http://testserver" not in ana.body
    html = ana.alternatives[0][0]
    assert "<strong>Migration and Trade</strong>" in html


def test_event_calendar_is_all_day_without_a_published_agenda(workshop):
    today = START - dt.timedelta(days=2)
    with at(today):
        created = reminders_create(plan_event_reminders(today=today, rule=rule("event")))
        send_all(created)
    name, calendar = attachment_of(mail.outbox[0])
    assert name == f"workshop-{workshop.pk}.ics"
    (vevent,) = calendar.walk("VEVENT")
    assert vevent.decoded("dtstart") == START
    assert vevent.decoded("dtend") == START + dt.timedelta(days=2)  # the day after the last
    assert str(vevent["summary"]) == "Migration and Trade"
    assert "The agenda is not published yet" in mail.outbox[0].body


def test_event_calendar_has_the_published_agenda_slots(workshop, settings):
    settings.SITE_URL = "https://idm.example.org"
    with at(dt.date(2030, 2, 1)):
        agenda_publish(agenda=workshop.agenda_obj, by=None)
    today = START - dt.timedelta(days=14)
    with at(today):
        (ana,) = [
            p
            for p in plan_event_reminders(today=today, rule=rule("event"))
            if p.recipient_key == "ana@example.org"
        ]
    calendar = icalendar.Calendar.from_ical(ana.attachment)
    starts = sorted(vevent.decoded("dtstart") for vevent in calendar.walk("VEVENT"))
    assert starts == [
        dt.datetime(2030, 3, 20, 10, tzinfo=GENEVA),
        dt.datetime(2030, 3, 20, 11, tzinfo=GENEVA),
    ]
    assert {int(v["sequence"]) for v in calendar.walk("VEVENT")} == {1}
    key = f"workshop-{workshop.pk}"
    assert ana.context["event"]["url"] == f"https://idm.example.org/events/{key}/agenda/"
    assert ana.context["event"]["agenda_version"] == 1


def test_french_and_spanish_people_get_their_language(workshop):
    today = START - dt.timedelta(days=14)
    with at(today):
        send_all(reminders_create(plan_event_reminders(today=today, rule=rule("event"))))
    bruno = next(m for m in mail.outbox if m.to == ["Bruno.Martin@Example.org"])
    assert bruno.subject == "Dans 14 jours : Migration and Trade"
    assert "Bonjour Bruno Martin," in bruno.body
    assert "du mercredi 20 mars au jeudi 21 mars 2030" in bruno.body
    assert "orateur ou oratrice (inscrit(e))" in bruno.body
    assert "intervenant(e), Point 2 : Panel on trade" in bruno.body
    assert 'lang="fr"' in bruno.alternatives[0][0]
    dora = next(m for m in mail.outbox if m.to == ["dora@example.org"])
    assert dora.subject == "Dentro de 14 días: Migration and Trade"
    assert "del miércoles 20 de marzo al jueves 21 de marzo de 2030" in dora.body
    assert "ponente, Punto 1: Opening" in dora.body


def test_cancelled_workshop_reminds_nobody(workshop):
    workshop.status = WorkshopStatus.CANCELLED
    workshop.save()
    assert plan_event_reminders(today=START - dt.timedelta(days=2), rule=rule("event")) == []


def test_council_session_and_meeting_remind_their_presenters():
    room = RoomFactory(name="Conference Room XVII")
    session = CouncilSessionFactory(start_date=START, end_date=START, room=room, venue=room.venue)
    meeting = MeetingFactory(start_date=START)
    nobody = CouncilSessionFactory(start_date=START)  # no agenda, no people: no reminder
    eve = PersonFactory(name="Eve", email="eve@example.org")
    fay = PersonFactory(name="Fay", email="fay@example.org")
    AgendaItemFactory(agenda=AgendaFactory(council_session=session)).presenters.set([eve])
    AgendaItemFactory(agenda=AgendaFactory(meeting=meeting)).presenters.set([fay])

    planned = plan_event_reminders(today=START - dt.timedelta(days=2), rule=rule("event"))

    assert {(p.recipient_key, p.occurrence) for p in planned} == {
        ("eve@example.org", f"council-session-{session.pk}:before-2"),
        ("fay@example.org", f"meeting-{meeting.pk}:before-2"),
    }
    assert not any(p.event_key == f"council-session-{nobody.pk}" for p in planned)
    eve_reminder = next(p for p in planned if p.recipient_key == "eve@example.org")
    assert eve_reminder.context["event"]["room"] == "Conference Room XVII"


def test_a_disabled_rule_plans_nothing(workshop):
    event = rule("event")
    event.enabled = False
    assert plan_event_reminders(today=START - dt.timedelta(days=2), rule=event) == []


def test_event_planner_query_count_does_not_grow_with_events(workshop):
    today = START - dt.timedelta(days=2)
    event = rule("event")
    with CaptureQueriesContext(connection) as one:
        assert len(plan_event_reminders(today=today, rule=event)) == 3
    for n in range(3):
        other = WorkshopFactory(start_date=START)
        RegistrationFactory(workshop=other, person=PersonFactory(email=f"p{n}@example.org"))
        item = AgendaItemFactory(agenda=AgendaFactory(workshop=other))
        item.presenters.set([PersonFactory(email=f"q{n}@example.org")])
    with CaptureQueriesContext(connection) as many:
        assert len(plan_event_reminders(today=today, rule=event)) == 9
    assert len(many) == len(one)


# --- Changed agendas ------------------------------------------------------------------------------


def _publish_changed(workshop, publish_day=dt.date(2030, 3, 1)):
    """Publish the agenda, rename one item and move the other, publish again."""
    with at(publish_day - dt.timedelta(days=5)):
        first = agenda_publish(agenda=workshop.agenda_obj, by=None)
    panel = workshop.items["panel"]
    panel.title = "Panel on trade and labour mobility"
    panel.save()
    slot = panel.slots.get()
    slot.start_time, slot.end_time = dt.time(14), dt.time(16)
    slot.save()
    with at(publish_day):
        second = agenda_publish(agenda=workshop.agenda_obj, by=None)
    return first, second


def test_publishing_a_changed_agenda_queues_the_notice_after_commit(
    workshop, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        "config.queue.publish", lambda task, **kwargs: published.append((task, kwargs))
    )
    with (
        django_capture_on_commit_callbacks(execute=True) as first_callbacks,
        at(dt.date(2030, 2, 20)),
    ):
        agenda_publish(agenda=workshop.agenda_obj, by=None)
    assert first_callbacks == [] and published == []  # a first publication changes nothing

    panel = workshop.items["panel"]
    panel.title = "Panel on trade and labour mobility"
    panel.save()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with at(dt.date(2030, 3, 1)):
            second = agenda_publish(agenda=workshop.agenda_obj, by=None)
        assert published == []  # not before the commit
    assert len(callbacks) == 1
    assert published == [(notify_agenda_change_task, {"version_id": second.pk})]


def test_an_unchanged_republish_or_adoption_notifies_nobody(
    workshop, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        "config.queue.publish", lambda task, **kwargs: published.append((task, kwargs))
    )
    with at(dt.date(2030, 2, 20)):
        first = agenda_publish(agenda=workshop.agenda_obj, by=None)
        with django_capture_on_commit_callbacks(execute=True):
            again = agenda_publish(agenda=workshop.agenda_obj, by=None)
            adopted = agenda_adopt(agenda=workshop.agenda_obj, by=None)
        assert again == first
        assert adopted.state == AgendaState.ADOPTED and adopted.number == 2
        assert published == []
        assert agenda_change_notify(version=adopted) == 0
        assert plan_agenda_change_reminders(now=dt.datetime(2030, 2, 20, 9, tzinfo=GENEVA)) == []
    assert Reminder.objects.count() == 0


def test_agenda_change_notice_carries_the_readable_diff_once(workshop):
    first, second = _publish_changed(workshop)
    changes = agenda_versions_diff(old=first, new=second)
    assert len(changes) == 2
    with at(dt.date(2030, 3, 1), hour=10):
        assert agenda_change_notify(version=second) == 3
        assert agenda_change_notify(version=second) == 0  # done already: nothing new
        send_all(Reminder.objects.filter(kind=ReminderKind.AGENDA_CHANGED))
    assert Reminder.objects.filter(kind=ReminderKind.AGENDA_CHANGED).count() == 3
    assert set(
        Reminder.objects.filter(kind=ReminderKind.AGENDA_CHANGED).values_list(
            "occurrence", "agenda_version_id"
        )
    ) == {(f"agenda-version-{second.pk}", second.pk)}
    ana = next(m for m in mail.outbox if m.to == ["ana@example.org"])
    assert ana.subject == "Agenda changed: Migration and Trade (version 2)"
    for line in agenda_changes_text(changes).splitlines():
        assert line in ana.body
    assert "Item 2 retimed: Wednesday 20 March 2030 11.00-13.00 → 14.00-16.00" in ana.body
    _name, calendar = attachment_of(ana)
    panel = [v for v in calendar.walk("VEVENT") if "labour mobility" in str(v["summary"])]
    assert panel[0].decoded("dtstart") == dt.datetime(2030, 3, 20, 14, tzinfo=GENEVA)
    assert {int(v["sequence"]) for v in calendar.walk("VEVENT")} == {2}


def test_agenda_change_notice_in_french(workshop):
    _first, second = _publish_changed(workshop)
    with at(dt.date(2030, 3, 1), hour=10):
        agenda_change_notify(version=second)
        send_all(Reminder.objects.filter(recipient_key="bruno.martin@example.org"))
    (bruno,) = mail.outbox
    assert bruno.subject == "Ordre du jour modifié : Migration and Trade (version 2)"
    assert (
        "Point 2 renommé : « Panel on trade » → « Panel on trade and labour mobility »"
        in bruno.body
    )
    assert "Point 2, nouvel horaire : mercredi 20 mars 2030 11.00-13.00 → 14.00-16.00" in (
        bruno.body
    )


def test_a_presenter_taken_off_the_agenda_is_told(workshop):
    with at(dt.date(2030, 2, 20)):
        agenda_publish(agenda=workshop.agenda_obj, by=None)
    gil = PersonFactory(name="Gil", email="gil@example.org")
    workshop.items["opening"].presenters.set([gil])  # Dora no longer opens
    with at(dt.date(2030, 3, 1)):
        second = agenda_publish(agenda=workshop.agenda_obj, by=None)
        planned = by_recipient(event_reminders.plan_agenda_change_notices([second], today=START))
    assert "gil@example.org" in planned and "dora@example.org" in planned
    dora = planned["dora@example.org"]
    assert dora.context["roles"][0]["kind"] == "former_presenter"
    created = {r.recipient_key: r for r in reminders_create([dora, planned["gil@example.org"]])}
    assert "Item 1 presenters: Dora Ruiz → Gil" in created["gil@example.org"].body_text
    assert "Punto 1, ponentes: Dora Ruiz → Gil" in created["dora@example.org"].body_text
    assert "ya no en esta versión" in created["dora@example.org"].body_text


def test_sweep_catches_up_agenda_changes_the_broker_missed(workshop):
    _first, second = _publish_changed(workshop, publish_day=dt.date(2030, 3, 1))
    now = dt.datetime(2030, 3, 1, 12, tzinfo=GENEVA)
    with at(dt.date(2030, 3, 1), hour=12):
        planned = plan_agenda_change_reminders(now=now)
        assert {p.agenda_version_id for p in planned} == {second.pk}
        assert len(planned) == 3
        summary = reminders_sweep(now=now, queue=False)
        assert {r.kind for r in summary.created} >= {ReminderKind.AGENDA_CHANGED}
        assert plan_agenda_change_reminders(now=now) == []  # made: not planned again
        assert agenda_change_notify(version=second) == 0
    assert plan_agenda_change_reminders(now=now + dt.timedelta(days=31)) == []


def test_changes_after_the_event_notify_nobody(workshop):
    _first, second = _publish_changed(workshop, publish_day=START + dt.timedelta(days=5))
    with at(START + dt.timedelta(days=5)):
        assert agenda_change_notify(version=second) == 0


# --- Theme rounds closing -------------------------------------------------------------------------

CLOSES = dt.datetime(2030, 6, 30, 17, tzinfo=GENEVA)


def delegation(name: str, *, email: str | None = None):
    organisation = OrganisationFactory(name=name, kind=OrganisationKind.MEMBER_STATE)
    user = UserFactory(email=email if email is not None else f"{name.lower()}@mission.example")
    RepresentativeFactory(user=user, organisation=organisation, role=ActingRole.DELEGATION)
    return organisation


@pytest.fixture
def proposal_round():
    proposal_round = ProposalRoundFactory(
        title="Workshop topics for 2031", target_year=2031, closes_at=CLOSES
    )
    silent = delegation("Silentia")
    PersonFactory(
        name="Focal Point", organisation=silent, email="focal@silentia.example", is_focal_point=True
    )
    PersonFactory(name="Not focal", organisation=silent, email="other@silentia.example")
    drafting = delegation("Draftland")
    supporter = delegation("Supportia")
    proposer = delegation("Proposia")
    cosponsor = delegation("Cosponsoria")
    delegation("Nomail", email="")
    agency = OrganisationFactory(name="Agency", kind=OrganisationKind.UN_AGENCY)
    RepresentativeFactory(
        user=UserFactory(email="agency@example.org"), organisation=agency, role=ActingRole.AGENCY
    )
    submitted = ThemeProposalFactory(
        round=proposal_round, proposing_organisation=proposer, state=ProposalState.SUBMITTED
    )
    submitted.co_sponsors.set([cosponsor])
    ThemeProposalFactory(
        round=proposal_round, proposing_organisation=drafting, state=ProposalState.DRAFT
    )
    ProposalSupportFactory(proposal=submitted, organisation=supporter)
    proposal_round.silent, proposal_round.drafting = silent, drafting
    proposal_round.submitted = submitted
    return proposal_round


def test_round_closing_reminds_delegations_that_neither_submitted_nor_supported(proposal_round):
    now = CLOSES - dt.timedelta(days=7)
    with at(now.date(), hour=17):
        planned = by_recipient(plan_round_closing_reminders(now=now, rule=rule("round_closing")))
    silent, drafting = proposal_round.silent, proposal_round.drafting
    assert set(planned) == {f"organisation:{silent.pk}", f"organisation:{drafting.pk}"}
    reminder = planned[f"organisation:{silent.pk}"]
    assert reminder.occurrence == f"round-{proposal_round.pk}:before-7"
    assert reminder.to == ["silentia@mission.example", "focal@silentia.example"]
    assert reminder.organisation_id == silent.pk
    assert reminder.proposal_round_id == proposal_round.pk
    assert reminder.context["closes_text"] == "Sunday, 30 June 2030 at 17.00 CEST"
    assert reminder.context["round"]["url"].endswith(f"/rounds/{proposal_round.pk}/")
    assert [p["title"] for p in reminder.context["proposals"]] == [proposal_round.submitted.title]


def test_round_closing_at_each_lead_time(proposal_round):
    closing = rule("round_closing")
    occurrence = f"round-{proposal_round.pk}:before-"
    expected = [
        (CLOSES - dt.timedelta(days=7, minutes=1), None),
        (CLOSES - dt.timedelta(days=7), occurrence + "7"),
        (CLOSES - dt.timedelta(days=1, minutes=1), occurrence + "7"),
        (CLOSES - dt.timedelta(days=1), occurrence + "1"),
        (CLOSES - dt.timedelta(minutes=1), occurrence + "1"),
        (CLOSES, None),
    ]
    for now, wanted in expected:
        planned = plan_round_closing_reminders(now=now, rule=closing)
        assert {p.occurrence for p in planned} == ({wanted} if wanted else set()), now


def test_supporting_stops_the_round_reminders_and_they_are_sent_once(proposal_round):
    now = CLOSES - dt.timedelta(days=1)
    closing = rule("round_closing")
    ProposalSupportFactory(proposal=proposal_round.submitted, organisation=proposal_round.drafting)
    with at(now.date(), hour=17):
        created = reminders_create(plan_round_closing_reminders(now=now, rule=closing))
        send_all(created)
        assert reminders_create(plan_round_closing_reminders(now=now, rule=closing)) == []
    assert [r.recipient_key for r in created] == [f"organisation:{proposal_round.silent.pk}"]
    (message,) = mail.outbox
    assert message.subject == "Workshop topics for 2031: closes in 24 hours"
    assert "Silentia has not yet submitted a proposal in this round" in message.body
    assert message.to == ["silentia@mission.example", "focal@silentia.example"]


def test_round_closing_in_the_language_of_the_delegation(proposal_round):
    silent = proposal_round.silent
    silent.people.update(language="es")
    now = CLOSES - dt.timedelta(days=7)
    with at(now.date(), hour=17):
        created = reminders_create(
            plan_round_closing_reminders(now=now, rule=rule("round_closing"))
        )
    reminder = next(r for r in created if r.organisation_id == silent.pk)
    assert reminder.language == "es"
    assert reminder.subject == "Workshop topics for 2031: cierre dentro de 7 días"
    assert "se cierra el domingo 30 de junio de 2030 a las 17.00 CEST" in reminder.body_text


def test_a_round_not_yet_open_or_without_deadline_reminds_nobody(proposal_round):
    now = CLOSES - dt.timedelta(days=1)
    proposal_round.opens_at = now + dt.timedelta(hours=1)
    proposal_round.save()
    ProposalRoundFactory(closes_at=None)
    assert plan_round_closing_reminders(now=now, rule=rule("round_closing")) == []


# --- Documents due --------------------------------------------------------------------------------

DUE = dt.date(2030, 5, 15)


@pytest.fixture
def document():
    document = DocumentFactory(title="Background paper on remittances", due_date=DUE)
    document.authors.set(
        [
            PersonFactory(name="Hana", email="hana@example.org"),
            PersonFactory(name="Ivo", email=""),
            PersonFactory(name="Jean", email="jean@example.org", language="fr"),
        ]
    )
    return document


def test_document_due_reminds_its_authors_at_each_lead_time(document):
    due = rule("document_due")
    occurrence = f"document-{document.pk}:before-"
    expected = {
        DUE - dt.timedelta(days=15): None,
        DUE - dt.timedelta(days=14): occurrence + "14",
        DUE - dt.timedelta(days=4): occurrence + "14",
        DUE - dt.timedelta(days=3): occurrence + "3",
        DUE - dt.timedelta(days=1): occurrence + "3",
        DUE: None,
    }
    for today, wanted in expected.items():
        planned = plan_document_due_reminders(today=today, rule=due)
        assert {p.occurrence for p in planned} == ({wanted} if wanted else set()), today
        if wanted:
            assert {p.recipient_key for p in planned} == {"hana@example.org", "jean@example.org"}
            assert {p.document_id for p in planned} == {document.pk}


def test_document_due_mail_and_received_documents_stop_reminding(document):
    today = DUE - dt.timedelta(days=3)
    with at(today):
        send_all(
            reminders_create(plan_document_due_reminders(today=today, rule=rule("document_due")))
        )
    hana = next(m for m in mail.outbox if m.to == ["hana@example.org"])
    assert hana.subject == "Due on Wednesday, 15 May 2030: Background paper on remittances"
    assert "in 3 days" in hana.body
    assert "idm-secretariat@localhost" in hana.body
    assert "You are an author of the document “Background paper on remittances”" in hana.body
    jean = next(m for m in mail.outbox if m.to == ["jean@example.org"])
    assert jean.subject == "À remettre le mercredi 15 mai 2030 : Background paper on remittances"
    assert "dans 3 jours" in jean.body
    document.received_on = DUE - dt.timedelta(days=2)
    document.save()
    assert (
        plan_document_due_reminders(today=DUE - dt.timedelta(days=1), rule=rule("document_due"))
        == []
    )


def test_sweep_makes_every_kind_once(workshop, proposal_round, document):
    now = dt.datetime(2030, 3, 18, 9, tzinfo=GENEVA)  # two days before the workshop
    with at(now.date()):
        first = reminders_sweep(now=now, queue=False)
        second = reminders_sweep(now=now, queue=False)
    assert {r.kind for r in first.created} == {ReminderKind.EVENT}
    assert second.created == []
    assert set(Reminder.objects.values_list("state", flat=True)) == {ReminderState.PENDING}
