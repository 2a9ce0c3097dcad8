"""Reminders of what is coming: events, changed agendas, closing theme rounds and documents due.

Each planner reads the database as it stands at a given moment and returns the reminders due
then (``PlannedReminder``); ``reminders_create`` inserts each one once, so a planner may be run
every 15 minutes, twice at the same time, or after an hour without a sweep: the unique
(kind, recipient, occurrence) makes every message go out once. After a missed sweep only the
latest lead time that has come is sent (the 2-day reminder, not the 14-day one as well).

Every planner makes a fixed number of queries, however many events, people and rounds it reads.
Dates and times in the messages are written out in the recipient's language here, since the
templates (``templates/emails/reminders/``) are translated file by file, not with gettext.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, Subquery
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils import dateformat, timezone, translation

from idm import outputs
from idm.enums import AgendaState, MeetingStatus
from idm.models import Agenda, AgendaItem, AgendaVersion, CouncilSession, Document, Meeting
from idm.selectors import event_key, event_key_for, event_title
from idm.services import AgendaChange, AgendaChangeKind, agenda_versions_diff
from stakeholders.enums import ActingRole
from stakeholders.models import Organisation, Person, Representative
from workshops.enums import ProposalState, RegistrationRole, WorkshopStatus
from workshops.models import ProposalRound, ProposalSupport, Registration, ThemeProposal, Workshop

from .enums import ReminderKind
from .models import Reminder, ReminderRule
from .reminders import PlannedReminder, reminders_create, reminders_queue

logger = logging.getLogger(__name__)

TEMPLATES = {
    ReminderKind.EVENT: "emails/reminders/event",
    ReminderKind.AGENDA_CHANGED: "emails/reminders/agenda_changed",
    ReminderKind.ROUND_CLOSING: "emails/reminders/round_closing",
    ReminderKind.DOCUMENT_DUE: "emails/reminders/document_due",
}
# Changed agendas are caught up by the sweep for this long after their publication.
AGENDA_CHANGE_CATCH_UP = dt.timedelta(days=30)
# A proposal counts as submitted to its round in these states (a draft does not).
SUBMITTED_STATES = [
    ProposalState.SUBMITTED,
    ProposalState.SELECTED,
    ProposalState.DEFERRED,
    ProposalState.NOT_ENDORSED,
]
LANGUAGE_CODES = {"en", "fr", "es"}


# --- Lead times --------------------------------------------------------------------------------


def lead_days(rule: ReminderRule) -> list[int]:
    """The rule's lead times in days, largest first; 0 stands for "on the day"."""
    if not rule.enabled:
        return []
    days = set(rule.lead_days_list)
    if rule.on_the_day:
        days.add(0)
    return sorted(days, reverse=True)


def lead_due(leads: Iterable[int], days_left: int) -> int | None:
    """Which lead time is due with ``days_left`` days to go, or None.

    The latest one whose day has come: with leads 14 and 2, from 14 to 3 days before it is 14,
    from 2 days to 1 day before it is 2. Once the day itself has come only an "on the day"
    (0) lead is still due; afterwards none.
    """
    if days_left < 0:
        return None
    due = [n for n in leads if n >= days_left and (days_left > 0 or n == 0)]
    return min(due) if due else None


def occurrence_of(prefix: str, lead: int) -> str:
    return f"{prefix}:before-{lead}" if lead else f"{prefix}:on-the-day"


def _existing(kind: str, occurrences: Iterable[str]) -> set[tuple[str, str]]:
    """(recipient key, occurrence) pairs already made: planned again, they would only be refused."""
    occurrences = set(occurrences)
    if not occurrences:
        return set()
    return set(
        Reminder.objects.filter(kind=kind, occurrence__in=occurrences).values_list(
            "recipient_key", "occurrence"
        )
    )


# --- Words in the recipient's language ---------------------------------------------------------

# Django's own translations give the day and month names; the order of the words is ours.
DATE_FORMATS = {
    "en": ("l, j F Y", "l, j F"),
    "fr": ("l j F Y", "l j F"),
    "es": (r"l j \d\e F \d\e Y", r"l j \d\e F"),
}
RANGE_FORMATS = {
    "en": "{start} to {end}",
    "fr": "du {start} au {end}",
    "es": "del {start} al {end}",
}
AT_FORMATS = {"en": "{day} at {time}", "fr": "{day} à {time}", "es": "{day} a las {time}"}
ITEM_WORDS = {"en": "Item", "fr": "Point", "es": "Punto"}
NOT_SCHEDULED = {"en": "not scheduled", "fr": "non programmé", "es": "sin programar"}
NO_TIME = {"en": "no time", "fr": "sans heure", "es": "sin hora"}
NONE = {"en": "none", "fr": "aucun", "es": "ninguno"}


