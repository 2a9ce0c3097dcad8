"""The follow-up report's long tables and files: each assignment's snapshot line, the overdue
rows and the changes since the previous report, the CSV, the XLSX and the charts.

**Rows in batches.** ``iter_batches`` reads the recommendations by primary key, in batches of
``QUERIES_PER_BATCH`` queries each; the database sends each assignment's plain columns (the
cheapest for it to send and for the driver to decode: formatting the strings in SQL cost the
database more than Python), and Python makes each assignment's snapshot line and, when it is
overdue, its CSV line and its XLSX row (``<row>`` XML) from cells made once per label and date
(``OverdueCells``). The rows are written a batch at a time, and the snapshot lines compared with
the previous run's (``ChangeTracker``): the lines of a batch equal to the previous ones are
skipped at once, and only the lines that differ are parsed. Memory holds one batch and the
counters, whatever the number of recommendations.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import gzip
import html
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from .enums import ImplementationStatus
from .models import Recommendation
from .report_figures import (
    ASSIGNMENT,
    CONCLUDED,
    RESPONSES,
    SESSION,
    STATUSES,
    Labels,
    overdue_sql,
    scope_sql,
)

# Fewer, larger batches cost fewer round trips; a batch of 5000 holds ~15,000 assignment rows.
BATCH_SIZE = 5000
# Per batch: its recommendations' keys, then its assignments' rows.
QUERIES_PER_BATCH = 2
HTML_LIST_CAP = 200

OVERDUE_COLUMNS = [
    "reference",
    "dialogue",
    "workshop",
    "agency",
    "role",
    "status",
    "progress",
    "due date",
    "days overdue",
]
CHANGE_COLUMNS = [
    "reference",
    "agency",
    "change",
    "previous status",
    "status",
    "previous progress",
    "progress",
]

# --- Reading the rows ----------------------------------------------------------------------------


def csv_field(value) -> str:
    """A value as ``csv.writer`` writes it in a row (quoted only when it must be)."""
    text = "" if value is None else str(value)
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass
class Batch:
    """One batch of recommendations (keys in ``(first, last]``), their assignments' rows."""

    recommendations: int
    first: int
    last: int
    # Each assignment's snapshot line (``SnapshotWriter``), sorted by recommendation and id.
    lines: list[str]
    # The overdue assignments' CSV lines and XLSX ``<row>`` elements, in the same order.
    overdue_csv: list[str]
    overdue_xml: list[str]


class OverdueCells:
    """The parts of the overdue rows that repeat, as CSV fields and XLSX cells, each made once:
    per (dialogue, workshop, agency, role, status) the labels' cells, per due date the date's
    and the days overdue's. Bounded by the reference data and the calendar, not by the rows."""

    def __init__(self, labels: Labels, today: dt.date):
        self.labels, self.today = labels, today
        self.middles: dict[tuple, tuple[str, str]] = {}
        self.dues: dict[object, tuple[str, str]] = {}

    def middle(self, key: tuple) -> tuple[str, str]:
        """``key``: (dialogue_id, workshop_id, organisation_id, role, status)."""
        found = self.middles.get(key)
        if found is None:
            dialogue_id, workshop_id, org_id, role, status = key
            labels = self.labels
            dialogue = labels.dialogues.get(dialogue_id)
            workshop = labels.workshops.get(workshop_id)
            values = [
                dialogue[0] if dialogue else "",
                workshop[1] if workshop else "",
                labels.organisation(org_id)[0],
                role,
                labels.status(status),
            ]
            texts = ["" if value is None else str(value) for value in values]
            found = self.middles[key] = (
                ",".join(map(csv_field, texts)),
                "".join(map(StreamedTable.cell, texts)),
            )
        return found

    def due(self, value) -> tuple[str, str]:
        """The due date (a date, or its text on SQLite) and the days overdue."""
        found = self.dues.get(value)
        if found is None:
            due = _as_date(value)
            iso, days = due.isoformat(), (self.today - due).days
            found = self.dues[value] = (
                f"{iso},{days}",
                f'{StreamedTable.cell(iso)}<c t="n"><v>{days}</v></c>',
            )
        return found


