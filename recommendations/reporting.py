"""Follow-up reports: what the secretariat reads at a glance, monthly, before sessions, on demand.

A report run (``ReportRun``) is created by ``report_run_create`` (from the schedule, the admin, the
API or ``manage.py build_report``) and built by ``report_run_build``, which computes its figures
and writes three files: an HTML page with charts, a CSV and an XLSX with the same numbers.

**What a report covers.** The recommendations under follow-up: adopted and not archived
(``selectors.public_recommendations_q``), or only one dialogue's for an on-demand report limited
to it. Each addressee of such a recommendation is one *assignment*.

**Figures**, per dialogue, per workshop, per agency (the addressed organisation) and per policy
domain: recommendations, assignments by response and by implementation status, the
*completion rate* (the share of assignments whose addressee has concluded its work: implemented,
partially implemented or not implemented, ``ImplementationStatus.concluded``), the average
progress, and how many are overdue (``selectors.assignments_overdue`` on the report's day). The
overdue list gives each overdue assignment with its days overdue. The *coherence matrix* crosses
policy domains with agencies: in each cell, how many recommendations of the domain are
addressed to the agency, and how many of those are *on track* (in progress or concluded, and not
overdue). A recommendation is *open* while one of its addressees has not concluded (or it has no
addressee yet); an open recommendation has *no active agency* when none of its addressees is in
progress. A policy domain with open recommendations but no addressee in progress on any of them
is listed as a *domain with no active agency*.

**What changed since the previous report**: the previous report is the latest finished run with
the same scope (all recommendations, or the same dialogue) made before this one. Each run keeps a
compact snapshot of every assignment's status and progress (``snapshot_file``, sorted, zipped);
the next run reads it alongside its own figures, one line at a time, and lists assignments whose
status or progress changed, new ones, and those no longer followed (their recommendation closed,
superseded or archived).

**Reading.** The data is read once, in batches of recommendations by primary key, with a
constant number of queries per batch (``QUERIES_PER_BATCH``, ``report_reading.iter_batches``),
on PostgreSQL in one REPEATABLE READ snapshot, exported to a second connection of ADBC's
PostgreSQL driver, which reads the rows straight into Arrow columns in a thread of its own: the
database and the driver fetch the next batch while this one is worked on. The counts come from
the same reading, so they always agree with the rows (``report_figures.Counts``): counted as
columns (Arrow's ``group_by``), as are the overdue rows' CSV lines and XLSX ``<row>`` elements
(the repeated cells made once, the texts as shared strings). The batches are written as they
come (the XLSX zipped as it goes), and each assignment's snapshot row compared with the
previous run's (``ChangeTracker``: a batch equal to the previous one is passed at once). The
report's CSV copies the overdue and changed rows' file, and the XLSX has the summary sheets
added by openpyxl's write-only mode at the end. Memory does not grow with the number of
recommendations.

**Never half-written.** The files are made in a temporary folder; they are stored and the run
marked done in one transaction at the end. Any error marks the run failed with its text, and no
file is left behind. Building a done run again changes nothing (it only sends the email if that
had failed).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from config.queue import enqueue_on_commit
from idm.models import CouncilSession, Dialogue
from idm.selectors import event_key

from .enums import ReportKind, ReportRunState
from .models import ReportRun
from .report_figures import (  # noqa: F401 - names of this module's API
    STATUSES,
    Counts,
    Labels,
    Tally,
    figures_from_tally,
    report_scope,
)
from .report_outputs import (  # noqa: F401 - names of this module's API
    CHANGE_COLUMNS,
    GROUP_COLUMNS,
    HTML_LIST_CAP,
    OVERDUE_COLUMNS,
    ChangeTracker,
    LongestOverdue,
    SnapshotWriter,
    StreamedTable,
    StreamedWorkbook,
    _group_values,
    read_snapshot,
    snapshot_rows,
    svg_overdue_by_agency,
    svg_progress_over_time,
    svg_status_by_domain,
    write_csv,
    write_xlsx,
)
from .report_reading import (  # noqa: F401 - names of this module's API
    BATCH_SIZE,
    QUERIES_PER_BATCH,
    iter_batches,
)

logger = logging.getLogger(__name__)

HISTORY_POINTS = 12
SESSION_LEAD_DAYS = 14
# A run left "running" longer than this (its worker died) may be built again.
STALE_RUNNING = dt.timedelta(hours=1)
# A run still queued after this long was probably never published (broker down): queue it again.
REQUEUE_AFTER = dt.timedelta(minutes=15)
# The report's files are attached while their sum stays within this; the others are linked (the
# admin). Base64 adds a third: 5 MB of files make a mail of about 7 MB, under the 10 MB that many
# mail servers accept.
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MONTH_KEY = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": XLSX_CONTENT_TYPE,
}


class ReportError(Exception):
    """A report run cannot be made as asked; ``message`` is a sentence, ``field`` the input."""

    def __init__(self, message: str, *, field: str | None = None):
        self.message = str(message)
        self.field = field
        super().__init__(self.message)


# --- Creating and scheduling runs ----------------------------------------------------------------


def month_key(now: dt.datetime | None = None) -> str:
    """The period key of the month of ``now`` in the secretariat's time zone: "2026-11"."""
    return f"{timezone.localtime(now or timezone.now()):%Y-%m}"


