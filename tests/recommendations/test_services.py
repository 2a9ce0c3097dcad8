import datetime as dt
import io
import threading
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.utils import timezone

from recommendations import services
from recommendations.enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationState,
    ReportState,
    Response,
)
from recommendations.models import Assignment, EvidenceFile, FollowUpReport, Recommendation
from recommendations.selectors import (
    assignment_effective_due_date,
    assignments_overdue,
    assignments_with_effective_due,
)
from recommendations.services import (
    RecommendationError,
    assignment_respond,
    assignments_set_due,
    followup_accept,
    followup_archive,
    followup_resubmit,
    followup_return,
    followup_submit,
    recommendation_adopt,
    recommendation_archive,
    recommendation_assign,
    recommendation_close,
    recommendation_rollup,
    recommendation_supersede,
    rollup_values,
)
from tests.factories.idm import CouncilSessionFactory
from tests.factories.recommendations import (
    AssignmentFactory,
    FollowUpReportFactory,
    RecommendationFactory,
)
from tests.factories.stakeholders import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

STATES = list(RecommendationState.values)
D = dt.date
LEAD, SUPPORTING = AssignmentRole.LEAD, AssignmentRole.SUPPORTING
NS = ImplementationStatus.NOT_STARTED
IP = ImplementationStatus.IN_PROGRESS
IM = ImplementationStatus.IMPLEMENTED
PI = ImplementationStatus.PARTIALLY_IMPLEMENTED
NI = ImplementationStatus.NOT_IMPLEMENTED


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def recommendation_in(state: str, **fields) -> Recommendation:
    successor = RecommendationFactory() if state == RecommendationState.SUPERSEDED else None
    return RecommendationFactory(state=state, superseded_by=successor, **fields)


def adopted_assignment(**fields) -> Assignment:
    return AssignmentFactory(
        recommendation=RecommendationFactory(state=RecommendationState.ADOPTED), **fields
    )


def report_in(state: str, **fields) -> FollowUpReport:
    fields.setdefault("assignment", adopted_assignment())
    return FollowUpReportFactory(state=state, **fields)


def submit(assignment, by, **overrides) -> FollowUpReport:
    values = {
        "period_start": D(2006, 1, 1),
        "period_end": D(2006, 6, 30),
        "status": IP,
        "progress": 40,
        "narrative": "Workshop held.",
        "evidence_urls": ["https://www.ilo.org/report.pdf"],
    }
    values.update(overrides)
    return followup_submit(assignment=assignment, by=by, **values)


def history_count(obj) -> int:
    return obj.history.count()


# --- Recommendation states ----------------------------------------------------------------------

MOVES = [
    (recommendation_adopt, RecommendationState.ADOPTED, {RecommendationState.DRAFT}),
    (recommendation_close, RecommendationState.CLOSED, {RecommendationState.ADOPTED}),
]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(("service", "target", "allowed_from"), MOVES, ids=["adopt", "close"])
def test_recommendation_moves_follow_the_moves_table(user, state, service, target, allowed_from):
    recommendation = recommendation_in(state)

    if state in allowed_from:
        moved = service(recommendation=recommendation, by=user)
        assert moved.state == target
        assert Recommendation.objects.get(pk=recommendation.pk).state == target
        record = moved.history.latest()
        assert record.history_user == user
        assert record.history_change_reason.startswith("State:")
    elif state == target:
        before = history_count(recommendation)
        assert service(recommendation=recommendation, by=user).state == target
        assert history_count(recommendation) == before  # doing it twice changes nothing
    else:
        with pytest.raises(RecommendationError, match=f"is {state}"):
            service(recommendation=recommendation, by=user)
        assert Recommendation.objects.get(pk=recommendation.pk).state == state


def test_every_recommendation_move_is_in_the_table():
    assert RecommendationState.moves[RecommendationState.DRAFT] == {RecommendationState.ADOPTED}
    assert RecommendationState.moves[RecommendationState.ADOPTED] == {
        RecommendationState.CLOSED,
        RecommendationState.SUPERSEDED,
    }


@pytest.mark.parametrize("state", STATES)
def test_recommendation_supersede_over_every_state(user, state):
    recommendation = recommendation_in(state)
    successor = RecommendationFactory()

    if state == RecommendationState.ADOPTED:
        moved = recommendation_supersede(
            recommendation=recommendation, by=user, superseded_by=successor
        )
        assert moved.state == RecommendationState.SUPERSEDED
        assert moved.superseded_by == successor
    elif state == RecommendationState.SUPERSEDED:
        with pytest.raises(RecommendationError, match="already superseded"):
            recommendation_supersede(
                recommendation=recommendation, by=user, superseded_by=successor
            )
    else:
        with pytest.raises(RecommendationError, match="only an adopted recommendation"):
            recommendation_supersede(
                recommendation=recommendation, by=user, superseded_by=successor
            )
        assert Recommendation.objects.get(pk=recommendation.pk).state == state