def _rows_sql(rec_sql: str, *, today: dt.date) -> tuple[str, list]:
    """The query of a batch's assignment rows: parameters ``[*params, *scope params, first,
    last, first, last]``, ``params`` returned. Columns: ``recommendation_id, id,
    organisation_id, status, progress, reference``, the due date when the assignment is overdue
    (else NULL), ``dialogue_id, workshop_id, role``; sorted by recommendation, then by id."""
    overdue, overdue_params = overdue_sql(today)
    sql = (
        "SELECT a.recommendation_id, a.id, a.organisation_id, a.status, a.progress, "  # noqa: S608
        f"r.reference, CASE WHEN {overdue} = 1 THEN COALESCE(a.due_date, s.start_date) END, "
        f"r.dialogue_id, r.workshop_id, a.role "
        f"FROM ({rec_sql}) r JOIN {ASSIGNMENT} a ON a.recommendation_id = r.id "
        f"LEFT JOIN {SESSION} s ON s.id = a.due_before_session_id "
        f"WHERE a.recommendation_id > %s AND a.recommendation_id <= %s "
        f"AND r.id > %s AND r.id <= %s ORDER BY a.recommendation_id, a.id"
    )
    return sql, overdue_params


def _pipeline():
    """On PostgreSQL with psycopg 3, the connection in pipeline mode: a query is sent without
    waiting for the previous one's result, so the database reads a batch while Python formats
    the one before. Elsewhere nothing."""
    if connection.vendor != "postgresql":
        return nullcontext()
    connection.ensure_connection()
    raw = connection.connection
    if not hasattr(raw, "pipeline"):  # psycopg2
        return nullcontext()
    from psycopg import Pipeline

    return raw.pipeline() if Pipeline.is_supported() else nullcontext()


def iter_batches(
    scope: QuerySet[Recommendation],
    *,
    today: dt.date,
    labels: Labels | None = None,
    batch_size: int | None = None,
) -> Iterator[Batch]:
    """The assignments of the recommendations of ``scope`` (``report_scope`` or a part of it),
    in batches of recommendations by primary key, ``QUERIES_PER_BATCH`` queries each: the
    recommendations' keys, then their assignments' rows (``_rows_sql``), sorted by
    recommendation, then by id. A batch's assignments are selected by the range of its
    recommendations' keys, not by a list of thousands of parameters.

    The rows come as plain columns (the cheapest for the database to send and for the driver
    to decode) and are formatted here: the snapshot line of each, the CSV line and XLSX row of
    the overdue ones from ``OverdueCells``, only the reference (plain text: the database's
    check constraint ``recommendation_reference_format``), the progress and the row number
    changing from row to row. On PostgreSQL the next batch's rows are asked for before a batch
    is formatted (``_pipeline``): the database works on them meanwhile. The pipeline ends before
    each batch is handed over: the caller may use the connection between batches."""
    batch_size = batch_size or BATCH_SIZE
    labels = labels or Labels.load()
    cells = OverdueCells(labels, today)
    middles, dues = cells.middles, cells.dues
    rec_sql, rec_params = scope_sql(scope)
    sql, params = _rows_sql(rec_sql, today=today)

    def keys_after(key: int) -> list[int]:
        return list(
            scope.filter(pk__gt=key).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )

    number = 1  # the XLSX sheet's row: the header is row 1
    first, keys = 0, keys_after(0)
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *rec_params, *[first, keys[-1]] * 2])
        while keys:
            last = keys[-1]
            rows = cursor.fetchall()
            # A last query finds nothing more unless this batch was short.
            following = keys_after(last) if len(keys) == batch_size else []
            # The next batch's rows asked for, then this batch formatted while the database
            # reads them; leaving the pipeline waits for them, so that the caller has the
            # connection as usual between batches.
            with _pipeline():
                if following:
                    cursor.execute(sql, [*params, *rec_params, *[last, following[-1]] * 2])
                lines, overdue_csv, overdue_xml = [], [], []
                line, csv_line, xml_row = lines.append, overdue_csv.append, overdue_xml.append
                for rid, aid, org_id, status, progress, reference, due, d_id, w_id, role in rows:
                    line(f"{rid}\t{aid}\t{org_id}\t{status}\t{progress}\t{reference}")
                    if due is None:
                        continue
                    key = (d_id, w_id, org_id, role, status)
                    middle = middles.get(key) or cells.middle(key)
                    dates = dues.get(due) or cells.due(due)
                    number += 1
                    csv_line(f"{reference},{middle[0]},{progress},{dates[0]}")
                    xml_row(
                        f'<row r="{number}"><c t="inlineStr"><is><t>{reference}</t></is></c>'
                        f'{middle[1]}<c t="n"><v>{progress}</v></c>{dates[1]}</row>'
                    )
                del rows
            yield Batch(len(keys), first, last, lines, overdue_csv, overdue_xml)
            first, keys = last, following


