"""Domain actions on agendas: numbering, conflict checks, publication, versions and copies.

Every write goes through a function here (keyword-only, ``<entity>_<action>``); the admin calls
them and shows an ``AgendaError`` as a message or a form error, never re-checking a rule itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from workshops.models import Workshop

from .enums import AgendaState
from .models import Agenda, AgendaItem, AgendaSlot, AgendaVersion, CouncilSession, Meeting
from .selectors import agenda_items_in_order, agenda_snapshot, event_title

# --- Errors ------------------------------------------------------------------------------------


class AgendaError(Exception):
    """A domain rule refused an action on an agenda; ``messages`` are readable sentences."""

    def __init__(self, *messages: str):
        self.messages = [str(message) for message in messages]
        super().__init__(" ".join(self.messages))


class AgendaStateError(AgendaError):
    """The agenda's state does not allow the requested move."""


class AgendaClosedError(AgendaError):
    """A closed agenda is not edited any more."""


class AgendaConflictError(AgendaError):
    """The agenda has scheduling conflicts; ``conflicts`` lists them."""

    def __init__(self, conflicts: Sequence[AgendaConflict]):
        self.conflicts = list(conflicts)
        super().__init__(*(conflict.message for conflict in self.conflicts))


# --- Small helpers -----------------------------------------------------------------------------


