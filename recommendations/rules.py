"""Who may do what with recommendations, assignments and follow-up reports (django-rules).

A login acts for one organisation through its ``Representative``: as the secretariat, a
member-state delegation or a partner agency. Superusers count as the secretariat. Logins without
a representative, inactive ones and anonymous visitors may do nothing here.

* The secretariat sees and manages everything.
* Delegations and agencies read adopted, non-archived recommendations and their assignments,
  and accepted, non-archived reports on them.
* An agency also reads its own organisation's reports in every review state, answers its own
  assignments, reports on them and resubmits its returned reports.

``selectors.py`` applies the same rules to querysets (``recommendations_for`` …); the tests
check that a list and ``has_perm`` never disagree.
"""

from __future__ import annotations

import rules

# Who the user acts for: the predicates every app shares (stakeholders.rules).
from stakeholders.rules import (
    acting_organisation_id,
    is_agency,
    is_representative,
    is_secretariat,
)

from .enums import RecommendationState, ReportState

# --- What the object is ---------------------------------------------------------------------------


def _public_recommendation(recommendation) -> bool:
    return (
        recommendation.state == RecommendationState.ADOPTED and recommendation.archived_at is None
    )


def _assignment_of(obj):
    """The assignment an assignment or a report belongs to."""
    return obj if hasattr(obj, "recommendation_id") else obj.assignment


@rules.predicate
def is_public_recommendation(user, recommendation) -> bool:
    """Adopted and not archived (true for the model as a whole, without an object)."""
    return recommendation is None or _public_recommendation(recommendation)


@rules.predicate
def is_public_assignment(user, obj) -> bool:
    """An assignment, or a report's assignment, of an adopted, non-archived recommendation."""
    return obj is None or _public_recommendation(_assignment_of(obj).recommendation)


@rules.predicate
def is_addressed_agency(user, obj) -> bool:
    """An agency user of the organisation the assignment (or the report's assignment) is to."""
    if obj is None or not is_agency(user):
        return False
    return _assignment_of(obj).organisation_id == acting_organisation_id(user)


@rules.predicate
def is_live_report(user, report) -> bool:
    return report is None or report.archived_at is None


@rules.predicate
def is_accepted_report(user, report) -> bool:
    return report is None or report.state == ReportState.ACCEPTED


@rules.predicate
def is_returned_report(user, report) -> bool:
    return report is None or report.state == ReportState.RETURNED


@rules.predicate
def is_open_report(user, report) -> bool:
    """Awaiting review or correction: submitted or returned."""
    return report is None or report.state in (ReportState.SUBMITTED, ReportState.RETURNED)


can_see_public = is_representative & is_public_recommendation

rules.add_perm("recommendations.view_recommendation", is_secretariat | can_see_public)
rules.add_perm(
    "recommendations.view_assignment",
    is_secretariat | (is_representative & is_public_assignment),
)
rules.add_perm(
    "recommendations.respond_assignment",
    is_secretariat | (is_addressed_agency & is_public_assignment),
)
rules.add_perm("recommendations.add_followup", is_addressed_agency & is_public_assignment)
rules.add_perm(
    "recommendations.view_followup",
    is_secretariat
    | (is_addressed_agency & is_live_report & is_public_assignment)
    | (is_representative & is_accepted_report & is_live_report & is_public_assignment),
)
rules.add_perm(
    "recommendations.resubmit_followup",
    is_addressed_agency & is_returned_report & is_live_report & is_public_assignment,
)
# The reporting agency attaches evidence while its report awaits review or correction (the
# service checks the states again on the locked row).
rules.add_perm(
    "recommendations.add_evidence",
    is_addressed_agency & is_open_report & is_live_report & is_public_assignment,
)
rules.add_perm("recommendations.review_followup", is_secretariat)
rules.add_perm("recommendations.manage_recommendation", is_secretariat)

# Follow-up report runs (``reporting.py``): only the secretariat reads and requests them.
rules.add_perm("recommendations.view_report_run", is_secretariat)
rules.add_perm("recommendations.request_report_run", is_secretariat)