def overdue_top(
    scope: QuerySet[Recommendation], *, today: dt.date, labels: Labels, limit: int
) -> list[list]:
    """The ``limit`` longest overdue rows (``OVERDUE_COLUMNS``), ties in reading order."""
    rec_sql, rec_params = scope_sql(scope)
    overdue, overdue_params = overdue_sql(today)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.reference, r.dialogue_id, r.workshop_id, a.organisation_id, a.role, "  # noqa: S608
            f"a.status, a.progress, COALESCE(a.due_date, s.start_date) AS due "
            f"FROM ({rec_sql}) r JOIN {ASSIGNMENT} a ON a.recommendation_id = r.id "
            f"LEFT JOIN {SESSION} s ON s.id = a.due_before_session_id WHERE {overdue} = 1 "
            f"ORDER BY due, a.recommendation_id, a.id LIMIT {int(limit)}",
            [*rec_params, *overdue_params],
        )
        rows = cursor.fetchall()
    top = []
    for reference, dialogue_id, workshop_id, org_id, role, status, progress, due in rows:
        due = _as_date(due)
        top.append(
            [
                reference,
                labels.dialogue(dialogue_id)[0],
                labels.workshop(workshop_id)[1] if workshop_id else "",
                labels.organisation(org_id)[0],
                role,
                labels.status(status),
                progress,
                due.isoformat(),
                (today - due).days,
            ]
        )
    return top


def _as_date(value) -> dt.date | None:
    """SQLite hands computed dates (``COALESCE``) back as text."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# --- Snapshots and what changed ------------------------------------------------------------------


class SnapshotWriter:
    """Each assignment's state at this run, one tab-separated line, sorted by (recommendation,
    assignment): ``recommendation_id, assignment_id, organisation_id, status, progress,
    reference``, gzip'd."""

    def __init__(self, path: Path):
        self.handle = gzip.open(  # noqa: SIM115 - closed by close()
            path, "wt", compresslevel=1, encoding="utf-8", newline="\n"
        )

    def write_lines(self, lines: list[str]) -> None:
        if lines:
            self.handle.write("\n".join(lines))
            self.handle.write("\n")

    def close(self) -> None:
        self.handle.close()


def _recommendation_of(line: str) -> int:
    return int(line[: line.index("\t")])


def parse_snapshot_line(line: str) -> tuple:
    rec_id, asg_id, org_id, status, progress, reference = line.split("\t", 5)
    return (int(rec_id), int(asg_id), int(org_id), status, int(progress), reference)