def test_superseding_twice_by_the_same_successor_changes_nothing(user):
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    successor = RecommendationFactory()
    recommendation_supersede(recommendation=recommendation, by=user, superseded_by=successor)
    before = history_count(recommendation)

    again = recommendation_supersede(
        recommendation=recommendation, by=user, superseded_by=successor
    )

    assert again.superseded_by_id == successor.pk
    assert history_count(recommendation) == before


def test_recommendation_cannot_supersede_itself(user):
    recommendation = recommendation_in(RecommendationState.ADOPTED)

    with pytest.raises(RecommendationError, match="itself"):
        recommendation_supersede(
            recommendation=recommendation, by=user, superseded_by=recommendation
        )


@pytest.mark.parametrize(
    "successor_state", [RecommendationState.CLOSED, RecommendationState.SUPERSEDED, "archived"]
)
def test_a_closed_superseded_or_archived_successor_is_refused(user, successor_state):
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    if successor_state == "archived":
        successor = RecommendationFactory(archived_at=timezone.now())
    else:
        successor = recommendation_in(successor_state)

    with pytest.raises(RecommendationError) as excinfo:
        recommendation_supersede(recommendation=recommendation, by=user, superseded_by=successor)
    assert excinfo.value.field == "superseded_by"


@pytest.mark.parametrize("state", STATES)
def test_recommendation_archive_in_every_state_and_twice(user, state):
    recommendation = recommendation_in(state)

    archived = recommendation_archive(recommendation=recommendation, by=user)
    again = recommendation_archive(recommendation=recommendation, by=user)

    assert archived.archived_at is not None
    assert again.archived_at == archived.archived_at
    assert Recommendation.objects.get(pk=recommendation.pk).state == state


@pytest.mark.parametrize(
    "service", [recommendation_adopt, recommendation_close], ids=["adopt", "close"]
)
def test_an_archived_recommendation_no_longer_moves(user, service):
    recommendation = recommendation_in(RecommendationState.DRAFT)
    recommendation_archive(recommendation=recommendation, by=user)

    with pytest.raises(RecommendationError, match="archived"):
        service(recommendation=recommendation, by=user)


# --- Assignments --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [*STATES, "archived"])
def test_recommendation_assign_over_every_state(user, state):
    if state == "archived":
        recommendation = RecommendationFactory(archived_at=timezone.now())
    else:
        recommendation = recommendation_in(state)
    organisation = OrganisationFactory(acronym="ILO")

    if state in (RecommendationState.DRAFT, RecommendationState.ADOPTED):
        assignment = recommendation_assign(
            recommendation=recommendation, organisation=organisation, by=user
        )
        assert assignment.role == LEAD
        assert assignment.response == Response.PENDING
        assert list(recommendation.addressees.all()) == [organisation]
        assert assignment.history.latest().history_user == user
    else:
        with pytest.raises(RecommendationError):
            recommendation_assign(recommendation=recommendation, organisation=organisation, by=user)
        assert not Assignment.objects.filter(recommendation=recommendation).exists()


def test_assigning_an_addressee_again_updates_its_role_and_due_date(user):
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    organisation = OrganisationFactory()
    session = CouncilSessionFactory(start_date=D(2026, 11, 24))
    first = recommendation_assign(recommendation=recommendation, organisation=organisation, by=user)

    second = recommendation_assign(
        recommendation=recommendation,
        organisation=organisation,
        by=user,
        role=SUPPORTING,
        due_before_session=session,
    )

    assert second.pk == first.pk
    assert Assignment.objects.filter(recommendation=recommendation).count() == 1
    second.refresh_from_db()
    assert (second.role, second.due_date, second.due_before_session) == (
        SUPPORTING,
        None,
        session,
    )


def test_assigning_twice_with_the_same_values_changes_nothing(user):
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    organisation = OrganisationFactory()
    assignment = recommendation_assign(
        recommendation=recommendation, organisation=organisation, by=user, due_date=D(2026, 6, 30)
    )
    before = history_count(assignment), history_count(recommendation)

    recommendation_assign(
        recommendation=recommendation, organisation=organisation, by=user, due_date=D(2026, 6, 30)
    )

    assert (history_count(assignment), history_count(recommendation)) == before


def test_assigning_again_a_closed_recommendation_unchanged_is_accepted(user):
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    organisation = OrganisationFactory()
    recommendation_assign(recommendation=recommendation, organisation=organisation, by=user)
    recommendation_close(recommendation=recommendation, by=user)

    recommendation_assign(recommendation=recommendation, organisation=organisation, by=user)
    with pytest.raises(RecommendationError, match="closed"):
        recommendation_assign(
            recommendation=recommendation, organisation=organisation, by=user, role=SUPPORTING
        )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "observer"}, "role"),
        ({"due_date": D(2026, 1, 1), "due_before_session": "session"}, "due_date"),
        ({"due_date": "2026-01-01"}, "due_date"),
    ],
)
def test_recommendation_assign_refuses_bad_values(user, kwargs, field):
    if kwargs.get("due_before_session") == "session":
        kwargs["due_before_session"] = CouncilSessionFactory()
    recommendation = recommendation_in(RecommendationState.DRAFT)

    with pytest.raises(RecommendationError) as excinfo:
        recommendation_assign(
            recommendation=recommendation, organisation=OrganisationFactory(), by=user, **kwargs
        )
    assert excinfo.value.field == field