def _language(code: str | None) -> str:
    return code if code in LANGUAGE_CODES else "en"


@functools.cache
def _has_variant(template: str, language: str) -> bool:
    try:
        get_template(f"{template}.{language}.txt")
    except TemplateDoesNotExist:
        return False
    return True


def text_language(kind: str, language: str | None) -> str:
    """The recipient's language when this kind of reminder is written in it, else English:
    the dates in a message are written in the language of its text."""
    language = _language(language)
    return language if language == "en" or _has_variant(TEMPLATES[kind], language) else "en"


def date_text(day: dt.date, language: str) -> str:
    """ "Tuesday, 29 November 2005", "mardi 29 novembre 2005", "martes 29 de noviembre de 2005"."""
    language = _language(language)
    with translation.override(language):
        return dateformat.format(day, DATE_FORMATS[language][0])


def date_range_text(start: dt.date | None, end: dt.date | None, language: str) -> str:
    if start is None:
        return ""
    language = _language(language)
    if end is None or end == start:
        return date_text(start, language)
    with translation.override(language):
        first = dateformat.format(start, DATE_FORMATS[language][1 if start.year == end.year else 0])
    return RANGE_FORMATS[language].format(start=first, end=date_text(end, language))


def moment_text(moment: dt.datetime, language: str) -> str:
    """A time in the site's time zone: "Friday, 15 September 2006 at 17.00 CEST"."""
    language = _language(language)
    local = timezone.localtime(moment)
    clock = f"{local:%H.%M} {local.tzname() or ''}".strip()
    return AT_FORMATS[language].format(day=date_text(local.date(), language), time=clock)


def _item_label(number, sub_item: str, language: str) -> str:
    word = ITEM_WORDS[_language(language)]
    return f"{word} {number}({sub_item})" if sub_item else f"{word} {number}"


def _site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


# --- Events: who takes part --------------------------------------------------------------------


@dataclass
class Attendee:
    """A person expected at an event, with every reason they are (registration, agenda items)."""

    person: Person
    roles: list[dict] = field(default_factory=list)

    def add_role(self, role: dict) -> None:
        if role not in self.roles:
            self.roles.append(role)


def _registration_role(registration: Registration) -> dict:
    return {
        "kind": "registration",
        "role": registration.role,
        "label": str(RegistrationRole(registration.role).label),
    }


def _presenter_role(number, sub_item: str, title: str) -> dict:
    return {"kind": "presenter", "number": number, "sub_item": sub_item, "title": title}


def _agendas_of(events: Iterable) -> Q:
    """A filter on Agenda for the agendas of these events (any mix of the three kinds)."""
    by_field: dict[str, list[int]] = {"council_session": [], "meeting": [], "workshop": []}
    for event in events:
        if isinstance(event, CouncilSession):
            by_field["council_session"].append(event.pk)
        elif isinstance(event, Meeting):
            by_field["meeting"].append(event.pk)
        else:
            by_field["workshop"].append(event.pk)
    condition = Q(pk__in=[])
    for name, pks in by_field.items():
        if pks:
            condition |= Q(**{f"{name}_id__in": pks})
    return condition


def _agenda_event_key(agenda: Agenda) -> str:
    if agenda.council_session_id:
        return event_key_for(CouncilSession, agenda.council_session_id)
    if agenda.meeting_id:
        return event_key_for(Meeting, agenda.meeting_id)
    return event_key_for(Workshop, agenda.workshop_id)


def event_attendees(events: Iterable) -> dict[str, dict[int, Attendee]]:
    """For each event key, its registered participants and its agenda's presenters, by person.

    Three queries however many events: registrations, agenda items and their presenters.
    """
    events = list(events)
    people: dict[str, dict[int, Attendee]] = {event_key(event): {} for event in events}
    workshop_ids = [event.pk for event in events if isinstance(event, Workshop)]
    if workshop_ids:
        registrations = (
            Registration.objects.filter(workshop_id__in=workshop_ids)
            .select_related("person")
            .order_by("person__name", "pk")
        )
        for registration in registrations:
            key = event_key_for(Workshop, registration.workshop_id)
            attendee = people[key].setdefault(registration.person_id, Attendee(registration.person))
            attendee.add_role(_registration_role(registration))
    if events:
        items = (
            AgendaItem.objects.filter(agenda__in=Agenda.objects.filter(_agendas_of(events)))
            .select_related("agenda")
            .prefetch_related(Prefetch("presenters", queryset=Person.objects.order_by("name")))
            .order_by("agenda", "position", "number", "sub_item")
        )
        for item in items:
            key = _agenda_event_key(item.agenda)
            for person in item.presenters.all():
                attendee = people[key].setdefault(person.pk, Attendee(person))
                attendee.add_role(_presenter_role(item.number, item.sub_item, item.title))
    return people