class ChangeTracker:
    """Compares the current assignments' snapshot lines, a batch at a time in snapshot order,
    with the previous snapshot's lines of the same recommendations, read alongside: a batch
    whose lines are the same as before is passed at once; otherwise only the lines found on one
    side and not the other are parsed and reported, in (recommendation, assignment) order. The
    previous snapshot is read by blocks: nothing is held but a block and a batch."""

    BLOCK = 1 << 20

    def __init__(self, previous_handle, writer, labels: Labels):
        self.handle = previous_handle
        self.writer = writer
        self.labels = labels
        self.counts = Counter()
        self.top: list[dict] = []
        self.buffer: list[str] = []  # whole lines read, from ``start`` not yet compared
        self.start = 0
        self.tail = ""
        self.eof = previous_handle is None

    @property
    def active(self) -> bool:
        return self.handle is not None

    def _read_past(self, last: float) -> None:
        """Read until the buffer holds a line of a recommendation after ``last`` (or all)."""
        while not self.eof and (
            self.start == len(self.buffer) or _recommendation_of(self.buffer[-1]) <= last
        ):
            block = self.handle.read(self.BLOCK)
            if self.start:
                del self.buffer[: self.start]
                self.start = 0
            if not block:
                self.eof = True
                if self.tail:
                    self.buffer.append(self.tail)
                    self.tail = ""
                return
            lines = (self.tail + block).split("\n")
            self.tail = lines.pop()
            self.buffer.extend(lines)

    def compare(self, last: float, lines: list[str]) -> None:
        """``lines``: the snapshot lines of the recommendations after the previous batch's up
        to ``last``."""
        if not self.active:
            return
        self._read_past(last)
        end = bisect.bisect_right(self.buffer, last, lo=self.start, key=_recommendation_of)
        previous = self.buffer[self.start : end]
        self.start = end
        if previous == lines:
            return
        before, after = set(previous), set(lines)
        old = {row[:2]: row for row in map(parse_snapshot_line, before - after)}
        new = {row[:2]: row for row in map(parse_snapshot_line, after - before)}
        for key in sorted(old.keys() | new.keys()):
            was, now = old.get(key), new.get(key)
            if now is None:
                self._emit("closed", was[5], was[2], (was[3], was[4]), ("", ""))
            elif was is None:
                self._emit("new", now[5], now[2], ("", ""), (now[3], now[4]))
            elif (was[3], was[4]) != (now[3], now[4]):
                self._emit("changed", now[5], now[2], (was[3], was[4]), (now[3], now[4]))
                if now[3] != was[3]:
                    self.counts["status changed"] += 1
                if now[3] in CONCLUDED and was[3] not in CONCLUDED:
                    self.counts["newly concluded"] += 1

    def _emit(self, change: str, reference: str, org_id: int, before, after) -> None:
        self.counts[change] += 1
        agency = self.labels.organisation(org_id)[0]
        status = self.labels.status
        row = [reference, agency, change, status(before[0]), status(after[0]), before[1], after[1]]
        self.writer.writerow(row)
        if len(self.top) < HTML_LIST_CAP:
            self.top.append(dict(zip(CHANGE_COLUMNS, row, strict=True)))

    def finish(self) -> None:
        """The previous snapshot's lines after the last batch: no longer followed."""
        self.compare(float("inf"), [])


# --- Long tables: overdue and changed rows -------------------------------------------------------

# Characters XML 1.0 does not allow (openpyxl refuses them): dropped from the XLSX's text.
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Text that cannot go into an XLSX cell as it is: to escape or clean, or with spaces to keep.
XML_NOT_PLAIN = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]|\A\s|\s\Z")
FILE_BUFFER = 1 << 20


def _xlsx_text(value: str) -> str:
    """An inline string cell's content, as openpyxl's write-only mode writes it."""
    text = html.escape(XML_ILLEGAL.sub("", value), quote=False)
    if value != value.strip():
        return f'<is><t xml:space="preserve">{text}</t></is>'
    return f"<is><t>{text}</t></is>"


