"""What a published agenda becomes: the printed page, a PDF, iCalendar feeds and spreadsheets.

Every builder takes plain data (a published version's ``snapshot``, shaped by
``idm.selectors.agenda_snapshot``) or an already-fetched queryset and returns text or bytes; none
of them queries the database, so a frozen version always gives the same output.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import dateformat
from django.utils.translation import gettext as _
from icalendar import Calendar, Event
from openpyxl import Workbook

from workshops.enums import WorkshopStatus

from .enums import MeetingStatus

CALENDAR_DOMAIN = "idm-secretariat"
PRODID = "-//IOM International Dialogue on Migration//idm-secretariat//EN"
# A slot with a start time and no end time (the Friday "10.00 Item 6: General Debate (cont'd)")
# is exported as lasting this long: the agenda gives no end, and a zero-length event (what
# RFC 5545 implies without DTEND or DURATION) is hidden or mis-drawn by most calendar programs.
DEFAULT_SLOT_DURATION = timedelta(hours=1)


# -- Small formatters ------------------------------------------------------------------------


def _day(iso: str | None) -> date | None:
    return date.fromisoformat(iso) if iso else None


def _clock(hhmm: str | None) -> time | None:
    return time.fromisoformat(hhmm) if hhmm else None


def format_time_range(start: str | None, end: str | None) -> str:
    """ "10:00", "11:00" → "10.00 - 11.00", as IOM agendas print times."""
    if not start:
        return ""
    text = start.replace(":", ".")
    if end:
        text += " - " + end.replace(":", ".")
    return text


def format_long_date(iso: str) -> str:
    """ "2005-11-29" → "Tuesday, 29 November 2005" (in the active language)."""
    return dateformat.format(_day(iso), "l, j F Y")


def format_date_range(start_iso: str | None, end_iso: str | None) -> str:
    """ "Tuesday, 29 November to Friday, 2 December 2005"."""
    if not start_iso:
        return ""
    start, end = _day(start_iso), _day(end_iso)
    if end is None or end == start:
        return format_long_date(start_iso)
    first = dateformat.format(start, "l, j F" if start.year == end.year else "l, j F Y")
    return _("%(start)s to %(end)s") % {"start": first, "end": format_long_date(end_iso)}


def presenter_line(item: dict) -> str:
    """Who presents, as printed: the text as typed, or the linked people with their titles."""
    if item.get("presenter_text"):
        return item["presenter_text"]
    return "; ".join(
        f"{p['name']}, {p['title']}" if p.get("title") else p["name"]
        for p in item.get("presenters", [])
    )


def item_label(item: dict) -> str:
    """ "Item 5" or "Item 5(a)": the label a sub-item carries outside its parent."""
    if item.get("sub_item"):
        return f"{_('Item')} {item['number']}({item['sub_item']})"
    return f"{_('Item')} {item['number']}"


def _item_location(item: dict, event: dict) -> str:
    """An item's room with the event's venue and city, without naming the building twice."""
    room = item.get("room") or event.get("room") or ""
    venue = event.get("venue") or ""
    if not room or not venue:
        return room or venue
    building = venue.split(", ")[0]
    if room.endswith(building):
        return room + venue[len(building) :]
    return f"{room}, {venue}"


# -- The printed layout -----------------------------------------------------------------------


def agenda_layout(snapshot: dict) -> dict:
    """The agenda as printed: heading lines and, for each day, the rows under it.

    Rules that reproduce the printed IOM agendas:

    * entries are ordered by time within a day; an entry without a time keeps its place after
      the entry before it (Friday's items 7-18 follow "10.00 Item 6");
    * a time range is printed once for the rows that share it (items 1-3 under one block
      heading, "Item 5" and its "(a)" at 12.00 - 13.00);
    * a main item whose sub-items carry a slot is printed once a day; later slots of that day
      belong to the sub-items ("15.00 - 18.00 (b) …" under "Item 5");
    * a main item printed again the same day drops its "Item n:" label ("General Debate
      (cont'd)"); a slot marked continued is printed "(cont'd)";
    * presenters and bullet sub-topics are printed with an item's first appearance.
    """
    event = snapshot.get("event", {})
    items = snapshot.get("items", [])
    title = event.get("title", "")
    body, name = "", title
    if event.get("key", "").startswith("council-session-") and ", " in title:
        body, name = title.split(", ", 1)

    children = defaultdict(list)
    for item in items:
        if item.get("parent_key"):
            children[item["parent_key"]].append(item["key"])

    by_day: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        for slot in item.get("slots", []):
            by_day[slot["day"]].append({"item": item, "slot": slot})

    days = []
    printed_ever: set = set()
    for day in sorted(by_day):
        entries = by_day[day]
        previous = ""
        for entry in entries:  # untimed entries keep their place after the one before
            previous = entry["slot"].get("start_time") or previous
            entry["at"] = previous
        entries.sort(key=lambda e: e["at"])  # stable: item order within the same time

        slots_today = defaultdict(list)
        for entry in entries:
            slots_today[entry["item"]["key"]].append(entry["slot"])

        rows: list[dict] = []
        printed_today: set = set()
        last_time = ""
        last_block = ""
        for entry in entries:
            item, slot = entry["item"], entry["slot"]
            key = item["key"]
            start, end = slot.get("start_time"), slot.get("end_time")
            if key in printed_today and _children_fill(
                start, end, [s for c in children.get(key, []) for s in slots_today.get(c, [])]
            ):
                continue
            time_text = format_time_range(start, end)
            shown_time = time_text if time_text and time_text != last_time else ""
            if time_text:
                last_time = time_text
            block = item.get("block_title") or ""
            if block and block != last_block:
                rows.append({"kind": "block", "time": shown_time, "title": block})
                shown_time = ""
            last_block = block
            is_sub = bool(item.get("sub_item"))
            if is_sub:
                label = f"({item['sub_item']})"
            elif key in printed_today:
                label = ""
            else:
                label = f"{_('Item')} {item['number']}:"
            first = key not in printed_ever
            rows.append(
                {
                    "kind": "item",
                    "time": shown_time,
                    "label": label,
                    "is_sub": is_sub,
                    "title": item["title"],
                    "continued": bool(slot.get("continued")),
                    "presenter": presenter_line(item) if first else "",
                    "bullets": list(item.get("bullets") or []) if first else [],
                }
            )
            printed_today.add(key)
            printed_ever.add(key)
        days.append({"date": day, "heading": format_long_date(day), "rows": rows})

    return {
        "title": snapshot.get("title", ""),
        "heading": snapshot.get("title", "").upper(),
        "body": body,
        "event_name": name.upper(),
        "event_title": title,
        "place": _place_lines(event),
        "dates": format_date_range(event.get("start_date"), event.get("end_date")),
        "days": days,
    }


def _children_fill(start: str | None, end: str | None, child_slots: list[dict]) -> bool:
    """Whether a sub-item has a slot starting within this slot of its parent."""
    if not start:
        return False
    for slot in child_slots:
        child_start = slot.get("start_time")
        if child_start and start <= child_start and (not end or child_start < end):
            return True
    return False


def _place_lines(event: dict) -> list[str]:
    """ "to be held in Conference Room XVII," / "at the Palais des Nations, Geneva,"."""
    room, venue = event.get("room"), event.get("venue")
    lines = []
    if room:
        lines.append(_("to be held in %(room)s,") % {"room": room})
    if venue:
        text = _("at the %(venue)s,") if room else _("to be held at the %(venue)s,")
        lines.append(text % {"venue": venue})
    return lines


# -- PDF ---------------------------------------------------------------------------------------


def agenda_pdf(snapshot: dict, *, footer: str = "", compress: bool = True) -> bytes:
    """The printed agenda as an A4 PDF (reportlab platypus).

    The output is invariant (no creation time, fixed document id): a frozen version gives the
    same bytes every time. ``compress=False`` leaves the page text readable, for tests.
    Standard PDF fonts are used, so text must be in the Latin-1 / Windows-1252 range to show.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        HRFlowable,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    layout = agenda_layout(snapshot)
    base = ParagraphStyle("base", fontName="Times-Roman", fontSize=11, leading=14)
    bold = ParagraphStyle("bold", parent=base, fontName="Times-Bold")
    centred = ParagraphStyle("centred", parent=base, alignment=TA_CENTER)
    heading = ParagraphStyle("heading", parent=bold, alignment=TA_CENTER, fontSize=13, leading=17)
    italic = ParagraphStyle("italic", parent=base, fontName="Times-Italic")
    centred_bold = ParagraphStyle("centred_bold", parent=bold, alignment=TA_CENTER)
    day_style = ParagraphStyle("day", parent=bold, spaceBefore=14, spaceAfter=6)
    small = ParagraphStyle("small", parent=base, fontSize=8, textColor=colors.grey)

    def para(text: str, style=base) -> Paragraph:
        return Paragraph(escape(text), style)

    story: list = []
    if layout["body"]:
        story.append(para(layout["body"].upper(), ParagraphStyle("body", parent=small)))
    story += [
        Spacer(1, 0.6 * cm),
        para(layout["heading"], heading),
        Spacer(1, 0.4 * cm),
        para(layout["event_name"], heading),
        HRFlowable(width="100%", thickness=0.8, color=colors.black, spaceBefore=4, spaceAfter=10),
    ]
    story += [para(line, centred) for line in layout["place"]]
    if layout["dates"]:
        story += [Spacer(1, 0.2 * cm), para(layout["dates"], centred_bold)]

    widths = [2.8 * cm, 1.9 * cm, 0.9 * cm, None]
    page_width = A4[0] - 5 * cm - 12  # the frame's own padding: 6 points on each side
    widths[3] = page_width - sum(w for w in widths[:3])
    for day in layout["days"]:
        data, spans = [], []
        for row in day["rows"]:
            r = len(data)
            if row["kind"] == "block":
                data.append([para(row["time"]), para(row["title"], bold), "", ""])
                spans.append(("SPAN", (1, r), (3, r)))
                continue
            body = [para(row["title"] + (" " + _("(cont'd)") if row["continued"] else ""))]
            if row["presenter"]:
                body.append(para(_("by %(who)s") % {"who": row["presenter"]}, italic))
            body += [
                Paragraph(escape(b), base, bulletText="o")
                for b in row["bullets"]  # "o" as the 2005 agenda prints its bullets
            ]
            if row["is_sub"]:
                data.append([para(row["time"]), "", para(row["label"]), body])
            else:
                data.append([para(row["time"]), para(row["label"], bold), body, ""])
                spans.append(("SPAN", (2, r), (3, r)))
        table = Table(data, colWidths=widths, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                    *spans,
                ]
            )
        )
        day_heading = Paragraph(f"<u>{escape(day['heading'])}</u>", day_style)
        story.append(KeepTogether([day_heading, table]))

    def on_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Times-Roman", 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(2.5 * cm, 1.5 * cm, footer)
        canvas.drawRightString(A4[0] - 2.5 * cm, 1.5 * cm, str(doc.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=2.5 * cm,
        rightMargin=2.5 * cm,
        topMargin=2 * cm,
        bottomMargin=2.5 * cm,
        title=f"{layout['title']}: {layout['event_title']}",
        author="IOM",
        invariant=1,
        pageCompression=1 if compress else 0,
    )
    document.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


# -- iCalendar ---------------------------------------------------------------------------------


def new_calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", settings.TIME_ZONE)
    return calendar


def add_agenda_events(calendar: Calendar, snapshot: dict, *, stamp: datetime) -> int:
    """One VEVENT per timed slot of every item; returns how many were added.

    UIDs are "<event key>-item<item key>-slot<n>@idm-secretariat" (n counts the item's slots
    from 1), so a calendar program updates rather than duplicates them when a new version is
    published. Times are local to ``settings.TIME_ZONE`` (Europe/Zurich), with a VTIMEZONE.
    A slot without an end lasts ``DEFAULT_SLOT_DURATION`` (DURATION, not DTEND), and says so in
    its description. Slots without a start time are not put in the calendar.
    """
    tz = ZoneInfo(settings.TIME_ZONE)
    event_info = snapshot.get("event", {})
    event_key = event_info.get("key", "event")
    added = 0
    for item in snapshot.get("items", []):
        for n, slot in enumerate(item.get("slots", []), start=1):
            start = _clock(slot.get("start_time"))
            if start is None:
                continue
            day = _day(slot["day"])
            vevent = Event()
            vevent.add("uid", f"{event_key}-item{item['key']}-slot{n}@{CALENDAR_DOMAIN}")
            vevent.add("dtstamp", stamp)
            summary = f"{item_label(item)}: {item['title']}"
            if slot.get("continued"):
                summary += " " + _("(cont'd)")
            vevent.add("summary", summary)
            vevent.add("dtstart", datetime.combine(day, start, tzinfo=tz))
            end = _clock(slot.get("end_time"))
            if end is not None:
                vevent.add("dtend", datetime.combine(day, end, tzinfo=tz))
            else:
                vevent.add("duration", DEFAULT_SLOT_DURATION)
            location = _item_location(item, event_info)
            if location:
                vevent.add("location", location)
            vevent.add("description", _slot_description(item, event_info, ends=end is not None))
            calendar.add_component(vevent)
            added += 1
    return added


def _slot_description(item: dict, event: dict, *, ends: bool) -> str:
    lines = [event.get("title", "")]
    if item.get("block_title"):
        lines.append(item["block_title"])
    if presenter_line(item):
        lines.append(_("by %(who)s") % {"who": presenter_line(item)})
    lines += [f"• {bullet}" for bullet in item.get("bullets") or []]
    documents = [d["symbol"] or d["title"] for d in item.get("documents", [])]
    if documents:
        lines.append(_("Documents: %(list)s") % {"list": "; ".join(documents)})
    if not ends:
        lines.append(_("End time not given in the agenda."))
    return "\n".join(line for line in lines if line)


def event_day_entry(event, *, key: str, title: str) -> dict:
    """The plain data an all-day calendar entry needs, from a session, meeting or workshop.

    Reads only the event's own fields and its ``venue`` (select it with the event).
    """
    venue = getattr(event, "venue", None)
    place = str(venue) if venue else ""
    if not place:
        place = ", ".join(
            p for p in (getattr(event, "city", ""), getattr(event, "country", "")) if p
        )
    status = getattr(event, "status", "")
    return {
        "key": key,
        "title": title,
        "start_date": event.start_date,
        "end_date": event.end_date,
        "location": place,
        "cancelled": status in (MeetingStatus.CANCELLED, WorkshopStatus.CANCELLED),
    }


def add_all_day_event(calendar: Calendar, entry: dict, *, stamp: datetime) -> bool:
    """One all-day VEVENT over an event's dates (DTEND is the day after, as RFC 5545 wants)."""
    if not entry.get("start_date"):
        return False
    vevent = Event()
    vevent.add("uid", f"{entry['key']}@{CALENDAR_DOMAIN}")
    vevent.add("dtstamp", stamp)
    vevent.add("summary", entry["title"])
    vevent.add("dtstart", entry["start_date"])
    vevent.add("dtend", (entry.get("end_date") or entry["start_date"]) + timedelta(days=1))
    if entry.get("location"):
        vevent.add("location", entry["location"])
    if entry.get("cancelled"):
        vevent.add("status", "CANCELLED")
    calendar.add_component(vevent)
    return True


def calendar_bytes(calendar: Calendar) -> bytes:
    """The calendar as RFC 5545 text, with a VTIMEZONE covering the years of its timed events."""
    days = [
        event.decoded("dtstart")
        for event in calendar.walk("VEVENT")
        if isinstance(event.decoded("dtstart"), datetime)
    ]
    if days:
        first, last = min(days).date(), max(days).date()
        calendar.add_missing_timezones(
            first_date=date(first.year, 1, 1), last_date=date(last.year + 1, 1, 1)
        )
    return calendar.to_ical()


# -- Spreadsheets and JSON ---------------------------------------------------------------------

AGENDA_COLUMNS = [
    ("label", "Item"),
    ("number", "Number"),
    ("sub_item", "Sub-item"),
    ("title", "Title"),
    ("block_title", "Block"),
    ("day", "Day"),
    ("start", "Start"),
    ("end", "End"),
    ("room", "Room"),
    ("presenters", "Presenters"),
    ("bullets", "Sub-topics"),
    ("documents", "Documents"),
    ("sessions", "All sessions"),
]

PARTICIPANT_COLUMNS = [
    ("person", "Person"),
    ("organisation", "Organisation"),
    ("role", "Role"),
    ("attendance_confirmed", "Attendance confirmed"),
    ("funded_by", "Funded by"),
]


def agenda_rows(snapshot: dict) -> list[dict]:
    """One row per item, in agenda order; day, start and end are those of its first slot."""
    rows = []
    for item in snapshot.get("items", []):
        slots = item.get("slots", [])
        first = slots[0] if slots else {}
        rows.append(
            {
                "label": item_label(item),
                "number": item["number"],
                "sub_item": item.get("sub_item", ""),
                "title": item["title"],
                "block_title": item.get("block_title", ""),
                "day": first.get("day") or "",
                "start": first.get("start_time") or "",
                "end": first.get("end_time") or "",
                "room": item.get("room", ""),
                "presenters": presenter_line(item),
                "bullets": list(item.get("bullets") or []),
                "documents": [
                    " — ".join(p for p in (d.get("symbol"), d.get("title")) if p)
                    for d in item.get("documents", [])
                ],
                "sessions": [_session_text(slot) for slot in slots],
            }
        )
    return rows


def _session_text(slot: dict) -> str:
    text = " ".join(p for p in (slot["day"], format_time_range(*_slot_times(slot))) if p)
    return text + (" " + _("(cont'd)") if slot.get("continued") else "")


def _slot_times(slot: dict) -> tuple[str | None, str | None]:
    return slot.get("start_time"), slot.get("end_time")


def participant_rows(registrations) -> list[dict]:
    """Rows from registrations fetched with their person, organisation and funder."""
    return [
        {
            "person": str(r.person),
            "organisation": str(r.organisation) if r.organisation else "",
            "role": r.get_role_display(),
            "attendance_confirmed": r.attendance_confirmed,
            "funded_by": str(r.funded_by) if r.funded_by else "",
        }
        for r in registrations
    ]


def _flat(value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _csv_safe(text: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (OWASP "CSV injection")."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def rows_csv(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for _key, header in columns])
    for row in rows:
        writer.writerow([_csv_safe(_flat(row[key])) for key, _header in columns])
    return out.getvalue()


def rows_xlsx(rows: list[dict], columns: list[tuple[str, str]], *, sheet: str) -> bytes:
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet[:31]
    worksheet.append([header for _key, header in columns])
    for row in rows:
        worksheet.append(
            [
                row[key] if isinstance(row[key], bool | int) else _flat(row[key])
                for key, _h in columns
            ]
        )
    for cells in worksheet.iter_rows(min_row=2):
        for cell in cells:
            if cell.data_type == "f":  # text that starts with "=" stays text
                cell.data_type = "s"
    worksheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def agenda_json(snapshot: dict, *, version: int) -> str:
    payload = {
        "title": snapshot.get("title", ""),
        "event": snapshot.get("event", {}),
        "version": version,
        "items": agenda_rows(snapshot),
    }
    return json.dumps(payload, ensure_ascii=False, indent=2)
