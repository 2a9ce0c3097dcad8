import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from recommendations.enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationState,
    Response,
)
from tests.factories import violated
from tests.factories.idm import (
    AgendaItemFactory,
    CouncilSessionFactory,
    DialogueFactory,
    DocumentFactory,
    PolicyDomainFactory,
)
from tests.factories.recommendations import (
    AssignmentFactory,
    EvidenceFileFactory,
    FollowUpReportFactory,
    RecommendationFactory,
)
from tests.factories.stakeholders import OrganisationFactory, PersonFactory, UserFactory

pytestmark = pytest.mark.django_db

UNIQUE_VIOLATION = r"(?i)unique constraint"
# -1 in a PositiveSmallIntegerField also breaks Django's own "progress >= 0" column check,
# which the database may report instead of the named constraint.
CHECK_VIOLATION = r"(?i)check constraint"


def test_recommendation_follow_up_graph_saves_and_reads_well():
    iom = OrganisationFactory(name="International Organization for Migration", acronym="IOM")
    session = CouncilSessionFactory(start_date=datetime.date(2006, 11, 28))
    document = DocumentFactory(symbol="MC/INF/279")
    recommendation = RecommendationFactory(
        reference="IDM-2005-R001",
        text="Mainstream migration into development planning.",
        state=RecommendationState.ADOPTED,
        dialogue=DialogueFactory(year=2005),
        council_session=session,
        agenda_item=AgendaItemFactory(agenda__council_session=session),
        document=document,
        paragraph="para 12",
        made_by_person=PersonFactory(),
        made_by_organisation=iom,
        overall_status=ImplementationStatus.IN_PROGRESS,
        overall_progress=40,
    )
    recommendation.cited_documents.add(document)
    recommendation.policy_domains.add(PolicyDomainFactory(name="Development"))
    lead = AssignmentFactory(
        recommendation=recommendation,
        organisation=iom,
        role=AssignmentRole.LEAD,
        response=Response.SUPPORTED,
        status=ImplementationStatus.IN_PROGRESS,
        progress=40,
        due_before_session=session,
    )
    supporting = AssignmentFactory(
        recommendation=recommendation,
        organisation=OrganisationFactory(name="Philippines"),
        role=AssignmentRole.SUPPORTING,
        due_date=datetime.date(2006, 6, 30),
    )
    report = FollowUpReportFactory(
        assignment=lead,
        period_start=datetime.date(2006, 1, 1),
        period_end=datetime.date(2006, 6, 30),
        progress=40,
        submitted_by=UserFactory(),
    )

    for obj in (recommendation, lead, supporting, report):
        obj.full_clean()
    assert set(recommendation.addressees.all()) == {iom, supporting.organisation}
    assert list(lead.reports.all()) == [report]
    assert lead.effective_due_date == datetime.date(2006, 11, 28)
    assert supporting.effective_due_date == datetime.date(2006, 6, 30)
    assert str(recommendation) == "IDM-2005-R001"
    assert str(lead) == "IDM-2005-R001 → IOM"
    assert str(report) == "IDM-2005-R001 → IOM 2006-01-01–2006-06-30"


# Recommendations


@pytest.mark.parametrize("reference", ["R1", "IDM-2005-R1", "idm-2005-r001", "IDM-05-R001", ""])
def test_recommendation_reference_in_the_wrong_format_is_refused(reference):
    recommendation = RecommendationFactory.build(reference=reference)

    with (
        pytest.raises(IntegrityError, match="recommendation_reference_format"),
        transaction.atomic(),
    ):
        recommendation.save()


def test_recommendation_reference_in_the_wrong_format_fails_validation():
    recommendation = RecommendationFactory.build(reference="R1")

    with pytest.raises(ValidationError) as excinfo:
        recommendation.full_clean()
    assert excinfo.value.message_dict == violated("recommendation_reference_format")


@pytest.mark.parametrize("reference", ["IDM-2005-R001", "OECD-2013-R12345"])
def test_recommendation_reference_in_the_right_format_is_accepted(reference):
    recommendation = RecommendationFactory.build(reference=reference)

    recommendation.full_clean()
    recommendation.save()


