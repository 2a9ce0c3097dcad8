"""The report's reading: the two ways of fetching (ADBC on PostgreSQL, Django's cursor) give the
same batches, the SQL literals ADBC is sent, the reading thread, the snapshot formats."""

import datetime as dt
import marshal
import struct
import threading
import zlib

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from recommendations import report_outputs, report_reading, reporting
from recommendations.enums import ImplementationStatus, RecommendationState
from recommendations.models import Assignment, Recommendation
from recommendations.report_reading import Prefetched, literal_sql
from tests.factories.idm import CouncilSessionFactory
from tests.factories.recommendations import AssignmentFactory, RecommendationFactory
from tests.factories.stakeholders import OrganisationFactory

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL: ADBC reads PostgreSQL only"
)
TODAY = dt.date(2026, 3, 10)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


# --- SQL literals --------------------------------------------------------------------------------


def test_literal_sql_writes_each_parameter_as_a_quoted_literal():
    sql = literal_sql(
        "SELECT %s, %s, %s, %s, %s WHERE a LIKE 'x%%'",
        ["it's", "back\\slash", 42, dt.date(2026, 3, 10), None],
    )
    assert sql == (
        "SELECT 'it''s',  E'back\\\\slash', 42, '2026-03-10'::date, NULL WHERE a LIKE 'x%'"
    )


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT %s, %s", [1], "fewer parameters than placeholders"),
        ("SELECT %s", [1, 2], "more parameters than placeholders"),
    ],
)
def test_literal_sql_refuses_parameters_that_do_not_match(sql, params, message):
    with pytest.raises(ValueError, match=message):
        literal_sql(sql, params)


@needs_postgresql
def test_literals_read_back_as_the_values_on_postgresql(db):
    values = ["it's", "back\\slash", "per%cent", "tab\tand 'both' \\'", "Ünïcode ✓"]
    with connection.cursor() as cursor:
        cursor.execute(literal_sql("SELECT " + ", ".join(["%s"] * len(values)), values))
        assert list(cursor.fetchone()) == values


# --- The reading thread --------------------------------------------------------------------------


def test_prefetched_hands_over_the_items_then_the_end():
    items = Prefetched(iter(range(5)))
    assert list(items) == [0, 1, 2, 3, 4]
    with pytest.raises(StopIteration):
        next(items)
    items.close()
    assert not items.thread.is_alive()


def test_prefetched_raises_the_error_of_its_thread_in_the_reader():
    def failing():
        yield 1
        raise RuntimeError("the database went away")

    items = Prefetched(failing())
    assert next(items) == 1
    with pytest.raises(RuntimeError, match="the database went away"):
        next(items)
    items.close()


def test_prefetched_closed_early_stops_its_thread():
    def endless():
        number = 0
        while True:
            number += 1
            yield number

    items = Prefetched(endless())
    assert next(items) == 1
    items.close()
    assert not items.thread.is_alive()
    assert not [thread for thread in threading.enumerate() if thread.name == "report-reading"]


# --- Both ways of fetching give the same batches -------------------------------------------------


def _varied_data():
    """The 2005 dataset, with statuses, due dates (some by a session) and recommendations out
    of the scope between those in it."""
    call_command("load_idm_data", verbosity=0)
    session = CouncilSessionFactory(start_date=dt.date(2025, 11, 28))
    statuses = list(ImplementationStatus)
    for index, assignment in enumerate(Assignment.objects.order_by("pk")):
        assignment.status = statuses[index % len(statuses)]
        assignment.progress = (index * 13) % 100
        if index % 5 == 0:
            assignment.due_date, assignment.due_before_session = None, session
        else:
            assignment.due_date = dt.date(2025, 6, 1) + dt.timedelta(days=30 * (index % 13))
        assignment.save()
    keys = list(Recommendation.objects.order_by("pk").values_list("pk", flat=True))
    Recommendation.objects.filter(pk__in=keys[3::17]).update(state=RecommendationState.DRAFT)
    Recommendation.objects.filter(pk__in=keys[5::19]).update(archived_at=dt.datetime.now(dt.UTC))


