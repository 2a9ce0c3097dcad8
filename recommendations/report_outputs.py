"""The follow-up report's long tables and files: each assignment's snapshot row, the overdue
rows and the changes since the previous report, the CSV, the XLSX and the charts.

**Rows in batches.** ``iter_batches`` reads the recommendations by primary key, in batches of
``QUERIES_PER_BATCH`` queries each; the database sends each assignment's plain columns (the
cheapest for it to send and for the driver to decode: formatting the strings in SQL cost the
database more than Python). Python counts them (``Counts``), keeps the longest overdue
(``LongestOverdue``), takes each assignment's snapshot row and, when it is overdue, makes its
CSV line and its XLSX row (``<row>`` XML) from cells made once per label and date
(``OverdueCells``). The rows are written a batch at a time (the XLSX zipped as they come,
``StreamedWorkbook``), and the snapshot rows compared with the previous run's
(``ChangeTracker``): the rows of a batch equal to the previous ones are skipped at once. Memory
holds one batch and the counters, whatever the number of recommendations.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import gzip
import hashlib
import heapq
import html
import io
import itertools
import marshal
import re
import shutil
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from operator import is_not, itemgetter
from pathlib import Path

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from .enums import ImplementationStatus
from .models import Recommendation
from .report_figures import (
    ASSIGNMENT,
    CONCLUDED,
    DOMAINS,
    RESPONSES,
    SESSION,
    STATUSES,
    Counts,
    Labels,
    RecommendationCounting,
    count_recommendations,
    overdue_sql,
    scope_sql,
)

# Fewer, larger batches cost fewer round trips; a batch of 5000 holds ~15,000 assignment rows.
BATCH_SIZE = 5000
# Per batch: its recommendations, its assignments' rows, its recommendations' counting.
QUERIES_PER_BATCH = 3
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
    # Each assignment's snapshot row (``SnapshotWriter``), sorted by recommendation and id.
    snapshot: list[tuple]
    # The overdue assignments' CSV lines and XLSX ``<row>`` elements, in the same order.
    overdue_csv: list[str]
    overdue_xml: list[str]


# An assignment's snapshot row (``SnapshotWriter``): the first six columns of its row.
_snapshot_columns = itemgetter(0, 1, 2, 3, 4, 5)
_column = [itemgetter(index) for index in range(9)]


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
    """The parts of the overdue rows that repeat, as CSV fields and XLSX cells, each made once:
    per (group, agency, role, status) the labels' cells, per due date the date's
    and the days overdue's. Bounded by the reference data and the calendar, not by the rows.
    The XLSX's texts are ``strings``' (shared strings)."""

    def __init__(self, labels: Labels, today: dt.date, strings: SharedStrings):
        self.labels, self.today, self.strings = labels, today, strings
        self.middles: dict[tuple, tuple[str, str]] = {}
        self.dues: dict[object, tuple[str, str]] = {}

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

    def due(self, value) -> tuple[str, str]:
        """The due date (a date, or its text on SQLite) and the days overdue."""
        found = self.dues.get(value)
        if found is None:
            due = _as_date(value)
            iso, days = due.isoformat(), (self.today - due).days
            found = self.dues[value] = (
                f"{iso},{days}",
                f"{self.strings.cell(iso)}<c><v>{days}</v></c>",
            )
        return found


def _recommendations_sql(rec_sql: str, *, batch_size: int) -> str:
    """The query of a batch's recommendations: parameters ``[*scope params, after]``. The
    ``batch_size`` first recommendations of the scope with a key after ``after``, a row per
    policy domain (one, of domain NULL, when none): ``id, dialogue_id, workshop_id,
    policydomain_id``, sorted by recommendation, then by domain."""
    return (
        "SELECT r.id, r.dialogue_id, r.workshop_id, t.policydomain_id "  # noqa: S608
        "FROM (SELECT s.id, s.dialogue_id, s.workshop_id "
        f"FROM ({rec_sql}) s WHERE s.id > %s ORDER BY s.id LIMIT {int(batch_size)}) r "
        f"LEFT JOIN {DOMAINS} t ON t.recommendation_id = r.id "
        "ORDER BY r.id, t.policydomain_id"
    )


def _rows_sql(rec_sql: str, *, today: dt.date) -> tuple[str, list]:
    """The query of a batch's assignment rows: parameters ``[*params, *scope params, first,
    last, first, last]``, ``params`` returned. Columns: ``recommendation_id, id,
    organisation_id, status, progress, reference``, the due date when the assignment is overdue
    (else NULL), ``role, response``; sorted by recommendation, then by id."""
    overdue, overdue_params = overdue_sql(today)
    sql = (
        "SELECT a.recommendation_id, a.id, a.organisation_id, a.status, a.progress, "  # noqa: S608
        f"r.reference, CASE WHEN {overdue} = 1 THEN COALESCE(a.due_date, s.start_date) END, "
        f"a.role, a.response "
        f"FROM ({rec_sql}) r JOIN {ASSIGNMENT} a ON a.recommendation_id = r.id "
        f"LEFT JOIN {SESSION} s ON s.id = a.due_before_session_id "
        f"WHERE a.recommendation_id > %s AND a.recommendation_id <= %s "
        f"AND r.id > %s AND r.id <= %s ORDER BY a.recommendation_id, a.id"
    )
    return sql, overdue_params


def _batch_groups(rows: list[tuple], counts: Counts) -> dict[int, int]:
    """The rows of ``_recommendations_sql``: each recommendation's group (``Counts.group``),
    by key, in key order."""
    found: dict[int, int] = {}
    current, dialogue_id, workshop_id, domains = None, None, None, []
    for rec_id, d_id, w_id, domain_id in rows:
        if rec_id != current:
            if current is not None:
                found[current] = counts.group(dialogue_id, workshop_id, (*domains,))
            current, dialogue_id, workshop_id, domains = rec_id, d_id, w_id, []
        if domain_id is not None:
            domains.append(domain_id)
    if current is not None:
        found[current] = counts.group(dialogue_id, workshop_id, (*domains,))
    return found


def _pipeline():
    """On PostgreSQL with psycopg 3, the connection in pipeline mode: a query is sent without
    waiting for the previous one's result, so the database reads a batch while Python formats
    and writes the one before. Elsewhere nothing."""
    if connection.vendor != "postgresql":
        return nullcontext()
    connection.ensure_connection()
    raw = connection.connection
    if not hasattr(raw, "pipeline"):  # psycopg2
        return nullcontext()
    from psycopg import Pipeline

    return raw.pipeline() if Pipeline.is_supported() else nullcontext()


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


def iter_batches(
    scope: QuerySet[Recommendation],
    *,
    today: dt.date,
    labels: Labels | None = None,
    batch_size: int | None = None,
    counts: Counts | None = None,
    longest: LongestOverdue | None = None,
    strings: SharedStrings | None = None,
) -> Iterator[Batch]:
    """The assignments of the recommendations of ``scope`` (``report_scope`` or a part of it),
    in batches of recommendations by primary key, ``QUERIES_PER_BATCH`` queries each: the
    batch's recommendations with their policy domains (``_recommendations_sql``), its
    assignments' rows (``_rows_sql``, sorted by recommendation, then by id) and the counting of
    its recommendations (``RecommendationCounting``). A batch's rows are selected by the range
    of its recommendations' keys, not by a list of thousands of parameters.

    The rows come as plain columns (the cheapest for the database to send and for the driver
    to decode). They are counted into ``counts`` with ``Counter`` (in C); the overdue ones are
    formatted here, their CSV line and XLSX row from ``OverdueCells``, only the reference (plain
    text: the database's check constraint ``recommendation_reference_format``), the progress
    and the row number changing from row to row; the XLSX rows' texts are ``strings``' (shared
    strings: the workbook must hold them). The longest overdue are kept in ``longest``.

    On PostgreSQL the connection is in pipeline mode while the batches are iterated: the next
    batch's queries are sent before a batch is formatted and handed over, so the database reads
    and counts it meanwhile. The caller may still query between batches (psycopg waits for the
    results it needs), but should not write."""
    batch_size = batch_size or BATCH_SIZE
    labels = labels or Labels.load()
    counts = counts if counts is not None else Counts()
    cells = OverdueCells(labels, today, strings if strings is not None else SharedStrings())
    middles, dues = cells.middles, cells.dues
    group_keys = counts.group_keys
    rec_sql, rec_params = scope_sql(scope)
    recs_sql = _recommendations_sql(rec_sql, batch_size=batch_size)
    sql, params = _rows_sql(rec_sql, today=today)
    counting = RecommendationCounting.build(rec_sql, rec_params)

    number = 1  # the XLSX sheet's row: the header is row 1
    with (
        connection.cursor() as recs,
        connection.cursor() as cursor,
        connection.cursor() as recommendation_groups,
        _pipeline(),
    ):

        def ask(first: int, last: int, more: bool) -> None:
            """The batch of keys in ``(first, last]``: its rows and counts, and (``more``)
            the recommendations of the next."""
            cursor.execute(sql, [*params, *rec_params, *[first, last] * 2])
            recommendation_groups.execute(counting.sql, counting.params(first, last))
            if more:
                recs.execute(recs_sql, [*rec_params, last])

        recs.execute(recs_sql, [*rec_params, 0])
        groups = _batch_groups(recs.fetchall(), counts)
        if not groups:
            return
        first, last = 0, next(reversed(groups))
        # A last query finds nothing more unless this batch was short.
        more = len(groups) == batch_size
        ask(first, last, more)
        while groups:
            rows = cursor.fetchall()
            count_recommendations(counts.tally, recommendation_groups.fetchall())
            following = _batch_groups(recs.fetchall(), counts) if more else {}
            if following:
                # The next batch asked for now: the database reads and counts it while this
                # one is formatted and handed over.
                following_last = next(reversed(following))
                more = len(following) == batch_size
                ask(last, following_last, more)
            if not groups.keys() >= set(map(_column[0], rows)):
                # Adopted after its batch's recommendations were read (SQLite, where the
                # reading is not one snapshot): the next report has it.
                rows = [row for row in rows if row[0] in groups]
            # In C: each row's keys (group, agency, response, status, overdue) and (group,
            # agency, progress).
            group_of = groups.get
            row_groups = list(map(group_of, map(_column[0], rows)))
            agencies = list(map(_column[2], rows))
            counts.assignments.update(
                zip(
                    row_groups,
                    agencies,
                    map(_column[8], rows),
                    map(_column[3], rows),
                    map(is_not, map(_column[6], rows), itertools.repeat(None)),
                    strict=True,
                )
            )
            counts.progress.update(zip(row_groups, agencies, map(_column[4], rows), strict=True))
            del row_groups, agencies
            snapshot = list(map(_snapshot_columns, rows))
            overdue_csv, overdue_xml = [], []
            csv_line, xml_row = overdue_csv.append, overdue_xml.append
            top, cut = longest.rows.append if longest else None, longest.cut if longest else None
            for rid, aid, org_id, status, progress, reference, due, role, _response in rows:
                if due is None:
                    continue
                group = group_of(rid)
                key = (group, org_id, role, status)
                middle = middles.get(key) or cells.middle(key, group_keys[group])
                dates = dues.get(due) or cells.due(due)
                number += 1
                csv_line(f"{reference},{middle[0]},{progress},{dates[0]}")
                xml_row(
                    f'<row r="{number}"><c t="inlineStr"><is><t>{reference}</t></is></c>'
                    f"{middle[1]}<c><v>{progress}</v></c>{dates[1]}</row>"
                )
                if top is not None and (cut is None or due <= cut):
                    top((due, rid, aid, reference, group, org_id, role, status, progress))
            del rows
            if longest is not None:
                longest.trim()
            yield Batch(len(groups), first, last, snapshot, overdue_csv, overdue_xml)
            if not following:
                return
            first, last, groups = last, following_last, following


def _as_date(value) -> dt.date | None:
    """SQLite hands computed dates (``COALESCE``) back as text."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# --- Snapshots and what changed ------------------------------------------------------------------


SNAPSHOT_MAGIC = b"IDM report snapshot 3\n"
# marshal's format 2 has no references between objects: made three times faster than by the
# current format, whose bookkeeping of every object is no use for rows of plain values.
SNAPSHOT_MARSHAL_VERSION = 2
# A block's header: the batch's bounds (first, last], the digest of its rows, their size.
BLOCK_HEADER = struct.Struct(">qq16sI")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class SnapshotBlock:
    """One batch of a snapshot: its bounds, the digest of its rows as marshalled, and the rows
    as stored (zlib of the marshalled list); ``digest`` None for a block read from a snapshot
    of the earlier format (rows only, never taken as a whole)."""

    first: float
    last: float
    digest: bytes | None
    stored: bytes | None = None
    rows: list[tuple] | None = None

    def decoded(self) -> list[tuple]:
        if self.rows is None:
            self.rows = marshal.loads(zlib.decompress(self.stored))  # noqa: S302 - our own
        return self.rows


class SnapshotWriter:
    """Each assignment's state at this run: ``(recommendation_id, assignment_id,
    organisation_id, status, progress, reference)``, sorted by recommendation and assignment,
    a block per batch (after ``SNAPSHOT_MAGIC``): ``BLOCK_HEADER`` then the rows ``marshal``'d
    and zipped (made and read back in C: no formatting or parsing per row). The file is this
    application's own, read only by the next report (``read_snapshot``)."""

    def __init__(self, path: Path):
        self.handle = path.open("wb", buffering=FILE_BUFFER)  # noqa: SIM115 - closed by close()
        self.handle.write(SNAPSHOT_MAGIC)

    @staticmethod
    def encode(rows: list[tuple]) -> tuple[bytes, bytes]:
        """The rows marshalled, and their digest."""
        data = marshal.dumps(rows, SNAPSHOT_MARSHAL_VERSION)
        return data, hashlib.blake2b(data, digest_size=16).digest()

    def write_block(self, first: int, last: int, digest: bytes, stored: bytes) -> None:
        self.handle.write(BLOCK_HEADER.pack(first, last, digest, len(stored)))
        self.handle.write(stored)

    def close(self) -> None:
        self.handle.close()


def parse_snapshot_line(line: str) -> tuple:
    rec_id, asg_id, org_id, status, progress, reference = line.split("\t", 5)
    return (int(rec_id), int(asg_id), int(org_id), status, int(progress), reference)


def read_snapshot(handle) -> Iterator[SnapshotBlock]:
    """The blocks of a snapshot (an open binary file of ``SnapshotWriter``'s); also those of
    the earlier format (gzip'd, a tab-separated line per row), by chunks of lines."""
    start = handle.read(len(SNAPSHOT_MAGIC))
    if start == SNAPSHOT_MAGIC:
        while header := handle.read(BLOCK_HEADER.size):
            if len(header) < BLOCK_HEADER.size:
                raise ValueError("the previous report's snapshot is cut off")
            first, last, digest, size = BLOCK_HEADER.unpack(header)
            stored = handle.read(size)
            if len(stored) < size:
                raise ValueError("the previous report's snapshot is cut off")
            yield SnapshotBlock(first, last, digest, stored)
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

    def unchanged(self, first: int, last: int, digest: bytes) -> bytes | None:
        """The previous snapshot's block, as stored, when it is the batch ``(first, last]``
        with rows of this ``digest``; then taken. Else None: ``compare`` the rows."""
        block = self.pending
        if (
            block is None
            or self.start < len(self.buffer)
            or (block.first, block.last, block.digest) != (first, last, digest)
        ):
            return None
        self._next_block()
        return block.stored

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


class StreamedWorkbook:
    """The report's XLSX, zipped while the rows are read: the overdue sheet's entry is opened
    first and its rows (``sheet``, a text handle for ``StreamedTable``) compressed as they come;
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
        self.sheet = io.TextIOWrapper(self.entry, encoding="utf-8", newline="")
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
        """Closed, finished or not (on an error: the temporary folder goes with it)."""
        try:
            if not self.sheet.closed:
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
