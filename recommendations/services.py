"""Domain actions on recommendations, their assignments and the follow-up reports of addressees.

Every write goes through a function here (keyword-only, ``<entity>_<action>``). The admin, the
import and the API call them and show a ``RecommendationError`` as a message or a 400; none of
them re-checks a domain rule. Who may call which action is a permission in ``rules.py``, checked
by the caller with ``user.has_perm(...)`` before the call: ``by`` is who acts, recorded in the
report and in the history, not checked again here.

Every state change follows the ``moves`` tables of ``enums.py`` on a row re-read with
``select_for_update``; asking for the state a row is already in changes nothing. Rows are locked
in one order, recommendation → assignment → report, so that two actions never wait on each other.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from idm.models import CouncilSession
from stakeholders.models import Organisation

from .enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationState,
    ReportState,
    Response,
)
from .models import EVIDENCE_MAX_BYTES, Assignment, EvidenceFile, FollowUpReport, Recommendation

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser as User
    from django.core.files import File

MAX_EVIDENCE_URLS = 20
MAX_EVIDENCE_FILES = 20
MAX_URL_LENGTH = 2000
# Accepted evidence files: extension → (content type stored, content types a client may declare,
# how the file starts). Text files are checked for not being binary instead.
EVIDENCE_TYPES: dict[str, tuple[str, frozenset[str], tuple[bytes, ...]]] = {
    ".pdf": ("application/pdf", frozenset({"application/pdf"}), (b"%PDF-",)),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        frozenset({"application/vnd.openxmlformats-officedocument.wordprocessingml.document"}),
        (b"PK\x03\x04",),
    ),
    ".xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        frozenset({"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}),
        (b"PK\x03\x04",),
    ),
    ".png": ("image/png", frozenset({"image/png"}), (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", frozenset({"image/jpeg", "image/jpg"}), (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", frozenset({"image/jpeg", "image/jpg"}), (b"\xff\xd8\xff",)),
    ".csv": (
        "text/csv",
        frozenset({"text/csv", "text/plain", "application/csv", "application/vnd.ms-excel"}),
        (),
    ),
    ".txt": ("text/plain", frozenset({"text/plain"}), ()),
}
# What a client sends when it does not know the type; the extension and the content decide.
UNDECLARED_CONTENT_TYPES = frozenset({"", "application/octet-stream"})
OPEN_REPORT_STATES = (ReportState.SUBMITTED, ReportState.RETURNED)


class RecommendationError(Exception):
    """A domain rule refused the action; ``message`` is a sentence for the user.

    ``field`` names the input the message is about, when there is one (``progress``,
    ``evidence_urls``…), so that an API can return it as a field error.
    """

    def __init__(self, message: str, *, field: str | None = None):
        self.message = str(message)
        self.field = field
        super().__init__(self.message)


# --- Helpers -------------------------------------------------------------------------------------


def _save(obj, *, by: User | None, reason: str, fields: Sequence[str] | None = None) -> None:
    """Save with ``by`` and ``reason`` in the history row (django-simple-history)."""
    if by is not None and getattr(by, "pk", None) is not None:
        obj._history_user = by
    obj._change_reason = reason
    if fields is None:
        obj.save()
    else:
        obj.save(update_fields=[*fields, "updated_at"])


def _lock_recommendation(pk: int) -> Recommendation:
    return Recommendation.objects.select_for_update().get(pk=pk)


def _lock_assignment(assignment: Assignment) -> tuple[Assignment, Recommendation]:
    recommendation_id = (
        Assignment.objects.filter(pk=assignment.pk)
        .values_list("recommendation_id", flat=True)
        .get()
    )
    recommendation = _lock_recommendation(recommendation_id)
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    assignment.recommendation = recommendation
    return assignment, recommendation


def _lock_report(report: FollowUpReport) -> tuple[FollowUpReport, Assignment, Recommendation]:
    assignment_id = (
        FollowUpReport.objects.filter(pk=report.pk).values_list("assignment_id", flat=True).get()
    )
    assignment, recommendation = _lock_assignment(Assignment(pk=assignment_id))
    report = FollowUpReport.objects.select_for_update().get(pk=report.pk)
    report.assignment = assignment
    return report, assignment, recommendation


def _check_not_archived(recommendation: Recommendation) -> None:
    if recommendation.archived_at is not None:
        raise RecommendationError(
            _("%(reference)s is archived: it no longer changes.")
            % {"reference": recommendation.reference}
        )


def _check_followed_up(recommendation: Recommendation) -> None:
    """Addressees and due dates change only while a recommendation is a draft or adopted."""
    _check_not_archived(recommendation)
    if recommendation.state not in (RecommendationState.DRAFT, RecommendationState.ADOPTED):
        raise RecommendationError(
            _("%(reference)s is %(state)s: its addressees and due dates no longer change.")
            % {
                "reference": recommendation.reference,
                "state": recommendation.get_state_display().lower(),
            }
        )


def _check_adopted(recommendation: Recommendation, action: str) -> None:
    _check_not_archived(recommendation)
    if recommendation.state != RecommendationState.ADOPTED:
        raise RecommendationError(
            _("%(reference)s is %(state)s: only an adopted recommendation can be %(action)s.")
            % {
                "reference": recommendation.reference,
                "state": recommendation.get_state_display().lower(),
                "action": action,
            }
        )


def _is_date(value) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _check_due(due_date, due_before_session) -> None:
    if due_date is not None and due_before_session is not None:
        raise RecommendationError(
            _("Give either a due date or a Council session it is due before, not both."),
            field="due_date",
        )
    if due_date is not None and not _is_date(due_date):
        raise RecommendationError(_("The due date must be a date."), field="due_date")
    if due_before_session is not None and not isinstance(due_before_session, CouncilSession):
        raise RecommendationError(
            _("The session must be a Council session."), field="due_before_session"
        )


def _due_changes(assignment: Assignment, due_date, due_before_session) -> list[str]:
    changed = []
    if assignment.due_date != due_date:
        assignment.due_date = due_date
        changed.append("due_date")
    session_id = due_before_session.pk if due_before_session is not None else None
    if assignment.due_before_session_id != session_id:
        assignment.due_before_session = due_before_session
        changed.append("due_before_session")
    return changed


# --- Recommendations -----------------------------------------------------------------------------


def _recommendation_move(
    *, recommendation: Recommendation, by: User | None, new_state: str, refused: str
) -> Recommendation:
    recommendation = _lock_recommendation(recommendation.pk)
    _check_not_archived(recommendation)
    if recommendation.state == new_state:
        return recommendation
    if new_state not in RecommendationState.moves[recommendation.state]:
        raise RecommendationError(
            refused
            % {
                "reference": recommendation.reference,
                "state": recommendation.get_state_display().lower(),
            }
        )
    recommendation.state = new_state
    _save(
        recommendation,
        by=by,
        reason=_("State: %(state)s") % {"state": recommendation.get_state_display()},
        fields=["state"],
    )
    return recommendation


@transaction.atomic
def recommendation_adopt(*, recommendation: Recommendation, by: User | None) -> Recommendation:
    """draft → adopted: the recommendation becomes visible to delegations and agencies."""
    return _recommendation_move(
        recommendation=recommendation,
        by=by,
        new_state=RecommendationState.ADOPTED,
        refused=_("%(reference)s is %(state)s: only a draft recommendation can be adopted."),
    )


@transaction.atomic
def recommendation_close(*, recommendation: Recommendation, by: User | None) -> Recommendation:
    """adopted → closed: follow-up has ended; the record and its reports are kept."""
    return _recommendation_move(
        recommendation=recommendation,
        by=by,
        new_state=RecommendationState.CLOSED,
        refused=_("%(reference)s is %(state)s: only an adopted recommendation can be closed."),
    )


@transaction.atomic
def recommendation_supersede(
    *, recommendation: Recommendation, by: User | None, superseded_by: Recommendation
) -> Recommendation:
    """adopted → superseded, naming the (draft or adopted) recommendation that replaces it."""
    if superseded_by is None or superseded_by.pk is None:
        raise RecommendationError(
            _("Name the recommendation that supersedes this one."), field="superseded_by"
        )
    if superseded_by.pk == recommendation.pk:
        raise RecommendationError(
            _("A recommendation cannot supersede itself."), field="superseded_by"
        )
    recommendation = _lock_recommendation(recommendation.pk)
    successor = Recommendation.objects.filter(pk=superseded_by.pk).first()
    if successor is None:
        raise RecommendationError(
            _("The superseding recommendation does not exist."), field="superseded_by"
        )
    _check_not_archived(recommendation)
    if recommendation.state == RecommendationState.SUPERSEDED:
        if recommendation.superseded_by_id == successor.pk:
            return recommendation
        raise RecommendationError(
            _("%(reference)s is already superseded by another recommendation.")
            % {"reference": recommendation.reference}
        )
    if successor.archived_at is not None or successor.state not in (
        RecommendationState.DRAFT,
        RecommendationState.ADOPTED,
    ):
        raise RecommendationError(
            _(
                "%(successor)s is %(state)s: only a draft or adopted recommendation can supersede "
                "another."
            )
            % {
                "successor": successor.reference,
                "state": _("archived")
                if successor.archived_at
                else successor.get_state_display().lower(),
            },
            field="superseded_by",
        )
    if RecommendationState.SUPERSEDED not in RecommendationState.moves[recommendation.state]:
        raise RecommendationError(
            _("%(reference)s is %(state)s: only an adopted recommendation can be superseded.")
            % {
                "reference": recommendation.reference,
                "state": recommendation.get_state_display().lower(),
            }
        )
    recommendation.state = RecommendationState.SUPERSEDED
    recommendation.superseded_by = successor
    _save(
        recommendation,
        by=by,
        reason=_("Superseded by %(successor)s") % {"successor": successor.reference},
        fields=["state", "superseded_by"],
    )
    return recommendation


@transaction.atomic
def recommendation_archive(*, recommendation: Recommendation, by: User | None) -> Recommendation:
    """Archive instead of deleting, in any state: hidden outside the secretariat, kept in full."""
    recommendation = _lock_recommendation(recommendation.pk)
    if recommendation.archived_at is not None:
        return recommendation
    recommendation.archived_at = timezone.now()
    _save(recommendation, by=by, reason=_("Archived"), fields=["archived_at"])
    return recommendation


# --- Assignments ---------------------------------------------------------------------------------


@transaction.atomic
def recommendation_assign(
    *,
    recommendation: Recommendation,
    organisation: Organisation,
    by: User | None,
    role: str = AssignmentRole.LEAD,
    due_date: dt.date | None = None,
    due_before_session: CouncilSession | None = None,
) -> Assignment:
    """Address a draft or adopted recommendation to ``organisation``.

    One assignment per addressee: for an organisation already addressed, the call sets its
    role and due date (either a date or "before session N", or neither) to the values given,
    and changes nothing when they are already so. The overall roll-up is recomputed, since the
    weight of an addressee depends on its role.
    """
    if role not in AssignmentRole.values:
        raise RecommendationError(_("Unknown role: %(role)s.") % {"role": role}, field="role")
    if organisation is None or organisation.pk is None:
        raise RecommendationError(_("Choose an organisation."), field="organisation")
    _check_due(due_date, due_before_session)
    recommendation = _lock_recommendation(recommendation.pk)
    assignment = (
        Assignment.objects.select_for_update()
        .filter(recommendation=recommendation, organisation=organisation)
        .first()
    )
    if (
        assignment is not None
        and assignment.role == role
        and assignment.due_date == due_date
        and assignment.due_before_session_id == getattr(due_before_session, "pk", None)
    ):
        assignment.recommendation = recommendation
        return assignment
    _check_followed_up(recommendation)
    if assignment is None:
        assignment = Assignment(
            recommendation=recommendation,
            organisation=organisation,
            role=role,
            due_date=due_date,
            due_before_session=due_before_session,
        )
        _save(assignment, by=by, reason=_("Assigned"))
    else:
        assignment.recommendation = recommendation
        changed = _due_changes(assignment, due_date, due_before_session)
        if assignment.role != role:
            assignment.role = role
            changed.append("role")
        _save(assignment, by=by, reason=_("Role or due date changed"), fields=changed)
    _rollup(recommendation, by=by)
    return assignment


@transaction.atomic
def assignments_set_due(
    *,
    assignments: Iterable[Assignment],
    by: User | None,
    due_date: dt.date | None = None,
    due_before_session: CouncilSession | None = None,
) -> list[Assignment]:
    """Set the due date of several assignments at once: a date, "before session N", or none.

    Refused, with nothing changed, when one of them belongs to a recommendation that is no
    longer followed up (closed, superseded or archived).
    """
    _check_due(due_date, due_before_session)
    pks = sorted({assignment.pk for assignment in assignments})
    recommendation_ids = sorted(
        set(Assignment.objects.filter(pk__in=pks).values_list("recommendation_id", flat=True))
    )
    recommendations = Recommendation.objects.select_for_update().filter(pk__in=recommendation_ids)
    by_pk = {recommendation.pk: recommendation for recommendation in recommendations.order_by("pk")}
    for recommendation in sorted(by_pk.values(), key=lambda r: r.reference):
        _check_followed_up(recommendation)
    locked = list(Assignment.objects.select_for_update().filter(pk__in=pks).order_by("pk"))
    for assignment in locked:
        assignment.recommendation = by_pk[assignment.recommendation_id]
        changed = _due_changes(assignment, due_date, due_before_session)
        if changed:
            _save(assignment, by=by, reason=_("Due date changed"), fields=changed)
    return locked


@transaction.atomic
def assignment_respond(
    *, assignment: Assignment, by: User | None, response: str, response_text: str = ""
) -> Assignment:
    """The addressee's answer to an adopted recommendation: supported, supported in part, noted."""
    if response not in Response.values or response == Response.PENDING:
        raise RecommendationError(
            _("Answer with one of: %(choices)s.")
            % {
                "choices": ", ".join(
                    value for value in Response.values if value != Response.PENDING
                )
            },
            field="response",
        )
    response_text = (response_text or "").strip()
    assignment, recommendation = _lock_assignment(assignment)
    _check_adopted(recommendation, _("answered"))
    if assignment.response == response and assignment.response_text == response_text:
        return assignment
    assignment.response = response
    assignment.response_text = response_text
    _save(
        assignment,
        by=by,
        reason=_("Response: %(response)s") % {"response": assignment.get_response_display()},
        fields=["response", "response_text"],
    )
    return assignment


