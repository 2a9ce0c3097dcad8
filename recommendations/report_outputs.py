"""The follow-up report's long tables and files: each assignment's snapshot row, the overdue
rows and the changes since the previous report, the CSV, the XLSX and the charts.

The rows are read, counted and formatted a batch at a time by ``report_reading.iter_batches``.
Here they are written (the overdue rows' CSV lines and the XLSX zipped as they come,
``StreamedWorkbook``), and the snapshot rows compared with the previous run's
(``ChangeTracker``): the rows of a batch equal to the previous ones are skipped at once. Memory
holds one batch and the counters, whatever the number of recommendations.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import datetime as dt
import functools
import gzip
import hashlib
import heapq
import html
import io
import marshal
import queue
import re
import shutil
import struct
import threading
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from django.utils.translation import gettext as _

from .enums import ImplementationStatus
from .report_figures import (
    CONCLUDED,
    RESPONSES,
    STATUSES,
    Counts,
    Labels,
)

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


class SharedStrings:
    """The XLSX's shared strings (``xl/sharedStrings.xml``): a text that repeats down a long
    sheet (a label, a date) is written once there and referred to by its number in each cell,
    which makes the sheet a third smaller to write and to zip. Bounded by the labels and the
    calendar."""

    def __init__(self):
        self.numbers: dict[str, int] = {}

    def cell(self, text: str) -> str:
        """A cell of ``text`` (an empty cell for "")."""
        if not text:
            return "<c/>"
        number = self.numbers.get(text)
        if number is None:
            number = self.numbers[text] = len(self.numbers)
        return f'<c t="s"><v>{number}</v></c>'

    def xml(self) -> bytes:
        items = [f"<si>{_xlsx_t(text)}</si>" for text in self.numbers]
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<sst xmlns="{SPREADSHEET_NS}" uniqueCount="{len(items)}">' + "".join(items) + "</sst>"
        ).encode("utf-8")


class OverdueCells:
    """The parts of the overdue rows that repeat, as CSV fields and XLSX cells: per (group,
    agency, role, status) the labels' cells (kept, made once), per due date the date's and the
    days overdue's (kept by the reading). Bounded by the reference data and the calendar, not
    by the rows. The XLSX's texts are ``strings``' (shared strings)."""

    def __init__(self, labels: Labels, today: dt.date, strings: SharedStrings):
        self.labels, self.today, self.strings = labels, today, strings
        self.middles: dict[tuple, tuple[str, str]] = {}

    def middle(self, key: tuple, group: tuple) -> tuple[str, str]:
        """``key``: (group number, organisation_id, role, status); ``group``: the group's
        (dialogue_id, workshop_id, domains)."""
        found = self.middles.get(key)
        if found is None:
            _group, org_id, role, status = key
            dialogue_id, workshop_id, _domains = group
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
                "".join(map(self.strings.cell, texts)),
            )
        return found

    def due_of_day(self, day: int) -> tuple[str, str]:
        """The due date (``day``: days since 1970-01-01, as Arrow holds dates) and the days
        overdue (the reading asks once per day: ``report_reading._OverdueRows``)."""
        due = EPOCH + dt.timedelta(days=day)
        iso, days = due.isoformat(), (self.today - due).days
        return f"{iso},{days}", f"{self.strings.cell(iso)}<c><v>{days}</v></c>"


class LongestOverdue:
    """The ``limit`` longest overdue rows, ties in reading order, kept while the rows are read:
    a row is looked at only when it is due on or before the last kept one (``cut``), and the
    kept rows are trimmed once a batch."""

    def __init__(self, limit: int):
        self.limit = limit
        # (due, recommendation_id, assignment_id, reference, group (``Counts``),
        # organisation_id, role, status, progress): the keys make the order total.
        self.rows: list[tuple] = []
        self.cut = None

    def trim(self) -> None:
        if len(self.rows) >= self.limit:
            self.rows = heapq.nsmallest(self.limit, self.rows)
            self.cut = self.rows[-1][0] if self.rows else None

    def table(self, labels: Labels, today: dt.date, counts: Counts) -> list[list]:
        """The rows as ``OVERDUE_COLUMNS``, the longest overdue first."""
        top = []
        for row in sorted(self.rows)[: self.limit]:
            due, _rec, _asg, reference, group, org_id, role, status, progress = row
            dialogue_id, workshop_id, _domains = counts.group_keys[group]
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


EPOCH = dt.date(1970, 1, 1)


def _as_date(value) -> dt.date | None:
    """SQLite hands computed dates (``COALESCE``) back as text."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# --- Snapshots and what changed ------------------------------------------------------------------