def latest_versions(events: Iterable) -> dict[str, AgendaVersion]:
    """Each event's latest published agenda version, by event key (one query)."""
    events = list(events)
    if not events:
        return {}
    latest = AgendaVersion.objects.filter(agenda=OuterRef("agenda")).order_by("-number")
    versions = (
        AgendaVersion.objects.filter(agenda__in=Agenda.objects.filter(_agendas_of(events)))
        .filter(number=Subquery(latest.values("number")[:1]))
        .select_related("agenda")
    )
    return {_agenda_event_key(version.agenda): version for version in versions}


def _recipients(attendees: Iterable[Attendee]) -> dict[str, Attendee]:
    """Attendees by lower-cased email; people sharing an address get one message."""
    by_email: dict[str, Attendee] = {}
    for attendee in attendees:
        email = (attendee.person.email or "").strip().lower()
        if not email:
            continue
        if email in by_email:
            for role in attendee.roles:
                by_email[email].add_role(role)
        else:
            by_email[email] = Attendee(attendee.person, list(attendee.roles))
    return by_email


# --- Events: what they tell ---------------------------------------------------------------------


def _event_place(event) -> tuple[str, str]:
    venue = getattr(event, "venue", None)
    place = str(venue) if venue else ""
    if not place:
        place = ", ".join(
            part for part in (getattr(event, "city", ""), getattr(event, "country", "")) if part
        )
    room = getattr(event, "room", None)
    return place, room.name if room else ""


def _event_url(key: str, version: AgendaVersion | None) -> str:
    """The published agenda's page, else the front page listing the dialogue's events."""
    if version is not None:
        return _site_url(reverse("idm:agenda-print", args=[key]))
    return _site_url(reverse("home") + "#dialogues")


def _event_info(event, *, key: str, version: AgendaVersion | None) -> dict:
    venue, room = _event_place(event)
    return {
        "key": key,
        "title": event_title(event),
        "start_date": event.start_date,
        "end_date": event.end_date or event.start_date,
        "venue": venue,
        "room": room,
        "url": _event_url(key, version),
        "calendar_url": _site_url(reverse("idm:event-ical", args=[key])),
        "agenda_published": version is not None,
        "agenda_version": version.number if version else None,
        "agenda_adopted": bool(version and version.state != AgendaState.PROVISIONAL),
    }


def _localised(info: dict, language: str) -> dict:
    return {
        **info,
        "dates_text": date_range_text(info["start_date"], info["end_date"], language),
    }


def _roles_for(roles: list[dict], language: str) -> list[dict]:
    return [
        {**role, "label": _item_label(role["number"], role["sub_item"], language)}
        if role["kind"] in ("presenter", "former_presenter")
        else role
        for role in roles
    ]


def _calendar_text(
    *,
    key: str,
    title: str,
    snapshot: dict | None,
    number: int | None,
    stamp: dt.datetime,
    all_day: dict,
    cancelled: list[dict] = (),
) -> str:
    """The event's iCalendar: the agenda's timed slots, else one all-day entry.

    ``number`` (the agenda version) is each entry's SEQUENCE, so that calendar programs replace
    the entries of an earlier version; ``cancelled`` items are sent as cancelled entries.
    """
    calendar = outputs.new_calendar(title)
    added = outputs.add_agenda_events(calendar, snapshot, stamp=stamp) if snapshot else 0
    if cancelled and snapshot:
        gone = outputs.new_calendar(title)
        outputs.add_agenda_events(gone, {**snapshot, "items": list(cancelled)}, stamp=stamp)
        for vevent in gone.walk("VEVENT"):
            vevent.add("status", "CANCELLED")
            calendar.add_component(vevent)
    if not added:
        outputs.add_all_day_event(calendar, all_day, stamp=stamp)
    if number:
        for vevent in calendar.walk("VEVENT"):
            vevent.add("sequence", number)
    return outputs.calendar_bytes(calendar).decode("utf-8")


def _events_between(first: dt.date, last: dt.date) -> list:
    """Council sessions, meetings and workshops starting between the two days, not cancelled."""
    dates = {"start_date__gte": first, "start_date__lte": last}
    return [
        *CouncilSession.objects.filter(**dates).select_related("venue", "room"),
        *Meeting.objects.filter(**dates)
        .exclude(status=MeetingStatus.CANCELLED)
        .select_related("venue", "room"),
        *Workshop.objects.filter(**dates)
        .exclude(status=WorkshopStatus.CANCELLED)
        .select_related("venue", "dialogue"),
    ]