# --- Follow-up reports ---------------------------------------------------------------------------


def _clean_report(*, period_start, period_end, status, progress, narrative, evidence_urls) -> dict:
    """The report's values checked and normalised, or a ``RecommendationError`` on the first."""
    if not _is_date(period_start):
        raise RecommendationError(
            _("Give the first day of the reporting period."), field="period_start"
        )
    if not _is_date(period_end):
        raise RecommendationError(
            _("Give the last day of the reporting period."), field="period_end"
        )
    if period_end < period_start:
        raise RecommendationError(
            _("The reporting period must end on or after its first day."), field="period_end"
        )
    if status not in ImplementationStatus.values:
        raise RecommendationError(
            _("Unknown implementation status: %(status)s.") % {"status": status}, field="status"
        )
    if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
        raise RecommendationError(
            _("Progress is a whole percentage from 0 to 100."), field="progress"
        )
    if status == ImplementationStatus.NOT_STARTED and progress != 0:
        raise RecommendationError(_("Work that has not started has 0% progress."), field="progress")
    if status == ImplementationStatus.IMPLEMENTED and progress != 100:
        raise RecommendationError(
            _("Work that is implemented has 100% progress."), field="progress"
        )
    narrative = (narrative or "").strip() if isinstance(narrative, str) else ""
    if not narrative:
        raise RecommendationError(_("A follow-up report needs a narrative."), field="narrative")
    if isinstance(evidence_urls, str | bytes):
        raise RecommendationError(_("Evidence links must be a list."), field="evidence_urls")
    urls = [str(url).strip() for url in evidence_urls or ()]
    if len(urls) > MAX_EVIDENCE_URLS:
        raise RecommendationError(
            _("Give at most %(count)d evidence links.") % {"count": MAX_EVIDENCE_URLS},
            field="evidence_urls",
        )
    validate = URLValidator(schemes=["http", "https"])
    for url in urls:
        try:
            if len(url) > MAX_URL_LENGTH:
                raise ValidationError("too long")
            validate(url)
        except ValidationError:
            raise RecommendationError(
                _("Not an http(s) link: %(url)s") % {"url": url[:200]}, field="evidence_urls"
            ) from None
    return {
        "period_start": period_start,
        "period_end": period_end,
        "status": status,
        "progress": progress,
        "narrative": narrative,
        "evidence_urls": urls,
    }


