"""The demo's scenario, on top of the real dataset, so that reminders and reports have work.

The sources name people and organisations but give no addresses and no follow-up due dates, and
every event in them is long past. ``manage.py demo`` (and nothing else) adds what a running
secretariat would have: an address for everyone (at example.org, a domain reserved for
examples; the demo's mail stays in var/mail), a follow-up focal point and a head of office for each
addressed organisation, due dates spread around today, and an upcoming workshop with a published
agenda and registered participants. Each step is skipped when its data is already there, so the
secretariat's own edits in the admin survive a restart of the demo.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from recommendations.enums import ImplementationStatus
from recommendations.models import Assignment, FollowUpReport
from recommendations.services import assignments_set_due, followup_accept, followup_submit
from stakeholders.models import Organisation, Person, Representative
from workshops.enums import RegistrationRole, WorkshopKind, WorkshopStatus
from workshops.models import Registration, Workshop

from .models import Agenda, AgendaItem, AgendaSlot, Room, Venue
from .services import agenda_publish, agenda_renumber

UPCOMING_WORKSHOP_ID = "demo-upcoming-workshop"
# Days from today of the follow-up due dates, handed out in turn to the addressed assignments
# (an agency with several gets several): overdue long enough to be escalated (-22: the third
# weekly reminder), overdue (-15, -8), due today, due in a week, in a month and later.
DUE_OFFSETS = [-8, 7, -22, 30, -15, 0, 45, 60, 90]


# Accepted follow-up reports, handed out in turn to every third addressed assignment: progress
# reported by the agencies, so that the follow-up report has more than "not started" to show.
REPORTED = [
    (ImplementationStatus.IN_PROGRESS, 40, "Partners consulted; a plan is agreed."),
    (ImplementationStatus.IN_PROGRESS, 70, "Pilot under way in two countries; evaluation planned."),
    (ImplementationStatus.IMPLEMENTED, 100, "Carried out; the final report is attached."),
    (ImplementationStatus.PARTIALLY_IMPLEMENTED, 60, "Carried out in part; funding ran short."),
    (ImplementationStatus.IN_PROGRESS, 20, "Work started; a focal point has been named."),
]


@dataclass
class DemoScenario:
    addresses: int = 0
    contacts: int = 0
    due_dates: int = 0
    reports: int = 0
    workshop: Workshop | None = None
    notes: list[str] = field(default_factory=list)


def _local_part(text: str) -> str:
    return slugify(text).replace("-", ".") or "someone"


def _addresses_ensure(scenario: DemoScenario) -> None:
    for person in Person.objects.filter(email="").order_by("pk"):
        person.email = f"{_local_part(person.name)}.{person.pk}@people.example.org"
        person.save(update_fields=["email"])
        scenario.addresses += 1
    user_model = get_user_model()
    for representative in Representative.objects.select_related("user").filter(user__email=""):
        user = representative.user
        user.email = f"{user.username}@demo.example.org"
        user_model.objects.filter(pk=user.pk).update(email=user.email)
        scenario.addresses += 1


def _contacts_ensure(scenario: DemoScenario) -> None:
    addressed = Organisation.objects.filter(assignments__isnull=False).distinct().order_by("pk")
    for organisation in addressed:
        domain = f"{_local_part(organisation.acronym or organisation.name)}.example.org"
        for title, flag, local in (
            ("Follow-up focal point", "is_focal_point", "followup"),
            ("Head of office", "is_head_of_office", "head.of.office"),
        ):
            if Person.objects.filter(organisation=organisation, **{flag: True}).exists():
                continue
            Person.objects.create(
                organisation=organisation,
                name=f"{title}, {organisation.short_name}",
                title=title,
                email=f"{local}@{domain}",
                **{flag: True},
            )
            scenario.contacts += 1
    # A French-speaking focal point, so that a digest goes out in French.
    Person.objects.filter(
        is_focal_point=True, organisation__acronym__in=["OIF", "AU", "ECOWAS"]
    ).update(language="fr")


def _due_dates_ensure(scenario: DemoScenario, *, today: dt.date, by) -> None:
    if Assignment.objects.filter(
        Q(due_date__isnull=False) | Q(due_before_session__isnull=False)
    ).exists():
        return  # set before, perhaps changed since in the admin: left as they are
    by_offset: dict[int, list[Assignment]] = {}
    assignments = Assignment.objects.order_by("organisation_id", "pk")
    for index, assignment in enumerate(assignments):
        by_offset.setdefault(DUE_OFFSETS[index % len(DUE_OFFSETS)], []).append(assignment)
    for offset, group in sorted(by_offset.items()):
        assignments_set_due(assignments=group, by=by, due_date=today + dt.timedelta(days=offset))
        scenario.due_dates += len(group)


def _followups_ensure(scenario: DemoScenario, *, today: dt.date, by) -> None:
    if FollowUpReport.objects.exists():
        return  # agencies have reported already: the demo adds nothing
    agency_login = Representative.objects.filter(user__username="agency").first()
    assignments = list(Assignment.objects.select_related("organisation").order_by("pk"))[::3]
    for index, assignment in enumerate(assignments):
        status, progress, narrative = REPORTED[index % len(REPORTED)]
        reporter = (
            agency_login.user
            if agency_login and agency_login.organisation_id == assignment.organisation_id
            else None
        )
        report = followup_submit(
            assignment=assignment,
            by=reporter,
            period_start=today - dt.timedelta(days=120),
            period_end=today - dt.timedelta(days=30),
            status=status,
            progress=progress,
            narrative=narrative,
        )
        followup_accept(report=report, by=by, comment="Thank you: accepted.")
        scenario.reports += 1


def _upcoming_workshop_ensure(scenario: DemoScenario, *, today: dt.date, by) -> None:
    workshop = Workshop.objects.filter(dataset_id=UPCOMING_WORKSHOP_ID).first()
    if workshop is not None:
        scenario.workshop = workshop
        return
    first_day = today + dt.timedelta(days=12)  # inside the 14-day reminder: one goes out at once
    venue = Venue.objects.filter(city="Geneva").order_by("pk").first()
    workshop = Workshop.objects.create(
        dataset_id=UPCOMING_WORKSHOP_ID,
        title="Labour mobility partnerships (demo workshop)",
        kind=WorkshopKind.IDM_INTERSESSIONAL,
        start_date=first_day,
        end_date=first_day + dt.timedelta(days=1),
        venue=venue,
        city="Geneva",
        country="Switzerland",
        status=WorkshopStatus.CONFIRMED,
        description=(
            "An inter-sessional workshop of the demo: its agenda is published, so that changing "
            "and publishing it again tells its participants what changed."
        ),
    )
    scenario.workshop = workshop
    agenda = Agenda.objects.create(workshop=workshop, title="Provisional agenda")
    room = Room.objects.filter(venue=venue).order_by("pk").first() if venue else None
    ilo_focal = Person.objects.filter(organisation__acronym="ILO", is_focal_point=True).first()
    speakers = list(Person.objects.filter(agenda_items__isnull=False).distinct().order_by("pk"))
    plan = [
        ("Opening of the workshop", first_day, (10, 0), (10, 30), speakers[:1]),
        ("Labour mobility partnerships in practice", first_day, (10, 30), (13, 0), [ilo_focal]),
        ("Skills recognition and portability", first_day, (15, 0), (18, 0), []),
        ("Conclusions and closing", first_day + dt.timedelta(days=1), (10, 0), (12, 0), []),
    ]
    for position, (title, day, start, end, presenters) in enumerate(plan, start=1):
        item = AgendaItem.objects.create(
            agenda=agenda, number=position, position=position, title=title, room=room
        )
        item.presenters.set([person for person in presenters if person is not None])
        AgendaSlot.objects.create(
            item=item, day=day, start_time=dt.time(*start), end_time=dt.time(*end)
        )
    agenda_renumber(agenda=agenda)
    participants = list(
        Person.objects.filter(organisation__isnull=False)
        .exclude(is_focal_point=True)
        .exclude(is_head_of_office=True)
        .order_by("pk")[:4]
    )
    if ilo_focal is not None:
        Registration.objects.create(
            workshop=workshop,
            person=ilo_focal,
            organisation=ilo_focal.organisation,
            role=RegistrationRole.SPEAKER,
        )
    for person in participants:
        Registration.objects.get_or_create(
            workshop=workshop, person=person, defaults={"organisation": person.organisation}
        )
    agenda_publish(agenda=agenda, by=by)


@transaction.atomic
def demo_scenario_ensure(*, today: dt.date, by) -> DemoScenario:
    """Add the demo's addresses, contacts, due dates and upcoming workshop where missing."""
    scenario = DemoScenario()
    _addresses_ensure(scenario)
    _contacts_ensure(scenario)
    _due_dates_ensure(scenario, today=today, by=by)
    _followups_ensure(scenario, today=today, by=by)
    _upcoming_workshop_ensure(scenario, today=today, by=by)
    return scenario