def plan_event_reminders(*, today: dt.date, rule: ReminderRule) -> list[PlannedReminder]:
    """Reminders of coming workshops, meetings and Council sessions, per person and lead time.

    To each registered participant and each presenter of an agenda item with an email, once per
    event and lead time: ``<event key>:before-<n>``. A Council session has no registrations, so
    only its agenda's presenters are reminded. Seven queries, however many events and people.
    """
    leads = lead_days(rule)
    if not leads:
        return []
    events = _events_between(today, today + dt.timedelta(days=max(leads)))
    due = {}
    for event in events:
        lead = lead_due(leads, (event.start_date - today).days)
        if lead is not None:
            due[event_key(event)] = (event, lead)
    if not due:
        return []
    events = [event for event, _lead in due.values()]
    attendees = event_attendees(events)
    versions = latest_versions(events)
    done = _existing(
        ReminderKind.EVENT, (occurrence_of(key, lead) for key, (_e, lead) in due.items())
    )
    stamp = timezone.now()
    planned = []
    for key, (event, lead) in due.items():
        occurrence = occurrence_of(key, lead)
        recipients = {
            email: attendee
            for email, attendee in _recipients(attendees[key].values()).items()
            if (email, occurrence) not in done
        }
        if not recipients:
            continue
        version = versions.get(key)
        info = _event_info(event, key=key, version=version)
        attachment = _calendar_text(
            key=key,
            title=info["title"],
            snapshot=version.snapshot if version else None,
            number=version.number if version else None,
            stamp=version.published_at if version and version.published_at else stamp,
            all_day=outputs.event_day_entry(event, key=key, title=info["title"]),
        )
        for email, attendee in recipients.items():
            language = text_language(ReminderKind.EVENT, attendee.person.language)
            roles = _roles_for(attendee.roles, language)
            planned.append(
                PlannedReminder(
                    kind=ReminderKind.EVENT,
                    recipient_key=email,
                    occurrence=occurrence,
                    due_on=event.start_date - dt.timedelta(days=lead),
                    to=[attendee.person.email.strip()],
                    template=TEMPLATES[ReminderKind.EVENT],
                    context={
                        "name": str(attendee.person),
                        "event": _localised(info, language),
                        "lead_days": lead,
                        "days_left": (event.start_date - today).days,
                        "roles": roles,
                        "presents": [r for r in roles if r["kind"] == "presenter"],
                    },
                    language=language,
                    person_id=attendee.person.pk,
                    event_key=key,
                    attachment_name=f"{key}.ics",
                    attachment=attachment,
                )
            )
    return planned


# --- Changed agendas -----------------------------------------------------------------------------


def _event_changes(old: dict, new: dict, language: str) -> list[dict]:
    """Changes of the event itself between two snapshots: title, dates, venue, room."""
    before, after = old.get("event", {}), new.get("event", {})
    changes = []

    def day(value):
        return dt.date.fromisoformat(value) if value else None

    old_dates = (day(before.get("start_date")), day(before.get("end_date")))
    new_dates = (day(after.get("start_date")), day(after.get("end_date")))
    if old_dates != new_dates:
        changes.append(
            {
                "kind": "dates",
                "old": date_range_text(*old_dates, language) or NOT_SCHEDULED[language],
                "new": date_range_text(*new_dates, language) or NOT_SCHEDULED[language],
            }
        )
    for name in ("title", "venue", "room"):
        if (before.get(name) or "") != (after.get(name) or ""):
            changes.append(
                {"kind": name, "old": before.get(name) or "", "new": after.get(name) or ""}
            )
    return changes


def _slots_text(item: dict | None, language: str, *, with_days: bool = True) -> str:
    slots = (item or {}).get("slots", [])
    if not slots:
        return NOT_SCHEDULED[language]
    parts = []
    for slot in slots:
        times = outputs.format_time_range(slot.get("start_time"), slot.get("end_time"))
        times = times.replace(" - ", "-")
        if with_days:
            parts.append(f"{date_text(dt.date.fromisoformat(slot['day']), language)} {times}")
        else:
            parts.append(times or NO_TIME[language])
    return "; ".join(part.strip() for part in parts)


def _presenter_changes(old: dict, new: dict, language: str) -> list[dict]:
    """Items kept from one version to the next whose presenters changed (the service's diff
    leaves them out; for the people concerned they are the change that matters)."""
    old_items = {item["key"]: item for item in old.get("items", [])}
    changes = []
    for item in new.get("items", []):
        before = old_items.get(item["key"])
        if before is None:
            continue
        was, now = outputs.presenter_line(before), outputs.presenter_line(item)
        if was == now:
            continue
        label = _item_label(item["number"], item.get("sub_item", ""), language)
        changes.append(
            {
                "kind": "presenters",
                "label": label,
                "old": was or NONE[language],
                "new": now or NONE[language],
                "text": f"{label} presenters: {was or NONE['en']} → {now or NONE['en']}",
            }
        )
    return changes