class StreamedTable:
    """A table too long to keep (the overdue list, the changes), written row by row as it is
    found, in one pass: to ``<name>.csv`` (copied into the report's CSV) and, as the XLSX
    sheet's ``<row>`` elements, to ``<name>.xml`` (spliced into the workbook by ``write_xlsx``).
    Integers become number cells, other values text (inline strings, as openpyxl's write-only
    mode writes them); ``""`` and ``None`` empty cells. Cells are positioned by their order in
    the row (no ``r`` attribute), so a value's cell is the same in every row: the cells of the
    columns whose values repeat (all but ``unique_columns``) are made once per distinct value."""

    def __init__(self, tmp: Path, name: str, columns: list[str], *, unique_columns=()):
        self.csv_handle = (tmp / f"{name}.csv").open(
            "w", encoding="utf-8", newline="", buffering=FILE_BUFFER
        )
        self.xml_handle = (tmp / f"{name}.xml").open("w", encoding="utf-8", buffering=FILE_BUFFER)
        self.csv_row = csv.writer(self.csv_handle).writerow
        # Per column: a cache of its cells by value (bounded: labels, dates, percentages), or
        # None for a column of distinct values.
        self.caches = [None if index in unique_columns else {} for index in range(len(columns))]
        self.count = 1  # the header row

    @staticmethod
    def cell(value) -> str:
        if value is None or value == "":
            return "<c/>"
        if isinstance(value, int):
            return f'<c t="n"><v>{value}</v></c>'
        if not isinstance(value, str):
            value = str(value)
        if XML_NOT_PLAIN.search(value):
            return f'<c t="inlineStr">{_xlsx_text(value)}</c>'
        return f'<c t="inlineStr"><is><t>{value}</t></is></c>'

    def writerow(self, row: list) -> None:
        self.csv_row(row)
        self.count += 1
        cell = self.cell
        cells = [f'<row r="{self.count}">']
        for cache, value in zip(self.caches, row, strict=True):
            if cache is None:
                cells.append(cell(value))
            else:
                xml = cache.get(value)
                if xml is None:
                    xml = cache[value] = cell(value)
                cells.append(xml)
        cells.append("</row>")
        self.xml_handle.write("".join(cells))

    def write_formatted(self, csv_lines: list[str], xml_rows: list[str]) -> None:
        """Rows already formatted (by the database): CSV lines without their ends, and the
        XLSX's ``<row>`` elements numbered from ``count + 1``."""
        if csv_lines:
            self.csv_handle.write("\r\n".join(csv_lines))
            self.csv_handle.write("\r\n")
            self.xml_handle.write("".join(xml_rows))
            self.count += len(xml_rows)

    def close(self) -> None:
        try:
            self.csv_handle.close()
        finally:
            self.xml_handle.close()


# --- Tables in CSV and XLSX ----------------------------------------------------------------------

GROUP_COLUMNS = [
    "recommendations",
    "assignments",
    *[f"response: {response.label}" for response in RESPONSES],
    *[f"status: {status.label}" for status in STATUSES],
    "concluded",
    "completion rate %",
    "average progress %",
    "overdue",
]


def _group_values(row: dict) -> list:
    return [
        row["recommendations"],
        row["assignments"],
        *[row["responses"][response.value] for response in RESPONSES],
        *[row["statuses"][status.value] for status in STATUSES],
        row["concluded"],
        row["completion_rate"],
        row["average_progress"],
        row["overdue"],
    ]


def summary_sections(figures: dict) -> list[tuple[str, list[str], list[list]]]:
    """The summary tables of the CSV and the XLSX, in order: (title, header, rows)."""
    totals = figures["totals"]
    summary = [
        ["as of", figures["as_of"]],
        ["scope", figures["scope"]["label"]],
        ["recommendations", totals["recommendations"]],
        *[
            [f"recommendations {ImplementationStatus(s).label.lower()}", n]
            for s, n in totals["recommendations_by_status"].items()
        ],
        ["assignments", totals["assignments"]],
        ["concluded assignments", totals["concluded"]],
        ["completion rate %", totals["completion_rate"]],
        ["average progress %", totals["average_progress"]],
        ["overdue assignments", totals["overdue"]],
        ["open recommendations with no active agency", totals["without_active_agency"]],
        ["policy domains with no active agency", totals["domains_without_active_agency"]],
    ]
    changes = figures["changes"]
    if changes["previous"] is not None:
        summary += [[f"since previous report: {k}", v] for k, v in changes["counts"].items()]
    sections = [("Summary", ["measure", "value"], summary)]
    for title, name, first in (
        ("By dialogue", "by_dialogue", "dialogue"),
        ("By workshop", "by_workshop", "workshop"),
        ("By agency", "by_agency", "agency"),
    ):
        rows = [[row["label"], *_group_values(row)] for row in figures[name]]
        sections.append((title, [first, *GROUP_COLUMNS], rows))
    sections.append(
        (
            "By policy domain",
            ["policy domain", *GROUP_COLUMNS, "open", "open with no active agency"],
            [
                [row["label"], *_group_values(row), row["open"], row["without_active_agency"]]
                for row in figures["by_domain"]
            ],
        )
    )
    coherence = figures["coherence"]
    matrix_rows = []
    for domain, cells in zip(coherence["domains"], coherence["cells"], strict=True):
        for agency, cell in zip(coherence["agencies"], cells, strict=True):
            if cell:
                matrix_rows.append([domain["label"], agency["key"], cell[0], cell[1]])
    sections.append(
        (
            "Coherence matrix",
            ["policy domain", "agency", "recommendations", "on track"],
            matrix_rows,
        )
    )
    return sections