# Each assignment's snapshot row: the first six columns of ``report_reading.ROW_SCHEMA``.
SNAPSHOT_SCHEMA = pa.schema(
    [
        ("recommendation_id", pa.int64()),
        ("id", pa.int64()),
        ("organisation_id", pa.int64()),
        ("status", pa.string()),
        ("progress", pa.int64()),
        ("reference", pa.string()),
    ]
)
SNAPSHOT_MAGIC = b"IDM report snapshot 4\n"
# A block's header: the batch's bounds (first, last], the digest of its rows, their size as
# stored (compressed) and as Arrow's record batch.
BLOCK_HEADER = struct.Struct(">qq16sII")
SNAPSHOT_CODEC = "zstd"
# The earlier format: the same header without the last size, the rows ``marshal``'d and zlib'd.
SNAPSHOT_MAGIC_3 = b"IDM report snapshot 3\n"
BLOCK_HEADER_3 = struct.Struct(">qq16sI")
GZIP_MAGIC = b"\x1f\x8b"


def plain_columns(rows: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The first columns of ``rows``, as ``schema`` names them, each written the same way
    whatever it was made by: a column with no null has no validity bitmap (a filtered one
    keeps an empty one, which Arrow would write out), so equal rows serialise equally."""
    columns = []
    for index in range(len(schema)):
        column = rows.column(index)
        if not column.null_count and column.buffers()[0] is not None:
            column = pa.Array.from_buffers(
                column.type, len(column), [None, *column.buffers()[1:]], offset=column.offset
            )
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def snapshot_rows(rows: pa.RecordBatch) -> list[tuple]:
    """A batch's snapshot rows as tuples ``(recommendation_id, assignment_id, organisation_id,
    status, progress, reference)``: only for a batch that differs from the previous run's."""
    return list(zip(*(column.to_pylist() for column in rows.columns), strict=True))


@dataclass
class SnapshotBlock:
    """One batch of a snapshot: its bounds, the digest of its rows as serialised, and the rows
    as stored (compressed), with their size before; ``digest`` None for a block read from a
    snapshot of the first format (rows only, never taken as a whole)."""

    first: float
    last: float
    digest: bytes | None
    stored: bytes | None = None
    rows: list[tuple] | None = None
    size: int | None = None  # None: the marshalled rows of the format before

    def decoded(self) -> list[tuple]:
        if self.rows is None:
            if self.size is None:
                self.rows = marshal.loads(zlib.decompress(self.stored))  # noqa: S302 - our own
            else:
                data = pa.decompress(self.stored, decompressed_size=self.size, codec=SNAPSHOT_CODEC)
                self.rows = snapshot_rows(pa.ipc.read_record_batch(data, SNAPSHOT_SCHEMA))
        return self.rows