def _build_task():
    from .tasks import build_report_task

    return build_report_task


def _run_get_or_create(*, kind: str, period_key: str, fields: dict) -> tuple[ReportRun, bool]:
    """The run of (kind, period) if it exists, else a new one; safe against a concurrent create."""
    if period_key:
        existing = ReportRun.objects.filter(kind=kind, period_key=period_key).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                return ReportRun.objects.create(kind=kind, period_key=period_key, **fields), True
        except IntegrityError:
            return ReportRun.objects.get(kind=kind, period_key=period_key), False
    return ReportRun.objects.create(kind=kind, period_key=period_key, **fields), True


@transaction.atomic
def report_run_create(
    *,
    kind: str,
    by=None,
    dialogue: Dialogue | None = None,
    council_session: CouncilSession | None = None,
    period_key: str = "",
    queue: bool = True,
) -> ReportRun:
    """A report run, queued to be built after commit (unless ``queue`` is false: the caller
    builds it). A monthly or session report already made for its period is returned as it is.

    * monthly: all recommendations; ``period_key`` the month ("2026-11"), this month by default;
    * session: all recommendations, before ``council_session``; ``period_key`` its event key;
    * on demand: all recommendations, or only ``dialogue``'s; never merged with another run.
    """
    if kind not in ReportKind.values:
        raise ReportError(
            _("Choose one of: %(kinds)s.") % {"kinds": ", ".join(ReportKind.values)}, field="kind"
        )
    if dialogue is not None and kind != ReportKind.ON_DEMAND:
        raise ReportError(
            _("Only an on-demand report can be limited to one dialogue."), field="dialogue"
        )
    if kind == ReportKind.MONTHLY:
        period_key = period_key or month_key()
        if not MONTH_KEY.match(period_key):
            raise ReportError(_("A monthly report's period is a month: 2026-11."), field="period")
    elif kind == ReportKind.SESSION:
        if council_session is None:
            raise ReportError(
                _("Name the Council session the report is made before."), field="council_session"
            )
        period_key = event_key(council_session)
    elif period_key:
        raise ReportError(_("An on-demand report has no period."), field="period")
    if kind != ReportKind.SESSION and council_session is not None:
        raise ReportError(
            _("Only a report before a session names a Council session."), field="council_session"
        )
    run, created = _run_get_or_create(
        kind=kind,
        period_key=period_key,
        fields={
            "dialogue": dialogue,
            "council_session": council_session,
            "requested_by": by if by is not None and by.is_authenticated else None,
        },
    )
    if created and queue:
        enqueue_on_commit(_build_task(), run_id=run.pk)
    return run


@transaction.atomic
def report_runs_schedule(*, now: dt.datetime | None = None) -> list[ReportRun]:
    """Create the reports due now that are not made yet, from the database state alone.

    The month's report (period "YYYY-MM"), and one before each Council session holding a
    dialogue that starts within ``SESSION_LEAD_DAYS`` days (period "council-session-N"). A
    schedule that did not run for days catches up on its next run; running it twice creates
    nothing new. Runs still queued after ``REQUEUE_AFTER`` (never published: the broker was
    down) are queued again. Returns the runs created.
    """
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    created = []
    run, made = _run_get_or_create(
        kind=ReportKind.MONTHLY, period_key=month_key(now), fields={"as_of": now}
    )
    if made:
        created.append(run)
    sessions = CouncilSession.objects.filter(
        dialogue__isnull=False,
        start_date__gte=today,
        start_date__lte=today + dt.timedelta(days=SESSION_LEAD_DAYS),
    ).order_by("start_date", "pk")
    for session in sessions:
        run, made = _run_get_or_create(
            kind=ReportKind.SESSION,
            period_key=event_key(session),
            fields={"council_session": session, "as_of": now},
        )
        if made:
            created.append(run)
    for run in created:
        enqueue_on_commit(_build_task(), run_id=run.pk)
    stale = ReportRun.objects.filter(
        state=ReportRunState.QUEUED, created_at__lt=now - REQUEUE_AFTER
    ).values_list("pk", flat=True)
    for pk in stale:
        enqueue_on_commit(_build_task(), run_id=pk)
    return created


