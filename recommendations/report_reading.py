"""The follow-up report's reading: the rows of the recommendations under follow-up, in batches,
counted and formatted as columns (Apache Arrow), not row by row in Python.

**Batches.** ``iter_batches`` reads the recommendations by primary key, ``QUERIES_PER_BATCH``
queries per batch: the batch's recommendations with their policy domains, and its assignments'
rows (plain columns: the cheapest for the database to send). A batch's rows are selected by the
range of its recommendations' keys, not by a list of thousands of parameters. Memory holds a
batch or two and the counters, whatever the number of recommendations.

**Two ways to fetch, one way to work.** On PostgreSQL, when the reading has its own snapshot of
the database (``reporting.consistent_reading`` exports it), the rows are fetched by the
PostgreSQL driver of ADBC (Arrow Database Connectivity: the binary ``COPY`` protocol decoded
into Arrow columns in C++, no Python object per value) on a second connection that imports the
snapshot, so both connections see the same data; a thread fetches the next batch while this one
is worked on. Elsewhere (SQLite, or inside a caller's transaction whose own writes another
connection could not see, as in tests) Django's cursor fetches the same queries and the rows are
turned into the same Arrow columns; so too, with a warning, when ADBC cannot connect. From there
the work is the same:

- the assignments are counted with Arrow's ``group_by`` (``Counts``), per (group, agency,
  response, status, overdue) and per (group, agency, progress); the recommendations per
  (group, overall status, open, unattended), from their assignments' statuses;
- the overdue rows' CSV lines and XLSX ``<row>`` elements are joined column-wise
  (``binary_join_element_wise``) from cells made once per label and date (``OverdueCells``), the
  reference (plain text: the check constraint ``recommendation_reference_format``), the progress
  and the row number changing from row to row; a batch's lines come out as one buffer;
- the longest overdue are kept (``LongestOverdue``);
- each assignment's snapshot row is a column of the batch's ``snapshot`` (``SnapshotWriter``).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import re
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection
from django.db.models import QuerySet

from .models import Recommendation
from .report_figures import (
    ASSIGNMENT,
    CONCLUDED,
    DOMAINS,
    IN_PROGRESS,
    SESSION,
    Counts,
    Labels,
    overdue_sql,
    scope_sql,
)
from .report_outputs import (
    SNAPSHOT_SCHEMA,
    LongestOverdue,
    OverdueCells,
    SharedStrings,
    _as_date,
    plain_columns,
)

logger = logging.getLogger(__name__)

# Fewer, larger batches cost fewer round trips; a batch of 5000 holds ~15,000 assignment rows.
BATCH_SIZE = 5000
# Per batch: its recommendations, its assignments' rows.
QUERIES_PER_BATCH = 2

# The columns of a batch's assignments' rows as fetched (``_rows_sql``), as Arrow types: the same
# whichever way they were fetched; and as worked on, with their recommendation's reference.
FETCHED_SCHEMA = pa.schema(
    [
        *[SNAPSHOT_SCHEMA.field(index) for index in range(5)],
        ("due", pa.date32()),
        ("role", pa.string()),
        ("response", pa.string()),
    ]
)
ROW_SCHEMA = pa.schema(
    [
        *SNAPSHOT_SCHEMA,
        ("due", pa.date32()),
        ("role", pa.string()),
        ("response", pa.string()),
    ]
)
_OFFSET = struct.Struct("<i")


@dataclass
class Batch:
    """One batch of recommendations (keys in ``(first, last]``), their assignments' rows."""

    recommendations: int
    first: int
    last: int
    # Each assignment's snapshot row (``SNAPSHOT_SCHEMA``), sorted by recommendation and id.
    snapshot: pa.RecordBatch
    # The overdue assignments' CSV lines (each ended by CRLF) and XLSX ``<row>`` elements, in
    # the same order, each as one buffer; how many rows they are.
    overdue_csv: bytes | memoryview
    overdue_xml: bytes | memoryview
    overdue_rows: int


# --- The queries ---------------------------------------------------------------------------------