def test_changing_an_addressee_role_recomputes_the_roll_up(user):
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    AssignmentFactory(recommendation=recommendation, role=LEAD, status=IP, progress=90)
    other = AssignmentFactory(recommendation=recommendation, role=SUPPORTING, status=IP, progress=0)
    recommendation_rollup(recommendation=recommendation)
    assert Recommendation.objects.get(pk=recommendation.pk).overall_progress == 60

    recommendation_assign(
        recommendation=recommendation, organisation=other.organisation, by=user, role=LEAD
    )

    assert Recommendation.objects.get(pk=recommendation.pk).overall_progress == 45


@pytest.mark.parametrize("state", [*STATES, "archived"])
def test_assignments_set_due_over_every_state(user, state):
    if state == "archived":
        recommendation = RecommendationFactory(archived_at=timezone.now())
    else:
        recommendation = recommendation_in(state)
    assignments = AssignmentFactory.create_batch(2, recommendation=recommendation)

    if state in (RecommendationState.DRAFT, RecommendationState.ADOPTED):
        changed = assignments_set_due(assignments=assignments, by=user, due_date=D(2026, 6, 30))
        assert {a.due_date for a in changed} == {D(2026, 6, 30)}
    else:
        with pytest.raises(RecommendationError):
            assignments_set_due(assignments=assignments, by=user, due_date=D(2026, 6, 30))
        assert set(
            Assignment.objects.filter(recommendation=recommendation).values_list(
                "due_date", flat=True
            )
        ) == {None}


def test_assignments_set_due_is_all_or_nothing(user):
    open_one = AssignmentFactory(recommendation=recommendation_in(RecommendationState.ADOPTED))
    closed_one = AssignmentFactory(recommendation=recommendation_in(RecommendationState.CLOSED))

    with pytest.raises(RecommendationError, match="closed"):
        assignments_set_due(assignments=[open_one, closed_one], by=user, due_date=D(2026, 6, 30))

    open_one.refresh_from_db()
    assert open_one.due_date is None


def test_assignments_set_due_switches_between_a_date_and_a_session_and_clears(user):
    assignment = adopted_assignment(due_date=D(2026, 6, 30))
    session = CouncilSessionFactory()

    assignments_set_due(assignments=[assignment], by=user, due_before_session=session)
    assignment.refresh_from_db()
    assert (assignment.due_date, assignment.due_before_session) == (None, session)

    assignments_set_due(assignments=[assignment], by=user)
    assignment.refresh_from_db()
    assert (assignment.due_date, assignment.due_before_session) == (None, None)


def test_assignments_set_due_refuses_both_kinds_of_due_date(user):
    assignment = adopted_assignment()

    with pytest.raises(RecommendationError, match="not both"):
        assignments_set_due(
            assignments=[assignment],
            by=user,
            due_date=D(2026, 6, 30),
            due_before_session=CouncilSessionFactory(),
        )


@pytest.mark.parametrize("state", [*STATES, "archived"])
def test_assignment_respond_over_every_state(user, state):
    if state == "archived":
        recommendation = RecommendationFactory(
            state=RecommendationState.ADOPTED, archived_at=timezone.now()
        )
    else:
        recommendation = recommendation_in(state)
    assignment = AssignmentFactory(recommendation=recommendation)

    if state == RecommendationState.ADOPTED:
        answered = assignment_respond(
            assignment=assignment,
            by=user,
            response=Response.SUPPORTED_IN_PART,
            response_text="  We support points 1 and 3.  ",
        )
        assert (answered.response, answered.response_text) == (
            Response.SUPPORTED_IN_PART,
            "We support points 1 and 3.",
        )
    else:
        with pytest.raises(RecommendationError):
            assignment_respond(assignment=assignment, by=user, response=Response.SUPPORTED)
        assignment.refresh_from_db()
        assert assignment.response == Response.PENDING


def test_responding_twice_the_same_changes_nothing(user):
    assignment = adopted_assignment()
    assignment_respond(assignment=assignment, by=user, response=Response.NOTED, response_text="x")
    before = history_count(assignment)

    assignment_respond(assignment=assignment, by=user, response=Response.NOTED, response_text="x")

    assert history_count(assignment) == before