@transaction.atomic
def report_runs_rebuild_failed(*, runs: QuerySet[ReportRun]) -> list[ReportRun]:
    """Queue the failed runs among ``runs`` to be built again; returns them."""
    requeued = []
    # Lock the runs only: the admin's queryset may join (nullable) related rows.
    locked = runs.select_related(None).select_for_update(of=("self",))
    for run in locked.filter(state=ReportRunState.FAILED).order_by("pk"):
        run.state = ReportRunState.QUEUED
        run.error = ""
        run.save(update_fields=["state", "error", "updated_at"])
        enqueue_on_commit(_build_task(), run_id=run.pk)
        requeued.append(run)
    return requeued


# --- Building a run ------------------------------------------------------------------------------


def _previous_runs(run: ReportRun) -> QuerySet[ReportRun]:
    """Finished runs of the same scope made before ``run``, latest first."""
    return (
        ReportRun.objects.filter(
            state=ReportRunState.DONE, dialogue_id=run.dialogue_id, as_of__lte=run.as_of
        )
        .exclude(pk=run.pk)
        .order_by("-as_of", "-pk")
    )


def _scope_label(run: ReportRun) -> str:
    if run.dialogue_id:
        return _("Recommendations of %(dialogue)s") % {"dialogue": run.dialogue}
    return _("All adopted recommendations under follow-up")


def _run_title(run: ReportRun) -> str:
    if run.kind == ReportKind.MONTHLY:
        return _("Monthly follow-up report, %(period)s") % {"period": run.period_key}
    if run.kind == ReportKind.SESSION and run.council_session_id:
        return _("Follow-up report before %(session)s") % {"session": run.council_session}
    return _("Follow-up report of %(when)s") % {
        "when": f"{timezone.localtime(run.as_of):%Y-%m-%d %H:%M}"
    }


def file_stem(run: ReportRun) -> str:
    label = run.period_key or f"{timezone.localtime(run.as_of):%Y-%m-%d-%H%M}"
    return f"idm-follow-up-{run.kind.replace('_', '-')}-{label}-run{run.pk}"


def admin_url(run: ReportRun) -> str:
    path = reverse("admin:recommendations_reportrun_change", args=[run.pk])
    return settings.SITE_URL.rstrip("/") + path


