"""Read-only serializers of the public meetings API (a contract agencies code against)."""

import datetime

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from idm.enums import AgendaState
from idm.filters import EventKind, EventStatus, council_session_status, event_kind
from idm.models import CouncilSession
from idm.selectors import event_key, event_title
from workshops.enums import WorkshopKind
from workshops.models import Workshop

PUBLISHED_STATES = [
    (value, label) for value, label in AgendaState.choices if value != AgendaState.DRAFT
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def event_link(request, url_name: str, key: str) -> str | None:
    """The absolute URL of one of an event's pages, or None while that page does not exist."""
    try:
        path = reverse(url_name, args=[key])
    except NoReverseMatch:
        return None
    return request.build_absolute_uri(path) if request is not None else path


class MeetingLinksSerializer(serializers.Serializer):
    agenda = serializers.URLField(
        allow_null=True,
        help_text=_(
            "The printable page of the latest published agenda; null when none is published."
        ),
    )
    pdf = serializers.URLField(
        allow_null=True,
        help_text=_("The latest published agenda as a PDF file; null when none is published."),
    )
    ical = serializers.URLField(
        allow_null=True, help_text=_("The event as an iCalendar file (null while unavailable).")
    )


class MeetingSerializer(serializers.Serializer):
    """A Council session, IDM sitting, informal consultation or workshop."""

    id = serializers.CharField(
        help_text=_(
            'The event\'s key: "council-session-<n>", "meeting-<n>" or "workshop-<n>". '
            "Stable; use it in /api/v1/meetings/{id}/."
        )
    )
    kind = serializers.ChoiceField(
        choices=EventKind.choices,
        help_text=_("Kind of event; workshops of every kind count as workshop."),
    )
    workshop_kind = serializers.ChoiceField(
        choices=WorkshopKind.choices,
        allow_null=True,
        help_text=_("For a workshop, what kind of workshop or event it is; null otherwise."),
    )
    title = serializers.CharField(help_text=_("Title as displayed."))
    year = serializers.IntegerField(
        allow_null=True,
        help_text=_(
            "Year of the first day; when the dates are not known, the year of the dialogue "
            "the event belongs to; null when neither is known."
        ),
    )
    start_date = serializers.DateField(allow_null=True, help_text=_("First day, if known."))
    end_date = serializers.DateField(allow_null=True, help_text=_("Last day, if known."))
    date_text = serializers.CharField(
        allow_null=True,
        help_text=_(
            'Dates as stated in the source, e.g. "first quarter of 2006" (workshops only; '
            "null for Council sessions and meetings)."
        ),
    )
    status = serializers.ChoiceField(
        choices=EventStatus.choices,
        help_text=_(
            "Status. A Council session is held once its last day (or its first, when the last "
            "is not known) is past, and planned otherwise."
        ),
    )
    venue = serializers.CharField(
        allow_null=True,
        help_text=_("Venue and city; for a workshop without a venue, its city and country."),
    )
    room = serializers.CharField(allow_null=True, help_text=_("Meeting room, if known."))
    dialogue = serializers.IntegerField(
        allow_null=True, help_text=_("Year of the dialogue the event belongs to, if any.")
    )
    agenda_state = serializers.ChoiceField(
        choices=AgendaState.choices,
        allow_null=True,
        help_text=_("State of the event's agenda; null when it has none."),
    )
    published_version = serializers.IntegerField(
        allow_null=True,
        help_text=_(
            "Number of the latest published agenda version (see the agenda endpoint); "
            "null when no version has been published."
        ),
    )
    links = MeetingLinksSerializer(help_text=_("Public pages of the event."))

    def to_representation(self, instance):
        return super().to_representation(self.entry(instance))

    def entry(self, event) -> dict:
        """The event as the flat record this serializer describes."""
        key = event_key(event)
        dialogue = event.dialogue
        if event.start_date is not None:
            year = event.start_date.year
        else:
            year = dialogue.year if dialogue else None
        is_workshop = isinstance(event, Workshop)
        if isinstance(event, CouncilSession):
            status = council_session_status(event)
        else:
            status = event.status
        venue = str(event.venue) if event.venue else None
        if venue is None and is_workshop:
            venue = ", ".join(part for part in (event.city, event.country) if part) or None
        room = getattr(event, "room", None)
        agenda = getattr(event, "agenda", None)  # reverse one-to-one: missing raises, hence getattr
        request = self.context.get("request")
        published_version = getattr(event, "published_version", None)
        published = published_version is not None
        return {
            "id": key,
            "kind": event_kind(event),
            "workshop_kind": event.kind if is_workshop else None,
            "title": event_title(event),
            "year": year,
            "start_date": event.start_date,
            "end_date": event.end_date,
            "date_text": event.date_text if is_workshop else None,
            "status": status,
            "venue": venue,
            "room": room.name if room else None,
            "dialogue": dialogue.year if dialogue else None,
            "agenda_state": agenda.state if agenda else None,
            "published_version": published_version,
            "links": {
                "agenda": event_link(request, "idm:agenda-print", key) if published else None,
                "pdf": event_link(request, "idm:agenda-pdf", key) if published else None,
                "ical": event_link(request, "idm:event-ical", key),
            },
        }


# -- A published agenda version ----------------------------------------------------------------


class AgendaQuerySerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=_("Number of an earlier published version; the latest when left out."),
    )


