"""Who may do what: the rules matrix, and the selectors giving exactly what the rules allow."""

import itertools

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recommendations.enums import RecommendationState, ReportState
from recommendations.models import Assignment, Recommendation
from recommendations.rules import acting_organisation_id
from recommendations.selectors import assignments_for, followups_for, recommendations_for
from stakeholders.enums import ActingRole
from tests.factories.recommendations import (
    AssignmentFactory,
    EvidenceFileFactory,
    FollowUpReportFactory,
    RecommendationFactory,
)
from tests.factories.stakeholders import (
    OrganisationFactory,
    RepresentativeFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

USERS = [
    "secretariat",
    "superuser",
    "agency_a",
    "agency_b",
    "delegation",
    "delegation_of_a",
    "inactive_agency_a",
    "no_representative",
    "anonymous",
]
REPRESENTATIVES = {"secretariat", "agency_a", "agency_b", "delegation", "delegation_of_a"}
SECRETARIAT = {"secretariat", "superuser"}
REPORT_STATES = list(ReportState.values)
RECOMMENDATION_STATES = [*RecommendationState.values, "archived"]


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    org_a = OrganisationFactory(acronym="ILO")
    org_b = OrganisationFactory(acronym="WHO")

    def login(role, organisation, **user_fields):
        return RepresentativeFactory(
            role=role, organisation=organisation, user=UserFactory(**user_fields)
        ).user

    users = {
        "secretariat": login(ActingRole.SECRETARIAT, OrganisationFactory(acronym="IOM")),
        "superuser": UserFactory(is_superuser=True, is_staff=True),
        "agency_a": login(ActingRole.AGENCY, org_a),
        "agency_b": login(ActingRole.AGENCY, org_b),
        "delegation": login(ActingRole.DELEGATION, OrganisationFactory(name="Philippines")),
        "delegation_of_a": login(ActingRole.DELEGATION, org_a),
        "inactive_agency_a": login(ActingRole.AGENCY, org_a, is_active=False),
        "no_representative": UserFactory(),
        "anonymous": AnonymousUser(),
    }
    return {"org_a": org_a, "org_b": org_b, "users": users}


def recommendation_in(state: str):
    if state == "archived":
        return RecommendationFactory(state=RecommendationState.ADOPTED, archived_at=timezone.now())
    successor = RecommendationFactory() if state == RecommendationState.SUPERSEDED else None
    return RecommendationFactory(state=state, superseded_by=successor)


def report_for(world, *, recommendation_state="adopted", state="submitted", archived=False):
    assignment = AssignmentFactory(
        recommendation=recommendation_in(recommendation_state), organisation=world["org_a"]
    )
    return FollowUpReportFactory(
        assignment=assignment, state=state, archived_at=timezone.now() if archived else None
    )


def expect(user: str, allowed: bool) -> bool:
    """Django grants an active superuser every permission, whatever the rules say."""
    return True if user == "superuser" else allowed


def fresh(user):
    """The user as a new request would have it: nothing cached from an earlier check."""
    if isinstance(user, AnonymousUser):
        return user
    return type(user).objects.get(pk=user.pk)


# --- The matrix ---------------------------------------------------------------------------------


def expected_view_followup(user, state, archived):
    if user in SECRETARIAT:
        return True
    if archived:
        return False
    if user == "agency_a":
        return True
    return user in REPRESENTATIVES and state == ReportState.ACCEPTED


@pytest.mark.parametrize("archived", [False, True], ids=["live", "archived"])
@pytest.mark.parametrize("state", REPORT_STATES)
@pytest.mark.parametrize("user", USERS)
def test_view_followup(world, user, state, archived):
    report = report_for(world, state=state, archived=archived)

    allowed = fresh(world["users"][user]).has_perm("recommendations.view_followup", report)

    assert allowed == expected_view_followup(user, state, archived)


@pytest.mark.parametrize("recommendation_state", RECOMMENDATION_STATES)
@pytest.mark.parametrize("user", USERS)
def test_reports_on_unpublished_recommendations_are_for_the_secretariat_only(
    world, user, recommendation_state
):
    report = report_for(
        world, recommendation_state=recommendation_state, state=ReportState.ACCEPTED
    )

    allowed = fresh(world["users"][user]).has_perm("recommendations.view_followup", report)

    public = recommendation_state == RecommendationState.ADOPTED
    assert allowed == (user in SECRETARIAT or (public and user in REPRESENTATIVES))


@pytest.mark.parametrize("archived", [False, True], ids=["live", "archived"])
@pytest.mark.parametrize("state", REPORT_STATES)
@pytest.mark.parametrize("user", USERS)
def test_resubmit_followup(world, user, state, archived):
    report = report_for(world, state=state, archived=archived)

    allowed = fresh(world["users"][user]).has_perm("recommendations.resubmit_followup", report)

    assert allowed == expect(
        user, user == "agency_a" and state == ReportState.RETURNED and not archived
    )


@pytest.mark.parametrize("state", REPORT_STATES)
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize(
    "permission", ["recommendations.review_followup", "recommendations.manage_recommendation"]
)
def test_review_and_manage_are_for_the_secretariat(world, user, state, permission):
    report = report_for(world, state=state)
    user_obj = fresh(world["users"][user])

    assert user_obj.has_perm(permission, report) == (user in SECRETARIAT)
    assert user_obj.has_perm(permission) == (user in SECRETARIAT)


@pytest.mark.parametrize("recommendation_state", RECOMMENDATION_STATES)
@pytest.mark.parametrize("user", USERS)
def test_view_recommendation_and_assignment(world, user, recommendation_state):
    recommendation = recommendation_in(recommendation_state)
    assignment = AssignmentFactory(recommendation=recommendation, organisation=world["org_b"])
    user_obj = fresh(world["users"][user])

    public = recommendation_state == RecommendationState.ADOPTED
    expected = user in SECRETARIAT or (public and user in REPRESENTATIVES)
    assert user_obj.has_perm("recommendations.view_recommendation", recommendation) == expected
    assert user_obj.has_perm("recommendations.view_assignment", assignment) == expected


@pytest.mark.parametrize("recommendation_state", RECOMMENDATION_STATES)
@pytest.mark.parametrize("user", USERS)
def test_respond_and_add_followup(world, user, recommendation_state):
    assignment = AssignmentFactory(
        recommendation=recommendation_in(recommendation_state), organisation=world["org_a"]
    )
    user_obj = fresh(world["users"][user])

    public = recommendation_state == RecommendationState.ADOPTED
    own = user == "agency_a" and public
    assert user_obj.has_perm("recommendations.respond_assignment", assignment) == (
        user in SECRETARIAT or own
    )
    assert user_obj.has_perm("recommendations.add_followup", assignment) == expect(user, own)


@pytest.mark.parametrize("user", USERS)
def test_model_level_permissions(world, user):
    """Without an object: may the user list recommendations at all?"""
    user_obj = fresh(world["users"][user])

    may_read = user in SECRETARIAT or user in REPRESENTATIVES
    assert user_obj.has_perm("recommendations.view_recommendation") == may_read
    assert user_obj.has_perm("recommendations.view_followup") == may_read
    assert user_obj.has_perm("recommendations.resubmit_followup") == expect(user, False)
    assert user_obj.has_perm("recommendations.add_followup") == expect(user, False)


def test_acting_organisation(world):
    users = world["users"]

    assert acting_organisation_id(users["agency_a"]) == world["org_a"].pk
    assert acting_organisation_id(users["delegation_of_a"]) == world["org_a"].pk
    assert acting_organisation_id(users["inactive_agency_a"]) is None
    assert acting_organisation_id(users["no_representative"]) is None
    assert acting_organisation_id(users["anonymous"]) is None


# --- Selectors agree with the rules -----------------------------------------------------------


@pytest.fixture
def every_kind_of_report(world):
    reports = []
    for organisation, recommendation_state, state, archived in itertools.product(
        (world["org_a"], world["org_b"]), RECOMMENDATION_STATES, REPORT_STATES, (False, True)
    ):
        assignment = AssignmentFactory(
            recommendation=recommendation_in(recommendation_state), organisation=organisation
        )
        reports.append(
            FollowUpReportFactory(
                assignment=assignment,
                state=state,
                archived_at=timezone.now() if archived else None,
            )
        )
    return reports


@pytest.mark.parametrize("user", USERS)
def test_followups_for_gives_exactly_what_the_rules_allow(world, every_kind_of_report, user):
    user_obj = fresh(world["users"][user])

    listed = set(followups_for(user=user_obj))

    allowed = {
        report
        for report in every_kind_of_report
        if user_obj.has_perm("recommendations.view_followup", report)
    }
    assert listed == allowed
    if user in SECRETARIAT:
        assert len(listed) == len(every_kind_of_report)


@pytest.mark.parametrize("user", USERS)
def test_recommendations_and_assignments_for_give_what_the_rules_allow(
    world, every_kind_of_report, user
):
    user_obj = fresh(world["users"][user])
    assignments = Assignment.objects.select_related("recommendation")
    recommendations = Recommendation.objects.all()

    assert set(recommendations_for(user=user_obj)) == {
        r for r in recommendations if user_obj.has_perm("recommendations.view_recommendation", r)
    }
    assert set(assignments_for(user=user_obj)) == {
        a for a in assignments if user_obj.has_perm("recommendations.view_assignment", a)
    }


def test_agency_b_never_sees_agency_a_returned_or_submitted_reports(world):
    returned = report_for(world, state=ReportState.RETURNED)
    submitted = report_for(world, state=ReportState.SUBMITTED)
    accepted = report_for(world, state=ReportState.ACCEPTED)
    agency_b = fresh(world["users"]["agency_b"])

    visible = set(followups_for(user=agency_b))

    assert visible == {accepted}
    assert not agency_b.has_perm("recommendations.view_followup", returned)
    assert not agency_b.has_perm("recommendations.view_followup", submitted)
    assert set(followups_for(user=fresh(world["users"]["agency_a"]))) == {
        returned,
        submitted,
        accepted,
    }


def _queries(function) -> int:
    with CaptureQueriesContext(connection) as context:
        function()
    return len(context.captured_queries)


@pytest.mark.parametrize("user", ["secretariat", "agency_a", "delegation"])
def test_selector_lists_take_the_same_queries_for_one_or_many_rows(world, user):
    report = report_for(world, state=ReportState.ACCEPTED)
    EvidenceFileFactory(report=report)

    def read_everything():
        user_obj = fresh(world["users"][user])
        for recommendation in recommendations_for(user=user_obj):
            for assignment in recommendation.assignments.all():
                str(assignment.organisation), assignment.due_before_session
            list(recommendation.policy_domains.all())
        for assignment in assignments_for(user=user_obj):
            str(assignment), assignment.effective_due
        for report in followups_for(user=user_obj):
            str(report), report.submitted_by, report.reviewed_by
            [str(evidence) for evidence in report.files.all()]

    one = _queries(read_everything)
    for _ in range(10):
        report = report_for(world, state=ReportState.ACCEPTED)
        EvidenceFileFactory(report=report)
        AssignmentFactory(recommendation=report.assignment.recommendation)

    assert _queries(read_everything) == one