# (title, header, name of the StreamedTable)
STREAMED_SECTIONS = (
    ("Changes since previous report", CHANGE_COLUMNS, "changes"),
    ("Overdue", OVERDUE_COLUMNS, "overdue"),
)


def write_csv(path: Path, figures: dict, tmp: Path) -> None:
    """Each table under a line with its title, separated by an empty line; the overdue and
    changed rows copied from their temporary files."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        for title, header, rows in summary_sections(figures):
            writer.writerow([f"# {title}"])
            writer.writerow(header)
            writer.writerows(rows)
            writer.writerow([])
        for title, header, name in STREAMED_SECTIONS:
            writer.writerow([f"# {title}"])
            writer.writerow(header)
            handle.flush()
            with (tmp / f"{name}.csv").open(encoding="utf-8", newline="") as source:
                shutil.copyfileobj(source, handle)
            writer.writerow([])


def write_xlsx(path: Path, figures: dict, tmp: Path) -> None:
    """One sheet per table. openpyxl (write-only) writes the workbook with the summary tables and
    the headers of the long tables; the long tables' rows, already written as XML by
    ``StreamedTable``, are then copied into their sheets as the workbook is zipped again."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)

    def header_row(sheet, header):
        cells = []
        for title in header:
            cell = WriteOnlyCell(sheet, value=title)
            cell.font = bold
            cells.append(cell)
        sheet.append(cells)

    for title, header, rows in summary_sections(figures):
        sheet = workbook.create_sheet(title[:31])
        header_row(sheet, header)
        for row in rows:
            sheet.append(row)
    streamed = {}
    for title, header, name in STREAMED_SECTIONS:
        sheet = workbook.create_sheet(title[:31])
        header_row(sheet, header)
        streamed[name] = sheet
    skeleton = tmp / "skeleton.xlsx"
    workbook.save(skeleton)
    rows_of = {sheet.path.lstrip("/"): tmp / f"{name}.xml" for name, sheet in streamed.items()}
    with (
        zipfile.ZipFile(skeleton) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename not in rows_of:
                target.writestr(info.filename, data)
                continue
            xml = data.decode("utf-8")
            end = xml.index("</sheetData>")
            with (
                target.open(info.filename, "w", force_zip64=True) as entry,
                rows_of[info.filename].open("rb") as rows,
            ):
                entry.write(xml[:end].encode("utf-8"))
                shutil.copyfileobj(rows, entry, FILE_BUFFER)
                entry.write(xml[end:].encode("utf-8"))
    skeleton.unlink()


# --- Charts (inline SVG, drawn here) -------------------------------------------------------------

STATUS_COLOURS = {
    ImplementationStatus.NOT_STARTED: "#b0b7c3",
    ImplementationStatus.IN_PROGRESS: "#3b82c4",
    ImplementationStatus.IMPLEMENTED: "#2e9e5b",
    ImplementationStatus.PARTIALLY_IMPLEMENTED: "#9ccf6b",
    ImplementationStatus.NOT_IMPLEMENTED: "#d9534f",
}


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _clip(text: str, length: int = 38) -> str:
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"


def svg_status_by_domain(rows: list[dict]) -> str:
    """Stacked horizontal bars: each domain's assignments by implementation status."""
    rows = [row for row in rows if row["assignments"]]
    if not rows:
        return ""
    label_w, bar_w, row_h = 260, 440, 22
    height = row_h * len(rows) + 40
    biggest = max(row["assignments"] for row in rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + bar_w + 60}" '
        f'height="{height}" aria-label="{_esc(_("Assignments by status and policy domain"))}">'
    ]
    for index, row in enumerate(rows):
        y = 10 + index * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"<title>{_esc(row['label'])}</title>{_esc(_clip(row['label']))}</text>"
        )
        x = float(label_w)
        for status in STATUSES:
            count = row["statuses"][status.value]
            if not count:
                continue
            width = bar_w * count / biggest
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{row_h - 6}" '
                f'fill="{STATUS_COLOURS[status]}">'
                f"<title>{_esc(status.label)}: {count}</title></rect>"
            )
            x += width
        parts.append(
            f'<text x="{x + 4:.1f}" y="{y + 14}" font-size="11">{row["assignments"]}</text>'
        )
    x = 10.0
    legend_y = height - 12
    for status in STATUSES:
        parts.append(
            f'<rect x="{x:.0f}" y="{legend_y - 9}" width="10" height="10" '
            f'fill="{STATUS_COLOURS[status]}"/>'
            f'<text x="{x + 14:.0f}" y="{legend_y}" font-size="11">{_esc(status.label)}</text>'
        )
        x += 30 + 6.5 * len(str(status.label))
    parts.append("</svg>")
    return "".join(parts)