def _check_no_open_report_for_period(
    assignment: Assignment, period_start, period_end, *, exclude: int | None = None
) -> None:
    open_reports = FollowUpReport.objects.filter(
        assignment=assignment,
        period_start=period_start,
        period_end=period_end,
        state__in=OPEN_REPORT_STATES,
        archived_at__isnull=True,
    )
    if exclude is not None:
        open_reports = open_reports.exclude(pk=exclude)
    if open_reports.exists():
        raise RecommendationError(
            _(
                "A report for this period is already awaiting review or correction: correct and "
                "resubmit it instead."
            ),
            field="period_start",
        )


def _sanitise_name(raw: str) -> str:
    """The file's own name, safe to show and to put in a header.

    The last component of a POSIX or Windows path, Unicode-normalised (NFC), without control
    characters, quotes or leading dots and spaces; at most 255 characters, keeping the extension.
    """
    name = unicodedata.normalize("NFC", str(raw or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(
        char for char in name if unicodedata.category(char)[0] != "C" and char not in '"<>|:*?'
    )
    name = " ".join(name.split()).lstrip(". ")
    if len(name) > 255:
        suffix = PurePath(name).suffix[:10]
        name = name[: 255 - len(suffix)] + suffix
    return name


def _clean_files(
    files: Iterable[File], *, field: str = "files"
) -> list[tuple[File, str, int, str]]:
    """Each file with its original name, size and content type, or a ``RecommendationError``.

    Accepted: PDF, DOCX, XLSX, PNG, JPEG, CSV and plain text up to 10 MB each. The extension
    decides the type; a declared content type must agree with it, and the first bytes must be
    those of such a file (a text file must not be binary).
    """
    files = list(files or ())
    if len(files) > MAX_EVIDENCE_FILES:
        raise RecommendationError(
            _("Attach at most %(count)d files.") % {"count": MAX_EVIDENCE_FILES}, field=field
        )
    cleaned = []
    for upload in files:
        name = _sanitise_name(getattr(upload, "name", ""))
        suffix = PurePath(name).suffix.lower()
        if not name or suffix not in EVIDENCE_TYPES:
            raise RecommendationError(
                _("%(name)s: attach PDF, DOCX, XLSX, PNG, JPG, CSV or TXT files only.")
                % {"name": name or _("unnamed file")},
                field=field,
            )
        content_type, declarable, signatures = EVIDENCE_TYPES[suffix]
        size = upload.size
        if size is None or size > EVIDENCE_MAX_BYTES:
            raise RecommendationError(
                _("%(name)s is larger than 10 MB.") % {"name": name}, field=field
            )
        if size == 0:
            raise RecommendationError(_("%(name)s is empty.") % {"name": name}, field=field)
        declared = (getattr(upload, "content_type", "") or "").split(";")[0].strip().lower()
        if declared not in UNDECLARED_CONTENT_TYPES and declared not in declarable:
            raise RecommendationError(
                _("%(name)s is declared as %(declared)s, which does not match its extension.")
                % {"name": name, "declared": declared},
                field=field,
            )
        upload.seek(0)
        head = upload.read(8192)
        upload.seek(0)
        if isinstance(head, str):
            head = head.encode()
        matches = head.startswith(signatures) if signatures else b"\x00" not in head
        if not matches:
            raise RecommendationError(
                _("%(name)s is not a valid %(kind)s file.")
                % {"name": name, "kind": suffix.lstrip(".").upper()},
                field=field,
            )
        cleaned.append((upload, name, size, content_type))
    return cleaned


def _store_files(report: FollowUpReport, files, by: User | None) -> list[EvidenceFile]:
    written: list[EvidenceFile] = []
    try:
        for upload, name, size, content_type in files:
            evidence = EvidenceFile(
                report=report,
                original_name=name,
                size=size,
                content_type=content_type,
                uploaded_by=by if getattr(by, "pk", None) else None,
            )
            evidence.file.save(name, upload, save=False)
            written.append(evidence)
            if by is not None and getattr(by, "pk", None) is not None:
                evidence._history_user = by
            evidence.save()
    except BaseException:
        # The transaction rolls the rows back; the files written so far go too.
        for evidence in written:
            evidence.file.delete(save=False)
        raise
    return written


@transaction.atomic
def followup_submit(
    *,
    assignment: Assignment,
    by: User | None,
    period_start: dt.date,
    period_end: dt.date,
    status: str,
    progress: int,
    narrative: str,
    evidence_urls: Sequence[str] = (),
    files: Sequence[File] = (),
) -> FollowUpReport:
    """An addressee reports progress on an adopted recommendation; the report enters submitted.

    Checked: the period ends on or after it starts; a known status; progress a whole number
    from 0 to 100 (0 when not started, 100 when implemented); a narrative; at most 20 http(s)
    links; at most 20 files of the accepted types, 10 MB each. A second report for the same
    period is refused while the first still awaits review or correction.
    """
    values = _clean_report(
        period_start=period_start,
        period_end=period_end,
        status=status,
        progress=progress,
        narrative=narrative,
        evidence_urls=evidence_urls,
    )
    files = _clean_files(files)
    assignment, recommendation = _lock_assignment(assignment)
    _check_adopted(recommendation, _("reported on"))
    _check_no_open_report_for_period(assignment, values["period_start"], values["period_end"])
    report = FollowUpReport(
        assignment=assignment,
        state=ReportState.SUBMITTED,
        submitted_by=by if getattr(by, "pk", None) else None,
        submitted_at=timezone.now(),
        **values,
    )
    _save(report, by=by, reason=_("Submitted"))
    _store_files(report, files, by)
    return report


@transaction.atomic
def evidence_add(*, report: FollowUpReport, by: User | None, file: File) -> EvidenceFile:
    """Attach one evidence file to a report that is submitted or returned (not yet accepted).

    The file is checked as ``followup_submit`` checks its files (type by extension and first
    bytes, at most 10 MB, a clean name), errors on the field ``file``; a report holds at most
    20 files. It is stored under ``MEDIA_ROOT/evidence/<year>/`` with a random name.
    """
    (cleaned,) = _clean_files([file], field="file")
    report, assignment, recommendation = _lock_report(report)
    if report.archived_at is not None:
        raise RecommendationError(_("This report is archived: it no longer changes."))
    if report.state not in OPEN_REPORT_STATES:
        raise RecommendationError(
            _("This report is %(state)s: evidence is added only while it is submitted or returned.")
            % {"state": report.get_state_display().lower()}
        )
    _check_adopted(recommendation, _("reported on"))
    if report.files.count() >= MAX_EVIDENCE_FILES:
        raise RecommendationError(
            _("A report holds at most %(count)d files.") % {"count": MAX_EVIDENCE_FILES},
            field="file",
        )
    (evidence,) = _store_files(report, [cleaned], by)
    return evidence


def _assignment_refresh(assignment: Assignment, *, by: User | None) -> Assignment:
    """Status and progress of the assignment's latest accepted report (by period end, then id).

    Without an accepted report left (the only one was archived), not started and 0%.
    """
    latest = (
        FollowUpReport.objects.filter(
            assignment=assignment, state=ReportState.ACCEPTED, archived_at__isnull=True
        )
        .order_by("-period_end", "-pk")
        .values_list("status", "progress")
        .first()
    )
    status, progress = latest or (ImplementationStatus.NOT_STARTED, 0)
    if (assignment.status, assignment.progress) != (status, progress):
        assignment.status = status
        assignment.progress = progress
        _save(
            assignment,
            by=by,
            reason=_("Progress from the latest accepted report"),
            fields=["status", "progress"],
        )
    return assignment


def _check_reviewable(report: FollowUpReport, recommendation: Recommendation) -> None:
    if report.archived_at is not None:
        raise RecommendationError(_("This report is archived: it is no longer reviewed."))
    _check_not_archived(recommendation)


@transaction.atomic
def followup_accept(
    *, report: FollowUpReport, by: User | None, comment: str = ""
) -> FollowUpReport:
    """submitted → accepted, in one transaction with what follows from it.

    The assignment takes the status and progress of its latest accepted report (by period end,
    then id, so an older period accepted late does not overwrite a newer one), and the
    recommendation's overall status and progress are recomputed (``recommendation_rollup``).
    """
    report, assignment, recommendation = _lock_report(report)
    _check_reviewable(report, recommendation)
    if report.state == ReportState.ACCEPTED:
        return report
    if ReportState.ACCEPTED not in ReportState.moves[report.state]:
        raise RecommendationError(
            _("This report is %(state)s: only a submitted report can be accepted.")
            % {"state": report.get_state_display().lower()}
        )
    report.state = ReportState.ACCEPTED
    report.review_comment = (comment or "").strip()
    report.reviewed_by = by if getattr(by, "pk", None) else None
    report.reviewed_at = timezone.now()
    _save(
        report,
        by=by,
        reason=_("Accepted"),
        fields=["state", "review_comment", "reviewed_by", "reviewed_at"],
    )
    _assignment_refresh(assignment, by=by)
    _rollup(recommendation, by=by)
    return report


@transaction.atomic
def followup_return(*, report: FollowUpReport, by: User | None, comment: str) -> FollowUpReport:
    """submitted → returned, with the secretariat's comment saying what to correct."""
    comment = (comment or "").strip()
    if not comment:
        raise RecommendationError(
            _("Say what should be corrected: a returned report needs a comment."),
            field="comment",
        )
    report, _assignment, recommendation = _lock_report(report)
    _check_reviewable(report, recommendation)
    if report.state == ReportState.RETURNED:
        return report
    if ReportState.RETURNED not in ReportState.moves[report.state]:
        raise RecommendationError(
            _("This report is %(state)s: only a submitted report can be returned.")
            % {"state": report.get_state_display().lower()}
        )
    report.state = ReportState.RETURNED
    report.review_comment = comment
    report.reviewed_by = by if getattr(by, "pk", None) else None
    report.reviewed_at = timezone.now()
    _save(
        report,
        by=by,
        reason=_("Returned"),
        fields=["state", "review_comment", "reviewed_by", "reviewed_at"],
    )
    return report


@transaction.atomic
def followup_resubmit(
    *,
    report: FollowUpReport,
    by: User | None,
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
    status: str | None = None,
    progress: int | None = None,
    narrative: str | None = None,
    evidence_urls: Sequence[str] | None = None,
) -> FollowUpReport:
    """returned → submitted, corrected in place: values not given are kept.

    The history keeps the values as they were returned. Resubmitting a report that is already
    submitted again, with nothing different, changes nothing; with different values it is
    refused, as only a returned report may be corrected.
    """
    report, assignment, recommendation = _lock_report(report)
    given = {
        "period_start": period_start,
        "period_end": period_end,
        "status": status,
        "progress": progress,
        "narrative": narrative,
        "evidence_urls": evidence_urls,
    }
    if report.archived_at is not None:
        raise RecommendationError(_("This report is archived: it can no longer be resubmitted."))
    refused = RecommendationError(
        _("This report is %(state)s: only a returned report can be corrected and resubmitted.")
        % {"state": report.get_state_display().lower()}
    )
    if report.state != ReportState.SUBMITTED and (
        ReportState.SUBMITTED not in ReportState.moves[report.state]
    ):
        raise refused
    current = {name: getattr(report, name) for name in given}
    merged = {name: current[name] if value is None else value for name, value in given.items()}
    values = _clean_report(**merged)
    changed = [name for name in values if values[name] != current[name]]
    if report.state == ReportState.SUBMITTED:
        if changed:
            raise refused
        return report
    _check_adopted(recommendation, _("reported on"))
    _check_no_open_report_for_period(
        assignment, values["period_start"], values["period_end"], exclude=report.pk
    )
    for name in changed:
        setattr(report, name, values[name])
    report.state = ReportState.SUBMITTED
    report.submitted_by = by if getattr(by, "pk", None) else None
    report.submitted_at = timezone.now()
    _save(
        report,
        by=by,
        reason=_("Corrected and resubmitted"),
        fields=[*changed, "state", "submitted_by", "submitted_at"],
    )
    return report


@transaction.atomic
def followup_archive(*, report: FollowUpReport, by: User | None) -> FollowUpReport:
    """Archive a report instead of deleting it; an accepted one stops counting for progress."""
    report, assignment, recommendation = _lock_report(report)
    if report.archived_at is not None:
        return report
    report.archived_at = timezone.now()
    _save(report, by=by, reason=_("Archived"), fields=["archived_at"])
    if report.state == ReportState.ACCEPTED:
        _assignment_refresh(assignment, by=by)
        _rollup(recommendation, by=by)
    return report


# --- Roll-up -------------------------------------------------------------------------------------


def rollup_values(assignments: Iterable[tuple[str, str, int]]) -> tuple[str, int]:
    """Overall status and progress from ``(role, status, progress)`` of each assignment.

    See ``recommendation_rollup`` for the rules.
    """
    rows = list(assignments)
    if not rows:
        return ImplementationStatus.NOT_STARTED, 0
    weights = AssignmentRole.weights
    total = sum(weights[role] for role, _status, _progress in rows)
    weighted = sum(weights[role] * progress for role, _status, progress in rows)
    # Rounded half up, in whole numbers, so that the database and Python agree.
    progress = (2 * weighted + total) // (2 * total)
    statuses = {status for _role, status, _progress in rows}
    if statuses == {ImplementationStatus.IMPLEMENTED}:
        status = ImplementationStatus.IMPLEMENTED
    elif statuses == {ImplementationStatus.NOT_STARTED}:
        status = ImplementationStatus.NOT_STARTED
    elif statuses == {ImplementationStatus.NOT_IMPLEMENTED}:
        status = ImplementationStatus.NOT_IMPLEMENTED
    elif statuses <= ImplementationStatus.concluded:
        status = ImplementationStatus.PARTIALLY_IMPLEMENTED
    else:
        status = ImplementationStatus.IN_PROGRESS
    return status, progress


def _rollup(recommendation: Recommendation, *, by: User | None) -> Recommendation:
    recommendation = _lock_recommendation(recommendation.pk)
    rows = Assignment.objects.filter(recommendation=recommendation).values_list(
        "role", "status", "progress"
    )
    status, progress = rollup_values(rows)
    if (recommendation.overall_status, recommendation.overall_progress) != (status, progress):
        recommendation.overall_status = status
        recommendation.overall_progress = progress
        _save(
            recommendation,
            by=by,
            reason=_("Overall progress recomputed"),
            fields=["overall_status", "overall_progress"],
        )
    return recommendation


@transaction.atomic
def recommendation_rollup(
    *, recommendation: Recommendation, by: User | None = None
) -> Recommendation:
    """Recompute and store the recommendation's overall status and progress.

    Computed from its assignments (each addressee's status and progress being those of its
    latest accepted report), and stored on the recommendation so that lists need no join:

    * **Overall progress** is the mean of the assignments' progress weighted by role: a lead
      addressee counts twice (weight 2), a supporting one once (weight 1), rounded half up to a
      whole percentage. Lead ILO at 60% and supporting WHO at 30% give (2×60 + 30) / 3 = 50%.
    * **Overall status**, in this order:
      1. no assignment: *not started* (and 0%);
      2. every addressee *implemented*: *implemented*;
      3. every addressee *not started*: *not started*;
      4. every addressee *not implemented*: *not implemented*;
      5. every addressee has concluded (implemented, partially implemented or not
         implemented) but not all alike: *partially implemented*;
      6. otherwise, some addressee is still at work (in progress, or not started while
         others have begun or concluded): *in progress*.

    The status does not depend on roles: it says where the addressees are, the weighted
    progress says how far. Called in the same transaction as whatever changed an assignment.
    """
    return _rollup(recommendation, by=by)