class SnapshotWriter:
    """Each assignment's state at this run (``SNAPSHOT_SCHEMA``), sorted by recommendation and
    assignment, a block per batch (after ``SNAPSHOT_MAGIC``): ``BLOCK_HEADER``, then the
    batch's columns as Arrow serialises a record batch, compressed (made and read back in C:
    no formatting or parsing per row). The file is this application's own, read only by the
    next report (``read_snapshot``)."""

    def __init__(self, path: Path):
        self.handle = path.open("wb", buffering=FILE_BUFFER)  # noqa: SIM115 - closed by close()
        self.handle.write(SNAPSHOT_MAGIC)

    @staticmethod
    def encode(rows: pa.RecordBatch) -> tuple[pa.Buffer, bytes]:
        """The rows serialised, and their digest."""
        data = rows.serialize()
        return data, hashlib.blake2b(data, digest_size=16).digest()

    @staticmethod
    def compress(data: pa.Buffer) -> tuple[bytes, int]:
        """The serialised rows as stored, and their size before."""
        return pa.compress(data, codec=SNAPSHOT_CODEC, asbytes=True), data.size

    def write_block(self, first: int, last: int, digest: bytes, stored: tuple[bytes, int]):
        data, size = stored
        self.handle.write(BLOCK_HEADER.pack(first, last, digest, len(data), size))
        self.handle.write(data)

    def close(self) -> None:
        self.handle.close()


def parse_snapshot_line(line: str) -> tuple:
    rec_id, asg_id, org_id, status, progress, reference = line.split("\t", 5)
    return (int(rec_id), int(asg_id), int(org_id), status, int(progress), reference)


def read_snapshot(handle) -> Iterator[SnapshotBlock]:
    """The blocks of a snapshot (an open binary file of ``SnapshotWriter``'s); also those of
    the earlier formats: marshalled rows, and the first (gzip'd, a tab-separated line per row)
    by chunks of lines."""
    start = handle.read(len(SNAPSHOT_MAGIC))
    if start in (SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_3):
        header_format = BLOCK_HEADER if start == SNAPSHOT_MAGIC else BLOCK_HEADER_3
        while header := handle.read(header_format.size):
            if len(header) < header_format.size:
                raise ValueError("the previous report's snapshot is cut off")
            first, last, digest, stored_size, *size = header_format.unpack(header)
            stored = handle.read(stored_size)
            if len(stored) < stored_size:
                raise ValueError("the previous report's snapshot is cut off")
            yield SnapshotBlock(first, last, digest, stored, size=size[0] if size else None)
        return
    if not start.startswith(GZIP_MAGIC):
        raise ValueError("the previous report's snapshot is not one")
    raw = io.BufferedReader(_Prefixed(start, handle))
    with gzip.open(raw, "rt", encoding="utf-8") as text:
        while lines := text.readlines(1 << 20):
            rows = [parse_snapshot_line(line.rstrip("\n")) for line in lines if line.strip()]
            if rows:
                # Rows of one recommendation may go on in the next chunk: the bounds only say
                # where this one starts.
                yield SnapshotBlock(rows[0][0] - 1, rows[-1][0], None, rows=rows)


class _Prefixed(io.RawIOBase):
    """``prefix`` (bytes already read), then the rest of ``handle``."""

    def __init__(self, prefix: bytes, handle):
        self.prefix, self.handle = prefix, handle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.prefix:
            size = min(len(buffer), len(self.prefix))
            buffer[:size], self.prefix = self.prefix[:size], self.prefix[size:]
            return size
        data = self.handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# Sorts after every row of the recommendation it is paired with (rows are sorted tuples).
_AFTER_ALL = float("inf")