class AgendaEventSerializer(serializers.Serializer):
    id = serializers.CharField(help_text=_("The event's key, as in /api/v1/meetings/."))
    title = serializers.CharField(help_text=_("Title of the event when the version was published."))
    start_date = serializers.DateField(allow_null=True, help_text=_("First day, if known."))
    end_date = serializers.DateField(allow_null=True, help_text=_("Last day, if known."))
    venue = serializers.CharField(help_text=_("Venue and city; empty when not known."))
    room = serializers.CharField(help_text=_("Meeting room; empty when not known."))


class AgendaPresenterSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("Person id."))
    name = serializers.CharField(help_text=_('Name with honorific, e.g. "Mr. Gervais Appave".'))
    title = serializers.CharField(help_text=_("Position held, as printed."))


class AgendaDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("Document id."))
    symbol = serializers.CharField(help_text=_('Official symbol such as "MC/INF/279"; or empty.'))
    title = serializers.CharField(help_text=_("Document title."))


class AgendaEntrySerializer(serializers.Serializer):
    """One item taken up in one time slot; an item over several slots appears once per slot."""

    key = serializers.IntegerField(
        help_text=_("The item's id: the same across slots, days and versions of the agenda.")
    )
    label = serializers.CharField(help_text=_('Label as printed, e.g. "Item 5" or "Item 5(a)".'))
    number = serializers.IntegerField(help_text=_("Item number."))
    sub_item = serializers.CharField(help_text=_('Sub-item letter ("a", "b"…); empty for items.'))
    parent = serializers.CharField(
        allow_null=True, help_text=_('Label of the parent item ("Item 5") of a sub-item; or null.')
    )
    title = serializers.CharField(help_text=_("Title of the item."))
    block_title = serializers.CharField(
        help_text=_("Heading shared by consecutive items, as printed; or empty.")
    )
    format = serializers.CharField(help_text=_('Format, e.g. "special panel"; or empty.'))
    start_time = serializers.TimeField(
        allow_null=True, format="%H:%M", help_text=_("Start of the slot (HH:MM), if given.")
    )
    end_time = serializers.TimeField(
        allow_null=True, format="%H:%M", help_text=_("End of the slot (HH:MM), if given.")
    )
    continued = serializers.BooleanField(
        help_text=_("The item continues from an earlier slot (printed as (cont'd)).")
    )
    note = serializers.CharField(help_text=_("Note on this slot; or empty."))
    room = serializers.CharField(help_text=_("Room of the item; or empty."))
    presenters = AgendaPresenterSerializer(many=True, help_text=_("People presenting the item."))
    presenter_text = serializers.CharField(help_text=_("Presenters as printed; or empty."))
    bullets = serializers.ListField(
        child=serializers.CharField(), help_text=_("Sub-topics listed under the item.")
    )
    documents = AgendaDocumentSerializer(many=True, help_text=_("Documents for the item."))