def _recommendations_sql(rec_sql: str, *, batch_size: int) -> str:
    """The query of a batch's recommendations: parameters ``[*scope params, after]``. The
    ``batch_size`` first recommendations of the scope with a key after ``after``, a row per
    policy domain (one, of domain NULL, when none): ``id, reference, dialogue_id,
    workshop_id, overall_status, policydomain_id``, sorted by recommendation, then by
    domain."""
    return (
        "SELECT r.id, r.reference, r.dialogue_id, r.workshop_id, "  # noqa: S608
        "r.overall_status, t.policydomain_id "
        "FROM (SELECT s.id, s.reference, s.dialogue_id, s.workshop_id, s.overall_status "
        f"FROM ({rec_sql}) s WHERE s.id > %s ORDER BY s.id LIMIT {int(batch_size)}) r "
        f"LEFT JOIN {DOMAINS} t ON t.recommendation_id = r.id "
        "ORDER BY r.id, t.policydomain_id"
    )


def _rows_sql(*, today: dt.date) -> tuple[str, list]:
    """The query of the assignment rows of a range of recommendations: parameters
    ``[*params, first, last]``, ``params`` returned. Columns (``FETCHED_SCHEMA``):
    ``recommendation_id, id, organisation_id, status, progress``, the due date when the
    assignment is overdue (else NULL), ``role, response``; sorted by recommendation, then by
    id. The range's recommendations outside the scope are left out afterwards (by their keys,
    known from the batch's recommendations), which costs the database half as much as joining
    them here."""
    overdue, overdue_params = overdue_sql(today)
    sql = (
        "SELECT a.recommendation_id, a.id, a.organisation_id, a.status, a.progress, "  # noqa: S608
        f"CASE WHEN {overdue} = 1 THEN COALESCE(a.due_date, s.start_date) END, "
        f"a.role, a.response FROM {ASSIGNMENT} a "
        f"LEFT JOIN {SESSION} s ON s.id = a.due_before_session_id "
        f"WHERE a.recommendation_id > %s AND a.recommendation_id <= %s "
        f"ORDER BY a.recommendation_id, a.id"
    )
    return sql, overdue_params


@dataclass
class _Queries:
    """A reading's queries, each as ``(sql, params)`` for a batch."""

    rec_params: list
    recs_sql: str
    rows_sql: str
    rows_params: list

    @classmethod
    def build(cls, scope: QuerySet[Recommendation], *, today: dt.date, batch_size: int):
        rec_sql, rec_params = scope_sql(scope)
        rows_sql, rows_params = _rows_sql(today=today)
        return cls(
            rec_params,
            _recommendations_sql(rec_sql, batch_size=batch_size),
            rows_sql,
            rows_params,
        )

    def recommendations(self, after: int) -> tuple[str, list]:
        return self.recs_sql, [*self.rec_params, after]

    def rows(self, first: int, last: int) -> tuple[str, list]:
        return self.rows_sql, [*self.rows_params, first, last]


# --- Fetching ------------------------------------------------------------------------------------