class ChangeTracker:
    """Compares the current assignments' snapshot rows, a batch at a time in snapshot order,
    with the previous snapshot's rows of the same recommendations, read alongside. A batch with
    the same bounds and the same digest as the previous snapshot's next block is the same: the
    block is taken as it is (``unchanged``), neither unzipped nor compared. Otherwise the
    previous blocks are decoded and only the rows found on one side and not the other are
    reported, in (recommendation, assignment) order. Nothing is held but a block and a batch.
    """

    def __init__(self, previous_handle, writer, labels: Labels):
        self.blocks = read_snapshot(previous_handle) if previous_handle is not None else None
        self.writer = writer
        self.labels = labels
        self.counts = Counter()
        self.top: list[dict] = []
        self.buffer: list[tuple] = []  # rows decoded, from ``start`` not yet compared
        self.start = 0
        self.pending: SnapshotBlock | None = None  # the next block, not decoded
        self.broken: str | None = None
        self._next_block()

    @property
    def active(self) -> bool:
        return self.blocks is not None

    def _next_block(self) -> None:
        """The next block of the previous snapshot in ``pending`` (None at its end). A
        snapshot found unreadable (cut off, damaged) stops the comparison: ``broken`` holds
        why."""
        self.pending = None
        if self.blocks is None:
            return
        try:
            self.pending = next(self.blocks, None)
        except Exception as error:  # noqa: BLE001 - any damage: compare nothing
            self.broken = f"{type(error).__name__}: {error}"
            self.blocks = None

    def unchanged(self, first: int, last: int, digest: bytes) -> tuple[bytes, int] | None:
        """The previous snapshot's block, as stored (and its size before), when it is the
        batch ``(first, last]`` with rows of this ``digest``; then taken. Else None:
        ``compare`` the rows."""
        block = self.pending
        if (
            block is None
            or block.size is None
            or self.start < len(self.buffer)
            or (block.first, block.last, block.digest) != (first, last, digest)
        ):
            return None
        self._next_block()
        return block.stored, block.size

    def _read_past(self, last: float) -> None:
        """Decode the blocks that may hold rows of recommendations up to ``last``."""
        while self.pending is not None and self.pending.first < last:
            if self.start:
                del self.buffer[: self.start]
                self.start = 0
            try:
                rows = self.pending.decoded()
            except Exception as error:  # noqa: BLE001 - any damage: compare nothing
                self.broken = f"{type(error).__name__}: {error}"
                self.blocks = self.pending = None
                return
            self.buffer.extend(rows)
            self._next_block()

    def compare(self, last: float, rows: list[tuple]) -> None:
        """``rows``: the snapshot rows of the recommendations after the previous batch's up to
        ``last``."""
        if not self.active:
            return
        self._read_past(last)
        if self.broken:
            return
        end = bisect.bisect_right(self.buffer, (last, _AFTER_ALL), lo=self.start)
        previous = self.buffer[self.start : end]
        self.start = end
        if previous == rows:
            return
        before, after = set(previous), set(rows)
        old = {row[:2]: row for row in before - after}
        new = {row[:2]: row for row in after - before}
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
        """The previous snapshot's rows after the last batch: no longer followed."""
        self.compare(_AFTER_ALL, [])


# --- Long tables: overdue and changed rows -------------------------------------------------------

# Characters XML 1.0 does not allow (openpyxl refuses them): dropped from the XLSX's text.
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SPREADSHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
# Text that cannot go into an XLSX cell as it is: to escape or clean, or with spaces to keep.
XML_NOT_PLAIN = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]|\A\s|\s\Z")
FILE_BUFFER = 1 << 20


def _xlsx_t(value: str) -> str:
    """A text's ``<t>`` element in an XLSX, as openpyxl writes it: escaped, the characters XML
    does not allow dropped, its leading or trailing spaces kept."""
    text = html.escape(XML_ILLEGAL.sub("", value), quote=False)
    if value != value.strip():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


def _xlsx_text(value: str) -> str:
    """An inline string cell's content, as openpyxl's write-only mode writes it."""
    return f"<is>{_xlsx_t(value)}</is>"