def svg_overdue_by_agency(rows: list[dict], limit: int = 25) -> str:
    """Horizontal bars: overdue assignments per agency, the most overdue first."""
    rows = sorted(
        (row for row in rows if row["overdue"]), key=lambda r: (-r["overdue"], r["label"])
    )
    rows = rows[:limit]
    if not rows:
        return ""
    label_w, bar_w, row_h = 260, 400, 20
    biggest = rows[0]["overdue"]
    height = row_h * len(rows) + 12
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + bar_w + 60}" '
        f'height="{height}" aria-label="{_esc(_("Overdue assignments by agency"))}">'
    ]
    for index, row in enumerate(rows):
        y = 6 + index * row_h
        width = bar_w * row["overdue"] / biggest
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
            f"<title>{_esc(row['label'])}</title>{_esc(_clip(row['label']))}</text>"
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{row_h - 5}" '
            f'fill="#d9534f"/><text x="{label_w + width + 4:.1f}" y="{y + 13}" '
            f'font-size="11">{row["overdue"]}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_progress_over_time(points: list[dict]) -> str:
    """Lines over the runs: completion rate and average progress (%), overdue share."""
    points = [p for p in points if p.get("completion_rate") is not None]
    if not points:
        return ""
    width, height, left, top, bottom = 680, 220, 40, 10, 40
    plot_w, plot_h = width - left - 50, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)

    def y_of(value):
        return top + plot_h * (1 - (value or 0) / 100)

    series = (
        ("completion_rate", "#2e9e5b", _("Completion rate %")),
        ("average_progress", "#3b82c4", _("Average progress %")),
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'aria-label="{_esc(_("Progress over time"))}">'
    ]
    for tick in (0, 25, 50, 75, 100):
        y = y_of(tick)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{tick}</text>'
        )
    for index, point in enumerate(points):
        x = left + index * step
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
            f'font-size="10">{_esc(point["label"])}</text>'
        )
    for key, colour, title in series:
        coords = [(left + index * step, y_of(point.get(key))) for index, point in enumerate(points)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{_esc(title)}</title></polyline>"
        )
        for (x, y), point in zip(coords, points, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{_esc(title)}, {_esc(point['label'])}: {point.get(key)}</title></circle>"
            )
    x = left
    for _key, colour, title in series:
        parts.append(
            f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{height - 5}" font-size="11">{_esc(title)}</text>'
        )
        x += 40 + 6 * len(str(title))
    parts.append("</svg>")
    return "".join(parts)
