"""Reusable reads of dialogues, sessions and agendas, with the prefetches their pages need."""

from django.db.models import Prefetch, QuerySet

from workshops.models import Workshop

from .models import Agenda, AgendaItem, AgendaSlot, CouncilSession, Dialogue, Meeting


def dialogues_with_events() -> QuerySet[Dialogue]:
    """Every dialogue, newest first, with its Council sessions and inter-sessional workshops."""
    return Dialogue.objects.prefetch_related(
        Prefetch(
            "council_sessions",
            queryset=CouncilSession.objects.select_related("venue", "room"),
        ),
        Prefetch(
            "workshops",
            queryset=Workshop.objects.select_related("dialogue").order_by("start_date", "title"),
        ),
    ).order_by("-year")


def agenda_items_in_order(*, agenda_id: int) -> QuerySet[AgendaItem]:
    """An agenda's items in printed order, with their slots and presenters (a fixed query count)."""
    return (
        AgendaItem.objects.filter(agenda_id=agenda_id)
        .select_related("room", "parent")
        .prefetch_related(
            Prefetch("slots", queryset=AgendaSlot.objects.order_by("day", "position")),
            "presenters",
        )
        .order_by("position", "number", "sub_item")
    )


# -- Events: Council sessions, meetings (IDM sittings, consultations) and workshops share one
# public key, "council-session-12", "meeting-3", "workshop-7", used in URLs and the API.
EVENT_KEY_PREFIXES = {
    "council-session": CouncilSession,
    "meeting": Meeting,
    "workshop": Workshop,
}


def event_key(event) -> str:
    return event_key_for(type(event), event.pk)


def event_key_for(model, pk: int | None) -> str | None:
    """The key of the event of ``model`` with this primary key, without loading it."""
    if pk is None:
        return None
    for prefix, event_model in EVENT_KEY_PREFIXES.items():
        if issubclass(model, event_model):
            return f"{prefix}-{pk}"
    raise TypeError(f"not an event model: {model!r}")


def event_from_key(key: str):
    """The Council session, meeting or workshop a key names, or None."""
    prefix, _, pk = str(key).rpartition("-")
    model = EVENT_KEY_PREFIXES.get(prefix)
    if model is None or not pk.isdigit():
        return None
    return model.objects.filter(pk=int(pk)).first()


def event_title(event) -> str:
    if isinstance(event, Workshop):
        return event.display_title
    if isinstance(event, CouncilSession):
        return str(event)
    return event.title


def agenda_snapshot(agenda: Agenda) -> dict:
    """The agenda as it stands, as plain data: what a published version freezes.

    Items keep their database id as ``key`` so that two versions can be compared item by item.
    """
    event = agenda.event
    venue = getattr(event, "venue", None)
    room = getattr(event, "room", None)
    items = []
    for item in agenda_items_in_order(agenda_id=agenda.pk).prefetch_related("documents"):
        items.append(
            {
                "key": item.pk,
                "parent_key": item.parent_id,
                "number": item.number,
                "sub_item": item.sub_item,
                "label": item.full_label,
                "title": item.title,
                "block_title": item.block_title,
                "format": item.format,
                "presenters": [
                    {"id": p.pk, "name": str(p), "title": p.title} for p in item.presenters.all()
                ],
                "presenter_text": item.presenter_text,
                "bullets": list(item.bullets or []),
                "room": str(item.room) if item.room else "",
                "documents": [
                    {"id": d.pk, "symbol": d.symbol or "", "title": d.title}
                    for d in item.documents.all()
                ],
                "slots": [
                    {
                        "day": slot.day.isoformat(),
                        "start_time": slot.start_time.strftime("%H:%M")
                        if slot.start_time
                        else None,
                        "end_time": slot.end_time.strftime("%H:%M") if slot.end_time else None,
                        "continued": slot.continued,
                        "note": slot.note,
                    }
                    for slot in item.slots.all()
                ],
            }
        )
    return {
        "title": str(agenda.title),
        "event": {
            "key": event_key(event),
            "title": event_title(event),
            "start_date": event.start_date.isoformat() if event.start_date else None,
            "end_date": event.end_date.isoformat() if event.end_date else None,
            "venue": str(venue) if venue else "",
            "room": room.name if room else "",
        },
        "items": items,
    }
