"""CSV import of agenda items: the file ``idm:agenda-export`` writes, read back into an agenda.

``agenda_items_import_plan`` reads a file and says, row by row, what would be created or updated
and what is wrong with it (a dry run that writes nothing). ``agenda_items_import`` applies a plan
without errors in one transaction: items are matched by number and letter, numbers are kept from
the file (validated, not renumbered), slots are replaced by the file's, and the whole import is
refused when the agenda is closed, when any row has an error or when the result would have
scheduling conflicts (``idm.services.agenda_conflicts``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from stakeholders.models import Person

from .models import Agenda, AgendaItem, AgendaSlot, Room
from .outputs import AGENDA_COLUMNS
from .services import (
    AgendaConflict,
    AgendaError,
    PlannedItem,
    PlannedSlot,
    agenda_check_editable,
    agenda_conflicts,
)

HEADERS = dict(AGENDA_COLUMNS)  # key → header, as the export writes it
REQUIRED = ("number", "sub_item", "title", "day", "start", "end")
MAX_ROWS = 1000
SUB_ITEM_LETTER = re.compile(r"^[a-z]{1,2}\Z")
SESSION = re.compile(
    r"^(?P<day>\S+)(?:\s+(?P<start>[0-9.:]+)(?:\s*-\s*(?P<end>[0-9.:]+))?)?"
    r"(?P<continued>\s+\(cont'd\))?$"
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AgendaImportError(AgendaError):
    """The import was refused; ``plan`` says why, row by row."""

    def __init__(self, plan: ImportPlan):
        self.plan = plan
        super().__init__(*plan.problems)


@dataclass
class ImportSlot:
    day: dt.date
    start_time: dt.time | None = None
    end_time: dt.time | None = None
    continued: bool = False

    @property
    def text(self) -> str:
        times = ""
        if self.start_time:
            times = f"{self.start_time:%H.%M}"
            if self.end_time:
                times += f" - {self.end_time:%H.%M}"
        return f"{self.day.isoformat()} {times}".strip() + (" (cont'd)" if self.continued else "")


@dataclass
class ImportRow:
    """One line of the file: what it says, and what the import would do with it."""

    line: int
    number: int | None = None
    sub_item: str = ""
    title: str = ""
    block_title: str = ""
    room_text: str = ""
    presenters_text: str = ""
    bullets: list[str] = field(default_factory=list)
    slots: list[ImportSlot] = field(default_factory=list)
    room: Room | None = None
    presenters: list[Person] = field(default_factory=list)
    item: AgendaItem | None = None  # the item it updates (once imported, the item saved)
    is_new: bool = True
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> object:
        return self.item.pk if self.item is not None else f"row-{self.line}"

    @property
    def label(self) -> str:
        if self.number is None:
            return "?"
        return f"Item {self.number}({self.sub_item})" if self.sub_item else f"Item {self.number}"

    @property
    def action(self) -> str:
        return _("create") if self.is_new else _("update")

    @property
    def times(self) -> str:
        return "; ".join(slot.text for slot in self.slots)


@dataclass
class ImportPlan:
    agenda: Agenda
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # about the file or the agenda as a whole
    conflicts: list[AgendaConflict] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [
            *self.errors,
            *(f"{_('Line')} {row.line}: {error}" for row in self.rows for error in row.errors),
            *(conflict.message for conflict in self.conflicts),
        ]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.problems

    @property
    def created(self) -> int:
        return sum(1 for row in self.rows if row.is_new)

    @property
    def updated(self) -> int:
        return sum(1 for row in self.rows if not row.is_new)

    def conflicts_of(self, row: ImportRow) -> list[str]:
        return [conflict.message for conflict in self.conflicts if conflict.key == row.key]


# --- Reading cells ----------------------------------------------------------------------------


def _cell(record: dict, key: str) -> str:
    """A cell as the export wrote it, without the quote that keeps a formula from running."""
    text = (record.get(HEADERS[key]) or "").strip()
    if text[:1] == "'" and text[1:2] in FORMULA_STARTS:
        text = text[1:]
    return text


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()] if text else []


def _time(text: str) -> dt.time:
    """ "10:00" (as exported) or "10.00" (as printed)."""
    match = re.fullmatch(r"(\d{1,2})[:.](\d{2})", text.strip())
    if not match:
        raise ValueError(text)
    return dt.time(int(match[1]), int(match[2]))


def _slot(day_text: str, start_text: str, end_text: str, continued: bool, errors: list[str]):
    try:
        day = dt.date.fromisoformat(day_text)
    except ValueError:
        errors.append(_('Bad day "%(day)s": write it as 2005-11-29.') % {"day": day_text})
        return None
    start = end = None
    for name, text in (("start", start_text), ("end", end_text)):
        if not text:
            continue
        try:
            value = _time(text)
        except ValueError:
            errors.append(
                _('Bad %(which)s time "%(time)s": write it as 10:00.')
                % {"which": _("start") if name == "start" else _("end"), "time": text}
            )
            return None
        if name == "start":
            start = value
        else:
            end = value
    if end is not None and start is None:
        errors.append(_("%(day)s: an end time needs a start time.") % {"day": day_text})
        return None
    if end is not None and end <= start:
        errors.append(
            _("%(day)s: the end (%(end)s) is not after the start (%(start)s).")
            % {"day": day_text, "end": f"{end:%H.%M}", "start": f"{start:%H.%M}"}
        )
        return None
    return ImportSlot(day, start, end, continued)


def _slots(record: dict, errors: list[str]) -> list[ImportSlot]:
    """All the sessions of a row; the Day, Start and End columns win for the first one, so an
    officer may change a time there without touching "All sessions"."""
    slots: list[ImportSlot] = []
    for text in _list(_cell(record, "sessions")):
        match = SESSION.match(text)
        if not match:
            errors.append(_('Bad session "%(text)s".') % {"text": text})
            continue
        slot = _slot(
            match["day"], match["start"] or "", match["end"] or "", bool(match["continued"]), errors
        )
        if slot is not None:
            slots.append(slot)
    day, start, end = _cell(record, "day"), _cell(record, "start"), _cell(record, "end")
    if day or start or end:
        if not day:
            errors.append(_("A start or end time needs a day."))
            return slots
        first = _slot(day, start, end, slots[0].continued if slots else False, errors)
        if first is not None:
            slots[:1] = [first]
    return slots


# --- Matching names ---------------------------------------------------------------------------


def _rooms() -> dict[str, Room]:
    """Rooms by the text the export writes (``str(room)``, "Room, Venue") and by name alone when
    only one room has it."""
    rooms = list(Room.objects.select_related("venue"))
    by_text = {str(room): room for room in rooms}
    names: dict[str, list[Room]] = {}
    for room in rooms:
        names.setdefault(room.name, []).append(room)
    for name, same in names.items():
        if len(same) == 1:
            by_text.setdefault(name, same[0])
    return by_text


def _name_candidates(entry: str) -> set[str]:
    """What a "Mr. Name Surname, Title" entry may call a person: its part before the first
    comma, with or without the words in front (an honorific)."""
    name = entry.split(",")[0].strip()
    words = name.split()
    return {" ".join(words[index:]) for index in range(min(len(words), 3))} - {""}


def _people(rows_texts: list[str]) -> dict[str, list[Person]]:
    """People who may be meant by any presenter entry, by their name and their printed name."""
    wanted = set()
    for text in rows_texts:
        for entry in _list(text):
            wanted |= _name_candidates(entry)
    by_name: dict[str, list[Person]] = {}
    if not wanted:
        return by_name
    for person in Person.objects.filter(name__in=wanted).order_by("pk"):
        for text in {person.name, str(person)}:
            by_name.setdefault(text, []).append(person)
    return by_name


def _presenters(text: str, people: dict[str, list[Person]], errors: list[str]) -> list[Person]:
    found: list[Person] = []
    for entry in _list(text):
        name = entry.split(",")[0].strip()
        candidates = sorted(_name_candidates(entry), key=len, reverse=True)
        matches = people.get(name) or next((people[c] for c in candidates if c in people), [])
        if not matches:
            errors.append(_('Unknown presenter "%(name)s": add the person first.') % {"name": name})
        elif len(matches) > 1:
            errors.append(
                _('"%(name)s" could be %(count)s people: link the presenter in the admin.')
                % {"name": name, "count": len(matches)}
            )
        elif matches[0] not in found:
            found.append(matches[0])
    return found


# --- The plan ---------------------------------------------------------------------------------


def _read(content: str | bytes) -> tuple[list[dict], list[str]]:
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return [], [_("The file is not UTF-8 text: save it as CSV (UTF-8).")]
    content = content.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(content))
    headers = [header.strip() for header in reader.fieldnames or []]
    reader.fieldnames = headers
    missing = [HEADERS[key] for key in REQUIRED if HEADERS[key] not in headers]
    if missing:
        return [], [
            _("The file lacks the columns %(columns)s: use the agenda's CSV export as a model.")
            % {"columns": ", ".join(missing)}
        ]
    try:
        records = list(reader)
    except csv.Error as error:
        return [], [_("The file is not readable as CSV: %(error)s") % {"error": error}]
    if len(records) > MAX_ROWS:
        return [], [_("At most %(count)s rows at a time.") % {"count": MAX_ROWS}]
    if not records:
        return [], [_("The file has no rows.")]
    return records, []


def agenda_items_import_plan(*, agenda: Agenda, content: str | bytes) -> ImportPlan:
    """What importing ``content`` into ``agenda`` would do, row by row; writes nothing.

    Rows are matched with the agenda's items by number and letter (a match is updated, the rest
    created); items not in the file are left as they are. Row errors: an unreadable day or time,
    an end before its start, an unknown room or presenter, a missing title, a bad number or
    letter, a number and letter given twice, a sub-item whose main item is neither in the file
    nor on the agenda. Without row errors, the result is checked for scheduling conflicts.
    """
    plan = ImportPlan(agenda=agenda)
    try:
        agenda_check_editable(agenda=agenda)
    except AgendaError as error:
        plan.errors.extend(error.messages)
        return plan
    records, read_errors = _read(content)
    plan.errors.extend(read_errors)
    if not records:
        return plan
    existing = {
        (item.number, item.sub_item): item
        for item in AgendaItem.objects.filter(agenda=agenda).select_related("room")
    }
    rooms = _rooms()
    people = _people([_cell(record, "presenters") for record in records])
    seen: dict[tuple, int] = {}
    for line, record in enumerate(records, start=2):  # line 1 is the header
        row = ImportRow(line=line)
        plan.rows.append(row)
        number_text = _cell(record, "number")
        if number_text.isascii() and number_text.isdigit() and 1 <= int(number_text) <= 32767:
            row.number = int(number_text)
        else:
            row.errors.append(_('Bad item number "%(number)s".') % {"number": number_text})
        row.sub_item = _cell(record, "sub_item").strip("()").lower()
        if row.sub_item and not SUB_ITEM_LETTER.match(row.sub_item):
            row.errors.append(_('Bad sub-item letter "%(letter)s".') % {"letter": row.sub_item})
        row.title = _cell(record, "title")
        if not row.title:
            row.errors.append(_("An agenda item needs a title."))
        row.block_title = _cell(record, "block_title")
        row.bullets = _list(_cell(record, "bullets"))
        row.room_text = _cell(record, "room")
        if row.room_text:
            row.room = rooms.get(row.room_text)
            if row.room is None:
                row.errors.append(_('Unknown room "%(room)s".') % {"room": row.room_text})
        row.presenters_text = _cell(record, "presenters")
        row.presenters = _presenters(row.presenters_text, people, row.errors)
        row.slots = _slots(record, row.errors)
        if row.number is None:
            continue
        identity = (row.number, row.sub_item)
        if identity in seen:
            row.errors.append(
                _("%(label)s is already on line %(line)s.")
                % {"label": row.label, "line": seen[identity]}
            )
            continue
        seen[identity] = line
        row.item = existing.get(identity)
        row.is_new = row.item is None
    main_keys = {
        row.number: row.key for row in plan.rows if row.number is not None and not row.sub_item
    }
    for row in plan.rows:
        if row.sub_item and row.number is not None and row.number not in main_keys:
            parent = existing.get((row.number, ""))
            if parent is None:
                row.errors.append(
                    _("%(label)s is a sub-item without its main item %(number)s.")
                    % {"label": row.label, "number": row.number}
                )
    if not plan.problems:
        plan.conflicts = agenda_conflicts(agenda=agenda, items=_planned(plan, main_keys, existing))
    return plan


def _parent_key(row: ImportRow, main_keys: dict, existing: dict) -> object:
    if not row.sub_item:
        return None
    if row.number in main_keys:
        return main_keys[row.number]
    return existing[(row.number, "")].pk


def _planned(plan: ImportPlan, main_keys: dict, existing: dict) -> list[PlannedItem]:
    return [
        PlannedItem(
            key=row.key,
            agenda_id=plan.agenda.pk,
            number=row.number,
            sub_item=row.sub_item,
            parent_key=_parent_key(row, main_keys, existing),
            room=row.room,
            allow_overlap=row.item.allow_overlap if row.item is not None else False,
            presenters=row.presenters,
            slots=[
                PlannedSlot(slot.day, slot.start_time, slot.end_time, f"{row.key}-{index}")
                for index, slot in enumerate(row.slots)
            ],
            position=position,
        )
        for position, row in enumerate(plan.rows, start=1)
    ]


def _presenter_text(row: ImportRow) -> str:
    """The text as typed, unless it is what the linked people print anyway."""
    printed = "; ".join(person.display_with_title for person in row.presenters)
    return "" if row.presenters_text == printed else row.presenters_text


@transaction.atomic
def agenda_items_import(*, agenda: Agenda, content: str | bytes, by) -> ImportPlan:
    """Apply the file to the agenda, all rows or none (``AgendaImportError`` with the plan)."""
    agenda = Agenda.objects.select_for_update().get(pk=agenda.pk)
    plan = agenda_items_import_plan(agenda=agenda, content=content)
    if not plan.ok:
        if not plan.problems:
            plan.errors.append(_("The file has no rows."))
        raise AgendaImportError(plan)
    user = by if getattr(by, "pk", None) else None
    now = timezone.now()
    saved: list[AgendaItem] = []
    parents: dict[int, AgendaItem] = {}
    ordered = sorted(
        enumerate(plan.rows, start=1), key=lambda pair: bool(pair[1].sub_item)
    )  # main items first, so sub-items find their parent
    for position, row in ordered:
        item = row.item or AgendaItem(agenda=agenda)
        if row.sub_item:
            item.parent = parents.get(row.number) or AgendaItem.objects.get(
                agenda=agenda, number=row.number, sub_item=""
            )
        else:
            item.parent = None
        item.number = row.number
        item.sub_item = row.sub_item
        item.position = position
        item.title = row.title
        item.block_title = row.block_title
        item.room = row.room
        item.presenter_text = _presenter_text(row)
        item.bullets = row.bullets
        item.updated_at = now
        if user is not None:
            item._history_user = user
        item.save()
        if not row.sub_item:
            parents[row.number] = item
        item.presenters.set(row.presenters)
        saved.append(item)
        row.item = item
    AgendaSlot.objects.filter(item__in=saved).delete()
    AgendaSlot.objects.bulk_create(
        AgendaSlot(
            item=row.item,
            day=slot.day,
            start_time=slot.start_time,
            end_time=slot.end_time,
            continued=slot.continued,
            position=index,
        )
        for row in plan.rows
        for index, slot in enumerate(row.slots)
    )
    return plan