@dataclass
class Built:
    figures: dict
    count: int
    previous: ReportRun | None
    files: dict  # field name -> (file name, path)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: reading hundreds of thousands of rows by
    Django's cursor (SQLite), or comparing them with the previous snapshot's, makes tuples by
    the million, and each collection would walk them all (a third of the reading's time). A
    build makes no reference cycles worth collecting before it ends; what others make is
    collected afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def consistent_reading() -> Iterator[str | None]:
    """The reading of a report in one snapshot of the database, so that its batches agree with
    each other even while agencies report: on PostgreSQL outside a transaction, a REPEATABLE
    READ, READ ONLY transaction, whose snapshot is exported: its name is given, for the
    reading's own connection (``report_reading.ArrowFetch``) to import. Elsewhere (SQLite,
    whose transactions here take the write lock, or inside a transaction, as in tests, whose
    own writes no other connection could see) nothing more, and None given: a batch's queries
    cover the same range of keys, and its rows are only those of the recommendations it read
    (one adopted while its batch is read may be counted without its rows until the next
    report)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield None
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
        yield snapshot


def write_batch(
    batch, *, snapshot: SnapshotWriter, overdue_table: StreamedTable, changes: ChangeTracker
) -> None:
    """A batch's formatted rows to the snapshot, the overdue table and the comparison with the
    previous snapshot: a batch the same as the previous snapshot's block is copied as it was."""
    data, digest = snapshot.encode(batch.snapshot)
    stored = changes.unchanged(batch.first, batch.last, digest)
    if stored is None:
        if changes.active:
            changes.compare(batch.last, snapshot_rows(batch.snapshot))
        stored = snapshot.compress(data)
    snapshot.write_block(batch.first, batch.last, digest, stored)
    overdue_table.write_formatted(batch.overdue_csv, batch.overdue_xml, batch.overdue_rows)


def _read_and_write(
    scope,
    tmp: Path,
    *,
    today: dt.date,
    labels: Labels,
    workbook: StreamedWorkbook,
    previous_handle,
    batch_size: int | None,
    progress: Callable[[int], None] | None,
    reading: str | None = None,
) -> tuple[int, Counts, LongestOverdue, ChangeTracker]:
    """The reading: batches read, counted, formatted and written."""
    counts, longest = Counts(), LongestOverdue(HTML_LIST_CAP)
    count = 0
    with ExitStack() as stack:
        snapshot = SnapshotWriter(tmp / "snapshot.dat")
        stack.callback(snapshot.close)
        overdue_table = StreamedTable(tmp, "overdue", OVERDUE_COLUMNS, xml=workbook.sheet)
        stack.callback(overdue_table.close)
        changes_table = StreamedTable(tmp, "changes", CHANGE_COLUMNS, unique_columns={0})
        stack.callback(changes_table.close)
        changes = ChangeTracker(previous_handle, changes_table, labels)
        # Closed at once on an error (its cursors with it).
        batches = stack.enter_context(
            closing(
                iter_batches(
                    scope,
                    today=today,
                    labels=labels,
                    batch_size=batch_size,
                    counts=counts,
                    longest=longest,
                    strings=workbook.strings,
                    snapshot=reading,
                )
            )
        )
        for batch in batches:
            write_batch(batch, snapshot=snapshot, overdue_table=overdue_table, changes=changes)
            count += batch.recommendations
            if progress is not None:
                progress(batch.recommendations)
        changes.finish()
        workbook.end_rows()
    if changes.broken:
        # What was found before the damage is dropped: no changes rather than some.
        for suffix in ("csv", "xml"):
            (tmp / f"changes.{suffix}").write_bytes(b"")
        changes.counts.clear()
        changes.top.clear()
    return count, counts, longest, changes


def compute_report(
    run: ReportRun,
    tmp: Path,
    *,
    progress: Callable[[int], None] | None = None,
    batch_size: int | None = None,
) -> Built:
    """Read the data once, in batches, and write the report's files into ``tmp``."""
    as_of = run.as_of
    today = timezone.localtime(as_of).date()
    labels = Labels.load()
    scope = report_scope(dialogue_id=run.dialogue_id)
    previous = _previous_runs(run).first()
    with ExitStack() as stack:
        stack.enter_context(collector_paused())
        previous_handle = None
        if previous is not None and previous.snapshot_file:
            try:
                previous_handle = stack.enter_context(previous.snapshot_file.open("rb"))
            except FileNotFoundError:
                logger.warning("report run %s: snapshot of run %s is missing", run.pk, previous.pk)
        workbook = StreamedWorkbook(tmp / "report.xlsx", tmp)
        stack.callback(workbook.close)
        with consistent_reading() as reading:
            count, counts, longest, changes = _read_and_write(
                scope,
                tmp,
                today=today,
                labels=labels,
                workbook=workbook,
                previous_handle=previous_handle,
                batch_size=batch_size,
                progress=progress,
                reading=reading,
            )
        if changes.broken:
            logger.warning(
                "report run %s: snapshot of run %s is unreadable (%s): no changes listed",
                run.pk,
                previous.pk,
                changes.broken,
            )
        tally = counts.result()
        top = longest.table(labels, today, counts)

        figures = figures_from_tally(tally, labels)
        figures["as_of"] = timezone.localtime(as_of).isoformat(timespec="seconds")
        figures["today"] = today.isoformat()
        figures["scope"] = {
            "dialogue": labels.dialogue(run.dialogue_id)[0] if run.dialogue_id else None,
            "council_session": event_key(run.council_session) if run.council_session_id else None,
            "label": _scope_label(run),
        }
        figures["overdue"] = {
            "count": tally.overdue_count,
            "top": [dict(zip(OVERDUE_COLUMNS, row, strict=True)) for row in top],
        }
        figures["changes"] = {
            "previous": (
                {
                    "id": previous.pk,
                    "title": str(previous),
                    "as_of": timezone.localtime(previous.as_of).isoformat(timespec="seconds"),
                }
                if previous_handle is not None and not changes.broken
                else None
            ),
            "counts": {
                name: changes.counts[name]
                for name in ("changed", "status changed", "newly concluded", "new", "closed")
            },
            "top": changes.top,
        }
        history = [
            {
                "label": f"{timezone.localtime(earlier.as_of):%Y-%m-%d}",
                "completion_rate": (earlier.figures.get("totals") or {}).get("completion_rate"),
                "average_progress": (earlier.figures.get("totals") or {}).get("average_progress"),
            }
            for earlier in reversed(
                _previous_runs(run).only("as_of", "figures")[: HISTORY_POINTS - 1]
            )
        ]
        history.append(
            {
                "label": f"{today:%Y-%m-%d}",
                "completion_rate": figures["totals"]["completion_rate"],
                "average_progress": figures["totals"]["average_progress"],
            }
        )
        figures["history"] = history

        stem = file_stem(run)
        write_csv(tmp / "report.csv", figures, tmp)
        write_xlsx(workbook, figures)
        html_text = render_to_string(
            "recommendations/reports/report.html", html_context(run, figures)
        )
        (tmp / "report.html").write_text(html_text, encoding="utf-8")
        return Built(
            figures=figures,
            count=count,
            previous=previous,
            files={
                "html_file": (f"{stem}.html", tmp / "report.html"),
                "csv_file": (f"{stem}.csv", tmp / "report.csv"),
                "xlsx_file": (f"{stem}.xlsx", tmp / "report.xlsx"),
                "snapshot_file": (f"{stem}-snapshot.dat", tmp / "snapshot.dat"),
            },
        )


def html_context(run: ReportRun, figures: dict) -> dict:
    """What the HTML page shows: the figures with their tables laid out as rows of values."""

    def table(title, first, rows, extra=()):
        return {
            "title": title,
            "header": [first, *GROUP_COLUMNS, *(label for label, _key in extra)],
            "rows": [
                {
                    "label": row["label"],
                    "values": [*_group_values(row), *(row[key] for _label, key in extra)],
                    "flag": row.get("no_active_agency", False),
                }
                for row in rows
            ],
        }

    coherence = figures["coherence"]
    return {
        "run": run,
        "title": _run_title(run),
        "figures": figures,
        "totals": figures["totals"],
        "recommendations_by_status": [
            (status.label, figures["totals"]["recommendations_by_status"][status.value])
            for status in STATUSES
        ],
        "tables": [
            table(_("By dialogue"), _("Dialogue"), figures["by_dialogue"]),
            table(_("By workshop"), _("Workshop"), figures["by_workshop"]),
            table(_("By agency"), _("Agency"), figures["by_agency"]),
            table(
                _("By policy domain"),
                _("Policy domain"),
                figures["by_domain"],
                ((_("open"), "open"), (_("open with no active agency"), "without_active_agency")),
            ),
        ],
        "matrix_agencies": coherence["agencies"],
        "matrix_rows": list(zip(coherence["domains"], coherence["cells"], strict=True)),
        "overdue_columns": OVERDUE_COLUMNS,
        "overdue_rows": [list(row.values()) for row in figures["overdue"]["top"]],
        "change_columns": CHANGE_COLUMNS,
        "change_rows": [list(row.values()) for row in figures["changes"]["top"]],
        "list_cap": HTML_LIST_CAP,
        "chart_status_by_domain": mark_safe(svg_status_by_domain(figures["by_domain"])),  # noqa: S308
        "chart_progress": mark_safe(svg_progress_over_time(figures["history"])),  # noqa: S308
        "chart_overdue": mark_safe(svg_overdue_by_agency(figures["by_agency"])),  # noqa: S308
    }


def _delete_stored(names: list[tuple]) -> None:
    for storage, name in names:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 - cleaning up after a failure; log and go on
            logger.exception("could not delete %s after a failed report build", name)


def _mark_failed(run: ReportRun, error: BaseException) -> ReportRun:
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().get(pk=run.pk)
        run.state = ReportRunState.FAILED
        run.error = f"{type(error).__name__}: {error}"[:5000]
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "error", "finished_at", "updated_at"])
    return run