class StreamedTable:
    """A table too long to keep (the overdue list, the changes), written row by row as it is
    found, in one pass: to ``<name>.csv`` (copied into the report's CSV) and, as the XLSX
    sheet's ``<row>`` elements, to ``<name>.xml`` (spliced into the workbook by ``write_xlsx``).
    Integers become number cells, other values text (inline strings, as openpyxl's write-only
    mode writes them); ``""`` and ``None`` empty cells. Cells are positioned by their order in
    the row (no ``r`` attribute), so a value's cell is the same in every row: the cells of the
    columns whose values repeat (all but ``unique_columns``) are made once per distinct value."""

    def __init__(self, tmp: Path, name: str, columns: list[str], *, unique_columns=(), xml=None):
        """``xml``: where the rows' XML goes (a text handle the caller closes, as the sheet of a
        ``StreamedWorkbook``), by default ``<name>.xml``."""
        self.csv_handle = (tmp / f"{name}.csv").open(
            "w", encoding="utf-8", newline="", buffering=FILE_BUFFER
        )
        self.owns_xml = xml is None
        self.xml_handle = (
            (tmp / f"{name}.xml").open("w", encoding="utf-8", buffering=FILE_BUFFER)
            if xml is None
            else xml
        )
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

    def write_formatted(self, csv_lines, xml_rows, rows: int) -> None:
        """``rows`` rows already formatted (``report_reading``), as UTF-8 bytes: their CSV
        lines, each ended by CRLF, and the XLSX's ``<row>`` elements numbered from
        ``count + 1``."""
        if rows:
            for handle, data in ((self.csv_handle, csv_lines), (self.xml_handle, xml_rows)):
                handle.flush()
                handle.buffer.write(data)
            self.count += rows

    def close(self) -> None:
        try:
            self.csv_handle.close()
        finally:
            if self.owns_xml:
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


# The workbook's sheets: the summary tables (``summary_sections``), then the long tables
# (``STREAMED_SECTIONS``); openpyxl names them ``sheet1.xml``, ``sheet2.xml``... in that order.
SUMMARY_SHEETS = 6
OVERDUE_SHEET = f"xl/worksheets/sheet{SUMMARY_SHEETS + len(STREAMED_SECTIONS)}.xml"


def _workbook(target, sections: list[tuple[str, list[str], list[list]]]) -> dict[str, str]:
    """openpyxl's workbook (write-only) of ``sections`` (title, header, rows), then the long
    tables with only their headers, saved to ``target`` (a path or a binary file); their
    sheets' paths in the zip, by table name."""
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

    for title, header, rows in sections:
        sheet = workbook.create_sheet(title[:31])
        header_row(sheet, header)
        for row in rows:
            sheet.append(row)
    streamed = {}
    for title, header, name in STREAMED_SECTIONS:
        sheet = workbook.create_sheet(title[:31])
        header_row(sheet, header)
        streamed[name] = sheet
    workbook.save(target)  # which names the sheets' paths
    return {name: sheet.path.lstrip("/") for name, sheet in streamed.items()}


SHARED_STRINGS = "xl/sharedStrings.xml"
# Where the shared strings are declared: (the closing tag, the element to insert before it).
SHARED_STRINGS_LINKS = {
    "[Content_Types].xml": (
        "</Types>",
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>',
    ),
    "xl/_rels/workbook.xml.rels": (
        "</Relationships>",
        '<Relationship Id="rIdSharedStrings" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/sharedStrings" Target="/xl/sharedStrings.xml"/>',
    ),
}


def _with_shared_strings(name: str, data: bytes) -> bytes:
    """openpyxl's part ``name`` declaring the shared strings too."""
    end, element = SHARED_STRINGS_LINKS[name]
    xml = data.decode("utf-8")
    if xml.count(end) != 1:
        raise RuntimeError(f"{name} is not as openpyxl writes it")
    return xml.replace(end, element + end).encode("utf-8")


@functools.cache
def _overdue_sheet_frame() -> tuple[str, str]:
    """The XML of the overdue sheet before and after its rows, as openpyxl writes it."""
    header = io.BytesIO()
    paths = _workbook(header, [])
    with zipfile.ZipFile(header) as source:
        xml = source.read(paths["overdue"]).decode("utf-8")
    end = xml.index("</sheetData>")
    return xml[:end], xml[end:]