def _day_text(day: dt.date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def _times_text(start: dt.time | None, end: dt.time | None) -> str:
    if start is None:
        return ""
    if end is None:
        return f"{start:%H.%M}"
    return f"{start:%H.%M}-{end:%H.%M}"


def _slot_text(day: dt.date, start: dt.time | None, end: dt.time | None) -> str:
    return f"{_day_text(day)} {_times_text(start, end)}".strip()


def _item_label(number: int | None, sub_item: str) -> str:
    if not number:
        return _("New item")
    return f"Item {number}({sub_item})" if sub_item else f"Item {number}"


def _locked_agenda(agenda: Agenda) -> Agenda:
    return Agenda.objects.select_for_update().get(pk=agenda.pk)


def agenda_check_editable(*, agenda: Agenda) -> None:
    """Raise ``AgendaClosedError`` when the agenda is closed: its items are final."""
    if agenda is not None and agenda.state == AgendaState.CLOSED:
        raise AgendaClosedError(
            _("%(agenda)s is closed: its items can no longer be changed.") % {"agenda": agenda}
        )


# --- Numbering ---------------------------------------------------------------------------------


def _letter(index: int) -> str:
    """a, b, … z, aa, ab, … for a 0-based index."""
    if index < 26:
        return chr(ord("a") + index)
    return chr(ord("a") + index // 26 - 1) + chr(ord("a") + index % 26)


def _ordered_items(agenda: Agenda) -> list[AgendaItem]:
    return list(
        AgendaItem.objects.filter(agenda=agenda).order_by("position", "number", "sub_item", "pk")
    )


@transaction.atomic
def agenda_renumber(*, agenda: Agenda) -> list[AgendaItem]:
    """Number main items 1..n by position and letter each one's sub-items a, b, c… by position.

    Only items whose number or letter changes are written, in two passes: first to temporary
    numbers above every number in use, then to their final numbers, so the unique constraint
    on (agenda, number, sub-item) never sees two equal rows, not even within one statement.
    """
    agenda = _locked_agenda(agenda)
    agenda_check_editable(agenda=agenda)
    items = _ordered_items(agenda)
    mains = [item for item in items if item.parent_id is None]
    sub_items = defaultdict(list)
    for item in items:
        if item.parent_id is not None:
            sub_items[item.parent_id].append(item)
    wanted = {}
    for number, main in enumerate(mains, start=1):
        wanted[main.pk] = (number, "")
        for index, sub_item in enumerate(sub_items[main.pk]):
            wanted[sub_item.pk] = (number, _letter(index))
    changed = [item for item in items if (item.number, item.sub_item) != wanted[item.pk]]
    if not changed:
        return items
    now = timezone.now()
    base = max(item.number for item in items) + 1
    for offset, item in enumerate(changed):
        item.number = base + offset
    AgendaItem.objects.bulk_update(changed, ["number"])
    for item in changed:
        item.number, item.sub_item = wanted[item.pk]
        item.updated_at = now
    bulk_update_with_history(changed, AgendaItem, ["number", "sub_item", "updated_at"])
    return items


@transaction.atomic
def agenda_item_move(*, item: AgendaItem, position: int) -> AgendaItem:
    """Move an item to ``position`` (1-based) among its siblings, then renumber the agenda.

    Siblings are the main items, or the sub-items of the same parent; a main item moves with
    its sub-items. Positions are rewritten 1..N in printed order (each main item followed by
    its sub-items), and numbers and letters follow from that order.
    """
    agenda = _locked_agenda(item.agenda)
    agenda_check_editable(agenda=agenda)
    items = _ordered_items(agenda)
    moving = next(each for each in items if each.pk == item.pk)
    siblings = [
        each for each in items if each.parent_id == moving.parent_id and each.pk != moving.pk
    ]
    index = min(max(int(position), 1), len(siblings) + 1) - 1
    siblings.insert(index, moving)
    mains = siblings if moving.parent_id is None else [e for e in items if e.parent_id is None]
    sub_items = defaultdict(list)
    for each in items:
        if each.parent_id is not None:
            sub_items[each.parent_id].append(each)
    if moving.parent_id is not None:
        sub_items[moving.parent_id] = siblings
    order = []
    for main in mains:
        order.append(main)
        order.extend(sub_items[main.pk])
    now = timezone.now()
    changed = []
    for new_position, each in enumerate(order, start=1):
        if each.position != new_position:
            each.position = new_position
            each.updated_at = now
            changed.append(each)
    if changed:
        bulk_update_with_history(changed, AgendaItem, ["position", "updated_at"])
    agenda_renumber(agenda=agenda)
    return AgendaItem.objects.get(pk=item.pk)


# --- Conflicts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedSlot:
    """A time slot as saved or as typed in a form; ``key`` is its pk or form prefix."""

    day: dt.date
    start_time: dt.time | None = None
    end_time: dt.time | None = None
    key: object = None

    @property
    def text(self) -> str:
        return _slot_text(self.day, self.start_time, self.end_time)

    def same_times(self, other: PlannedSlot) -> bool:
        return (self.day, self.start_time, self.end_time) == (
            other.day,
            other.start_time,
            other.end_time,
        )

    def overlaps(self, other: PlannedSlot) -> bool:
        """Whether two slots share a moment; a slot without start never overlaps, one without
        end is a point in time (inside a slot from its start, not at its end)."""
        if self.day != other.day or self.start_time is None or other.start_time is None:
            return False
        a0, a1 = self.start_time, self.end_time or self.start_time
        b0, b1 = other.start_time, other.end_time or other.start_time
        if a0 == a1 and b0 == b1:
            return a0 == b0
        if a0 == a1:
            return b0 <= a0 < b1
        if b0 == b1:
            return a0 <= b0 < a1
        return a0 < b1 and b0 < a1

    def within(self, other: PlannedSlot) -> bool:
        """Whether this (sub-item's) slot lies inside ``other`` (its parent's slot).

        A parent slot without start covers its whole day, one without end runs to the end of
        the day; a sub-item slot without start only needs to fall on the parent's day.
        """
        if self.day != other.day:
            return False
        if other.start_time is None or self.start_time is None:
            return True
        parent_end = other.end_time or dt.time.max
        end = self.end_time or self.start_time
        return other.start_time <= self.start_time and end <= parent_end


@dataclass
class PlannedItem:
    """An agenda item as saved or as being edited, reduced to what the conflict checks read.

    ``key`` is the item's pk (or a form prefix for a new item); ``parent_key`` the parent's pk.
    """

    key: object
    agenda_id: int | None
    number: int | None = None
    sub_item: str = ""
    parent_key: object = None
    room: object = None
    allow_overlap: bool = False
    presenters: list = field(default_factory=list)
    slots: list[PlannedSlot] = field(default_factory=list)
    position: int = 0
    event_text: str = ""

    @property
    def label(self) -> str:
        return _item_label(self.number, self.sub_item)

    @classmethod
    def from_item(
        cls,
        item: AgendaItem,
        *,
        key: object = None,
        presenters: Iterable | None = None,
        slots: Iterable[PlannedSlot] | None = None,
    ) -> PlannedItem:
        """From a saved item or a form's unsaved instance; presenters and slots default to the
        saved ones."""
        if presenters is None:
            presenters = item.presenters.all() if item.pk else []
        if slots is None:
            slots = (
                [
                    PlannedSlot(slot.day, slot.start_time, slot.end_time, slot.pk)
                    for slot in item.slots.all()
                ]
                if item.pk
                else []
            )
        return cls(
            key=key if key is not None else item.pk,
            agenda_id=item.agenda_id,
            number=item.number,
            sub_item=item.sub_item or "",
            parent_key=item.parent_id,
            room=item.room,
            allow_overlap=item.allow_overlap,
            presenters=list(presenters),
            slots=list(slots),
            position=item.position or 0,
        )


@dataclass(frozen=True)
class AgendaConflict:
    """One problem of an agenda's schedule, attached to the item (``key``) it is about.

    ``field`` is ``"slots"``, ``"room"`` or ``"presenters"``; ``slot`` the offending slot's key.
    """

    key: object
    field: str
    message: str
    slot: object = None

    def __str__(self) -> str:
        return self.message


def _related(a: PlannedItem, b: PlannedItem) -> bool:
    return (a.parent_key is not None and a.parent_key == b.key) or (
        b.parent_key is not None and b.parent_key == a.key
    )


def _saved_plan(agenda: Agenda) -> list[PlannedItem]:
    return [
        PlannedItem.from_item(item)
        for item in agenda_items_in_order(agenda_id=agenda.pk).select_related("room__venue")
    ]


def _other_agendas_plan(
    agenda: Agenda, *, days: set, room_ids: set, person_ids: set
) -> list[PlannedItem]:
    """Items of other agendas with a timed slot on one of ``days`` in one of the rooms or with
    one of the presenters, carrying only those slots."""
    if not days or not (room_ids or person_ids):
        return []
    slots = (
        AgendaSlot.objects.filter(day__in=days, start_time__isnull=False)
        .filter(Q(item__room_id__in=room_ids) | Q(item__presenters__in=person_ids))
        .exclude(item__agenda_id=agenda.pk)
        .select_related(
            "item__room",
            "item__agenda__council_session",
            "item__agenda__meeting",
            "item__agenda__workshop",
        )
        .prefetch_related("item__presenters")
        .distinct()
        .order_by("day", "start_time", "pk")
    )
    planned: dict[int, PlannedItem] = {}
    for slot in slots:
        item = slot.item
        if item.pk not in planned:
            planned[item.pk] = PlannedItem.from_item(item, slots=[])
            planned[item.pk].event_text = event_title(item.agenda.event)
        planned[item.pk].slots.append(
            PlannedSlot(slot.day, slot.start_time, slot.end_time, slot.pk)
        )
    return list(planned.values())


def agenda_conflicts(
    *,
    agenda: Agenda,
    items: Iterable[PlannedItem] | None = None,
    removed: Iterable[int] = (),
) -> list[AgendaConflict]:
    """The scheduling conflicts of an agenda, as saved or with some items as being edited.

    ``items`` (``PlannedItem``) replace the saved items of the same key (new ones are added),
    ``removed`` are pks of items about to be deleted; only the conflicts of the given items are
    then returned. The rules:

    * a slot outside the event's dates, or outside its venue's opening hours (the item room's
      venue, else the event's);
    * two items in one room at once, on any agenda, unless one is the other's parent, either is
      an intended parallel session, or both are on this agenda with the very same slot (a block
      printed under one time, such as items 1-3 of the Ninetieth Session);
    * a presenter in two items at once, on any agenda (same exceptions but parallel sessions);
    * a sub-item slot outside every slot of its parent (a parent without slots is not checked).
    """
    event = agenda.event
    own_event_text = event_title(event)
    removed = set(removed)
    plan = {planned.key: planned for planned in _saved_plan(agenda) if planned.key not in removed}
    if items is None:
        focus = set(plan)
    else:
        items = list(items)
        focus = {planned.key for planned in items}
        for planned in items:
            plan[planned.key] = planned
    own = sorted(plan.values(), key=lambda p: (p.position, p.number or 0, p.sub_item))
    order = {planned.key: index for index, planned in enumerate(own)}
    for planned in own:
        planned.event_text = own_event_text
    conflicts: list[AgendaConflict] = []
    seen = set()

    def add(conflict: AgendaConflict) -> None:
        if (conflict.key, conflict.message) not in seen:
            seen.add((conflict.key, conflict.message))
            conflicts.append(conflict)

    # (a) dates and opening hours
    start_date = getattr(event, "start_date", None)
    end_date = getattr(event, "end_date", None)
    event_venue = getattr(event, "venue", None)
    for planned in own:
        if planned.key not in focus:
            continue
        venue = planned.room.venue if planned.room is not None else event_venue
        for slot in planned.slots:
            if (start_date and slot.day < start_date) or (end_date and slot.day > end_date):
                add(
                    AgendaConflict(
                        planned.key,
                        "slots",
                        _("%(item)s: %(slot)s is outside the dates of %(event)s (%(dates)s).")
                        % {
                            "item": planned.label,
                            "slot": slot.text,
                            "event": own_event_text,
                            "dates": " - ".join(
                                _day_text(day) for day in (start_date, end_date) if day
                            ),
                        },
                        slot.key,
                    )
                )
            if venue is None or slot.start_time is None:
                continue
            end = slot.end_time or slot.start_time
            if (venue.opens_at and slot.start_time < venue.opens_at) or (
                venue.closes_at and end > venue.closes_at
            ):
                add(
                    AgendaConflict(
                        planned.key,
                        "slots",
                        _(
                            "%(item)s: %(slot)s is outside the opening hours of %(venue)s "
                            "(%(hours)s)."
                        )
                        % {
                            "item": planned.label,
                            "slot": slot.text,
                            "venue": venue.name,
                            "hours": _("%(opens)s to %(closes)s")
                            % {
                                "opens": f"{venue.opens_at:%H.%M}" if venue.opens_at else "…",
                                "closes": f"{venue.closes_at:%H.%M}" if venue.closes_at else "…",
                            },
                        },
                        slot.key,
                    )
                )

    # (b), (c) rooms and presenters, on this agenda and across every other one
    focused = [planned for planned in own if planned.key in focus]
    others = _other_agendas_plan(
        agenda,
        days={slot.day for planned in focused for slot in planned.slots if slot.start_time},
        room_ids={planned.room.pk for planned in focused if planned.room is not None},
        person_ids={person.pk for planned in focused for person in planned.presenters},
    )
    pairs = []
    for index, a in enumerate(own):
        for b in own[index + 1 :]:
            if a.key in focus or b.key in focus:
                # the later item (or the one being edited) is the one the conflict is about
                if b.key in focus and (a.key not in focus or order[b.key] >= order[a.key]):
                    pairs.append((b, a, True))
                else:
                    pairs.append((a, b, True))
    pairs.extend((a, b, False) for a in focused for b in others)
    for subject, other, same_agenda in pairs:
        if _related(subject, other):
            continue
        same_room = (
            subject.room is not None and other.room is not None and subject.room.pk == other.room.pk
        )
        room_clash = same_room and not (subject.allow_overlap or other.allow_overlap)
        shared = {p.pk: p for p in subject.presenters} if other.presenters else {}
        shared_people = [p for p in other.presenters if p.pk in shared]
        if not (room_clash or shared_people):
            continue
        for slot in subject.slots:
            for other_slot in other.slots:
                if not slot.overlaps(other_slot):
                    continue
                if same_agenda and slot.same_times(other_slot):
                    continue  # one block under one time, as printed
                if room_clash:
                    add(
                        AgendaConflict(
                            subject.key,
                            "room",
                            _("%(item)s overlaps %(other)s of %(event)s in %(room)s (%(slot)s).")
                            % {
                                "item": subject.label,
                                "other": other.label,
                                "event": other.event_text,
                                "room": subject.room.name,
                                "slot": slot.text,
                            },
                            slot.key,
                        )
                    )
                for person in shared_people:
                    add(
                        AgendaConflict(
                            subject.key,
                            "presenters",
                            _(
                                "%(item)s: %(person)s also presents %(other)s of %(event)s "
                                "at the same time (%(slot)s)."
                            )
                            % {
                                "item": subject.label,
                                "person": person,
                                "other": other.label,
                                "event": other.event_text,
                                "slot": slot.text,
                            },
                            slot.key,
                        )
                    )

    # (d) sub-items inside their parent's slots
    for planned in focused:
        parent = plan.get(planned.parent_key) if planned.parent_key is not None else None
        if parent is None or not parent.slots:
            continue
        for slot in planned.slots:
            if not any(slot.within(parent_slot) for parent_slot in parent.slots):
                add(
                    AgendaConflict(
                        planned.key,
                        "slots",
                        _("%(item)s: %(slot)s is outside the times of its parent %(parent)s.")
                        % {"item": planned.label, "slot": slot.text, "parent": parent.label},
                        slot.key,
                    )
                )
    return conflicts


# --- Lifecycle ---------------------------------------------------------------------------------


def _refuse_move(agenda: Agenda, new_state: str, action: str) -> None:
    if new_state not in AgendaState.moves[agenda.state]:
        raise AgendaStateError(
            _("%(agenda)s is %(state)s: it cannot be %(action)s.")
            % {
                "agenda": agenda,
                "state": AgendaState(agenda.state).label.lower(),
                "action": action,
            }
        )


def _latest_version(agenda: Agenda) -> AgendaVersion | None:
    return agenda.versions.order_by("-number").first()


def _freeze(agenda: Agenda, *, state: str, by, symbol: str = "") -> AgendaVersion:
    latest = _latest_version(agenda)
    return AgendaVersion.objects.create(
        agenda=agenda,
        number=(latest.number if latest else 0) + 1,
        state=state,
        symbol=symbol,
        published_at=timezone.now(),
        published_by=by if getattr(by, "pk", None) else None,
        snapshot=agenda_snapshot(agenda),
    )


def _queue_agenda_change_notice(version: AgendaVersion) -> None:
    """After commit, tell the event's people what changed since the previous published version
    (``recommendations.event_reminders.agenda_change_notify``; the reminder sweep catches up
    when the broker is down)."""
    from config.queue import enqueue_on_commit
    from recommendations.tasks import notify_agenda_change_task

    enqueue_on_commit(notify_agenda_change_task, version_id=version.pk)


def _set_state(agenda: Agenda, state: str, by) -> None:
    agenda.state = state
    if getattr(by, "pk", None):
        agenda._history_user = by
    agenda.save(update_fields=["state", "updated_at"])


def _refuse_unpublishable(agenda: Agenda) -> None:
    if not agenda.items.exists():
        raise AgendaError(
            _("%(agenda)s has no items: there is nothing to publish.") % {"agenda": agenda}
        )
    conflicts = agenda_conflicts(agenda=agenda)
    if conflicts:
        raise AgendaConflictError(conflicts)


@transaction.atomic
def agenda_publish(*, agenda: Agenda, by, symbol: str = "") -> AgendaVersion:
    """Publish a draft or provisional agenda as the next provisional version.

    Refused for an agenda without items or with conflicts. Publishing again an agenda that has
    not changed since its last provisional version returns that version and creates nothing.
    """
    agenda = _locked_agenda(agenda)
    _refuse_move(agenda, AgendaState.PROVISIONAL, _("published"))
    _refuse_unpublishable(agenda)
    latest = _latest_version(agenda)
    if (
        agenda.state == AgendaState.PROVISIONAL
        and latest is not None
        and latest.state == AgendaState.PROVISIONAL
        and (not symbol or symbol == latest.symbol)
        and latest.snapshot == agenda_snapshot(agenda)
    ):
        return latest
    if agenda.state != AgendaState.PROVISIONAL:
        _set_state(agenda, AgendaState.PROVISIONAL, by)
    version = _freeze(agenda, state=AgendaState.PROVISIONAL, by=by, symbol=symbol)
    if latest is not None and latest.snapshot != version.snapshot:
        _queue_agenda_change_notice(version)
    return version


@transaction.atomic
def agenda_adopt(*, agenda: Agenda, by) -> AgendaVersion:
    """Adopt a provisional agenda and freeze it as a version; adopting twice changes nothing."""
    agenda = _locked_agenda(agenda)
    if agenda.state == AgendaState.ADOPTED:
        latest = _latest_version(agenda)
        if latest is not None and latest.state == AgendaState.ADOPTED:
            return latest
    _refuse_move(agenda, AgendaState.ADOPTED, _("adopted"))
    _refuse_unpublishable(agenda)
    _set_state(agenda, AgendaState.ADOPTED, by)
    latest = _latest_version(agenda)
    version = _freeze(
        agenda, state=AgendaState.ADOPTED, by=by, symbol=latest.symbol if latest else ""
    )
    if latest is not None and latest.snapshot != version.snapshot:
        _queue_agenda_change_notice(version)
    return version


@transaction.atomic
def agenda_close(*, agenda: Agenda, by) -> Agenda:
    """Close an adopted agenda: its items are final. Closing twice changes nothing."""
    agenda = _locked_agenda(agenda)
    if agenda.state == AgendaState.CLOSED:
        return agenda
    _refuse_move(agenda, AgendaState.CLOSED, _("closed"))
    _set_state(agenda, AgendaState.CLOSED, by)
    return agenda


# --- Differences between versions --------------------------------------------------------------


class AgendaChangeKind:
    ADDED = "added"
    REMOVED = "removed"
    MOVED = "moved"
    RENAMED = "renamed"
    RETIMED = "retimed"


@dataclass(frozen=True)
class AgendaChange:
    """One difference of an item between two snapshots; ``old``/``new`` are readable texts."""

    kind: str
    key: object
    label: str
    old: str = ""
    new: str = ""

    @property
    def text(self) -> str:
        if self.kind == AgendaChangeKind.ADDED:
            return _("%(label)s added: %(title)s") % {"label": self.label, "title": self.new}
        if self.kind == AgendaChangeKind.REMOVED:
            return _("%(label)s removed: %(title)s") % {"label": self.label, "title": self.old}
        if self.kind == AgendaChangeKind.MOVED:
            return _("%(old)s moved: now %(new)s") % {"old": self.old, "new": self.new}
        if self.kind == AgendaChangeKind.RENAMED:
            return _('%(label)s renamed: "%(old)s" → "%(new)s"') % {
                "label": self.label,
                "old": self.old,
                "new": self.new,
            }
        return _("%(label)s retimed: %(old)s → %(new)s") % {
            "label": self.label,
            "old": self.old,
            "new": self.new,
        }

    def __str__(self) -> str:
        return self.text


def _snapshot_slots(item: dict) -> list[tuple]:
    def time_of(value):
        return dt.time.fromisoformat(value) if value else None

    return [
        (dt.date.fromisoformat(slot["day"]), time_of(slot["start_time"]), time_of(slot["end_time"]))
        for slot in item.get("slots", [])
    ]


def _slots_text(slots: list[tuple], *, with_days: bool = True) -> str:
    if not slots:
        return _("not scheduled")
    if with_days:
        return "; ".join(_slot_text(*slot) for slot in slots)
    return "; ".join(_times_text(start, end) or _("no time") for _day, start, end in slots)


def snapshot_item_times(item: dict) -> str:
    """An item's slots in a snapshot, as readable text."""
    return _slots_text(_snapshot_slots(item))


def agenda_snapshots_diff(*, old: dict, new: dict) -> list[AgendaChange]:
    """What changed, item by item (matched by ``key``), from one snapshot to another."""
    old_items = {item["key"]: item for item in old.get("items", [])}
    new_items = {item["key"]: item for item in new.get("items", [])}
    changes = []
    for key, item in new_items.items():
        before = old_items.get(key)
        if before is None:
            changes.append(
                AgendaChange(AgendaChangeKind.ADDED, key, item["label"], new=item["title"])
            )
            continue
        if before["label"] != item["label"]:
            changes.append(
                AgendaChange(
                    AgendaChangeKind.MOVED,
                    key,
                    item["label"],
                    old=before["label"],
                    new=item["label"],
                )
            )
        if before["title"] != item["title"]:
            changes.append(
                AgendaChange(
                    AgendaChangeKind.RENAMED,
                    key,
                    item["label"],
                    old=before["title"],
                    new=item["title"],
                )
            )
        old_slots, new_slots = _snapshot_slots(before), _snapshot_slots(item)
        if old_slots != new_slots:
            same_days = len(old_slots) == len(new_slots) and all(
                a[0] == b[0] for a, b in zip(old_slots, new_slots, strict=True)
            )
            changes.append(
                AgendaChange(
                    AgendaChangeKind.RETIMED,
                    key,
                    item["label"],
                    old=_slots_text(old_slots),
                    new=_slots_text(new_slots, with_days=not same_days),
                )
            )
    for key, item in old_items.items():
        if key not in new_items:
            changes.append(
                AgendaChange(AgendaChangeKind.REMOVED, key, item["label"], old=item["title"])
            )
    return changes


def agenda_versions_diff(*, old: AgendaVersion, new: AgendaVersion) -> list[AgendaChange]:
    return agenda_snapshots_diff(old=old.snapshot, new=new.snapshot)


def agenda_changes_since_published(*, agenda: Agenda) -> list[AgendaChange] | None:
    """Changes from the latest published version to the items as they stand; None when the
    agenda was never published."""
    latest = _latest_version(agenda)
    if latest is None:
        return None
    return agenda_snapshots_diff(old=latest.snapshot, new=agenda_snapshot(agenda))


def agenda_changes_text(changes: Iterable[AgendaChange]) -> str:
    """One readable line per change."""
    return "\n".join(change.text for change in changes)


# --- Copies ------------------------------------------------------------------------------------


def _event_filter(event) -> dict:
    if isinstance(event, CouncilSession):
        return {"council_session": event}
    if isinstance(event, Meeting):
        return {"meeting": event}
    if isinstance(event, Workshop):
        return {"workshop": event}
    raise AgendaError(_("An agenda belongs to a Council session, a meeting or a workshop."))


def agenda_next_event(*, agenda: Agenda):
    """The event of the next year an agenda could be copied to, or None.

    For a Council session, the next session of the same body by number; for a meeting or a
    workshop, the first one of the same kind in the next year (by dialogue, else by date).
    """
    event = agenda.event
    if isinstance(event, CouncilSession):
        return (
            CouncilSession.objects.filter(body=event.body, number__gt=event.number)
            .order_by("number")
            .first()
        )
    model = type(event)
    year = None
    if event.dialogue_id:
        year = event.dialogue.year
        candidates = model.objects.filter(kind=event.kind, dialogue__year=year + 1)
        if candidates.exists():
            return candidates.order_by("start_date", "pk").first()
    if event.start_date:
        year = event.start_date.year
        return (
            model.objects.filter(kind=event.kind, start_date__year=year + 1)
            .order_by("start_date", "pk")
            .first()
        )
    return None


@transaction.atomic
def agenda_copy_to(*, agenda: Agenda, event, by) -> Agenda:
    """Copy an agenda's skeleton into a new draft agenda of ``event`` (which has none yet).

    Numbers, titles, block headings, formats, sub-topics, presenters and rooms are copied;
    slots move by the difference between the two events' first days (when either event has no
    first day, the slots are left out). Documents, notes and the dialogue stay behind.
    """
    target = _event_filter(event)
    if Agenda.objects.filter(**target).exists():
        raise AgendaError(_("%(event)s already has an agenda.") % {"event": event_title(event)})
    source_event = agenda.event
    shift = None
    if getattr(source_event, "start_date", None) and getattr(event, "start_date", None):
        shift = event.start_date - source_event.start_date
    copy = Agenda(**target, title=agenda.title, state=AgendaState.DRAFT, copied_from=agenda)
    if getattr(by, "pk", None):
        copy._history_user = by
    copy.save()
    items = list(agenda_items_in_order(agenda_id=agenda.pk))
    copies: dict[int, AgendaItem] = {}
    for item in sorted(items, key=lambda each: each.parent_id is not None):
        new_item = AgendaItem(
            agenda=copy,
            parent=copies.get(item.parent_id),
            number=item.number,
            sub_item=item.sub_item,
            position=item.position,
            title=item.title,
            block_title=item.block_title,
            format=item.format,
            presenter_text=item.presenter_text,
            bullets=list(item.bullets or []),
            room=item.room,
            allow_overlap=item.allow_overlap,
        )
        if getattr(by, "pk", None):
            new_item._history_user = by
        new_item.save()
        copies[item.pk] = new_item
        presenters = list(item.presenters.all())
        if presenters:
            new_item.presenters.set(presenters)
        if shift is not None:
            AgendaSlot.objects.bulk_create(
                AgendaSlot(
                    item=new_item,
                    day=slot.day + shift,
                    start_time=slot.start_time,
                    end_time=slot.end_time,
                    continued=slot.continued,
                    note=slot.note,
                    position=slot.position,
                )
                for slot in item.slots.all()
            )
    return copy