def _claim(run: ReportRun) -> tuple[ReportRun, bool]:
    """Lock the run and mark it running; False when there is nothing to build."""
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().get(pk=run.pk)
        if run.state == ReportRunState.DONE:
            return run, False
        now = timezone.now()
        if (
            run.state == ReportRunState.RUNNING
            and run.started_at is not None
            and run.started_at > now - STALE_RUNNING
        ):
            return run, False
        run.state = ReportRunState.RUNNING
        run.started_at = now
        run.finished_at = None
        run.as_of = now
        run.error = ""
        run.save(
            update_fields=["state", "started_at", "finished_at", "as_of", "error", "updated_at"]
        )
        return run, True


def report_run_build(*, run: ReportRun, progress: Callable[[int], None] | None = None) -> ReportRun:
    """Build the run's figures and files, then email them to the secretariat's list.

    A done run is left as it is (its email is sent if that had failed); a run another worker is
    building is left to it. On any error the run is marked failed with the error's text and no
    file is kept. ``progress`` is called with the number of recommendations of each batch read.
    """
    run, claimed = _claim(run)
    if not claimed:
        if run.state == ReportRunState.DONE and run.emailed_at is None:
            return report_run_email(run=run)
        return run
    stored: list[tuple] = []
    try:
        with tempfile.TemporaryDirectory(prefix=f"idm-report-{run.pk}-") as name:
            built = compute_report(run, Path(name), progress=progress)
            with transaction.atomic():
                locked = ReportRun.objects.select_for_update().get(pk=run.pk)
                for field_name, (file_name, path) in built.files.items():
                    field_file = getattr(locked, field_name)
                    with path.open("rb") as handle:
                        field_file.save(file_name, File(handle), save=False)
                    stored.append((field_file.storage, field_file.name))
                locked.figures = built.figures
                locked.recommendation_count = built.count
                locked.previous = built.previous
                locked.state = ReportRunState.DONE
                locked.finished_at = timezone.now()
                locked.error = ""
                locked.save()
            run = locked
    except Exception as error:  # noqa: BLE001 - any failure is recorded on the run
        logger.exception("report run %s failed", run.pk)
        _delete_stored(stored)
        return _mark_failed(run, error)
    return report_run_email(run=run)