class AgendaDaySerializer(serializers.Serializer):
    date = serializers.DateField(
        allow_null=True, help_text=_("The day; null for the items not yet scheduled (last).")
    )
    weekday = serializers.CharField(
        allow_null=True, help_text=_('Day of the week in English, e.g. "Tuesday"; or null.')
    )
    items = AgendaEntrySerializer(
        many=True,
        help_text=_(
            "Items of the day in printed order: by start time (untimed slots last), then in "
            "the agenda's order. Sub-items are listed flat, with their parent's label."
        ),
    )


class AgendaVersionSerializer(serializers.Serializer):
    """A published version of an event's agenda, as it was published (never edited)."""

    version = serializers.IntegerField(help_text=_("Version number, from 1."))
    state = serializers.ChoiceField(
        choices=PUBLISHED_STATES, help_text=_("State in which the version was published.")
    )
    symbol = serializers.CharField(help_text=_("Symbol of the agenda document; or empty."))
    published_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When it was published; null when the source gives no date.")
    )
    title = serializers.CharField(help_text=_('Title, e.g. "Provisional agenda".'))
    event = AgendaEventSerializer(
        help_text=_("The event the agenda belongs to, as it stood when the version was published.")
    )
    days = AgendaDaySerializer(many=True, help_text=_("The agenda day by day."))

    def to_representation(self, instance):
        snapshot = instance.snapshot or {}
        event = dict(snapshot.get("event") or {})
        event["id"] = event.pop("key", None)
        return super().to_representation(
            {
                "version": instance.number,
                "state": instance.state,
                "symbol": instance.symbol,
                "published_at": instance.published_at,
                "title": snapshot.get("title", ""),
                "event": event,
                "days": agenda_days(snapshot),
            }
        )


def agenda_days(snapshot: dict) -> list[dict]:
    """A snapshot's items, one entry per time slot, grouped by day in printed order."""
    items = snapshot.get("items") or []
    labels = {item["key"]: item["label"] for item in items}
    entries = []
    for position, item in enumerate(items):
        base = {
            "key": item["key"],
            "label": item["label"],
            "number": item["number"],
            "sub_item": item.get("sub_item", ""),
            "parent": labels.get(item.get("parent_key")),
            "title": item["title"],
            "block_title": item.get("block_title", ""),
            "format": item.get("format", ""),
            "room": item.get("room", ""),
            "presenters": item.get("presenters") or [],
            "presenter_text": item.get("presenter_text", ""),
            "bullets": item.get("bullets") or [],
            "documents": item.get("documents") or [],
        }
        slots = item.get("slots") or [None]
        for slot_position, slot in enumerate(slots):
            slot = slot or {}
            day = datetime.date.fromisoformat(slot["day"]) if slot.get("day") else None
            start = _time(slot.get("start_time"))
            entry = {
                **base,
                "start_time": start,
                "end_time": _time(slot.get("end_time")),
                "continued": bool(slot.get("continued")),
                "note": slot.get("note", ""),
            }
            sort_key = (
                day is None,
                day or datetime.date.min,
                start is None,
                start or datetime.time.min,
                position,
                slot_position,
            )
            entries.append((sort_key, day, entry))
    entries.sort(key=lambda entry: entry[0])
    days: list[dict] = []
    for _sort_key, day, entry in entries:
        if not days or days[-1]["date"] != day:
            days.append(
                {
                    "date": day,
                    "weekday": WEEKDAYS[day.weekday()] if day else None,
                    "items": [],
                }
            )
        days[-1]["items"].append(entry)
    return days


def _time(value: str | None) -> datetime.time | None:
    return datetime.time.fromisoformat(value) if value else None
