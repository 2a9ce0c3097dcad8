"""``manage.py generate_bulk_data`` at a small size: counts, the model's rules, a refused rerun."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min
from django.utils import timezone

from recommendations.enums import ImplementationStatus, RecommendationState, ReportState
from recommendations.models import Assignment, FollowUpReport, Recommendation
from recommendations.services import rollup_values
from stakeholders.models import Organisation
from tests.recommendations.api import api_key_for, key_client


@pytest.fixture
def bulk(db):
    call_command("generate_bulk_data", recommendations=200, batch_size=64, verbosity=0)


def test_generate_bulk_data_creates_the_expected_counts(bulk):
    assert Recommendation.objects.count() == 200
    assert Assignment.objects.count() == 600
    assert FollowUpReport.objects.count() == 2000  # 10/3 per assignment by default
    assert Organisation.objects.filter(dataset_id__startswith="bulk-org-").count() == 60
    assert set(Recommendation.objects.values_list("state", flat=True)) == {
        RecommendationState.ADOPTED
    }
    states = set(FollowUpReport.objects.values_list("state", flat=True))
    assert states == {ReportState.ACCEPTED, ReportState.RETURNED, ReportState.SUBMITTED}


def test_generate_bulk_data_keeps_the_model_rules(bulk):
    for model, field in (
        (Recommendation, "overall_progress"),
        (Assignment, "progress"),
        (FollowUpReport, "progress"),
    ):
        bounds = model.objects.aggregate(low=Min(field), high=Max(field))
        assert 0 <= bounds["low"] <= bounds["high"] <= 100
    per_addressee = Assignment.objects.values("recommendation", "organisation").annotate(
        n=Count("pk")
    )
    assert {row["n"] for row in per_addressee} == {1}
    assert not FollowUpReport.objects.filter(period_end__gte=timezone.localdate()).exists()
    assert not FollowUpReport.objects.filter(
        status=ImplementationStatus.NOT_STARTED, progress__gt=0
    ).exists()
    assert not FollowUpReport.objects.filter(
        status=ImplementationStatus.IMPLEMENTED, progress__lt=100
    ).exists()
    # Each assignment is at its latest accepted report; each recommendation at its roll-up.
    for assignment in Assignment.objects.all()[:100]:
        latest = (
            assignment.reports.filter(state=ReportState.ACCEPTED)
            .order_by("-period_end", "-pk")
            .values_list("status", "progress")
            .first()
        )
        assert (assignment.status, assignment.progress) == (
            latest or (ImplementationStatus.NOT_STARTED, 0)
        )
    for recommendation in Recommendation.objects.all()[:50]:
        rows = recommendation.assignments.values_list("role", "status", "progress")
        assert (recommendation.overall_status, recommendation.overall_progress) == (
            rollup_values(rows)
        )


def test_generate_bulk_data_twice_is_refused_in_one_line_unless_appending(bulk):
    with pytest.raises(CommandError) as refused:
        call_command("generate_bulk_data", recommendations=200, verbosity=0)
    message = str(refused.value)
    assert "\n" not in message
    assert "--append" in message
    assert Recommendation.objects.count() == 200

    call_command("generate_bulk_data", recommendations=20, append=True, verbosity=0)
    assert Recommendation.objects.count() == 220
    assert Organisation.objects.filter(dataset_id__startswith="bulk-org-").count() == 60


def test_the_api_lists_the_bulk_data(bulk):
    cache.clear()
    organisation = Organisation.objects.get(dataset_id="bulk-org-01")
    _api_key, key = api_key_for(organisation)
    client = key_client(key)

    response = client.get("/api/v1/recommendations/?page_size=100")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 200
    assert len(body["results"]) == 100
    assert all(len(item["assignments"]) == 3 for item in body["results"])

    response = client.get("/api/v1/assignments/?mine=true&page_size=100")
    assert response.status_code == 200
    assert response.json()["count"] == organisation.assignments.count() > 0