def item_changes(changes: list[AgendaChange], old: dict, new: dict, language: str) -> list[dict]:
    """The items' changes as the templates show them, presenters included.

    The English texts are the service's own (``AgendaChange.text``); in the other languages
    the labels, days and times are translated and the templates word each kind of change.
    """
    language = _language(language)
    if language == "en":
        shown = [
            {"kind": c.kind, "label": c.label, "old": c.old, "new": c.new, "text": c.text}
            for c in changes
        ]
        return shown + _presenter_changes(old, new, language)
    old_items = {item["key"]: item for item in old.get("items", [])}
    new_items = {item["key"]: item for item in new.get("items", [])}
    shown = []
    for change in changes:
        before, after = old_items.get(change.key), new_items.get(change.key)
        current = after or before
        label = _item_label(current["number"], current.get("sub_item", ""), language)
        entry = {"kind": change.kind, "label": label, "old": change.old, "new": change.new}
        if change.kind == AgendaChangeKind.MOVED:
            entry["old"] = _item_label(before["number"], before.get("sub_item", ""), language)
            entry["new"] = label
        elif change.kind == AgendaChangeKind.RETIMED:
            same_days = [s["day"] for s in before.get("slots", [])] == [
                s["day"] for s in after.get("slots", [])
            ]
            entry["old"] = _slots_text(before, language)
            entry["new"] = _slots_text(after, language, with_days=not same_days)
        entry["text"] = ""
        shown.append(entry)
    return shown + _presenter_changes(old, new, language)


def _snapshot_presenter_roles(snapshot: dict, kind: str) -> dict[int, list[dict]]:
    roles: dict[int, list[dict]] = {}
    for item in snapshot.get("items", []):
        for presenter in item.get("presenters", []):
            role = _presenter_role(item["number"], item.get("sub_item", ""), item["title"])
            roles.setdefault(presenter["id"], []).append({**role, "kind": kind})
    return roles


def _removed_slots(old: dict, new: dict) -> list[dict]:
    """Items (or their later slots) of the old snapshot that the new one no longer has."""
    new_items = {item["key"]: item for item in new.get("items", [])}
    gone = []
    for item in old.get("items", []):
        kept = len(new_items[item["key"]].get("slots", [])) if item["key"] in new_items else 0
        slots = item.get("slots", [])
        if len(slots) > kept:
            # Keep the slot numbers (and so the calendar UIDs) of the slots that went.
            padded = [{**slot, "start_time": None} for slot in slots[:kept]] + slots[kept:]
            gone.append({**item, "slots": padded})
    return gone


@dataclass
class _Notice:
    version: AgendaVersion
    previous: AgendaVersion
    event: object
    key: str


def _notices(versions: list[AgendaVersion], *, today: dt.date) -> list[_Notice]:
    """The versions to notify, each with the published version before it (one query)."""
    if not versions:
        return []
    wanted = Q(pk__in=[])
    for version in versions:
        wanted |= Q(agenda_id=version.agenda_id, number__lt=version.number)
    below: dict[tuple[int, int], int] = {}  # (agenda, number) → pk of the version before it
    earlier = AgendaVersion.objects.filter(wanted).order_by("agenda_id", "number")
    for agenda_id, number, pk in earlier.values_list("agenda_id", "number", "pk"):
        for version in versions:
            if version.agenda_id == agenda_id and number < version.number:
                below[(agenda_id, version.number)] = pk  # the last one below wins
    previous = AgendaVersion.objects.in_bulk(set(below.values())) if below else {}
    notices = []
    for version in versions:
        before = previous.get(below.get((version.agenda_id, version.number)))
        event = version.agenda.event
        last_day = event.end_date or event.start_date
        if before is None or (last_day is not None and last_day < today):
            continue  # the first publication, or an event that is over
        notices.append(_Notice(version, before, event, event_key(event)))
    return notices


def _versions_with_events():
    return AgendaVersion.objects.select_related(
        "agenda__council_session__venue",
        "agenda__council_session__room",
        "agenda__meeting__venue",
        "agenda__meeting__room",
        "agenda__workshop__venue",
        "agenda__workshop__dialogue",
    )


