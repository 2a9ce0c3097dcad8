"""Reusable reads of dialogues, sessions and agendas, with the prefetches their pages need."""

from django.db.models import Prefetch, QuerySet

from workshops.models import Workshop

from .models import AgendaItem, AgendaSlot, CouncilSession, Dialogue


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