def test_duplicate_recommendation_reference_is_refused():
    RecommendationFactory(reference="IDM-2005-R001")

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        RecommendationFactory(reference="IDM-2005-R001")


def test_recommendation_without_text_is_refused():
    with pytest.raises(IntegrityError, match="recommendation_text_not_empty"), transaction.atomic():
        RecommendationFactory(text="")


def test_overall_progress_above_100_is_refused():
    recommendation = RecommendationFactory.build(overall_progress=101)

    with pytest.raises(ValidationError) as excinfo:
        recommendation.full_clean()
    assert excinfo.value.message_dict == {
        "overall_progress": ["Ensure this value is less than or equal to 100."]
    }

    with (
        pytest.raises(IntegrityError, match="recommendation_progress_0_100"),
        transaction.atomic(),
    ):
        recommendation.save()


def test_negative_overall_progress_is_refused():
    recommendation = RecommendationFactory.build(overall_progress=-1)

    with pytest.raises(ValidationError) as excinfo:
        recommendation.full_clean()
    assert excinfo.value.message_dict == {
        "overall_progress": ["Ensure this value is greater than or equal to 0."]
    }

    with pytest.raises(IntegrityError, match=CHECK_VIOLATION), transaction.atomic():
        recommendation.save()


@pytest.mark.parametrize("progress", [0, 100])
def test_progress_at_the_bounds_is_accepted(progress):
    recommendation = RecommendationFactory(overall_progress=progress)
    assignment = AssignmentFactory(recommendation=recommendation, progress=progress)
    report = FollowUpReportFactory(assignment=assignment, progress=progress)

    for obj in (recommendation, assignment, report):
        obj.full_clean()


def test_superseded_recommendation_without_successor_is_refused():
    recommendation = RecommendationFactory.build(
        state=RecommendationState.SUPERSEDED, superseded_by=None
    )

    with pytest.raises(ValidationError) as excinfo:
        recommendation.full_clean()
    assert excinfo.value.message_dict == violated("superseded_recommendation_names_successor")

    with (
        pytest.raises(IntegrityError, match="superseded_recommendation_names_successor"),
        transaction.atomic(),
    ):
        recommendation.save()


def test_superseded_recommendation_naming_its_successor_is_accepted():
    successor = RecommendationFactory()
    recommendation = RecommendationFactory(
        state=RecommendationState.SUPERSEDED, superseded_by=successor
    )

    recommendation.full_clean()
    assert list(successor.supersedes.all()) == [recommendation]


def test_recommendation_superseded_by_itself_is_refused():
    recommendation = RecommendationFactory()
    recommendation.state = RecommendationState.SUPERSEDED
    recommendation.superseded_by = recommendation

    with pytest.raises(ValidationError) as excinfo:
        recommendation.full_clean()
    assert excinfo.value.message_dict == violated("recommendation_not_superseded_by_itself")

    with (
        pytest.raises(IntegrityError, match="recommendation_not_superseded_by_itself"),
        transaction.atomic(),
    ):
        recommendation.save()


# Assignments


def test_second_assignment_to_the_same_organisation_is_refused():
    assignment = AssignmentFactory()
    duplicate = AssignmentFactory.build(
        recommendation=assignment.recommendation, organisation=assignment.organisation
    )

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["This recommendation is already addressed to this organisation."]
    }

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        duplicate.save()


def test_recommendation_may_be_assigned_to_several_organisations():
    assignment = AssignmentFactory()

    AssignmentFactory(recommendation=assignment.recommendation)

    assert assignment.recommendation.assignments.count() == 2


def test_assignment_progress_above_100_is_refused():
    assignment = AssignmentFactory.build(
        recommendation=RecommendationFactory(), organisation=OrganisationFactory(), progress=101
    )

    with pytest.raises(ValidationError) as excinfo:
        assignment.full_clean()
    assert excinfo.value.message_dict == {
        "progress": ["Ensure this value is less than or equal to 100."]
    }

    with pytest.raises(IntegrityError, match="assignment_progress_0_100"), transaction.atomic():
        assignment.save()