@pytest.mark.parametrize("response", [Response.PENDING, "maybe", ""])
def test_respond_refuses_pending_and_unknown_answers(user, response):
    with pytest.raises(RecommendationError) as excinfo:
        assignment_respond(assignment=adopted_assignment(), by=user, response=response)
    assert excinfo.value.field == "response"


# --- Follow-up: submit ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [*STATES, "archived"])
def test_followup_submit_over_every_recommendation_state(user, state):
    if state == "archived":
        recommendation = RecommendationFactory(
            state=RecommendationState.ADOPTED, archived_at=timezone.now()
        )
    else:
        recommendation = recommendation_in(state)
    assignment = AssignmentFactory(recommendation=recommendation)

    if state == RecommendationState.ADOPTED:
        report = submit(assignment, user)
        assert report.state == ReportState.SUBMITTED
        assert report.submitted_by == user
        assert report.submitted_at is not None
        assert report.evidence_urls == ["https://www.ilo.org/report.pdf"]
        # Submitting does not move the assignment: only an accepted report does.
        assignment.refresh_from_db()
        assert (assignment.status, assignment.progress) == (NS, 0)
    else:
        with pytest.raises(RecommendationError):
            submit(assignment, user)
        assert not FollowUpReport.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"period_end": D(2005, 12, 31)}, "period_end"),
        ({"period_start": "2006-01-01"}, "period_start"),
        ({"period_end": None}, "period_end"),
        ({"progress": -1}, "progress"),
        ({"progress": 101}, "progress"),
        ({"progress": "50"}, "progress"),
        ({"progress": 50.5}, "progress"),
        ({"progress": True}, "progress"),
        ({"status": "done"}, "status"),
        ({"status": NS, "progress": 10}, "progress"),
        ({"status": IM, "progress": 90}, "progress"),
        ({"narrative": "   "}, "narrative"),
        ({"evidence_urls": ["ftp://example.org/file"]}, "evidence_urls"),
        ({"evidence_urls": ["javascript:alert(1)"]}, "evidence_urls"),
        ({"evidence_urls": ["not a link"]}, "evidence_urls"),
        ({"evidence_urls": "https://example.org"}, "evidence_urls"),
        ({"evidence_urls": [f"https://example.org/{n}" for n in range(21)]}, "evidence_urls"),
        ({"evidence_urls": ["https://example.org/" + "a" * 2000]}, "evidence_urls"),
    ],
)
def test_followup_submit_refuses_bad_values(user, overrides, field):
    assignment = adopted_assignment()

    with pytest.raises(RecommendationError) as excinfo:
        submit(assignment, user, **overrides)

    assert excinfo.value.field == field
    assert not FollowUpReport.objects.exists()


@pytest.mark.parametrize(
    ("overrides"),
    [
        {"progress": 0, "status": NS},
        {"progress": 100, "status": IM},
        {"evidence_urls": [f"http://example.org/{n}" for n in range(20)]},
        {"evidence_urls": []},
        {"period_start": D(2006, 6, 30), "period_end": D(2006, 6, 30)},
    ],
)
def test_followup_submit_accepts_values_at_the_limits(user, overrides):
    assert submit(adopted_assignment(), user, **overrides).pk


def test_a_second_report_for_the_same_open_period_is_refused(user):
    assignment = adopted_assignment()
    submit(assignment, user)

    with pytest.raises(RecommendationError, match="already awaiting"):
        submit(assignment, user)

    submit(assignment, user, period_start=D(2006, 7, 1), period_end=D(2006, 12, 31))
    assert FollowUpReport.objects.count() == 2


PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def upload(name, content, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def test_followup_submit_stores_evidence_files_under_media_root(user, media_root):
    report = submit(
        adopted_assignment(),
        user,
        files=[
            upload("Minutes 2006.pdf", PDF, "application/pdf"),
            upload("table.csv", b"year,count\n2006,3\n", "text/csv"),
            upload("photo.PNG", PNG),
        ],
    )

    files = list(report.files.order_by("pk"))
    assert [f.original_name for f in files] == ["Minutes 2006.pdf", "table.csv", "photo.PNG"]
    assert [f.content_type for f in files] == ["application/pdf", "text/csv", "image/png"]
    assert [f.size for f in files] == [len(PDF), 18, len(PNG)]
    assert {f.uploaded_by for f in files} == {user}
    year = timezone.now().year
    for evidence in files:
        assert evidence.file.name.startswith(f"evidence/{year}/")
        path = Path(evidence.file.path)
        assert path.is_relative_to(media_root) and path.exists()
    assert Path(files[0].file.path).read_bytes() == PDF


@pytest.mark.parametrize(
    ("name", "content", "content_type", "message"),
    [
        ("virus.exe", b"MZ", "application/octet-stream", "attach PDF"),
        ("noextension", b"hello", "text/plain", "attach PDF"),
        ("fake.pdf", PNG, "application/pdf", "not a valid PDF"),
        ("fake.png", PDF, "image/png", "not a valid PNG"),
        ("fake.docx", PDF, "", "not a valid DOCX"),
        ("binary.txt", b"abc\x00def", "text/plain", "not a valid TXT"),
        ("report.pdf", PDF, "image/png", "does not match"),
        ("empty.txt", b"", "text/plain", "empty"),
    ],
)
def test_followup_submit_refuses_bad_files(user, media_root, name, content, content_type, message):
    with pytest.raises(RecommendationError, match=message) as excinfo:
        submit(adopted_assignment(), user, files=[upload(name, content, content_type)])

    assert excinfo.value.field == "files"
    assert not FollowUpReport.objects.exists()
    assert not EvidenceFile.objects.exists()
    assert not (media_root / "evidence").exists()


def test_followup_submit_refuses_a_file_over_10_mb(user):
    big = upload("big.txt", b"a" * (10 * 1024 * 1024 + 1), "text/plain")

    with pytest.raises(RecommendationError, match="larger than 10 MB"):
        submit(adopted_assignment(), user, files=[big])


def test_a_file_of_exactly_10_mb_is_accepted(user):
    exact = upload("exact.txt", b"a" * (10 * 1024 * 1024), "text/plain")

    report = submit(adopted_assignment(), user, files=[exact])

    assert report.files.get().size == 10 * 1024 * 1024


def test_files_written_before_a_failure_are_removed(user, media_root, monkeypatch):
    original_save = EvidenceFile.save
    calls = []

    def failing_save(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(EvidenceFile, "save", failing_save)

    with pytest.raises(RuntimeError):
        submit(
            adopted_assignment(),
            user,
            files=[upload("a.txt", b"one", "text/plain"), upload("b.txt", b"two", "text/plain")],
        )

    assert not FollowUpReport.objects.exists()
    assert not [p for p in (media_root / "evidence").rglob("*") if p.is_file()]


def test_a_plain_file_object_is_accepted_as_evidence(user):
    from django.core.files import File

    report = submit(adopted_assignment(), user, files=[File(io.BytesIO(PDF), name="a.pdf")])

    assert report.files.get().content_type == "application/pdf"


# --- Follow-up: review ---------------------------------------------------------------------------

REPORT_STATES = list(ReportState.values)


@pytest.mark.parametrize("state", REPORT_STATES)
def test_followup_accept_over_every_state(user, state):
    report = report_in(state, status=IP, progress=40)
    before = history_count(report)

    if state == ReportState.SUBMITTED:
        accepted = followup_accept(report=report, by=user, comment=" Verified. ")
        assert accepted.state == ReportState.ACCEPTED
        assert (accepted.review_comment, accepted.reviewed_by) == ("Verified.", user)
        assert accepted.reviewed_at is not None
        assignment = Assignment.objects.get(pk=report.assignment_id)
        assert (assignment.status, assignment.progress) == (IP, 40)
    elif state == ReportState.ACCEPTED:
        assert followup_accept(report=report, by=user).state == ReportState.ACCEPTED
        assert history_count(report) == before
    else:
        with pytest.raises(RecommendationError, match="only a submitted report"):
            followup_accept(report=report, by=user)
        assert FollowUpReport.objects.get(pk=report.pk).state == state


@pytest.mark.parametrize("state", REPORT_STATES)
def test_followup_return_over_every_state(user, state):
    report = report_in(state)
    before = history_count(report)

    if state == ReportState.SUBMITTED:
        returned = followup_return(report=report, by=user, comment="Add the workshop report.")
        assert returned.state == ReportState.RETURNED
        assert returned.review_comment == "Add the workshop report."
    elif state == ReportState.RETURNED:
        assert followup_return(report=report, by=user, comment="again").state == state
        assert history_count(report) == before
    else:
        with pytest.raises(RecommendationError, match="only a submitted report"):
            followup_return(report=report, by=user, comment="Too late.")
        assert FollowUpReport.objects.get(pk=report.pk).state == state


@pytest.mark.parametrize("comment", ["", "   ", None])
def test_followup_return_needs_a_comment(user, comment):
    report = report_in(ReportState.SUBMITTED)

    with pytest.raises(RecommendationError, match="needs a comment") as excinfo:
        followup_return(report=report, by=user, comment=comment)

    assert excinfo.value.field == "comment"
    assert FollowUpReport.objects.get(pk=report.pk).state == ReportState.SUBMITTED


@pytest.mark.parametrize("state", REPORT_STATES)
def test_followup_resubmit_over_every_state(user, state):
    report = report_in(state, progress=40, narrative="First draft.")

    if state == ReportState.RETURNED:
        resubmitted = followup_resubmit(
            report=report, by=user, progress=60, narrative="With the workshop report."
        )
        assert resubmitted.state == ReportState.SUBMITTED
        assert (resubmitted.progress, resubmitted.narrative) == (60, "With the workshop report.")
        assert resubmitted.submitted_by == user
        # Corrected in place; the history keeps what was returned.
        assert FollowUpReport.objects.count() == 1
        old = resubmitted.history.filter(state=ReportState.RETURNED).latest()
        assert (old.progress, old.narrative) == (40, "First draft.")
    elif state == ReportState.SUBMITTED:
        before = history_count(report)
        assert followup_resubmit(report=report, by=user).state == ReportState.SUBMITTED
        assert history_count(report) == before
        with pytest.raises(RecommendationError, match="only a returned report"):
            followup_resubmit(report=report, by=user, progress=60)
    else:
        with pytest.raises(RecommendationError, match="only a returned report"):
            followup_resubmit(report=report, by=user, progress=60)
        assert FollowUpReport.objects.get(pk=report.pk).progress == 40


def test_followup_resubmit_validates_the_corrected_values(user):
    report = report_in(ReportState.RETURNED, period_start=D(2006, 1, 1), period_end=D(2006, 6, 30))

    with pytest.raises(RecommendationError) as excinfo:
        followup_resubmit(report=report, by=user, period_end=D(2005, 1, 1))

    assert excinfo.value.field == "period_end"
    assert FollowUpReport.objects.get(pk=report.pk).state == ReportState.RETURNED


def test_followup_resubmit_is_refused_once_the_recommendation_is_closed(user):
    report = report_in(ReportState.RETURNED)
    recommendation_close(recommendation=report.assignment.recommendation, by=user)

    with pytest.raises(RecommendationError, match="closed"):
        followup_resubmit(report=report, by=user, progress=60)


def test_returned_then_resubmitted_then_accepted_reaches_the_recommendation(user):
    assignment = adopted_assignment(role=LEAD)
    report = submit(assignment, user, progress=30)
    followup_return(report=report, by=user, comment="Which workshop?")
    followup_resubmit(report=report, by=user, progress=35, narrative="The Geneva workshop.")

    followup_accept(report=report, by=user)

    recommendation = Recommendation.objects.get(pk=assignment.recommendation_id)
    assert (recommendation.overall_status, recommendation.overall_progress) == (IP, 35)


def test_assignment_takes_its_latest_accepted_report_by_period_end(user):
    assignment = adopted_assignment()
    newer = submit(
        assignment, user, period_start=D(2006, 7, 1), period_end=D(2006, 12, 31), progress=70
    )
    older = submit(assignment, user, progress=30)

    followup_accept(report=newer, by=user)
    followup_accept(report=older, by=user)  # accepted later, but about an earlier period

    assignment.refresh_from_db()
    assert assignment.progress == 70


def test_reports_of_the_same_period_end_are_ordered_by_id(user):
    assignment = adopted_assignment()
    first = submit(assignment, user, period_start=D(2006, 1, 1), progress=30)
    second = submit(assignment, user, period_start=D(2006, 4, 1), progress=50)

    followup_accept(report=second, by=user)
    followup_accept(report=first, by=user)

    assignment.refresh_from_db()
    assert assignment.progress == 50


def test_a_returned_or_submitted_report_never_moves_the_assignment(user):
    assignment = adopted_assignment()
    accepted = submit(assignment, user, progress=30)
    followup_accept(report=accepted, by=user)
    returned = submit(assignment, user, period_end=D(2006, 12, 31), progress=90)
    followup_return(report=returned, by=user, comment="No evidence.")
    submit(assignment, user, period_start=D(2007, 1, 1), period_end=D(2007, 6, 30), progress=95)

    assignment.refresh_from_db()
    assert assignment.progress == 30


def test_accepting_is_one_transaction_with_the_roll_up(user, monkeypatch):
    report = report_in(ReportState.SUBMITTED, progress=40)

    def broken_rollup(recommendation, *, by):
        raise RuntimeError("roll-up failed")

    monkeypatch.setattr(services, "_rollup", broken_rollup)

    with pytest.raises(RuntimeError):
        followup_accept(report=report, by=user)

    assert FollowUpReport.objects.get(pk=report.pk).state == ReportState.SUBMITTED
    assert Assignment.objects.get(pk=report.assignment_id).progress == 0


def test_reviewing_an_archived_report_is_refused(user):
    report = report_in(ReportState.SUBMITTED)
    followup_archive(report=report, by=user)

    with pytest.raises(RecommendationError, match="archived"):
        followup_accept(report=report, by=user)
    with pytest.raises(RecommendationError, match="archived"):
        followup_return(report=report, by=user, comment="x")
    with pytest.raises(RecommendationError, match="archived"):
        followup_resubmit(report=report, by=user)


def test_reviewing_a_report_of_an_archived_recommendation_is_refused(user):
    report = report_in(ReportState.SUBMITTED)
    recommendation_archive(recommendation=report.assignment.recommendation, by=user)

    with pytest.raises(RecommendationError, match="archived"):
        followup_accept(report=report, by=user)


@pytest.mark.parametrize("state", REPORT_STATES)
def test_followup_archive_over_every_state(user, state):
    report = report_in(state)

    archived = followup_archive(report=report, by=user)
    again = followup_archive(report=report, by=user)

    assert archived.archived_at is not None
    assert again.archived_at == archived.archived_at
    assert FollowUpReport.objects.get(pk=report.pk).state == state


def test_archiving_the_latest_accepted_report_falls_back_to_the_one_before(user):
    assignment = adopted_assignment()
    first = submit(assignment, user, progress=30)
    second = submit(assignment, user, period_end=D(2006, 12, 31), progress=60)
    for report in (first, second):
        followup_accept(report=report, by=user)

    followup_archive(report=second, by=user)
    assignment.refresh_from_db()
    assert assignment.progress == 30

    followup_archive(report=first, by=user)
    assignment.refresh_from_db()
    assert (assignment.status, assignment.progress) == (NS, 0)
    recommendation = Recommendation.objects.get(pk=assignment.recommendation_id)
    assert (recommendation.overall_status, recommendation.overall_progress) == (NS, 0)


# --- Roll-up ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignments", "expected"),
    [
        ([], (NS, 0)),
        ([(LEAD, NS, 0)], (NS, 0)),
        ([(LEAD, IP, 60), (SUPPORTING, IP, 30)], (IP, 50)),  # (2×60 + 30) / 3
        ([(LEAD, IP, 30), (SUPPORTING, IP, 60)], (IP, 40)),  # (2×30 + 60) / 3
        ([(LEAD, IP, 60), (LEAD, IP, 30)], (IP, 45)),
        ([(SUPPORTING, IP, 60), (SUPPORTING, IP, 30)], (IP, 45)),
        ([(LEAD, IP, 50), (SUPPORTING, NS, 0), (SUPPORTING, NS, 0)], (IP, 25)),
        ([(LEAD, IM, 100), (SUPPORTING, NS, 0)], (IP, 67)),  # 200 / 3 = 66.7, half up
        ([(LEAD, IP, 1), (SUPPORTING, IP, 0)], (IP, 1)),  # 2 / 3 = 0.67
        ([(LEAD, IP, 1), (LEAD, NS, 0)], (IP, 1)),  # 0.5 rounds up
        ([(LEAD, IM, 100), (SUPPORTING, IM, 100)], (IM, 100)),
        ([(LEAD, NI, 20), (SUPPORTING, NI, 0)], (NI, 13)),
        ([(LEAD, IM, 100), (SUPPORTING, NI, 10)], (PI, 70)),
        ([(LEAD, PI, 70), (SUPPORTING, PI, 40)], (PI, 60)),
        ([(LEAD, IM, 100), (SUPPORTING, PI, 50)], (PI, 83)),
        ([(LEAD, IM, 100), (SUPPORTING, IP, 50)], (IP, 83)),
        ([(LEAD, NI, 0), (SUPPORTING, NS, 0)], (IP, 0)),
        ([(SUPPORTING, IM, 100)], (IM, 100)),
    ],
)
def test_rollup_values(assignments, expected):
    assert rollup_values(assignments) == expected


def test_recommendation_rollup_stores_the_weighted_progress(user):
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    AssignmentFactory(recommendation=recommendation, role=LEAD, status=IP, progress=60)
    AssignmentFactory(recommendation=recommendation, role=SUPPORTING, status=IP, progress=30)

    recommendation_rollup(recommendation=recommendation)

    stored = Recommendation.objects.get(pk=recommendation.pk)
    assert (stored.overall_status, stored.overall_progress) == (IP, 50)


def test_recommendation_rollup_without_assignments_is_not_started():
    recommendation = RecommendationFactory(overall_status=IP, overall_progress=40)

    recommendation_rollup(recommendation=recommendation)

    stored = Recommendation.objects.get(pk=recommendation.pk)
    assert (stored.overall_status, stored.overall_progress) == (NS, 0)


def test_recomputing_an_unchanged_roll_up_writes_nothing():
    recommendation = RecommendationFactory()
    before = history_count(recommendation)

    recommendation_rollup(recommendation=recommendation)

    assert history_count(recommendation) == before


def test_accepted_reports_roll_up_with_lead_weighting(user):
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    lead = AssignmentFactory(recommendation=recommendation, role=LEAD)
    supporting = AssignmentFactory(recommendation=recommendation, role=SUPPORTING)

    followup_accept(report=submit(lead, user, progress=60), by=user)
    stored = Recommendation.objects.get(pk=recommendation.pk)
    assert (stored.overall_status, stored.overall_progress) == (IP, 40)  # (2×60 + 0) / 3

    followup_accept(report=submit(supporting, user, status=IM, progress=100), by=user)
    stored = Recommendation.objects.get(pk=recommendation.pk)
    assert (stored.overall_status, stored.overall_progress) == (IP, 73)  # (120 + 100) / 3

    later = submit(lead, user, period_end=D(2006, 12, 31), status=IM, progress=100)
    followup_accept(report=later, by=user)
    stored = Recommendation.objects.get(pk=recommendation.pk)
    assert (stored.overall_status, stored.overall_progress) == (IM, 100)
    assert stored.history.latest().history_user == user


# --- Due dates (selectors) ----------------------------------------------------------------------


def test_effective_due_date_is_the_date_or_the_session_start():
    session = CouncilSessionFactory(start_date=D(2006, 11, 28))

    assert assignment_effective_due_date(adopted_assignment(due_date=D(2006, 6, 30))) == D(
        2006, 6, 30
    )
    assert assignment_effective_due_date(adopted_assignment(due_before_session=session)) == D(
        2006, 11, 28
    )
    assert assignment_effective_due_date(adopted_assignment()) is None
    undated = adopted_assignment(due_before_session=CouncilSessionFactory(start_date=None))
    assert assignment_effective_due_date(undated) is None


def test_due_before_a_session_moves_when_the_session_moves():
    session = CouncilSessionFactory(start_date=D(2006, 11, 28))
    assignment = adopted_assignment(due_before_session=session)
    today = D(2006, 12, 15)
    assert list(assignments_overdue(Assignment.objects.all(), today)) == [assignment]

    session.start_date = D(2007, 1, 10)  # the session is postponed
    session.save()

    assignment = Assignment.objects.select_related("due_before_session").get(pk=assignment.pk)
    assert assignment_effective_due_date(assignment) == D(2007, 1, 10)
    assert list(assignments_overdue(Assignment.objects.all(), today)) == []
    annotated = assignments_with_effective_due(Assignment.objects.all()).get()
    assert annotated.effective_due == D(2007, 1, 10)


@pytest.mark.parametrize(
    ("status", "overdue"),
    [(NS, True), (IP, True), (IM, False), (PI, False), (NI, False)],
)
def test_only_addressees_still_at_work_are_overdue(status, overdue):
    assignment = adopted_assignment(due_date=D(2006, 6, 30), status=status)

    assert (assignment in assignments_overdue(Assignment.objects.all(), D(2006, 7, 1))) == overdue


def test_due_today_is_not_overdue_yet():
    assignment = adopted_assignment(due_date=D(2006, 6, 30))

    assert assignment not in assignments_overdue(Assignment.objects.all(), D(2006, 6, 30))
    assert assignment in assignments_overdue(Assignment.objects.all(), D(2006, 7, 1))


@pytest.mark.parametrize("state", [*STATES, "archived"])
def test_only_adopted_recommendations_are_overdue(state):
    if state == "archived":
        recommendation = RecommendationFactory(
            state=RecommendationState.ADOPTED, archived_at=timezone.now()
        )
    else:
        recommendation = recommendation_in(state)
    assignment = AssignmentFactory(recommendation=recommendation, due_date=D(2006, 6, 30))

    overdue = assignments_overdue(Assignment.objects.all(), D(2007, 1, 1))

    assert (assignment in overdue) == (state == RecommendationState.ADOPTED)


# --- Concurrency (PostgreSQL only: SQLite has no row locks and one writer at a time) ------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL row locks (set DATABASE_URL to a PostgreSQL database to run it)",
)