def plan_agenda_change_notices(
    versions: Iterable[AgendaVersion], *, today: dt.date
) -> list[PlannedReminder]:
    """A notice of what changed, for each version, to everyone taking part in its event.

    Everyone: registered participants, the presenters of the agenda as it stands, and the
    presenters named in either version (someone taken off an item learns it). A version that
    changes nothing anyone sees (same items, times, dates and place) notifies nobody.
    """
    notices = _notices(list(versions), today=today)
    if not notices:
        return []
    attendees = event_attendees([notice.event for notice in notices])
    snapshot_people = set()
    for notice in notices:
        for snapshot in (notice.previous.snapshot, notice.version.snapshot):
            for item in snapshot.get("items", []):
                snapshot_people.update(p["id"] for p in item.get("presenters", []))
    people = Person.objects.in_bulk(snapshot_people) if snapshot_people else {}
    done = _existing(
        ReminderKind.AGENDA_CHANGED,
        (f"agenda-version-{notice.version.pk}" for notice in notices),
    )
    planned = []
    for notice in notices:
        old, new = notice.previous.snapshot, notice.version.snapshot
        changes = agenda_versions_diff(old=notice.previous, new=notice.version)
        if not item_changes(changes, old, new, "en") and not _event_changes(old, new, "en"):
            continue  # nothing anyone sees changed (a new symbol, a sub-topic, a document)
        occurrence = f"agenda-version-{notice.version.pk}"
        by_person = {
            pk: Attendee(a.person, list(a.roles)) for pk, a in attendees[notice.key].items()
        }
        for pk, roles in _snapshot_presenter_roles(new, "presenter").items():
            if pk in people:
                attendee = by_person.setdefault(pk, Attendee(people[pk]))
                for role in roles:
                    attendee.add_role(role)
        for pk, roles in _snapshot_presenter_roles(old, "former_presenter").items():
            if pk in people and pk not in by_person:
                by_person[pk] = Attendee(people[pk], roles)
        recipients = {
            email: attendee
            for email, attendee in _recipients(by_person.values()).items()
            if (email, occurrence) not in done
        }
        if not recipients:
            continue
        info = _event_info(notice.event, key=notice.key, version=notice.version)
        info["title"] = new.get("event", {}).get("title") or info["title"]
        attachment = _calendar_text(
            key=notice.key,
            title=info["title"],
            snapshot=new,
            number=notice.version.number,
            stamp=notice.version.published_at or timezone.now(),
            all_day=outputs.event_day_entry(notice.event, key=notice.key, title=info["title"]),
            cancelled=_removed_slots(old, new),
        )
        by_language = {}
        for email, attendee in recipients.items():
            language = text_language(ReminderKind.AGENDA_CHANGED, attendee.person.language)
            if language not in by_language:
                by_language[language] = {
                    "event": _localised(info, language),
                    "changes": item_changes(changes, old, new, language),
                    "event_changes": _event_changes(old, new, language),
                }
            planned.append(
                PlannedReminder(
                    kind=ReminderKind.AGENDA_CHANGED,
                    recipient_key=email,
                    occurrence=occurrence,
                    due_on=timezone.localdate(notice.version.published_at)
                    if notice.version.published_at
                    else today,
                    to=[attendee.person.email.strip()],
                    template=TEMPLATES[ReminderKind.AGENDA_CHANGED],
                    context={
                        **by_language[language],
                        "name": str(attendee.person),
                        "roles": _roles_for(attendee.roles, language),
                        "version": notice.version.number,
                        "previous_version": notice.previous.number,
                        "adopted": notice.version.state != AgendaState.PROVISIONAL,
                        "agenda_title": new.get("title", ""),
                    },
                    language=language,
                    person_id=attendee.person.pk,
                    event_key=notice.key,
                    agenda_version_id=notice.version.pk,
                    attachment_name=f"{notice.key}.ics",
                    attachment=attachment,
                )
            )
    return planned


def _agenda_changes_enabled() -> bool:
    rule = ReminderRule.objects.filter(kind=ReminderKind.AGENDA_CHANGED).first()
    return rule is None or rule.enabled


def plan_agenda_change_reminders(*, now: dt.datetime) -> list[PlannedReminder]:
    """The sweep's catch-up: versions published in the last 30 days with no notice made yet.

    A version whose notices were made (any of them) is left alone, so the sweep reads only
    the few versions a broken broker left behind, in a fixed number of queries.
    """
    if not _agenda_changes_enabled():
        return []
    versions = (
        _versions_with_events()
        .filter(number__gt=1, published_at__gte=now - AGENDA_CHANGE_CATCH_UP)
        .filter(~Exists(Reminder.objects.filter(agenda_version=OuterRef("pk"))))
        .order_by("published_at", "pk")
    )
    return plan_agenda_change_notices(list(versions), today=timezone.localdate(now))


def agenda_change_notify(*, version: AgendaVersion) -> int:
    """Make and queue the notices of a newly published agenda version; returns how many were new.

    Doing it again (a redelivered task, the sweep's catch-up) makes nothing new.
    """
    if not _agenda_changes_enabled():
        return 0
    version = _versions_with_events().get(pk=version.pk)
    planned = plan_agenda_change_notices([version], today=timezone.localdate())
    if not planned:
        return 0
    created = reminders_create(planned)
    reminders_queue(created)
    logger.info("agenda version %s: %s change notices", version.pk, len(created))
    return len(created)


