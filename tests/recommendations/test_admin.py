"""The recommendations admin: actions call the services; refusals are messages; nothing is
deleted."""

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recommendations.enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationState,
    ReportState,
)
from recommendations.models import Assignment, EvidenceFile, FollowUpReport, Recommendation
from stakeholders.enums import ActingRole
from stakeholders.services import representative_login_ensure
from tests.factories.idm import CouncilSessionFactory
from tests.factories.recommendations import (
    AssignmentFactory,
    EvidenceFileFactory,
    FollowUpReportFactory,
    RecommendationFactory,
)
from tests.factories.stakeholders import OrganisationFactory

pytestmark = pytest.mark.django_db

ADOPTED = RecommendationState.ADOPTED


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def officer(client):
    """A secretariat officer as the demo creates one: staff, Secretariat group, no superuser."""
    user = representative_login_ensure(
        username="officer",
        password="unused",
        organisation=OrganisationFactory(acronym="IOM"),
        role=ActingRole.SECRETARIAT,
    ).user
    client.force_login(user)
    return client


def url(model, view, *args):
    return reverse(f"admin:recommendations_{model._meta.model_name}_{view}", args=args)


def run_action(client, model, action, objects, **data):
    # The queue's filters apply to the selection, as the changelist keeps them in its URL.
    query = "?review=all" if model is FollowUpReport else ""
    return client.post(
        url(model, "changelist") + query,
        {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects], "index": 0, **data},
    )


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


# --- Recommendation actions ---------------------------------------------------------------------


def test_adopt_action_adopts_drafts_and_reports_refusals_as_messages(officer):
    draft = RecommendationFactory()
    closed = RecommendationFactory(state=RecommendationState.CLOSED)

    response = run_action(officer, Recommendation, "adopt", [draft, closed])

    assert response.status_code == 302
    draft.refresh_from_db()
    closed.refresh_from_db()
    assert (draft.state, closed.state) == (ADOPTED, RecommendationState.CLOSED)
    assert messages_of(response) == [
        (
            "error",
            f"{closed.reference}: {closed.reference} is closed: only a draft recommendation can "
            "be adopted.",
        ),
        ("success", "1 recommendation adopted."),
    ]
    assert draft.history.latest().history_user.username == "officer"


@pytest.mark.parametrize(
    ("action", "state", "expected"),
    [
        ("close", ADOPTED, RecommendationState.CLOSED),
        ("close", RecommendationState.DRAFT, RecommendationState.DRAFT),
        ("adopt", RecommendationState.DRAFT, ADOPTED),
    ],
)
def test_state_actions(officer, action, state, expected):
    recommendation = RecommendationFactory(state=state)

    response = run_action(officer, Recommendation, action, [recommendation])

    assert response.status_code == 302
    recommendation.refresh_from_db()
    assert recommendation.state == expected