def _at_once(*calls):
    barrier = threading.Barrier(len(calls), timeout=10)
    outcomes = []

    def run(call):
        try:
            barrier.wait()
            outcomes.append(call())
        except Exception as error:  # reported by the assertions
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_reports_of_two_addressees_accepted_at_once_roll_up_both():
    reviewer = UserFactory()
    recommendation = recommendation_in(RecommendationState.ADOPTED)
    lead = AssignmentFactory(recommendation=recommendation, role=LEAD)
    supporting = AssignmentFactory(recommendation=recommendation, role=SUPPORTING)
    reports = [
        FollowUpReportFactory(assignment=lead, status=IP, progress=60),
        FollowUpReportFactory(assignment=supporting, status=IP, progress=30),
    ]

    outcomes = _at_once(
        *((lambda report=report: followup_accept(report=report, by=reviewer)) for report in reports)
    )

    assert all(isinstance(outcome, FollowUpReport) for outcome in outcomes), outcomes
    stored = Recommendation.objects.get(pk=recommendation.pk)
    assert (stored.overall_status, stored.overall_progress) == (IP, 50)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_one_report_accepted_twice_at_once_is_accepted_once():
    reviewer = UserFactory()
    report = FollowUpReportFactory(assignment=adopted_assignment(), status=IP, progress=60)

    outcomes = _at_once(
        lambda: followup_accept(report=report, by=reviewer),
        lambda: followup_accept(report=report, by=reviewer),
    )

    assert all(isinstance(outcome, FollowUpReport) for outcome in outcomes), outcomes
    assert report.history.filter(state=ReportState.ACCEPTED).count() == 1
