"""Reads of recommendations, assignments and follow-up reports.

``recommendations_for``, ``assignments_for`` and ``followups_for`` give what a user may see, by
the same rules as ``rules.py``, with the joins and prefetches a list needs so that its query
count does not grow with its length.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce

from .enums import ImplementationStatus, RecommendationState, ReportState
from .models import Assignment, EvidenceFile, FollowUpReport, Recommendation
from .rules import acting_organisation_id, is_agency, is_representative, is_secretariat

# Statuses in which an addressee is still at work, and so may be late.
OPEN_STATUSES = [
    status for status in ImplementationStatus.values if status not in ImplementationStatus.concluded
]


def public_recommendations_q(prefix: str = "") -> Q:
    """Adopted and not archived: what is visible outside the secretariat."""
    return Q(**{f"{prefix}state": RecommendationState.ADOPTED, f"{prefix}archived_at": None})


# --- Due dates -----------------------------------------------------------------------------------


def assignment_effective_due_date(assignment: Assignment) -> dt.date | None:
    """The due date, or the first day of the Council session it is due before.

    The session's date is read at the time of asking, so the due date moves when the
    session moves. ``None`` when neither is set, or the session has no date yet.
    """
    if assignment.due_date is not None:
        return assignment.due_date
    if assignment.due_before_session_id is not None:
        return assignment.due_before_session.start_date
    return None


def assignments_with_effective_due(queryset: QuerySet[Assignment]) -> QuerySet[Assignment]:
    """Annotate ``effective_due``: the due date, or the start date of the session before which
    the assignment is due (a join, so a moved session moves it at once)."""
    return queryset.annotate(effective_due=Coalesce("due_date", "due_before_session__start_date"))


def assignments_overdue(
    queryset: QuerySet[Assignment], today: dt.date | None = None
) -> QuerySet[Assignment]:
    """Assignments of adopted, non-archived recommendations whose effective due date is before
    ``today`` while the addressee is still at work (not started or in progress)."""
    if today is None:
        today = dt.date.today()
    return assignments_with_effective_due(queryset).filter(
        public_recommendations_q("recommendation__"),
        effective_due__lt=today,
        status__in=OPEN_STATUSES,
    )


# --- What a user may see --------------------------------------------------------------------------


def _assignments_in_order() -> QuerySet[Assignment]:
    return Assignment.objects.select_related("organisation", "due_before_session").order_by(
        "role", "organisation__name", "pk"
    )


def recommendations_for(*, user) -> QuerySet[Recommendation]:
    """Every recommendation for the secretariat; adopted, non-archived ones for delegations and
    agencies; none for anyone else. Each with its assignments (and their organisations and
    sessions) and its policy domains prefetched."""
    queryset = (
        Recommendation.objects.select_related("dialogue", "document")
        # The seed's source references and notes are not listed: leave them in the database.
        .defer("source", "notes", "document__source", "document__notes", "dialogue__source")
    ).prefetch_related(
        Prefetch("assignments", queryset=_assignments_in_order()),
        "policy_domains",
    )
    if is_secretariat(user):
        return queryset
    if is_representative(user):
        return queryset.filter(public_recommendations_q())
    return queryset.none()


def assignments_for(*, user) -> QuerySet[Assignment]:
    """Every assignment for the secretariat; those of adopted, non-archived recommendations for
    delegations and agencies; none for anyone else. Annotated with ``effective_due``."""
    queryset = assignments_with_effective_due(
        Assignment.objects.select_related("recommendation", "organisation", "due_before_session")
    )
    if is_secretariat(user):
        return queryset
    if is_representative(user):
        return queryset.filter(public_recommendations_q("recommendation__"))
    return queryset.none()


def followups_for(*, user) -> QuerySet[FollowUpReport]:
    """The follow-up reports a user may read.

    The secretariat: all, archived ones included. An agency: its own organisation's reports in
    every review state, and other organisations' accepted ones. A delegation: accepted ones.
    Outside the secretariat only reports that are not archived, on adopted, non-archived
    recommendations. Nobody else: none.
    """
    queryset = FollowUpReport.objects.select_related(
        "assignment__recommendation",
        "assignment__organisation",
        "submitted_by",
        "reviewed_by",
    ).prefetch_related(Prefetch("files", queryset=EvidenceFile.objects.order_by("pk")))
    if is_secretariat(user):
        return queryset
    if not is_representative(user):
        return queryset.none()
    visible = public_recommendations_q("assignment__recommendation__") & Q(archived_at=None)
    readable = Q(state=ReportState.ACCEPTED)
    if is_agency(user):
        readable |= Q(assignment__organisation_id=acting_organisation_id(user))
    return queryset.filter(visible & readable)