def _read(snapshot, batch_size):
    counts, longest = reporting.Counts(), reporting.LongestOverdue(50)
    strings = report_outputs.SharedStrings()
    fetchers = []
    batches = [
        (
            batch.recommendations,
            batch.first,
            batch.last,
            report_outputs.snapshot_rows(batch.snapshot),
            reporting.SnapshotWriter.encode(batch.snapshot)[1],
            bytes(batch.overdue_csv),
            bytes(batch.overdue_xml),
            batch.overdue_rows,
        )
        for batch in reporting.iter_batches(
            reporting.report_scope(),
            today=TODAY,
            batch_size=batch_size,
            counts=counts,
            longest=longest,
            strings=strings,
            snapshot=snapshot,
            fetched=fetchers.append,
        )
    ]
    return batches, counts.result(), sorted(longest.rows), strings.numbers, fetchers[0]


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_adbc_and_the_cursor_read_the_same_batches_counts_and_lines():
    _varied_data()
    with reporting.consistent_reading() as snapshot:
        assert snapshot
        by_adbc = _read(snapshot, 40)
        by_cursor = _read(None, 40)
    assert isinstance(by_adbc[-1], report_reading.ArrowFetch)
    assert isinstance(by_cursor[-1], report_reading.CursorFetch)
    # Batch by batch: bounds, snapshot rows and their digest, CSV lines and XLSX rows.
    assert by_adbc[0] == by_cursor[0]
    assert by_adbc[1:4] == by_cursor[1:4]
    batches, tally = by_adbc[0], by_adbc[1]
    assert len(batches) > 3 and sum(batch[-1] for batch in batches) == tally.overdue_count > 20
    in_scope = Recommendation.objects.filter(reporting.report_scope().query.where)
    assert sum(batch[0] for batch in batches) == in_scope.count()
    # Two queries a batch, and one more finding nothing when the last batch was full.
    last_full = batches[-1][0] == 40
    assert by_adbc[-1].queries == by_cursor[-1].queries == len(batches) * 2 + last_full
    assert [row[:2] for batch in batches for row in batch[3]] == list(
        Assignment.objects.filter(recommendation__in=in_scope)
        .order_by("recommendation_id", "pk")
        .values_list("recommendation_id", "pk")
    )


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_unchanged_report_read_by_adbc_copies_the_previous_snapshot_whole(
    monkeypatch, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(report_reading, "BATCH_SIZE", 4)
    organisation = OrganisationFactory()
    for index in range(10):
        AssignmentFactory(
            recommendation=RecommendationFactory(state=RecommendationState.ADOPTED),
            organisation=organisation,
            progress=index * 10,
        )
    first = reporting.report_run_build(
        run=reporting.report_run_create(kind="on_demand", queue=False)
    )
    decoded = []
    original = report_outputs.SnapshotBlock.decoded
    monkeypatch.setattr(
        report_outputs.SnapshotBlock,
        "decoded",
        lambda block: decoded.append(block) or original(block),
    )
    second = reporting.report_run_build(
        run=reporting.report_run_create(kind="on_demand", queue=False)
    )
    assert second.previous == first
    assert decoded == []  # every batch the same as before: no block unzipped
    assert second.snapshot_file.read() == first.snapshot_file.read()


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_adbc_reading_stopped_half_way_leaves_no_thread_and_the_connection_usable():
    for _ in range(5):
        AssignmentFactory(recommendation=RecommendationFactory(state=RecommendationState.ADOPTED))
    with reporting.consistent_reading() as snapshot:
        batches = reporting.iter_batches(
            reporting.report_scope(), today=TODAY, batch_size=1, snapshot=snapshot
        )
        assert len(next(batches).snapshot) == 1
        batches.close()
        assert Recommendation.objects.count() == 5
    assert not [thread for thread in threading.enumerate() if thread.name == "report-reading"]
    with transaction.atomic():
        assert Assignment.objects.count() == 5


# --- The snapshot of the format before -----------------------------------------------------------


def test_changes_are_found_against_a_snapshot_of_the_format_before(db, settings, tmp_path):
    """A report made before this version kept its rows ``marshal``'d: the next one compares
    with them row by row."""
    organisation = OrganisationFactory(acronym="ILO")
    kept, changed = (
        AssignmentFactory(
            recommendation=RecommendationFactory(state=RecommendationState.ADOPTED),
            organisation=organisation,
            status=ImplementationStatus.NOT_STARTED,
            progress=0,
        )
        for _ in range(2)
    )
    first = reporting.report_run_build(
        run=reporting.report_run_create(kind="on_demand", queue=False)
    )
    with first.snapshot_file.open("rb") as handle:
        blocks = list(reporting.read_snapshot(handle))
    data = bytearray(report_outputs.SNAPSHOT_MAGIC_3)
    for block in blocks:
        stored = zlib.compress(marshal.dumps(block.decoded(), 2))
        digest = b"\0" * 16
        data += struct.pack(">qq16sI", block.first, block.last, digest, len(stored)) + stored
    with open(first.snapshot_file.path, "wb") as handle:
        handle.write(data)

    Assignment.objects.filter(pk=changed.pk).update(status="in_progress", progress=30)
    second = reporting.report_run_build(
        run=reporting.report_run_create(kind="on_demand", queue=False)
    )
    changes = second.figures["changes"]
    assert changes["previous"]["id"] == first.pk
    assert changes["counts"]["changed"] == 1 and changes["counts"]["new"] == 0
    assert [row["reference"] for row in changes["top"]] == [changed.recommendation.reference]
    assert kept.recommendation.reference not in {row["reference"] for row in changes["top"]}


# --- The writing thread --------------------------------------------------------------------------


class _Raw:
    def __init__(self, fail_at=None):
        self.data, self.closed, self.fail_at = bytearray(), False, fail_at

    def write(self, piece):
        if self.fail_at is not None and len(self.data) >= self.fail_at:
            raise OSError(28, "No space left on device")
        self.data += piece

    def close(self):
        self.closed = True


def test_threaded_writer_writes_everything_in_order_before_it_closes():
    raw = _Raw()
    writer = report_outputs.ThreadedWriter(raw, depth=2)
    writer.write("<sheet>")
    for number in range(500):
        writer.buffer.write(memoryview(f"<row>{number}</row>".encode()))
    writer.write("</sheet>")
    writer.close()
    assert raw.closed and not writer.thread.is_alive()
    assert (
        raw.data
        == ("<sheet>" + "".join(f"<row>{n}</row>" for n in range(500)) + "</sheet>").encode()
    )
    with pytest.raises(ValueError, match="closed"):
        writer.write("more")


def test_threaded_writer_raises_the_error_of_its_thread():
    writer = report_outputs.ThreadedWriter(_Raw(fail_at=10), depth=1)
    with pytest.raises(OSError, match="No space left"):
        for _ in range(100):
            writer.write(b"0123456789")
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    assert not writer.thread.is_alive()


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_report_is_made_by_djangos_connection_when_adbc_cannot_connect(
    monkeypatch, settings, tmp_path, caplog
):
    settings.MEDIA_ROOT = tmp_path
    for _ in range(3):
        AssignmentFactory(recommendation=RecommendationFactory(state=RecommendationState.ADOPTED))
    monkeypatch.setattr(
        report_reading, "adbc_conninfo", lambda: "host=127.0.0.1 port=1 connect_timeout=2"
    )
    run = reporting.report_run_build(run=reporting.report_run_create(kind="on_demand", queue=False))
    assert run.state == "done", run.error
    assert run.figures["totals"]["assignments"] == 3
    assert "ADBC's connection failed" in caplog.text