# --- Theme rounds closing ------------------------------------------------------------------------


def _round_lead_due(leads: list[int], closes_at: dt.datetime, now: dt.datetime) -> int | None:
    """The latest lead whose moment has come before the round closes (0: the closing day)."""
    if closes_at <= now:
        return None
    due = []
    for lead in leads:
        if lead:
            fires = closes_at - dt.timedelta(days=lead)
        else:
            local = timezone.localtime(closes_at)
            fires = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if fires <= now:
            due.append((fires, lead))
    return max(due)[1] if due else None


def _delegations():
    """Organisations a login acts for as a delegation, with who receives their reminders."""
    delegates = Representative.objects.filter(
        role=ActingRole.DELEGATION, user__is_active=True
    ).select_related("user", "person")
    return (
        Organisation.objects.filter(
            Exists(
                Representative.objects.filter(
                    organisation=OuterRef("pk"), role=ActingRole.DELEGATION
                )
            )
        )
        .prefetch_related(
            Prefetch("representatives", queryset=delegates, to_attr="delegates"),
            Prefetch(
                "people",
                queryset=Person.objects.filter(is_focal_point=True).order_by("name"),
                to_attr="focal_points",
            ),
        )
        .order_by("name")
    )


def _delegation_recipients(organisation: Organisation) -> tuple[list[str], str, list[str]]:
    """(emails, language, names): the delegates' logins and the focal points with an email.

    The language is the one all of them with a known language share, else English.
    """
    emails, seen, languages, names = [], set(), set(), []
    for delegate in organisation.delegates:
        email = (delegate.user.email or "").strip()
        if email and email.lower() not in seen:
            seen.add(email.lower())
            emails.append(email)
            names.append(delegate.user.get_full_name() or delegate.user.username)
            if delegate.person is not None:
                languages.add(delegate.person.language)
    for person in organisation.focal_points:
        email = (person.email or "").strip()
        if email and email.lower() not in seen:
            seen.add(email.lower())
            emails.append(email)
            names.append(str(person))
            languages.add(person.language)
    language = languages.pop() if len(languages) == 1 else "en"
    return emails, _language(language), names


def plan_round_closing_reminders(*, now: dt.datetime, rule: ReminderRule) -> list[PlannedReminder]:
    """To delegations that have neither submitted nor supported a proposal in a closing round.

    Open rounds (opened, closing in the future) are reminded at each lead time before they
    close, once per delegation: ``round-<id>:before-<n>``. Submitting (or co-sponsoring) a
    proposal, or supporting one, in that round stops the reminders. Eight queries.
    """
    leads = lead_days(rule)
    if not leads:
        return []
    horizon = now + dt.timedelta(days=max(max(leads), 1))
    rounds = (
        ProposalRound.objects.filter(Q(opens_at__isnull=True) | Q(opens_at__lte=now))
        .filter(closes_at__gt=now, closes_at__lte=horizon)
        .select_related("dialogue")
        .order_by("closes_at", "pk")
    )
    due = {}
    for proposal_round in rounds:
        lead = _round_lead_due(leads, proposal_round.closes_at, now)
        if lead is not None:
            due[proposal_round.pk] = (proposal_round, lead)
    if not due:
        return []
    engaged: dict[int, set[int]] = {pk: set() for pk in due}
    open_proposals: dict[int, list[dict]] = {pk: [] for pk in due}
    proposals = ThemeProposal.objects.filter(round_id__in=due, state__in=SUBMITTED_STATES).order_by(
        "title", "pk"
    )
    for proposal in proposals.values(
        "pk", "round_id", "proposing_organisation_id", "title", "state"
    ):
        if proposal["proposing_organisation_id"]:
            engaged[proposal["round_id"]].add(proposal["proposing_organisation_id"])
        if proposal["state"] == ProposalState.SUBMITTED:
            open_proposals[proposal["round_id"]].append(
                {
                    "title": proposal["title"],
                    "url": _site_url(reverse("portal:proposal", args=[proposal["pk"]])),
                }
            )
    co_sponsors = ThemeProposal.co_sponsors.through.objects.filter(
        themeproposal__round_id__in=due, themeproposal__state__in=SUBMITTED_STATES
    ).values_list("themeproposal__round_id", "organisation_id")
    supports = ProposalSupport.objects.filter(proposal__round_id__in=due).values_list(
        "proposal__round_id", "organisation_id"
    )
    for round_id, organisation_id in [*co_sponsors, *supports]:
        engaged[round_id].add(organisation_id)
    done = _existing(
        ReminderKind.ROUND_CLOSING,
        (occurrence_of(f"round-{pk}", lead) for pk, (_r, lead) in due.items()),
    )
    delegations = list(_delegations())
    planned = []
    for pk, (proposal_round, lead) in due.items():
        occurrence = occurrence_of(f"round-{pk}", lead)
        left = proposal_round.closes_at - now
        for delegation in delegations:
            recipient_key = f"organisation:{delegation.pk}"
            if delegation.pk in engaged[pk] or (recipient_key, occurrence) in done:
                continue
            to, language, names = _delegation_recipients(delegation)
            language = text_language(ReminderKind.ROUND_CLOSING, language)
            if not to:
                continue
            planned.append(
                PlannedReminder(
                    kind=ReminderKind.ROUND_CLOSING,
                    recipient_key=recipient_key,
                    occurrence=occurrence,
                    due_on=timezone.localdate(proposal_round.closes_at - dt.timedelta(days=lead)),
                    to=to,
                    template=TEMPLATES[ReminderKind.ROUND_CLOSING],
                    context={
                        "delegation": delegation.short_name,
                        "names": names,
                        "round": {
                            "title": proposal_round.title,
                            "target_year": proposal_round.target_year,
                            "kind": str(proposal_round.get_kind_display()),
                            "topics_to_select": proposal_round.topics_to_select,
                            "url": _site_url(reverse("portal:round", args=[pk])),
                            "propose_url": _site_url(reverse("portal:propose", args=[pk])),
                        },
                        "closes_at": proposal_round.closes_at,
                        "closes_text": moment_text(proposal_round.closes_at, language),
                        "lead_days": lead,
                        "days_left": math.ceil(left.total_seconds() / 86400),
                        "hours_left": math.ceil(left.total_seconds() / 3600),
                        "proposals": open_proposals[pk],
                    },
                    language=language,
                    organisation_id=delegation.pk,
                    proposal_round_id=pk,
                )
            )
    return planned