# --- Email ---------------------------------------------------------------------------------------


def report_run_summary(run: ReportRun) -> str:
    """One line: what the report found."""
    totals = (run.figures or {}).get("totals") or {}
    if run.state != ReportRunState.DONE:
        error = f" ({run.error})" if run.error else ""
        return f"{run}: {run.get_state_display().lower()}{error}"
    rate = totals.get("completion_rate")
    return _(
        "%(run)s: %(recommendations)s recommendations, %(assignments)s assignments, "
        "%(rate)s concluded, %(overdue)s overdue"
    ) % {
        "run": run,
        "recommendations": run.recommendation_count,
        "assignments": totals.get("assignments", 0),
        "rate": "–" if rate is None else f"{rate}%",
        "overdue": totals.get("overdue", 0),
    }


def report_run_email(*, run: ReportRun) -> ReportRun:
    """Email a done run to ``settings.SECRETARIAT_EMAILS`` with its XLSX and CSV attached (while
    they fit in ``MAX_ATTACHMENT_BYTES``, the XLSX first) and a link to its admin page; record
    when. Sent once."""
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().get(pk=run.pk)
        if run.state != ReportRunState.DONE or run.emailed_at is not None:
            return run
        recipients = [address for address in settings.SECRETARIAT_EMAILS if address]
        if not recipients:
            logger.warning("report run %s: SECRETARIAT_EMAILS is empty; nothing mailed", run.pk)
            return run
        context = {
            "run": run,
            "title": _run_title(run),
            "summary": report_run_summary(run),
            "figures": run.figures,
            "url": admin_url(run),
        }
        attachments, too_large, budget = [], [], MAX_ATTACHMENT_BYTES
        for field_file, content_type in (
            (run.xlsx_file, XLSX_CONTENT_TYPE),
            (run.csv_file, FILE_CONTENT_TYPES["csv"]),
        ):
            if field_file.size > budget:
                too_large.append(Path(field_file.name).name)
                continue
            budget -= field_file.size
            with field_file.open("rb") as handle:
                attachments.append((Path(field_file.name).name, handle.read(), content_type))
        context["not_attached"] = too_large
        subject = " ".join(render_to_string("emails/report_run.subject.txt", context).split())
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("emails/report_run.txt", context),
            to=recipients,
        )
        message.attach_alternative(render_to_string("emails/report_run.html", context), "text/html")
        for attachment in attachments:
            message.attach(*attachment)
        try:
            message.send()
        except Exception:  # noqa: BLE001 - the report is made; the mail is tried again later
            logger.exception("report run %s: the email could not be sent", run.pk)
            return run
        run.emailed_at = timezone.now()
        run.save(update_fields=["emailed_at", "updated_at"])
        return run