def test_negative_assignment_progress_is_refused():
    assignment = AssignmentFactory.build(
        recommendation=RecommendationFactory(), organisation=OrganisationFactory(), progress=-1
    )

    with pytest.raises(ValidationError) as excinfo:
        assignment.full_clean()
    assert excinfo.value.message_dict == {
        "progress": ["Ensure this value is greater than or equal to 0."]
    }

    with pytest.raises(IntegrityError, match=CHECK_VIOLATION), transaction.atomic():
        assignment.save()


def test_assignment_due_both_by_date_and_before_a_session_is_refused():
    assignment = AssignmentFactory.build(
        recommendation=RecommendationFactory(),
        organisation=OrganisationFactory(),
        due_date=datetime.date(2006, 6, 30),
        due_before_session=CouncilSessionFactory(),
    )

    with pytest.raises(ValidationError) as excinfo:
        assignment.full_clean()
    assert excinfo.value.message_dict == violated("assignment_one_kind_of_due_date")

    with (
        pytest.raises(IntegrityError, match="assignment_one_kind_of_due_date"),
        transaction.atomic(),
    ):
        assignment.save()


# Follow-up reports


def test_report_period_ending_before_it_starts_is_refused():
    report = FollowUpReportFactory.build(
        assignment=AssignmentFactory(),
        period_start=datetime.date(2006, 6, 30),
        period_end=datetime.date(2006, 1, 1),
    )

    with pytest.raises(ValidationError) as excinfo:
        report.full_clean()
    assert excinfo.value.message_dict == violated("report_period_ends_after_it_starts")

    with (
        pytest.raises(IntegrityError, match="report_period_ends_after_it_starts"),
        transaction.atomic(),
    ):
        report.save()


def test_report_for_a_single_day_is_accepted():
    day = datetime.date(2006, 6, 30)

    FollowUpReportFactory(period_start=day, period_end=day).full_clean()


def test_report_progress_above_100_is_refused():
    report = FollowUpReportFactory.build(assignment=AssignmentFactory(), progress=101)

    with pytest.raises(ValidationError) as excinfo:
        report.full_clean()
    assert excinfo.value.message_dict == {
        "progress": ["Ensure this value is less than or equal to 100."]
    }

    with pytest.raises(IntegrityError, match="report_progress_0_100"), transaction.atomic():
        report.save()


def test_negative_report_progress_is_refused():
    report = FollowUpReportFactory.build(assignment=AssignmentFactory(), progress=-1)

    with pytest.raises(ValidationError) as excinfo:
        report.full_clean()
    assert excinfo.value.message_dict == {
        "progress": ["Ensure this value is greater than or equal to 0."]
    }

    with pytest.raises(IntegrityError, match=CHECK_VIOLATION), transaction.atomic():
        report.save()


def test_report_without_narrative_is_refused():
    with pytest.raises(IntegrityError, match="report_narrative_not_empty"), transaction.atomic():
        FollowUpReportFactory(narrative="")


# Archiving and evidence files


def test_recommendations_and_reports_start_unarchived():
    report = FollowUpReportFactory()

    assert report.archived_at is None
    assert report.assignment.recommendation.archived_at is None


def test_evidence_file_over_10_mb_is_refused(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    evidence = EvidenceFileFactory.build(report=FollowUpReportFactory(), size=10 * 1024 * 1024 + 1)

    with pytest.raises(ValidationError) as excinfo:
        evidence.full_clean()
    assert excinfo.value.message_dict == violated("evidence_file_at_most_10_mb")

    with pytest.raises(IntegrityError, match="evidence_file_at_most_10_mb"), transaction.atomic():
        evidence.save()


def test_evidence_file_without_a_name_is_refused(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    with pytest.raises(IntegrityError, match="evidence_file_has_a_name"), transaction.atomic():
        EvidenceFileFactory(original_name="")


def test_evidence_files_are_stored_under_evidence_and_the_year(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    evidence = EvidenceFileFactory(original_name="Minutes.TXT")

    assert evidence.file.name.startswith(f"evidence/{datetime.date.today():%Y}/")
    assert evidence.file.name.endswith(".txt")
    assert "Minutes" not in evidence.file.name
    assert str(evidence) == "Minutes.TXT"
    assert list(evidence.report.files.all()) == [evidence]
