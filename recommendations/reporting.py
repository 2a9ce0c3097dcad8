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
compact snapshot of every assignment's status and progress (``snapshot_file``, gzip'd, sorted);
the next run reads it alongside its own figures, one line at a time, and lists assignments whose
status or progress changed, new ones, and those no longer followed (their recommendation closed,
superseded or archived).

**Streaming.** Recommendations are read in batches by primary key with a constant number of
queries per batch (``QUERIES_PER_BATCH``); only counters, the HTML's capped lists and the
labels of dialogues, workshops, domains and organisations stay in memory. In that single pass,
each assignment's snapshot line is written, and each overdue or changed row goes at once to a
temporary CSV file and, as XLSX sheet XML, to another (``StreamedTable``); the report's CSV
copies the first, and the XLSX (summary sheets by openpyxl's write-only mode) has the second
spliced into its sheet. Memory does not grow with the number of recommendations.

**Never half-written.** The files are made in a temporary folder; they are stored and the run
marked done in one transaction at the end. Any error marks the run failed with its text, and no
file is left behind. Building a done run again changes nothing (it only sends the email if that
had failed).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import heapq
import html
import logging
import re
import shutil
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from config.queue import enqueue_on_commit, publish
from idm.models import CouncilSession, Dialogue, PolicyDomain
from idm.selectors import event_key
from stakeholders.models import Organisation
from workshops.models import Workshop

from .enums import ImplementationStatus, ReportKind, ReportRunState, Response
from .models import Assignment, Recommendation, ReportRun
from .selectors import (
    OPEN_STATUSES,
    assignments_with_effective_due,
    public_recommendations_q,
)

logger = logging.getLogger(__name__)

# Fewer, larger batches cost fewer round trips; a batch of 5000 holds ~15,000 assignment rows.
BATCH_SIZE = 5000
# Per batch: its recommendations, their assignments (with whether each is overdue), their policy
# domains.
QUERIES_PER_BATCH = 3
HTML_LIST_CAP = 200
HISTORY_POINTS = 12
SESSION_LEAD_DAYS = 14
# A run left "running" longer than this (its worker died) may be built again.
STALE_RUNNING = dt.timedelta(hours=1)
# A run still queued after this long was probably never published (broker down): queue it again.
REQUEUE_AFTER = dt.timedelta(minutes=15)
# Attachments larger than this are not mailed; the mail links to the admin instead.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MONTH_KEY = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")

STATUSES = list(ImplementationStatus)
RESPONSES = list(Response)
CONCLUDED = ImplementationStatus.concluded
IN_PROGRESS = ImplementationStatus.IN_PROGRESS
ON_TRACK_STATUSES = frozenset({IN_PROGRESS, *CONCLUDED})

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


def report_run_requeue(*, run: ReportRun) -> bool:
    """Publish the build of a queued run now; False (logged) if the broker is down."""
    return publish(_build_task(), run_id=run.pk)


# --- Reading the data ----------------------------------------------------------------------------


def report_scope(*, dialogue_id: int | None = None) -> QuerySet[Recommendation]:
    """The recommendations a report covers: adopted, not archived (one dialogue's, if given)."""
    queryset = Recommendation.objects.filter(public_recommendations_q())
    if dialogue_id is not None:
        queryset = queryset.filter(dialogue_id=dialogue_id)
    return queryset


@dataclass
class Batch:
    """One batch of recommendations with their assignments and policy domains."""

    # (id, reference, dialogue_id, workshop_id, overall_status)
    recommendations: list[tuple]
    # (id, recommendation_id, organisation_id, role, response, status, progress, effective_due,
    #  overdue): overdue as ``selectors.assignments_overdue`` decides it on the report's day.
    assignments: list[tuple]
    domains: dict[int, list[int]]


def iter_batches(
    scope: QuerySet[Recommendation], *, today: dt.date, batch_size: int | None = None
) -> Iterator[Batch]:
    """The recommendations of ``scope`` (``report_scope`` or a part of it) by primary key, in
    batches of ``QUERIES_PER_BATCH`` queries each; assignments sorted by recommendation, then
    by id.

    A batch's assignments and domains are selected by the range of its recommendations' keys
    (a subquery on ``scope``), not by a list of thousands of parameters."""
    batch_size = batch_size or BATCH_SIZE
    through = Recommendation.policy_domains.through
    # Overdue as ``selectors.assignments_overdue`` has it, computed in the same query (``scope``
    # holds only adopted, non-archived recommendations: ``report_scope``).
    overdue = Case(
        When(Q(effective_due__lt=today, status__in=OPEN_STATUSES), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    last = 0
    while True:
        recommendations = list(
            scope.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "reference", "dialogue_id", "workshop_id", "overall_status")[
                :batch_size
            ]
        )
        if not recommendations:
            return
        first, last = last, recommendations[-1][0]
        in_range = scope.filter(pk__gt=first, pk__lte=last).values("pk")
        assignments = list(
            assignments_with_effective_due(
                Assignment.objects.filter(
                    recommendation_id__gt=first,
                    recommendation_id__lte=last,
                    recommendation__in=in_range,
                )
            )
            .annotate(overdue=overdue)
            .order_by("recommendation_id", "pk")
            .values_list(
                "pk",
                "recommendation_id",
                "organisation_id",
                "role",
                "response",
                "status",
                "progress",
                "effective_due",
                "overdue",
            )
        )
        domains: dict[int, list[int]] = defaultdict(list)
        for recommendation_id, domain_id in (
            through.objects.filter(
                recommendation_id__gt=first,
                recommendation_id__lte=last,
                recommendation__in=in_range,
            )
            .order_by("recommendation_id", "policydomain_id")
            .values_list("recommendation_id", "policydomain_id")
        ):
            domains[recommendation_id].append(domain_id)
        yield Batch(recommendations, assignments, domains)
        if len(recommendations) < batch_size:
            return


def _as_date(value) -> dt.date | None:
    """SQLite hands computed dates (``Coalesce``) back as text."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# --- Labels --------------------------------------------------------------------------------------


@dataclass
class Labels:
    """Names of what the figures are grouped by (reference data: bounded, loaded once)."""

    dialogues: dict = field(default_factory=dict)
    workshops: dict = field(default_factory=dict)
    domains: dict = field(default_factory=dict)
    organisations: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)

    def __post_init__(self):
        # Translated once per build, not once per row.
        self.no_dialogue = ("", _("(no dialogue)"))
        self.no_workshop = ("", _("(not from a workshop)"))
        self.no_domain = ("", _("(no policy domain)"))
        self.statuses = {status.value: str(status.label) for status in STATUSES}

    @classmethod
    def load(cls) -> Labels:
        labels = cls()
        for pk, year, theme in Dialogue.objects.values_list("pk", "year", "theme"):
            labels.dialogues[pk] = (str(year), f"IDM {year}: {theme}")
        for workshop in Workshop.objects.select_related("dialogue").only(
            "pk", "title", "date_text", "dialogue__year"
        ):
            labels.workshops[workshop.pk] = (f"workshop-{workshop.pk}", workshop.display_title)
        for pk, slug, name in PolicyDomain.objects.values_list("pk", "slug", "name"):
            labels.domains[pk] = (slug, name)
        for pk, acronym, name in Organisation.objects.values_list("pk", "acronym", "name"):
            labels.organisations[pk] = (acronym or name, name)
        return labels

    def dialogue(self, pk):
        return self.dialogues.get(pk, self.no_dialogue)

    def workshop(self, pk):
        return self.workshops.get(pk, self.no_workshop)

    def domain(self, pk):
        return self.domains.get(pk, self.no_domain)

    def organisation(self, pk):
        return self.organisations.get(pk) or (str(pk), str(pk))

    def status(self, value: str) -> str:
        """An implementation status's label ("" for none)."""
        return self.statuses.get(value, "") if value else ""


# --- Snapshots and what changed ------------------------------------------------------------------


class SnapshotWriter:
    """Each assignment's state at this run, one tab-separated line, sorted by (recommendation,
    assignment): ``recommendation_id, assignment_id, organisation_id, status, progress,
    reference``, gzip'd."""

    FLUSH_EVERY = 10_000

    def __init__(self, path: Path):
        self.handle = gzip.open(  # noqa: SIM115 - closed by close()
            path, "wt", compresslevel=1, encoding="utf-8", newline="\n"
        )
        self.lines: list[str] = []

    def write(self, row: tuple) -> None:
        rec_id, asg_id, org_id, status, progress, reference = row
        self.lines.append(f"{rec_id}\t{asg_id}\t{org_id}\t{status}\t{progress}\t{reference}\n")
        if len(self.lines) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        self.handle.write("".join(self.lines))
        self.lines.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.handle.close()


def read_snapshot(handle) -> Iterator[tuple]:
    for line in handle:
        rec_id, asg_id, org_id, status, progress, reference = line.rstrip("\n").split("\t", 5)
        yield (int(rec_id), int(asg_id), int(org_id), status, int(progress), reference)


CHANGE_COLUMNS = [
    "reference",
    "agency",
    "change",
    "previous status",
    "status",
    "previous progress",
    "progress",
]


class ChangeTracker:
    """Compares the current assignments, fed in snapshot order, with the previous snapshot read
    alongside (a merge of two sorted streams: nothing is held but the current line)."""

    def __init__(self, previous_handle, writer, labels: Labels):
        self.previous = read_snapshot(previous_handle) if previous_handle is not None else None
        self.pending = next(self.previous, None) if self.previous is not None else None
        self.writer = writer
        self.labels = labels
        self.counts = Counter()
        self.top: list[dict] = []

    @property
    def active(self) -> bool:
        return self.previous is not None

    def _emit(self, change: str, reference: str, org_id: int, before, after) -> None:
        self.counts[change] += 1
        agency = self.labels.organisation(org_id)[0]
        status = self.labels.status
        row = [reference, agency, change, status(before[0]), status(after[0]), before[1], after[1]]
        self.writer.writerow(row)
        if len(self.top) < HTML_LIST_CAP:
            self.top.append(dict(zip(CHANGE_COLUMNS, row, strict=True)))

    def _closed(self, old: tuple) -> None:
        self._emit("closed", old[5], old[2], (old[3], old[4]), ("", ""))

    def feed(self, row: tuple) -> None:
        if self.previous is None:
            return
        key = (row[0], row[1])
        while self.pending is not None and (self.pending[0], self.pending[1]) < key:
            self._closed(self.pending)
            self.pending = next(self.previous, None)
        if self.pending is not None and (self.pending[0], self.pending[1]) == key:
            old = self.pending
            self.pending = next(self.previous, None)
            if (old[3], old[4]) != (row[3], row[4]):
                self._emit("changed", row[5], row[2], (old[3], old[4]), (row[3], row[4]))
                if row[3] != old[3]:
                    self.counts["status changed"] += 1
                if row[3] in CONCLUDED and old[3] not in CONCLUDED:
                    self.counts["newly concluded"] += 1
            return
        self._emit("new", row[5], row[2], ("", ""), (row[3], row[4]))

    def finish(self) -> None:
        if self.previous is None:
            return
        while self.pending is not None:
            self._closed(self.pending)
            self.pending = next(self.previous, None)


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

    def close(self) -> None:
        try:
            self.csv_handle.close()
        finally:
            self.xml_handle.close()


# --- Figures -------------------------------------------------------------------------------------

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


@dataclass
class Tally:
    """Counters only: their size depends on the numbers of dialogues, workshops, domains and
    agencies, never on the number of recommendations."""

    # (dialogue_id, workshop_id, overall_status) -> recommendations
    recommendations: Counter = field(default_factory=Counter)
    # (dialogue_id, workshop_id) -> open recommendations with no addressee in progress
    unattended: Counter = field(default_factory=Counter)
    # (domain_id, overall_status) -> recommendations; (domain_id,) -> open and unattended
    domain_recommendations: Counter = field(default_factory=Counter)
    domain_open: Counter = field(default_factory=Counter)
    domain_unattended: Counter = field(default_factory=Counter)
    # (dialogue_id, workshop_id, organisation_id, response, status, overdue) -> assignments
    assignments: Counter = field(default_factory=Counter)
    progress: Counter = field(default_factory=Counter)
    # (domain_id, organisation_id, response, status, overdue) -> assignments
    domain_assignments: Counter = field(default_factory=Counter)
    domain_progress: Counter = field(default_factory=Counter)
    overdue_count: int = 0
    overdue_top: list = field(default_factory=list)  # a heap of the longest overdue
    overdue_seq: int = 0


def tally_batch(
    batch: Batch,
    tally: Tally,
    *,
    today: dt.date,
    labels: Labels,
    overdue_table: StreamedTable,
    snapshot: SnapshotWriter,
    changes: ChangeTracker,
) -> None:
    by_recommendation: dict[int, list[tuple]] = defaultdict(list)
    for row in batch.assignments:
        by_recommendation[row[1]].append(row)
    assignments, progress_of = tally.assignments, tally.progress
    domain_assignments, domain_progress = tally.domain_assignments, tally.domain_progress
    feed = changes.feed if changes.active else None
    write_state = snapshot.write
    status_label = labels.status
    for rec_id, reference, dialogue_id, workshop_id, overall_status in batch.recommendations:
        domain_ids = batch.domains.get(rec_id) or [None]
        rows = by_recommendation.get(rec_id, ())
        statuses = [row[5] for row in rows]
        open_ = not rows or any(status not in CONCLUDED for status in statuses)
        unattended = open_ and IN_PROGRESS not in statuses
        tally.recommendations[(dialogue_id, workshop_id, overall_status)] += 1
        if unattended:
            tally.unattended[(dialogue_id, workshop_id)] += 1
        for domain_id in domain_ids:
            tally.domain_recommendations[(domain_id, overall_status)] += 1
            if open_:
                tally.domain_open[domain_id] += 1
            if unattended:
                tally.domain_unattended[domain_id] += 1
        for asg_id, _rec, org_id, role, response, status, progress, due, overdue in rows:
            key = (dialogue_id, workshop_id, org_id, response, status, overdue)
            assignments[key] += 1
            progress_of[key] += progress
            for domain_id in domain_ids:
                domain_key = (domain_id, org_id, response, status, overdue)
                domain_assignments[domain_key] += 1
                domain_progress[domain_key] += progress
            state = (rec_id, asg_id, org_id, status, progress, reference)
            write_state(state)
            if feed is not None:
                feed(state)
            if overdue:
                due = _as_date(due)
                days = (today - due).days
                tally.overdue_count += 1
                row = [
                    reference,
                    labels.dialogue(dialogue_id)[0],
                    labels.workshop(workshop_id)[1] if workshop_id else "",
                    labels.organisation(org_id)[0],
                    role,
                    status_label(status),
                    progress,
                    due.isoformat(),
                    days,
                ]
                overdue_table.writerow(row)
                # Keep the HTML's longest-overdue rows: (days, -seq) orders ties by reading order.
                tally.overdue_seq += 1
                if len(tally.overdue_top) < HTML_LIST_CAP:
                    heapq.heappush(tally.overdue_top, (days, -tally.overdue_seq, row))
                elif (days, -tally.overdue_seq) > tally.overdue_top[0][:2]:
                    heapq.heapreplace(tally.overdue_top, (days, -tally.overdue_seq, row))


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _group_row(key: str, label: str, recommendations: int, counts: Counter, progress: int) -> dict:
    """One table row from the assignment counter entries of a group, keyed (response, status,
    overdue)."""
    assignments = sum(counts.values())
    responses = Counter()
    statuses = Counter()
    overdue = 0
    for (response, status, is_overdue), count in counts.items():
        responses[response] += count
        statuses[status] += count
        if is_overdue:
            overdue += count
    concluded = sum(statuses[status] for status in CONCLUDED)
    return {
        "key": key,
        "label": label,
        "recommendations": recommendations,
        "assignments": assignments,
        "responses": {response.value: responses[response.value] for response in RESPONSES},
        "statuses": {status.value: statuses[status.value] for status in STATUSES},
        "concluded": concluded,
        "completion_rate": _percent(concluded, assignments),
        "average_progress": round(progress / assignments, 1) if assignments else None,
        "overdue": overdue,
    }


def _sorted_keys(keys, label_of) -> list:
    """Groups by label, the "none" group last."""
    return sorted(keys, key=lambda pk: (pk is None, str(label_of(pk)[1]).lower(), pk or 0))


def figures_from_tally(tally: Tally, labels: Labels) -> dict:
    """The report's tables from the counters."""
    # Recommendations per dialogue and per workshop.
    recs_by = {"dialogue": Counter(), "workshop": Counter()}
    rec_status = Counter()
    for (dialogue_id, workshop_id, overall_status), count in tally.recommendations.items():
        recs_by["dialogue"][dialogue_id] += count
        recs_by["workshop"][workshop_id] += count
        rec_status[overall_status] += count
    # Assignments per dialogue, workshop, agency.
    groups = {"dialogue": defaultdict(Counter), "workshop": defaultdict(Counter)}
    groups["agency"] = defaultdict(Counter)
    progress = {"dialogue": Counter(), "workshop": Counter(), "agency": Counter()}
    total_counts = Counter()
    total_progress = 0
    for key, count in tally.assignments.items():
        dialogue_id, workshop_id, org_id, response, status, overdue = key
        cell = (response, status, overdue)
        for name, pk in (("dialogue", dialogue_id), ("workshop", workshop_id), ("agency", org_id)):
            groups[name][pk][cell] += count
            progress[name][pk] += tally.progress[key]
        total_counts[cell] += count
        total_progress += tally.progress[key]

    def table(name, label_of, recommendations_of):
        keys = set(groups[name]) | set(recs_by.get(name, {}))
        rows = []
        for pk in _sorted_keys(keys, label_of):
            row = _group_row(
                label_of(pk)[0],
                str(label_of(pk)[1]),
                recommendations_of(pk),
                groups[name].get(pk, Counter()),
                progress[name][pk],
            )
            rows.append({"id": pk, **row})
        return rows

    by_dialogue = table("dialogue", labels.dialogue, lambda pk: recs_by["dialogue"][pk])
    by_workshop = table("workshop", labels.workshop, lambda pk: recs_by["workshop"][pk])
    # An agency is addressed one assignment per recommendation: its recommendations are its
    # assignments.
    by_agency = table("agency", labels.organisation, lambda pk: sum(groups["agency"][pk].values()))
    for row in by_agency:
        row["label"] = _agency_label(row["key"], row["label"])

    # Per policy domain, and the coherence matrix.
    domain_groups = defaultdict(Counter)
    domain_progress = Counter()
    matrix = defaultdict(lambda: [0, 0])
    domain_active = Counter()
    for key, count in tally.domain_assignments.items():
        domain_id, org_id, response, status, overdue = key
        domain_groups[domain_id][(response, status, overdue)] += count
        domain_progress[domain_id] += tally.domain_progress[key]
        cell = matrix[(domain_id, org_id)]
        cell[0] += count
        if status in ON_TRACK_STATUSES and not overdue:
            cell[1] += count
        if status == IN_PROGRESS:
            domain_active[domain_id] += count
    domain_recs = Counter()
    for (domain_id, _status), count in tally.domain_recommendations.items():
        domain_recs[domain_id] += count
    by_domain = []
    without_active = []
    for domain_id in _sorted_keys(set(domain_recs) | set(domain_groups), labels.domain):
        slug, name = labels.domain(domain_id)
        row = _group_row(
            slug,
            str(name),
            domain_recs[domain_id],
            domain_groups.get(domain_id, Counter()),
            domain_progress[domain_id],
        )
        row["open"] = tally.domain_open[domain_id]
        row["without_active_agency"] = tally.domain_unattended[domain_id]
        row["no_active_agency"] = row["open"] > 0 and domain_active[domain_id] == 0
        if row["no_active_agency"]:
            without_active.append(str(name))
        by_domain.append(row)

    matrix_domains = _sorted_keys({d for d, _o in matrix}, labels.domain)
    matrix_agencies = _sorted_keys({o for _d, o in matrix}, labels.organisation)
    coherence = {
        "domains": [
            {
                "key": labels.domain(d)[0],
                "label": str(labels.domain(d)[1]),
                "no_active_agency": domain_active[d] == 0 and tally.domain_open[d] > 0,
            }
            for d in matrix_domains
        ],
        "agencies": [
            {"id": o, "key": labels.organisation(o)[0], "label": labels.organisation(o)[1]}
            for o in matrix_agencies
        ],
        "cells": [[matrix.get((d, o)) for o in matrix_agencies] for d in matrix_domains],
    }

    totals = _group_row("", _("All"), sum(rec_status.values()), total_counts, total_progress)
    totals["recommendations_by_status"] = {
        status.value: rec_status[status.value] for status in STATUSES
    }
    totals["without_active_agency"] = sum(tally.unattended.values())
    totals["domains_without_active_agency"] = len(without_active)
    return {
        "totals": totals,
        "by_dialogue": by_dialogue,
        "by_workshop": by_workshop,
        "by_agency": by_agency,
        "by_domain": by_domain,
        "coherence": coherence,
        "domains_without_active_agency": without_active,
    }


def _agency_label(short: str, name: str) -> str:
    return name if short == name else f"{name} ({short})"


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
    previous_handle = previous_raw = None
    if previous is not None and previous.snapshot_file:
        try:
            previous_raw = previous.snapshot_file.open("rb")
            previous_handle = gzip.open(  # noqa: SIM115 - closed in the finally below
                previous_raw, "rt", encoding="utf-8"
            )
        except FileNotFoundError:
            logger.warning("report run %s: snapshot of run %s is missing", run.pk, previous.pk)
    tally = Tally()
    count = 0
    snapshot = SnapshotWriter(tmp / "snapshot.tsv.gz")
    tables = []
    try:
        overdue_table = StreamedTable(tmp, "overdue", OVERDUE_COLUMNS, unique_columns={0})
        tables.append(overdue_table)
        changes_table = StreamedTable(tmp, "changes", CHANGE_COLUMNS, unique_columns={0})
        tables.append(changes_table)
        changes = ChangeTracker(previous_handle, changes_table, labels)
        for batch in iter_batches(scope, today=today, batch_size=batch_size):
            tally_batch(
                batch,
                tally,
                today=today,
                labels=labels,
                overdue_table=overdue_table,
                snapshot=snapshot,
                changes=changes,
            )
            count += len(batch.recommendations)
            if progress is not None:
                progress(len(batch.recommendations))
        changes.finish()
    finally:
        for table in tables:
            table.close()
        snapshot.close()
        if previous_handle is not None:
            previous_handle.close()
        if previous_raw is not None:
            previous_raw.close()

    figures = figures_from_tally(tally, labels)
    figures["as_of"] = timezone.localtime(as_of).isoformat(timespec="seconds")
    figures["today"] = today.isoformat()
    figures["scope"] = {
        "dialogue": labels.dialogue(run.dialogue_id)[0] if run.dialogue_id else None,
        "council_session": event_key(run.council_session) if run.council_session_id else None,
        "label": _scope_label(run),
    }
    overdue_top = sorted(tally.overdue_top, key=lambda entry: (-entry[0], -entry[1]))
    figures["overdue"] = {
        "count": tally.overdue_count,
        "top": [dict(zip(OVERDUE_COLUMNS, entry[2], strict=True)) for entry in overdue_top],
    }
    figures["changes"] = {
        "previous": (
            {
                "id": previous.pk,
                "title": str(previous),
                "as_of": timezone.localtime(previous.as_of).isoformat(timespec="seconds"),
            }
            if previous_handle is not None
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
        for earlier in reversed(_previous_runs(run).only("as_of", "figures")[: HISTORY_POINTS - 1])
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
    write_xlsx(tmp / "report.xlsx", figures, tmp)
    html_text = render_to_string("recommendations/reports/report.html", html_context(run, figures))
    (tmp / "report.html").write_text(html_text, encoding="utf-8")
    return Built(
        figures=figures,
        count=count,
        previous=previous,
        files={
            "html_file": (f"{stem}.html", tmp / "report.html"),
            "csv_file": (f"{stem}.csv", tmp / "report.csv"),
            "xlsx_file": (f"{stem}.xlsx", tmp / "report.xlsx"),
            "snapshot_file": (f"{stem}-snapshot.tsv.gz", tmp / "snapshot.tsv.gz"),
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
    """Email a done run to ``settings.SECRETARIAT_EMAILS`` with its CSV and XLSX attached (when
    not too large) and a link to its admin page; record when. Sent once."""
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
        attachments, too_large = [], []
        for field_file, content_type in (
            (run.csv_file, FILE_CONTENT_TYPES["csv"]),
            (run.xlsx_file, XLSX_CONTENT_TYPE),
        ):
            if field_file.size > MAX_ATTACHMENT_BYTES:
                too_large.append(Path(field_file.name).name)
                continue
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