def _record_batch(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """A fetched table as one record batch of ``schema``'s names and types."""
    table = table.rename_columns(schema.names).cast(schema)
    return pa.RecordBatch.from_arrays(
        [column.combine_chunks() for column in table.columns], schema=schema
    )


class CursorFetch:
    """The queries run by Django's cursor (any database), the rows turned into Arrow columns."""

    def __init__(self):
        self.cursor = connection.cursor()
        self.queries = 0

    def tuples(self, sql: str, params: list) -> list[tuple]:
        self.queries += 1
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()

    def columns(self, sql: str, params: list, schema: pa.Schema) -> pa.RecordBatch:
        rows = self.tuples(sql, params)
        values = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
        arrays = []
        for column, field in zip(values, schema, strict=True):
            if field.type == pa.date32():
                column = [_as_date(value) for value in column]
            arrays.append(pa.array(column, field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def close(self) -> None:
        self.cursor.close()


_PLACEHOLDER = re.compile(r"%s|%%")
_MISSING = object()


def literal_sql(sql: str, params: list) -> str:
    """``sql`` (Django's ``%s`` placeholders) with its parameters written in as PostgreSQL
    literals, quoted by psycopg: a query with bound parameters cannot be read by ``COPY``,
    ADBC's fast path."""
    from psycopg.sql import Literal

    values = iter(params)

    def literal(match: re.Match) -> str:
        if match.group() == "%%":
            return "%"
        value = next(values, _MISSING)
        if value is _MISSING:
            raise ValueError("fewer parameters than placeholders")
        return Literal(value).as_string()

    text = _PLACEHOLDER.sub(literal, sql)
    if next(values, _MISSING) is not _MISSING:
        raise ValueError("more parameters than placeholders")
    return text


def adbc_conninfo() -> str:
    """libpq's connection string for Django's default database, with the options libpq knows
    (``sslmode``, ``application_name``…); Django's own (``pool``, ``isolation_level``…) left
    out."""
    from psycopg import pq
    from psycopg.conninfo import make_conninfo

    settings = connection.settings_dict
    keywords = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
    params = {
        "dbname": settings["NAME"],
        "user": settings.get("USER"),
        "password": settings.get("PASSWORD"),
        "host": settings.get("HOST"),
        "port": str(settings.get("PORT") or ""),
    }
    params.update(
        {key: value for key, value in settings.get("OPTIONS", {}).items() if key in keywords}
    )
    return make_conninfo(**{key: value for key, value in params.items() if value})


class ArrowFetch:
    """The queries run through ADBC's PostgreSQL driver on a connection of its own, in the
    snapshot ``snapshot`` (``pg_export_snapshot()`` of the reading's transaction): the results
    read by ``COPY`` straight into Arrow columns."""

    def __init__(self, snapshot: str):
        import adbc_driver_postgresql.dbapi

        self.connection = adbc_driver_postgresql.dbapi.connect(adbc_conninfo())
        self.queries = 0
        try:
            self.cursor = self.connection.cursor()
            self.cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self.cursor.execute(literal_sql("SET TRANSACTION SNAPSHOT %s", [snapshot]))
        except BaseException:
            self.connection.close()
            raise

    def _table(self, sql: str, params: list) -> pa.Table:
        self.queries += 1
        self.cursor.execute(literal_sql(sql, params))
        return self.cursor.fetch_arrow_table()

    def tuples(self, sql: str, params: list) -> list[tuple]:
        table = self._table(sql, params)
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True))

    def columns(self, sql: str, params: list, schema: pa.Schema) -> pa.RecordBatch:
        return _record_batch(self._table(sql, params), schema)

    def close(self) -> None:
        try:
            self.cursor.close()
        finally:
            self.connection.close()


@dataclass
class _Fetched:
    first: int
    last: int
    recommendations: list[tuple]
    rows: pa.RecordBatch


def _fetched_batches(fetch, queries: _Queries, batch_size: int) -> Iterator[_Fetched]:
    """The batches as fetched; a last query finds nothing more unless a batch was short."""
    first = 0
    while True:
        recommendations = fetch.tuples(*queries.recommendations(first))
        if not recommendations:
            return
        last = recommendations[-1][0]
        yield _Fetched(
            first,
            last,
            recommendations,
            fetch.columns(*queries.rows(first, last), FETCHED_SCHEMA),
        )
        if len({row[0] for row in recommendations}) < batch_size:
            return
        first = last


class Prefetched:
    """``items`` (an iterator) run by a thread of its own, ``depth`` items ahead of the reader:
    the thread waits on the database (and ADBC decodes, without Python's lock) while the reader
    works. ``close`` stops the thread, from any state."""

    def __init__(self, items: Iterator, depth: int = 1):
        self.items = items
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="report-reading", daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self.items:
                if not self._put(("item", item)):
                    return
            self._put(("end", None))
        except BaseException as error:  # noqa: BLE001 - handed over to the reader
            self._put(("error", error))

    def __iter__(self):
        return self

    def __next__(self):
        kind, value = self.queue.get()
        if kind == "item":
            return value
        if kind == "error":
            raise value
        self.queue.put((kind, value))  # the end stays the end
        raise StopIteration

    def close(self) -> None:
        self.stop.set()
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.thread.join()


# --- Working on a batch --------------------------------------------------------------------------


def _batch_recommendations(rows: list[tuple], counts: Counts) -> tuple[list, ...]:
    """The rows of ``_recommendations_sql``: the recommendations' keys, in key order, each
    one's reference, group (``Counts.group``) and overall status."""
    keys, references, groups, statuses = [], [], [], []
    current, dialogue_id, workshop_id, domains = None, None, None, []
    for rec_id, reference, d_id, w_id, overall_status, domain_id in rows:
        if rec_id != current:
            if current is not None:
                groups.append(counts.group(dialogue_id, workshop_id, (*domains,)))
            keys.append(rec_id)
            references.append(reference)
            statuses.append(overall_status)
            current, dialogue_id, workshop_id, domains = rec_id, d_id, w_id, []
        if domain_id is not None:
            domains.append(domain_id)
    if current is not None:
        groups.append(counts.group(dialogue_id, workshop_id, (*domains,)))
    return keys, references, groups, statuses


def _count_recommendations(
    counts: Counts, keys: pa.Array, groups: pa.Array, statuses: list, rows: pa.RecordBatch
) -> None:
    """The batch's recommendations (``keys``, their ``groups`` and overall ``statuses``)
    counted by (group, overall status, open, unattended), from their assignments' ``rows``:
    open while one of its addressees has not concluded (or it has none), unattended when open
    with none in progress."""
    status = rows.column("status")
    concluded = pa.array([value.value for value in CONCLUDED], pa.string())
    per_recommendation = (
        pa.table(
            {
                "recommendation_id": rows.column("recommendation_id"),
                "going": pc.invert(pc.is_in(status, value_set=concluded)),
                "active": pc.equal(status, IN_PROGRESS.value),
            }
        )
        .group_by("recommendation_id", use_threads=False)
        .aggregate([("going", "any"), ("active", "any")])
    )
    at = pc.index_in(keys, value_set=per_recommendation.column("recommendation_id"))
    # None where a recommendation has no assignment: open, unattended.
    is_open = pc.fill_null(pc.take(per_recommendation.column("going_any"), at), True)
    active = pc.fill_null(pc.take(per_recommendation.column("active_any"), at), False)
    keys_ = ["group", "status", "open", "unattended"]
    found = (
        pa.table(
            {
                "group": groups,
                "status": pa.array(statuses, pa.string()),
                "open": is_open,
                "unattended": pc.and_(is_open, pc.invert(active)),
            }
        )
        .group_by(keys_, use_threads=False)
        .aggregate([([], "count_all")])
    )
    counts.add_recommendations(
        zip(*(found.column(name).to_pylist() for name in [*keys_, "count_all"]), strict=True)
    )


def _count(counts: Counts, columns: dict[str, pa.Array]) -> None:
    """The assignments of a batch counted by (group, agency, response, status, overdue) and
    their progress by (group, agency, progress)."""
    table = pa.table(columns)
    for counter, keys in (
        (counts.assignments, ["group", "agency", "response", "status", "overdue"]),
        (counts.progress, ["group", "agency", "progress"]),
    ):
        found = table.group_by(keys, use_threads=False).aggregate([([], "count_all")])
        values = [found.column(name).to_pylist() for name in [*keys, "count_all"]]
        for *key, number in zip(*values, strict=True):
            counter[tuple(key)] += number


def joined(strings: pa.Array) -> bytes | memoryview:
    """The strings of ``strings`` one after the other, as a view of its data (no copy)."""
    if len(strings) == 0:
        return b""
    _validity, offsets, data = strings.buffers()
    start = _OFFSET.unpack_from(offsets, strings.offset * 4)[0]
    end = _OFFSET.unpack_from(offsets, (strings.offset + len(strings)) * 4)[0]
    return memoryview(data)[start:end]


def _dictionary(values: pa.Array) -> tuple[list, pa.Array]:
    """The distinct values of ``values`` and, per row, the position of its own among them."""
    encoded = pc.dictionary_encode(values)
    return encoded.dictionary.to_pylist(), encoded.indices


class _OverdueRows:
    """The overdue rows' CSV lines and XLSX rows of a batch, a column at a time: the cells
    that repeat (``OverdueCells``) are made once per distinct (group, agency, role, status)
    in a batch and once per due date in the reading, and taken for each row by its position
    among them."""

    def __init__(self, cells: OverdueCells, counts: Counts):
        self.cells, self.counts = cells, counts
        self.number = 1  # the XLSX sheet's row: the header is row 1
        # The due dates seen (days since 1970-01-01) and their cells, in the same order.
        self.days = pa.array([], pa.int32())
        self.due_csv = pa.array([], pa.string())
        self.due_xml = pa.array([], pa.string())

    def _middles(self, groups: pa.Array, rows: pa.RecordBatch) -> tuple[pa.Array, pa.Array]:
        cells, group_keys = self.cells, self.counts.group_keys
        agencies, agency_at = _dictionary(rows.column("organisation_id"))
        roles, role_at = _dictionary(rows.column("role"))
        statuses, status_at = _dictionary(rows.column("status"))
        # One integer per (group, agency, role, status): its position in their product.
        code = pc.add(
            pc.multiply(
                pc.add(
                    pc.multiply(
                        pc.add(pc.multiply(groups, len(agencies)), agency_at.cast(pa.int64())),
                        len(roles),
                    ),
                    role_at.cast(pa.int64()),
                ),
                len(statuses),
            ),
            status_at.cast(pa.int64()),
        )
        codes, code_at = _dictionary(code)
        csv_cells, xml_cells = [], []
        for value in codes:
            value, status = divmod(value, len(statuses))
            value, role = divmod(value, len(roles))
            group, agency = divmod(value, len(agencies))
            key = (group, agencies[agency], roles[role], statuses[status])
            middle = cells.middle(key, group_keys[group])
            csv_cells.append(middle[0])
            xml_cells.append(middle[1])
        return (
            pc.take(pa.array(csv_cells, pa.string()), code_at),
            pc.take(pa.array(xml_cells, pa.string()), code_at),
        )

    def _dues(self, due: pa.Array) -> tuple[pa.Array, pa.Array]:
        """Each row's due date and days overdue, taken from the cells of the days seen so far
        (Arrow columns, in the order first seen); a day not seen before is made once."""
        days = due.cast(pa.int32())
        at = pc.index_in(days, value_set=self.days)
        if at.null_count:
            new = pc.unique(days.filter(pc.is_null(at))).to_pylist()
            cells = [self.cells.due_of_day(day) for day in new]
            self.days = pa.concat_arrays([self.days, pa.array(new, pa.int32())])
            self.due_csv = pa.concat_arrays(
                [self.due_csv, pa.array([cell[0] for cell in cells], pa.string())]
            )
            self.due_xml = pa.concat_arrays(
                [self.due_xml, pa.array([cell[1] for cell in cells], pa.string())]
            )
            at = pc.index_in(days, value_set=self.days)
        return pc.take(self.due_csv, at), pc.take(self.due_xml, at)

    def format(self, groups: pa.Array, rows: pa.RecordBatch) -> tuple[bytes, bytes]:
        """``rows``: overdue rows only, ``groups`` their groups."""
        if not rows.num_rows:
            return b"", b""
        middle_csv, middle_xml = self._middles(groups, rows)
        due_csv, due_xml = self._dues(rows.column("due"))
        reference = rows.column("reference")
        progress = rows.column("progress").cast(pa.string())
        ones = pc.fill_null(pa.nulls(rows.num_rows, pa.int64()), 1)
        numbers = pc.cumulative_sum(ones, start=self.number).cast(pa.string())
        self.number += rows.num_rows
        csv_lines = pc.binary_join_element_wise(
            reference, ",", middle_csv, ",", progress, ",", due_csv, "\r\n", ""
        )
        xml_rows = pc.binary_join_element_wise(
            '<row r="',
            numbers,
            '"><c t="inlineStr"><is><t>',
            reference,
            "</t></is></c>",
            middle_xml,
            "<c><v>",
            progress,
            "</v></c>",
            due_xml,
            "</row>",
            "",
        )
        return joined(csv_lines), joined(xml_rows)


def _keep_longest(longest: LongestOverdue, groups: pa.Array, rows: pa.RecordBatch) -> None:
    """The batch's overdue rows that may be among the longest overdue, to ``longest``: those
    due on or before its cut, at most its limit of them."""
    if longest.cut is not None:
        keep = pc.less_equal(rows.column("due"), pa.scalar(longest.cut, pa.date32()))
        rows, groups = rows.filter(keep), groups.filter(keep)
    if not rows.num_rows:
        return
    table = pa.table(
        {
            "due": rows.column("due"),
            "recommendation_id": rows.column("recommendation_id"),
            "id": rows.column("id"),
            "reference": rows.column("reference"),
            "group": groups,
            "organisation_id": rows.column("organisation_id"),
            "role": rows.column("role"),
            "status": rows.column("status"),
            "progress": rows.column("progress"),
        }
    )
    order = pc.sort_indices(
        table, sort_keys=[(name, "ascending") for name in ("due", "recommendation_id", "id")]
    )
    top = table.take(order[: longest.limit])
    longest.rows.extend(zip(*(column.to_pylist() for column in top.columns), strict=True))


def iter_batches(
    scope: QuerySet[Recommendation],
    *,
    today: dt.date,
    labels: Labels | None = None,
    batch_size: int | None = None,
    counts: Counts | None = None,
    longest: LongestOverdue | None = None,
    strings: SharedStrings | None = None,
    snapshot: str | None = None,
    fetched: Callable[[object], None] | None = None,
) -> Iterator[Batch]:
    """The assignments of the recommendations of ``scope`` (``report_scope`` or a part of it),
    in batches of recommendations by primary key (see the module's text), counted into
    ``counts``, the longest overdue kept in ``longest``; the XLSX rows' texts are ``strings``'
    (shared strings: the workbook must hold them).

    ``snapshot``: on PostgreSQL, the name of the reading's exported snapshot
    (``reporting.consistent_reading``): the rows are then fetched by ADBC in a thread of their
    own. Without it (or when ADBC cannot connect), by Django's cursor, here. ``fetched`` is
    handed the fetcher (its ``queries``: how many it ran) when the reading ends."""
    batch_size = batch_size or BATCH_SIZE
    labels = labels or Labels.load()
    counts = counts if counts is not None else Counts()
    cells = OverdueCells(labels, today, strings if strings is not None else SharedStrings())
    overdue = _OverdueRows(cells, counts)
    queries = _Queries.build(scope, today=today, batch_size=batch_size)

    fetch = None
    if snapshot is not None and connection.vendor == "postgresql":
        try:
            fetch = ArrowFetch(snapshot)
        except Exception as error:  # noqa: BLE001 - the report is still made, more slowly
            logger.warning(
                "report reading: ADBC's connection failed (%s); reading by Django's connection",
                error,
            )
    if fetch is not None:
        batches = Prefetched(_fetched_batches(fetch, queries, batch_size))
    else:
        fetch = CursorFetch()
        batches = _fetched_batches(fetch, queries, batch_size)
    try:
        for batch in batches:
            keys, references, groups, statuses = _batch_recommendations(
                batch.recommendations, counts
            )
            keys, groups = pa.array(keys, pa.int64()), pa.array(groups, pa.int64())
            rows = batch.rows
            at = pc.index_in(rows.column("recommendation_id"), value_set=keys)
            if at.null_count:
                # Of a recommendation of the range outside the scope (not adopted, archived),
                # or adopted after its batch's recommendations were read (SQLite, where the
                # reading is not one snapshot: the next report has it).
                known = pc.is_valid(at)
                rows, at = rows.filter(known), at.filter(known)
            columns = rows.columns
            rows = pa.RecordBatch.from_arrays(
                [*columns[:5], pc.take(pa.array(references, pa.string()), at), *columns[5:]],
                schema=ROW_SCHEMA,
            )
            _count_recommendations(counts, keys, groups, statuses, rows)
            row_groups = pc.take(groups, at)
            due = rows.column("due")
            is_overdue = pc.is_valid(due)
            _count(
                counts,
                {
                    "group": row_groups,
                    "agency": rows.column("organisation_id"),
                    "response": rows.column("response"),
                    "status": rows.column("status"),
                    "overdue": is_overdue,
                    "progress": rows.column("progress"),
                },
            )
            overdue_rows, overdue_groups = rows.filter(is_overdue), row_groups.filter(is_overdue)
            csv_lines, xml_rows = overdue.format(overdue_groups, overdue_rows)
            if longest is not None:
                _keep_longest(longest, overdue_groups, overdue_rows)
                longest.trim()
            yield Batch(
                len(keys),
                batch.first,
                batch.last,
                plain_columns(rows, SNAPSHOT_SCHEMA),
                csv_lines,
                xml_rows,
                overdue_rows.num_rows,
            )
    finally:
        try:
            if isinstance(batches, Prefetched):
                batches.close()
        finally:
            fetch.close()
            if fetched is not None:
                fetched(fetch)