class ThreadedWriter:
    """A binary file (``raw``) written by a thread of its own: ``write`` hands the data over
    and returns at once, so that compressing it (zlib lets go of Python's lock while it works)
    runs beside the reading. At most ``depth`` pieces wait; an error of the thread is raised by
    the next ``write`` or by ``close``, which waits for everything to be written and closes
    ``raw``. Text is written as UTF-8. ``buffer`` and ``flush`` as on a text file, for
    ``StreamedTable``."""

    def __init__(self, raw, depth: int = 8):
        self.raw = raw
        self.pieces: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="report-writer", daemon=True)
        self.thread.start()

    @property
    def buffer(self) -> ThreadedWriter:
        return self

    def _run(self) -> None:
        while (piece := self.pieces.get()) is not None:
            if self.error is None:
                try:
                    self.raw.write(piece)
                except BaseException as error:  # noqa: BLE001 - raised in the writer's thread
                    self.error = error

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def write(self, data) -> None:
        if self.closed:
            raise ValueError("write to a closed file")
        self._raise()
        self.pieces.put(data.encode("utf-8") if isinstance(data, str) else data)

    def flush(self) -> None:
        self._raise()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pieces.put(None)
        self.thread.join()
        self.raw.close()
        self._raise()


class StreamedWorkbook:
    """The report's XLSX, zipped while the rows are read: the overdue sheet's entry is opened
    first and its rows (``sheet``, a ``ThreadedWriter`` for ``StreamedTable``) compressed as they
    come, by a thread of their own;
    ``finish`` adds the summary sheets that openpyxl writes once the figures are known, and the
    changes (from their own ``StreamedTable``'s XML file). The overdue sheet's XML around its
    rows is openpyxl's, from a workbook holding only the header (``finish`` checks that the
    finished workbook's is the same)."""

    def __init__(self, path: Path, tmp: Path):
        self.tmp = tmp
        self.strings = SharedStrings()
        self.head, self.tail = _overdue_sheet_frame()
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self.entry = self.zip.open(OVERDUE_SHEET, "w", force_zip64=True)
        self.sheet = ThreadedWriter(self.entry)
        self.sheet.write(self.head)

    def end_rows(self) -> None:
        """The overdue sheet complete: no more rows."""
        if not self.sheet.closed:
            self.sheet.write(self.tail)
            self.sheet.close()

    def finish(self, figures: dict) -> None:
        """The rest of the workbook: the summary tables of ``figures``, the changes."""
        self.end_rows()
        skeleton = self.tmp / "skeleton.xlsx"
        paths = _workbook(skeleton, summary_sections(figures))
        if paths["overdue"] != OVERDUE_SHEET:
            raise RuntimeError(f"the overdue sheet is {paths['overdue']}, not {OVERDUE_SHEET}")
        with zipfile.ZipFile(skeleton) as source:
            for info in source.infolist():
                data = source.read(info)
                if info.filename == OVERDUE_SHEET:
                    if data.decode("utf-8") != self.head + self.tail:
                        raise RuntimeError("the overdue sheet's XML changed since it was begun")
                    continue
                if info.filename in SHARED_STRINGS_LINKS:
                    data = _with_shared_strings(info.filename, data)
                elif info.filename == SHARED_STRINGS:
                    raise RuntimeError("openpyxl wrote shared strings of its own")
                if info.filename != paths["changes"]:
                    self.zip.writestr(info.filename, data)
                    continue
                xml = data.decode("utf-8")
                end = xml.index("</sheetData>")
                with (
                    self.zip.open(info.filename, "w", force_zip64=True) as entry,
                    (self.tmp / "changes.xml").open("rb") as rows,
                ):
                    entry.write(xml[:end].encode("utf-8"))
                    shutil.copyfileobj(rows, entry, FILE_BUFFER)
                    entry.write(xml[end:].encode("utf-8"))
        skeleton.unlink()
        self.zip.writestr(SHARED_STRINGS, self.strings.xml())
        self.zip.close()

    def close(self) -> None:
        """Closed, finished or not (on an error: the temporary folder goes with it, and the
        error being raised is the one to report, not the sheet's)."""
        try:
            if not self.sheet.closed:
                with contextlib.suppress(Exception):
                    self.sheet.close()
        finally:
            self.zip.close()


def write_xlsx(workbook: StreamedWorkbook, figures: dict) -> None:
    """One sheet per table: the summary tables by openpyxl (write-only), the long tables' rows
    already written as XML by ``StreamedTable`` (the overdue rows zipped as they were read)."""
    workbook.finish(figures)


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