def test_archive_action_archives_instead_of_deleting(officer):
    recommendation = RecommendationFactory(state=ADOPTED)

    run_action(officer, Recommendation, "archive", [recommendation])

    recommendation.refresh_from_db()
    assert recommendation.archived_at is not None
    # An archived recommendation opens read-only.
    page = officer.get(url(Recommendation, "change", recommendation.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    refused = officer.post(url(Recommendation, "change", recommendation.pk), {"text": "New"})
    assert refused.status_code == 403


def test_supersede_action_asks_for_the_successor(officer):
    old = RecommendationFactory(state=ADOPTED)
    new = RecommendationFactory(reference="IDM-2006-R004")

    page = run_action(officer, Recommendation, "supersede", [old])
    assert page.status_code == 200
    assert "superseded_by" in page.context["form"].fields

    unknown = run_action(officer, Recommendation, "supersede", [old], apply="1", superseded_by="X")
    assert unknown.status_code == 200
    assert unknown.context["form"].errors

    done = run_action(
        officer, Recommendation, "supersede", [old], apply="1", superseded_by="IDM-2006-R004"
    )
    assert done.status_code == 302
    old.refresh_from_db()
    assert (old.state, old.superseded_by) == (RecommendationState.SUPERSEDED, new)


def test_assign_action_shows_a_form_then_assigns(officer):
    draft = RecommendationFactory()
    adopted = RecommendationFactory(state=ADOPTED)
    closed = RecommendationFactory(state=RecommendationState.CLOSED)
    ilo = OrganisationFactory(acronym="ILO")

    page = run_action(officer, Recommendation, "assign_to_organisation", [draft, adopted, closed])

    assert page.status_code == 200
    assert page.templates[0].name == "admin/recommendations/action_form.html"
    assert set(page.context["form"].fields) == {
        "organisation",
        "role",
        "due_date",
        "due_before_session",
    }
    assert Assignment.objects.count() == 0

    response = run_action(
        officer,
        Recommendation,
        "assign_to_organisation",
        [draft, adopted, closed],
        apply="1",
        organisation=ilo.pk,
        role=AssignmentRole.SUPPORTING,
        due_date="2026-06-30",
    )

    assert response.status_code == 302
    assert set(Assignment.objects.values_list("recommendation_id", "role", "due_date")) == {
        (draft.pk, "supporting", dt.date(2026, 6, 30)),
        (adopted.pk, "supporting", dt.date(2026, 6, 30)),
    }
    levels = [level for level, _text in messages_of(response)]
    assert levels == ["error", "success"]


def test_assign_action_refuses_two_kinds_of_due_date_in_its_form(officer):
    recommendation = RecommendationFactory()

    response = run_action(
        officer,
        Recommendation,
        "assign_to_organisation",
        [recommendation],
        apply="1",
        organisation=OrganisationFactory().pk,
        role="lead",
        due_date="2026-06-30",
        due_before_session=CouncilSessionFactory().pk,
    )

    assert response.status_code == 200
    assert "not both" in str(response.context["form"].non_field_errors())
    assert not Assignment.objects.exists()


def test_set_due_date_action_on_recommendations(officer):
    session = CouncilSessionFactory(start_date=dt.date(2026, 11, 24))
    recommendation = RecommendationFactory(state=ADOPTED)
    ilo, who = AssignmentFactory.create_batch(2, recommendation=recommendation)
    closed = AssignmentFactory(recommendation=RecommendationFactory(state="closed"))

    response = run_action(
        officer,
        Recommendation,
        "set_due_date",
        [recommendation, closed.recommendation],
        apply="1",
        due_before_session=session.pk,
    )

    assert response.status_code == 302
    for assignment in (ilo, who, closed):
        assignment.refresh_from_db()
    assert (ilo.due_before_session, who.due_before_session) == (session, session)
    assert closed.due_before_session is None
    assert [level for level, _ in messages_of(response)] == ["error", "success"]


def test_set_due_date_action_for_one_addressee_only(officer):
    recommendation = RecommendationFactory(state=ADOPTED)
    ilo, who = AssignmentFactory.create_batch(2, recommendation=recommendation)

    run_action(
        officer,
        Recommendation,
        "set_due_date",
        [recommendation],
        apply="1",
        organisation=ilo.organisation_id,
        due_date="2026-06-30",
    )

    ilo.refresh_from_db()
    who.refresh_from_db()
    assert (ilo.due_date, who.due_date) == (dt.date(2026, 6, 30), None)


def test_set_due_date_action_on_assignments(officer):
    assignments = AssignmentFactory.create_batch(
        3, recommendation=RecommendationFactory(state=ADOPTED)
    )

    page = run_action(officer, Assignment, "set_due_date", assignments)
    assert page.status_code == 200

    response = run_action(
        officer, Assignment, "set_due_date", assignments, apply="1", due_date="2026-06-30"
    )

    assert response.status_code == 302
    assert set(Assignment.objects.values_list("due_date", flat=True)) == {dt.date(2026, 6, 30)}
    assert messages_of(response) == [("success", "Due date set on 3 assignments.")]


def test_state_is_read_only_on_the_change_page(officer):
    recommendation = RecommendationFactory()
    change = url(Recommendation, "change", recommendation.pk)

    page = officer.get(change)

    assert "state" not in page.context["adminform"].form.fields
    assert "overall_progress" not in page.context["adminform"].form.fields
    data = {
        "reference": recommendation.reference,
        "text": "Corrected text.",
        "kind": recommendation.kind,
        "state": ADOPTED,
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
    }
    response = officer.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    recommendation.refresh_from_db()
    assert (recommendation.text, recommendation.state) == ("Corrected text.", "draft")


def test_changing_a_role_in_the_inline_recomputes_the_roll_up(officer):
    recommendation = RecommendationFactory(state=ADOPTED)
    lead = AssignmentFactory(
        recommendation=recommendation, status=ImplementationStatus.IN_PROGRESS, progress=90
    )
    other = AssignmentFactory(
        recommendation=recommendation, role=AssignmentRole.SUPPORTING, progress=0
    )
    data = {
        "reference": recommendation.reference,
        "text": recommendation.text,
        "kind": recommendation.kind,
        "assignments-TOTAL_FORMS": "2",
        "assignments-INITIAL_FORMS": "2",
    }
    for index, assignment in enumerate([lead, other]):
        data |= {
            f"assignments-{index}-id": assignment.pk,
            f"assignments-{index}-recommendation": recommendation.pk,
            f"assignments-{index}-organisation": assignment.organisation_id,
            f"assignments-{index}-role": "supporting",
            f"assignments-{index}-response": assignment.response,
        }

    response = officer.post(url(Recommendation, "change", recommendation.pk), data)

    assert response.status_code == 302
    recommendation.refresh_from_db()
    assert (recommendation.overall_status, recommendation.overall_progress) == (
        ImplementationStatus.IN_PROGRESS,
        45,
    )


@pytest.mark.parametrize("model", [Recommendation, Assignment, FollowUpReport, EvidenceFile])
def test_nothing_is_deleted(officer, rf, model):
    obj = {
        Recommendation: RecommendationFactory,
        Assignment: AssignmentFactory,
        FollowUpReport: FollowUpReportFactory,
        EvidenceFile: EvidenceFileFactory,
    }[model]()

    model_admin = admin.site.get_model_admin(model)
    request = rf.get("/")
    request.user = get_user_model().objects.get(username="officer")

    assert officer.get(url(model, "delete", obj.pk)).status_code == 403
    assert "delete_selected" not in model_admin.get_actions(request)
    assert not model_admin.has_delete_permission(request, obj)
    assert model.objects.filter(pk=obj.pk).exists()


def test_history_is_shown_but_never_reverted(officer):
    recommendation = RecommendationFactory()
    run_action(officer, Recommendation, "adopt", [recommendation])
    record = recommendation.history.order_by("history_id").first()

    assert officer.get(url(Recommendation, "history", recommendation.pk)).status_code == 200
    view = url(Recommendation, "simple_history", recommendation.pk, record.history_id)
    assert officer.get(view).status_code == 200
    assert officer.post(view, {"text": "x"}).status_code == 403
    recommendation.refresh_from_db()
    assert recommendation.state == ADOPTED


# --- The verification queue ---------------------------------------------------------------------


def report(state=ReportState.SUBMITTED, **fields):
    fields.setdefault(
        "assignment", AssignmentFactory(recommendation=RecommendationFactory(state=ADOPTED))
    )
    return FollowUpReportFactory(state=state, **fields)


def test_the_queue_opens_on_submitted_reports(officer):
    submitted = report()
    accepted = report(ReportState.ACCEPTED)
    returned = report(ReportState.RETURNED)
    archived = report(archived_at=timezone.now())

    queue = officer.get(url(FollowUpReport, "changelist"))
    everything = officer.get(
        url(FollowUpReport, "changelist"), {"review": "all", "archived": "all"}
    )
    returned_only = officer.get(url(FollowUpReport, "changelist"), {"review": "returned"})

    assert list(queue.context["cl"].queryset) == [submitted]
    assert set(everything.context["cl"].queryset) == {submitted, accepted, returned, archived}
    assert list(returned_only.context["cl"].queryset) == [returned]


def test_accept_action_accepts_and_rolls_up(officer):
    submitted = report(progress=60, status=ImplementationStatus.IN_PROGRESS)
    already = report(ReportState.RETURNED)

    response = run_action(officer, FollowUpReport, "accept", [submitted, already])

    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.state == ReportState.ACCEPTED
    assert submitted.reviewed_by.username == "officer"
    recommendation = Recommendation.objects.get(pk=submitted.assignment.recommendation_id)
    assert recommendation.overall_progress == 60
    assert [level for level, _ in messages_of(response)] == ["error", "success"]


def test_return_action_asks_for_a_comment(officer):
    submitted = report()

    page = run_action(officer, FollowUpReport, "return_for_correction", [submitted])
    assert page.status_code == 200
    assert "comment" in page.context["form"].fields

    blank = run_action(
        officer, FollowUpReport, "return_for_correction", [submitted], apply="1", comment=""
    )
    assert blank.status_code == 200
    assert blank.context["form"].errors["comment"]

    done = run_action(
        officer,
        FollowUpReport,
        "return_for_correction",
        [submitted],
        apply="1",
        comment="Attach the workshop report.",
    )
    assert done.status_code == 302
    submitted.refresh_from_db()
    assert (submitted.state, submitted.review_comment) == (
        ReportState.RETURNED,
        "Attach the workshop report.",
    )


def test_returning_an_accepted_report_is_a_message_not_an_error_page(officer):
    accepted = report(ReportState.ACCEPTED)

    response = run_action(
        officer, FollowUpReport, "return_for_correction", [accepted], apply="1", comment="Late."
    )

    assert response.status_code == 302
    assert messages_of(response) == [
        ("error", f"{accepted}: This report is accepted: only a submitted report can be returned.")
    ]


def test_report_pages_are_read_only_and_show_their_evidence(officer):
    evidence = EvidenceFileFactory(
        report=report(evidence_urls=["https://example.org/a.pdf"]), original_name="minutes.txt"
    )

    page = officer.get(url(FollowUpReport, "change", evidence.report_id))

    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    content = page.content.decode()
    assert "minutes.txt" in content and "https://example.org/a.pdf" in content
    assert officer.get(url(FollowUpReport, "add")).status_code == 403
    assert officer.get(url(EvidenceFile, "change", evidence.pk)).status_code == 200
    assert officer.get(url(EvidenceFile, "add")).status_code == 403


def test_archive_action_on_reports(officer):
    submitted = report()

    run_action(officer, FollowUpReport, "archive", [submitted])

    submitted.refresh_from_db()
    assert submitted.archived_at is not None


def test_actions_need_the_secretariat(client):
    delegate = representative_login_ensure(
        username="delegate",
        password="unused",
        organisation=OrganisationFactory(),
        role=ActingRole.DELEGATION,
    ).user
    delegate.is_staff = True
    delegate.save()
    client.force_login(delegate)

    for model in (Recommendation, Assignment, FollowUpReport, EvidenceFile):
        assert client.get(url(model, "changelist")).status_code == 403
    draft = RecommendationFactory()
    assert client.get(url(Recommendation, "change", draft.pk)).status_code == 403
    assert run_action(client, Recommendation, "adopt", [draft]).status_code == 403
    draft.refresh_from_db()
    assert draft.state == RecommendationState.DRAFT


# --- Query counts -------------------------------------------------------------------------------


def _queries(client, path, params=None) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(path, params or {})
    assert response.status_code == 200
    return len(context.captured_queries)


def _rows(count):
    for _ in range(count):
        recommendation = RecommendationFactory(state=ADOPTED)
        for _ in range(2):
            assignment = AssignmentFactory(
                recommendation=recommendation,
                due_before_session=CouncilSessionFactory(start_date=dt.date(2026, 1, 1)),
            )
            EvidenceFileFactory(report=report(assignment=assignment))


@pytest.mark.parametrize("model", [Recommendation, Assignment, FollowUpReport, EvidenceFile])
def test_changelist_queries_do_not_grow_with_rows(officer, model):
    _rows(1)
    path = url(model, "changelist")
    officer.get(path)
    one = _queries(officer, path)

    _rows(20)

    assert _queries(officer, path) <= one
    assert _queries(officer, path) <= 13  # one of them: does the account have an authenticator?


def test_assignments_are_added_through_their_recommendation(officer):
    assignment = AssignmentFactory(recommendation=RecommendationFactory(state=ADOPTED))
    closed = AssignmentFactory(recommendation=RecommendationFactory(state="closed"))

    assert officer.get(url(Assignment, "add")).status_code == 403
    assert officer.get(url(Assignment, "change", assignment.pk)).context["has_change_permission"]
    page = officer.get(url(Assignment, "change", closed.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    closed_page = officer.get(url(Recommendation, "change", closed.recommendation_id))
    [inline] = closed_page.context["inline_admin_formsets"]
    assert not inline.has_add_permission and not inline.has_change_permission