# --- Documents due -------------------------------------------------------------------------------


def _document_event(document: Document) -> str:
    for event in (document.workshop, document.meeting, document.council_session):
        if event is not None:
            return event_title(event)
    return str(document.dialogue) if document.dialogue else ""


def plan_document_due_reminders(*, today: dt.date, rule: ReminderRule) -> list[PlannedReminder]:
    """To each author (with an email) of a document due and not yet received, at each lead time.

    ``document-<id>:before-<n>``; recording the day it was received stops them. Three queries.
    """
    leads = lead_days(rule)
    if not leads:
        return []
    documents = (
        Document.objects.filter(
            received_on__isnull=True,
            due_date__gte=today,
            due_date__lte=today + dt.timedelta(days=max(leads)),
        )
        .select_related("workshop__dialogue", "meeting", "council_session", "dialogue")
        .prefetch_related(
            Prefetch("authors", queryset=Person.objects.exclude(email="").order_by("name"))
        )
        .order_by("due_date", "pk")
    )
    due = []
    for document in documents:
        lead = lead_due(leads, (document.due_date - today).days)
        if lead is not None:
            due.append((document, lead))
    done = _existing(
        ReminderKind.DOCUMENT_DUE,
        (occurrence_of(f"document-{d.pk}", lead) for d, lead in due),
    )
    secretariat = list(getattr(settings, "SECRETARIAT_EMAILS", []))
    planned = []
    for document, lead in due:
        occurrence = occurrence_of(f"document-{document.pk}", lead)
        authors = _recipients(Attendee(person) for person in document.authors.all())
        for email, author in authors.items():
            if (email, occurrence) in done:
                continue
            language = text_language(ReminderKind.DOCUMENT_DUE, author.person.language)
            planned.append(
                PlannedReminder(
                    kind=ReminderKind.DOCUMENT_DUE,
                    recipient_key=email,
                    occurrence=occurrence,
                    due_on=document.due_date - dt.timedelta(days=lead),
                    to=[author.person.email.strip()],
                    template=TEMPLATES[ReminderKind.DOCUMENT_DUE],
                    context={
                        "name": str(author.person),
                        "document": {
                            "title": document.title,
                            "symbol": document.symbol or "",
                            "kind": str(document.get_kind_display()),
                            "kind_code": document.kind,
                            "for_event": _document_event(document),
                        },
                        "due_date": document.due_date,
                        "due_text": date_text(document.due_date, language),
                        "lead_days": lead,
                        "days_left": (document.due_date - today).days,
                        "send_to": secretariat[0] if secretariat else settings.DEFAULT_FROM_EMAIL,
                    },
                    language=language,
                    person_id=author.person.pk,
                    document_id=document.pk,
                )
            )
    return planned
