import datetime as dt
import io
import json
import threading
from unittest.mock import ANY

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openapi_spec_validator import validate as validate_openapi

from recommendations.enums import AssignmentRole, ImplementationStatus, ReportState
from recommendations.models import Assignment, FollowUpReport, Recommendation
from recommendations.services import (
    followup_accept,
    followup_return,
    recommendation_archive,
    rollup_values,
)
from stakeholders.models import IdempotencyRecord, Organisation
from tests.factories.recommendations import AssignmentFactory, RecommendationFactory
from tests.factories.stakeholders import OrganisationFactory, UserFactory

from . import (
    FAR_FUTURE,
    LONG_AGO,
    api_key_for,
    build_world,
    client_for,
    key_client,
    report_body,
    session_client,
)

RECOMMENDATIONS = "/api/v1/recommendations/"
ASSIGNMENTS = "/api/v1/assignments/"
FOLLOW_UPS = "/api/v1/follow-ups/"


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """Throttling counts live in the cache: each test starts with a full budget."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db):
    return build_world()


def assignment_url(assignment) -> str:
    return f"{ASSIGNMENTS}{assignment.pk}/"


def report_url(report) -> str:
    return f"{FOLLOW_UPS}{report.pk}/"


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape: status, code, message (and errors only with field errors)."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) <= {"status", "code", "message", "errors"}, body
    assert body["status"] == status
    assert body["code"] and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


def refs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["reference"] for item in response.json()["results"]]


# -- The agency's integration story ---------------------------------------------------------------


def test_agency_integration_story_end_to_end(idm_data):
    """ILO, with a key from create_api_key and the published schema only, does its follow-up."""
    out = io.StringIO()
    call_command("create_api_key", organisation="ILO", name="ILO tracker", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    ilo = key_client(key)
    organisation = Organisation.objects.get(acronym="ILO")
    officer = UserFactory(is_superuser=True, is_staff=True)

    # 1. What is addressed to ILO.
    listed = ilo.get(ASSIGNMENTS, {"mine": "true", "page_size": 100})
    assert listed.status_code == 200
    mine = listed.json()["results"]
    expected = Assignment.objects.filter(
        organisation=organisation, recommendation__state="adopted"
    ).count()
    assert expected > 0
    assert listed.json()["count"] == len(mine) == expected
    assert {item["organisation"]["acronym"] for item in mine} == {"ILO"}
    target = mine[0]
    url = f"{ASSIGNMENTS}{target['id']}/"

    # 2. It answers, with the ETag it read.
    etag = ilo.get(url).headers["ETag"]
    answered = ilo.patch(
        url,
        {"response": "supported_in_part", "response_text": "Within our mandate."},
        format="json",
        HTTP_IF_MATCH=etag,
    )
    assert answered.status_code == 200, answered.content
    assert answered.json()["response"] == "supported_in_part"
    assert answered.headers["ETag"] != etag

    # 3. It reports progress; the network fails, so it retries with the same key.
    body = report_body(status="in_progress", progress=40)
    first = ilo.post(f"{url}follow-ups/", body, format="json", HTTP_IDEMPOTENCY_KEY="ilo-2007-1")
    retry = ilo.post(f"{url}follow-ups/", body, format="json", HTTP_IDEMPOTENCY_KEY="ilo-2007-1")
    assert first.status_code == retry.status_code == 201, first.content
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert FollowUpReport.objects.filter(assignment_id=target["id"]).count() == 1
    report = FollowUpReport.objects.get(pk=first.json()["id"])
    assert report.state == ReportState.SUBMITTED
    assert report.submitted_by.api_key.prefix == key.split(".")[0]

    # 4. The secretariat returns it; ILO sees why.
    followup_return(report=report, by=officer, comment="Give the number of workshops.")
    returned = ilo.get(f"{FOLLOW_UPS}{report.pk}/").json()
    assert returned["state"] == "returned"
    assert returned["review_comment"] == "Give the number of workshops."

    # 5. ILO corrects and resubmits.
    resubmitted = ilo.post(
        f"{FOLLOW_UPS}{report.pk}/resubmit/",
        {"narrative": "Three national workshops held.", "progress": 50},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ilo-2007-1-fix",
    )
    assert resubmitted.status_code == 200, resubmitted.content
    assert resubmitted.json()["state"] == "submitted"
    assert resubmitted.json()["progress"] == 50

    # 6. The secretariat accepts; the assignment and the recommendation roll up.
    followup_accept(report=FollowUpReport.objects.get(pk=report.pk), by=officer)
    assignment = ilo.get(url).json()
    assert (assignment["status"], assignment["progress"]) == ("in_progress", 50)
    recommendation = Recommendation.objects.get(reference=target["recommendation"])
    detail = ilo.get(f"{RECOMMENDATIONS}{recommendation.reference}/").json()
    rows = [(a["role"], a["status"], a["progress"]) for a in detail["assignments"]]
    status, progress = rollup_values(rows)
    assert (detail["overall_status"], detail["overall_progress"]) == (status, progress)
    assert detail["overall_progress"] > 0
    assert [r for r in rows if r[2] == 50]

    # 7. Another agency's data stays out of reach, whatever the body.
    other = (
        Assignment.objects.filter(recommendation__state="adopted")
        .exclude(organisation=organisation)
        .first()
    )
    other_url = f"{ASSIGNMENTS}{other.pk}/"
    for bad_body in ({"response": "noted"}, {"nonsense": 1}, {}):
        assert_error(ilo.patch(other_url, bad_body, format="json"), 403, "permission_denied")
        assert_error(
            ilo.post(f"{other_url}follow-ups/", bad_body, format="json"), 403, "permission_denied"
        )
    other_report = FollowUpReport.objects.create(
        assignment=other,
        period_start=dt.date(2006, 1, 1),
        period_end=dt.date(2006, 6, 30),
        status=ImplementationStatus.IN_PROGRESS,
        progress=10,
        narrative="Started.",
        state=ReportState.RETURNED,
    )
    assert_error(ilo.get(f"{FOLLOW_UPS}{other_report.pk}/"), 404, "not_found")
    assert_error(
        ilo.post(f"{FOLLOW_UPS}{other_report.pk}/resubmit/", {"progress": "x"}, format="json"),
        404,
    )
    assert other_report.pk not in [r["id"] for r in ilo.get(FOLLOW_UPS).json()["results"]]


# -- Lists: filters, pagination, query counts ------------------------------------------------------


def test_recommendation_list_carries_assignments(world):
    response = client_for(world, "agency_b").get(RECOMMENDATIONS)
    assert set(response.json()) == {"count", "next", "previous", "results"}
    first = response.json()["results"][0]
    assert first["reference"] == "IDM-2005-R001"
    assert first["dialogue"] == 2005
    assert first["workshop"] == f"workshop-{world.workshop.pk}"
    assert first["policy_domains"] == ["labour-migration"]
    lead, supporting = first["assignments"]
    assert lead["organisation"] == {"id": world.ilo.pk, "acronym": "ILO", "name": world.ilo.name}
    assert (lead["role"], lead["overdue"], lead["effective_due_date"]) == (
        "lead",
        True,
        LONG_AGO.isoformat(),
    )
    assert supporting["due_before_session"]["id"] == f"council-session-{world.session.pk}"
    assert supporting["effective_due_date"] == FAR_FUTURE.isoformat()
    assert supporting["overdue"] is False


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["IDM-2005-R001", "IDM-2005-R003"]),
        ({"state": "adopted"}, ["IDM-2005-R001", "IDM-2005-R003"]),
        ({"state": "draft"}, []),
        ({"status": "not_started"}, ["IDM-2005-R001", "IDM-2005-R003"]),
        ({"status": "implemented"}, []),
        ({"policy_domain": "migration-health"}, ["IDM-2005-R003"]),
        ({"organisation": "ILO"}, ["IDM-2005-R001"]),
        ({"organisation": "org-test-who"}, ["IDM-2005-R001", "IDM-2005-R003"]),
        ({"organisation": "NOPE"}, []),
        ({"dialogue": "2005"}, ["IDM-2005-R001"]),
        ({"workshop": "WORKSHOP"}, ["IDM-2005-R001"]),
        ({"overdue": "true"}, ["IDM-2005-R001"]),
        ({"overdue": "false"}, ["IDM-2005-R003"]),
        ({"organisation": "WHO", "overdue": "true"}, []),
        ({"due_before": "2002-01-01"}, ["IDM-2005-R001"]),
        ({"due_after": "2099-01-01"}, ["IDM-2005-R001", "IDM-2005-R003"]),
        ({"due_after": "2099-01-01", "organisation": "ILO"}, []),
        ({"search": "health"}, ["IDM-2005-R003"]),
        ({"search": "r003"}, ["IDM-2005-R003"]),
        ({"ordering": "-reference"}, ["IDM-2005-R003", "IDM-2005-R001"]),
    ],
)
def test_recommendation_filters(world, query, expected):
    query = {
        key: (f"workshop-{world.workshop.pk}" if value == "WORKSHOP" else value)
        for key, value in query.items()
    }
    assert refs(client_for(world, "agency_a").get(RECOMMENDATIONS, query)) == expected


def test_recommendation_updated_since_sees_a_changed_assignment(world):
    client = client_for(world, "agency_a")
    since = timezone.now()
    assert refs(client.get(RECOMMENDATIONS, {"updated_since": since.isoformat()})) == []
    Assignment.objects.filter(pk=world.a_who_r3.pk).update(updated_at=since)
    assert refs(client.get(RECOMMENDATIONS, {"updated_since": since.isoformat()})) == [
        "IDM-2005-R003"
    ]


def test_workshop_filter_takes_a_number_too(world):
    client = client_for(world, "agency_a")
    assert refs(client.get(RECOMMENDATIONS, {"workshop": world.workshop.pk})) == ["IDM-2005-R001"]
    assert refs(client.get(RECOMMENDATIONS, {"workshop": "nonsense"})) == []


@pytest.mark.parametrize(
    ("actor", "query", "expected"),
    [
        ("agency_a", {"mine": "true"}, {"a_ilo"}),
        ("agency_b", {"mine": "true"}, {"a_who", "a_who_r3"}),
        ("agency_b", {"mine": "true", "overdue": "true"}, set()),
        ("agency_a", {"mine": "true", "overdue": "true"}, {"a_ilo"}),
        ("agency_a", {"mine": "false"}, {"a_ilo", "a_who", "a_who_r3"}),
        ("delegation", {"mine": "true"}, set()),
        ("secretariat", {}, {"a_ilo", "a_who", "a_draft", "a_who_r3"}),
        ("secretariat", {"state": "draft"}, {"a_draft"}),
        ("agency_a", {"organisation": "WHO"}, {"a_who", "a_who_r3"}),
        ("agency_a", {"recommendation": "IDM-2005-R003"}, {"a_who_r3"}),
        ("agency_a", {"policy_domain": "labour-migration"}, {"a_ilo", "a_who"}),
        ("agency_a", {"role": "supporting"}, {"a_who"}),
        ("agency_a", {"due_before": "2002-01-01"}, {"a_ilo"}),
        ("agency_a", {"due_after": "2099-12-31"}, {"a_who", "a_who_r3"}),
        ("agency_a", {"overdue": "false"}, {"a_who", "a_who_r3"}),
        ("secretariat", {"overdue": "false"}, {"a_who", "a_draft", "a_who_r3"}),  # no due date
        ("agency_a", {"dialogue": "2005"}, {"a_ilo", "a_who"}),
        ("agency_a", {"search": "migrants"}, {"a_who_r3"}),
    ],
)
def test_assignment_filters(world, actor, query, expected):
    response = client_for(world, actor).get(ASSIGNMENTS, query)
    assert response.status_code == 200, response.content
    names = {
        name
        for name in ("a_ilo", "a_who", "a_draft", "a_who_r3")
        if getattr(world, name).pk in {item["id"] for item in response.json()["results"]}
    }
    assert names == expected


def test_assignment_ordering_by_due_date(world):
    response = client_for(world, "agency_a").get(ASSIGNMENTS, {"ordering": "due"})
    assert [item["id"] for item in response.json()["results"]][0] == world.a_ilo.pk


@pytest.mark.parametrize(
    ("actor", "query", "expected"),
    [
        ("agency_a", {}, {"ilo_submitted", "ilo_returned", "ilo_accepted"}),
        ("agency_a", {"state": "returned"}, {"ilo_returned"}),
        ("agency_b", {}, {"ilo_accepted", "who_returned"}),
        ("agency_b", {"mine": "true"}, {"who_returned"}),
        ("delegation", {}, {"ilo_accepted"}),
        ("secretariat", {"organisation": "WHO"}, {"who_returned"}),
        ("secretariat", {"recommendation": "IDM-2005-R001", "status": "in_progress"}, None),
        ("secretariat", {"period_after": "2006-01-01"}, {"ilo_submitted"}),
    ],
)
def test_follow_up_filters(world, actor, query, expected):
    response = client_for(world, actor).get(FOLLOW_UPS, query)
    assert response.status_code == 200, response.content
    ids = {item["id"] for item in response.json()["results"]}
    names = {
        name
        for name in ("ilo_submitted", "ilo_returned", "ilo_accepted", "who_returned")
        if getattr(world, name).pk in ids
    }
    if expected is None:
        expected = {"ilo_submitted", "ilo_returned", "ilo_accepted", "who_returned"}
    assert names == expected


def test_an_invalid_filter_is_a_400_in_the_error_shape(world):
    response = client_for(world, "agency_a").get(RECOMMENDATIONS, {"state": "nonsense"})
    body = assert_error(response, 400, "invalid")
    assert set(body["errors"]) == {"state"}
    assert body["message"].startswith("state: ")


def test_page_size_is_at_most_100(world):
    for number in range(4, 110):
        RecommendationFactory(reference=f"IDM-2006-R{number:03d}", text="x", state="adopted")
    client = client_for(world, "agency_a")
    assert len(client.get(RECOMMENDATIONS, {"page_size": 500}).json()["results"]) == 100
    page = client.get(RECOMMENDATIONS, {"page_size": 10, "page": 2}).json()
    assert len(page["results"]) == 10 and page["previous"] and page["next"]
    assert len(client.get(RECOMMENDATIONS).json()["results"]) == 50


def _add_rows(world, count: int) -> None:
    for number in range(count):
        recommendation = RecommendationFactory(
            reference=f"IDM-2007-R{number + 1:03d}", text="More.", state="adopted"
        )
        recommendation.policy_domains.add(world.labour, world.health)
        AssignmentFactory(recommendation=recommendation, organisation=world.ilo, due_date=LONG_AGO)
        AssignmentFactory(
            recommendation=recommendation,
            organisation=OrganisationFactory(),
            role=AssignmentRole.SUPPORTING,
            due_before_session=world.session,
        )
        FollowUpReport.objects.create(
            assignment=recommendation.assignments.get(organisation=world.ilo),
            period_start=dt.date(2006, 1, 1),
            period_end=dt.date(2006, 6, 30),
            status=ImplementationStatus.IN_PROGRESS,
            progress=30,
            narrative="Going on.",
            state=ReportState.ACCEPTED,
        )


LIST_QUERIES = [
    (RECOMMENDATIONS, {"page_size": 100}),
    (ASSIGNMENTS, {"mine": "true", "overdue": "true", "page_size": 100}),
    (FOLLOW_UPS, {"page_size": 100}),
    ("/api/v1/organisations/", {"page_size": 100}),
]


@pytest.mark.parametrize(("url", "query"), LIST_QUERIES, ids=[u for u, _ in LIST_QUERIES])
def test_list_query_count_does_not_grow_with_rows(world, django_assert_max_num_queries, url, query):
    client = client_for(world, "agency_a")
    client.get(url, query)  # the key's last use is recorded once a minute: not counted
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, query).status_code == 200
    _add_rows(world, 40)
    with django_assert_max_num_queries(len(few)):
        response = client.get(url, query)
    assert response.status_code == 200
    assert response.json()["count"] >= 40


# -- Details, ETags and If-Match ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        lambda w: f"{RECOMMENDATIONS}{w.r1.reference}/",
        lambda w: assignment_url(w.a_ilo),
        lambda w: report_url(w.ilo_submitted),
        lambda w: f"/api/v1/organisations/{w.ilo.pk}/",
        lambda w: "/api/v1/policy-domains/labour-migration/",
        lambda w: "/api/v1/dialogues/2005/",
    ],
    ids=["recommendation", "assignment", "follow-up", "organisation", "policy-domain", "dialogue"],
)
def test_details_carry_an_etag_and_answer_304_while_it_holds(world, url):
    client = client_for(world, "agency_a")
    response = client.get(url(world))
    assert response.status_code == 200
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    unchanged = client.get(url(world), HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged.headers["ETag"] == etag
    assert client.get(url(world), HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_recommendation_etag_changes_with_its_assignments(world):
    client = client_for(world, "agency_a")
    before = client.get(f"{RECOMMENDATIONS}{world.r1.reference}/").headers["ETag"]
    Assignment.objects.filter(pk=world.a_who.pk).update(progress=10, updated_at=timezone.now())
    after = client.get(f"{RECOMMENDATIONS}{world.r1.reference}/").headers["ETag"]
    assert before != after


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(world):
    client = client_for(world, "agency_a")
    url = assignment_url(world.a_ilo)
    stale = client.get(url).headers["ETag"]
    assert client.patch(url, {"response": "noted"}, format="json").status_code == 200
    refused = client.patch(url, {"response": "supported"}, format="json", HTTP_IF_MATCH=stale)
    assert_error(refused, 412, "precondition_failed")
    world.a_ilo.refresh_from_db()
    assert world.a_ilo.response == "noted"
    current = client.get(url).headers["ETag"]
    accepted = client.patch(url, {"response": "supported"}, format="json", HTTP_IF_MATCH=current)
    assert accepted.status_code == 200
    assert client.patch(
        url, {"response_text": "Yes."}, format="json", HTTP_IF_MATCH="*"
    ).json() == {**accepted.json(), "response_text": "Yes.", "updated_at": ANY}


def test_follow_up_post_with_a_stale_if_match_creates_nothing(world):
    client = client_for(world, "agency_a")
    url = assignment_url(world.a_ilo)
    stale = client.get(url).headers["ETag"]
    client.patch(url, {"response": "noted"}, format="json")
    count = FollowUpReport.objects.count()
    refused = client.post(f"{url}follow-ups/", report_body(), format="json", HTTP_IF_MATCH=stale)
    assert_error(refused, 412)
    assert FollowUpReport.objects.count() == count


def test_resubmit_with_a_stale_if_match_changes_nothing(world):
    client = client_for(world, "agency_a")
    url = report_url(world.ilo_returned)
    stale = '"0123456789abcdef0123456789abcdef"'
    refused = client.post(
        f"{url}resubmit/", {"narrative": "Fixed."}, format="json", HTTP_IF_MATCH=stale
    )
    assert_error(refused, 412)
    world.ilo_returned.refresh_from_db()
    assert world.ilo_returned.state == ReportState.RETURNED
    current = client.get(url).headers["ETag"]
    done = client.post(
        f"{url}resubmit/", {"narrative": "Fixed."}, format="json", HTTP_IF_MATCH=current
    )
    assert done.status_code == 200
    assert done.headers["ETag"] != current


# -- Writes: what may be sent ---------------------------------------------------------------------


def test_patch_takes_only_response_and_response_text(world):
    client = client_for(world, "agency_a")
    url = assignment_url(world.a_ilo)
    refused = client.patch(
        url, {"response": "supported", "progress": 100, "status": "implemented"}, format="json"
    )
    body = assert_error(refused, 400, "invalid")
    assert set(body["errors"]) == {"progress", "status"}
    world.a_ilo.refresh_from_db()
    assert (world.a_ilo.response, world.a_ilo.progress) == ("pending", 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"response": "pending"}, "response"),
        ({"response": "maybe"}, "response"),
        ({"response_text": "Only words."}, "response"),  # still pending: an answer is needed
        ({}, "response"),
    ],
)
def test_patch_with_a_bad_answer_is_a_field_error(world, body, field):
    response = client_for(world, "agency_a").patch(assignment_url(world.a_ilo), body, format="json")
    assert field in assert_error(response, 400, "invalid")["errors"]


def test_patch_keeps_what_is_not_sent(world):
    client = client_for(world, "agency_a")
    url = assignment_url(world.a_ilo)
    client.patch(url, {"response": "supported", "response_text": "Gladly."}, format="json")
    assert client.patch(url, {"response": "noted"}, format="json").json()["response_text"] == (
        "Gladly."
    )
    assert client.patch(url, {"response_text": "Noted."}, format="json").json()["response"] == (
        "noted"
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"period_end": "2006-12-31"}, "period_end"),  # before its start
        ({"progress": 101}, "progress"),
        ({"progress": "lots"}, "progress"),
        ({"status": "done"}, "status"),
        ({"status": "implemented", "progress": 90}, "progress"),  # the service's rule
        ({"narrative": ""}, "narrative"),
        ({"evidence_urls": ["ftp://example.org/x"]}, "evidence_urls"),
        ({"evidence_urls": "https://example.org"}, "evidence_urls"),
        ({"evidence_urls": [f"https://e.org/{n}" for n in range(21)]}, "evidence_urls"),
        ({"state": "accepted"}, "state"),
        ({"period_start": "2006-01-01", "period_end": "2006-06-30"}, "period_start"),  # open
    ],
)
def test_follow_up_with_bad_input_is_a_field_error_and_creates_nothing(world, overrides, field):
    count = FollowUpReport.objects.count()
    response = client_for(world, "agency_a").post(
        f"{assignment_url(world.a_ilo)}follow-ups/", report_body(**overrides), format="json"
    )
    body = assert_error(response, 400, "invalid")
    assert field in body["errors"], body
    assert FollowUpReport.objects.count() == count


def test_resubmit_of_a_submitted_report_is_refused_before_the_body_is_read(world):
    response = client_for(world, "agency_a").post(
        f"{report_url(world.ilo_submitted)}resubmit/", {"progress": "x"}, format="json"
    )
    assert "only a returned report" in assert_error(response, 403, "permission_denied")["message"]


def test_a_refusal_without_a_field_is_code_refused(world):
    officer = session_client(world.officer)
    response = officer.patch(assignment_url(world.a_draft), {"response": "noted"}, format="json")
    body = assert_error(response, 400, "refused")
    assert "errors" not in body
    assert "adopted" in body["message"]


def test_malformed_json_and_other_media_types(world):
    client = client_for(world, "agency_a")
    url = f"{assignment_url(world.a_ilo)}follow-ups/"
    assert_error(client.post(url, "{not json", content_type="application/json"), 400, "parse_error")
    assert_error(client.post(url, {"narrative": "x"}), 415, "unsupported_media_type")


def test_archived_recommendations_vanish_outside_the_secretariat(world):
    recommendation_archive(recommendation=world.r3, by=world.officer)
    assert refs(client_for(world, "agency_b").get(RECOMMENDATIONS)) == ["IDM-2005-R001"]
    assert_error(client_for(world, "agency_b").get(assignment_url(world.a_who_r3)), 404)
    secretariat = client_for(world, "secretariat").get(f"{RECOMMENDATIONS}{world.r3.reference}/")
    assert secretariat.json()["archived_at"] is not None


# -- Idempotency-Key ------------------------------------------------------------------------------


def test_same_idempotency_key_for_another_body_is_422(world):
    client = client_for(world, "agency_a")
    url = f"{assignment_url(world.a_ilo)}follow-ups/"
    assert client.post(url, report_body(), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == (
        201
    )
    other = client.post(url, report_body(progress=70), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert_error(other, 422, "idempotency_key_reused")
    assert FollowUpReport.objects.filter(assignment=world.a_ilo).count() == 4


def test_a_failed_request_does_not_use_up_its_idempotency_key(world):
    client = client_for(world, "agency_a")
    url = f"{assignment_url(world.a_ilo)}follow-ups/"
    bad = client.post(url, report_body(progress=101), format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert_error(bad, 400)
    good = client.post(url, report_body(progress=101), format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert good.status_code == 400  # the same bad body is carried out (and refused) again
    assert not IdempotencyRecord.objects.filter(key="k2").exists()


def test_idempotency_keys_are_per_caller_and_expire(world):
    ilo, other_ilo_key = client_for(world, "agency_a"), api_key_for(world.ilo, "second")[1]
    url = f"{assignment_url(world.a_ilo)}follow-ups/"
    first = ilo.post(url, report_body(), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    second = key_client(other_ilo_key).post(
        url,
        report_body(period_start="2008-01-01", period_end="2008-06-30"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    IdempotencyRecord.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    again = ilo.post(
        url,
        report_body(period_start="2009-01-01", period_end="2009-06-30"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers


def test_an_invalid_idempotency_key_is_400(world):
    response = client_for(world, "agency_a").post(
        f"{assignment_url(world.a_ilo)}follow-ups/",
        report_body(),
        format="json",
        HTTP_IDEMPOTENCY_KEY="x" * 256,
    )
    assert "Idempotency-Key" in assert_error(response, 400, "invalid")["errors"]


def test_resubmit_retried_with_its_idempotency_key_is_replayed(world):
    client = client_for(world, "agency_a")
    url = f"{report_url(world.ilo_returned)}resubmit/"
    etag = client.get(report_url(world.ilo_returned)).headers["ETag"]
    first = client.post(
        url, {"progress": 55}, format="json", HTTP_IDEMPOTENCY_KEY="r", HTTP_IF_MATCH=etag
    )
    retry = client.post(
        url, {"progress": 55}, format="json", HTTP_IDEMPOTENCY_KEY="r", HTTP_IF_MATCH=etag
    )
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_create_one_report():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time; PostgreSQL shows the race")
    world = build_world()
    url = f"{assignment_url(world.a_ilo)}follow-ups/"
    barrier = threading.Barrier(4)
    responses = []

    def post():
        try:
            client = client_for(world, "agency_a")
            barrier.wait(timeout=10)
            responses.append(
                client.post(url, report_body(), format="json", HTTP_IDEMPOTENCY_KEY="race")
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [response.status_code for response in responses] == [201] * 4
    assert len({json.dumps(response.json(), sort_keys=True) for response in responses}) == 1
    assert (
        FollowUpReport.objects.filter(assignment=world.a_ilo, period_start="2007-01-01").count()
        == 1
    )


# -- Errors, authentication and throttling ---------------------------------------------------------


def test_without_credentials_is_401_with_www_authenticate(world):
    response = client_for(world, "anonymous").get(ASSIGNMENTS)
    assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Api-Key")


def test_a_login_that_acts_for_no_organisation_is_403(world):
    response = session_client(UserFactory()).get(RECOMMENDATIONS)
    assert_error(response, 403, "permission_denied")


def test_unknown_method_is_405_in_the_error_shape(world):
    client = client_for(world, "agency_a")
    assert_error(client.delete(assignment_url(world.a_ilo)), 405, "method_not_allowed")
    assert_error(client.put(assignment_url(world.a_ilo), {}, format="json"), 405)
    assert_error(client.post(RECOMMENDATIONS, {}, format="json"), 405)


def test_throttling_per_key_is_429(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/min", "user": "100/min", "anon": "100/min"},
    }
    ilo, who = client_for(world, "agency_a"), client_for(world, "agency_b")
    for _ in range(3):
        assert ilo.get(ASSIGNMENTS).status_code == 200
    throttled = ilo.get(ASSIGNMENTS)
    assert_error(throttled, 429, "throttled")
    assert int(throttled.headers["Retry-After"]) > 0
    assert who.get(ASSIGNMENTS).status_code == 200  # each key has its own budget


def test_throttling_of_anonymous_clients_is_429(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100/min", "user": "100/min", "anon": "2/min"},
    }
    anonymous = client_for(world, "anonymous")
    assert anonymous.get("/api/v1/organisations/").status_code == 200
    assert anonymous.get("/api/v1/dialogues/").status_code == 200
    assert_error(anonymous.get("/api/v1/policy-domains/"), 429, "throttled")
    assert client_for(world, "agency_a").get("/api/v1/dialogues/").status_code == 200


# -- The schema -----------------------------------------------------------------------------------

API_PATHS = {
    "/api/v1/recommendations/": {"get"},
    "/api/v1/recommendations/{reference}/": {"get"},
    "/api/v1/assignments/": {"get"},
    "/api/v1/assignments/{id}/": {"get", "patch"},
    "/api/v1/assignments/{id}/follow-ups/": {"post"},
    "/api/v1/follow-ups/": {"get"},
    "/api/v1/follow-ups/{id}/": {"get"},
    "/api/v1/follow-ups/{id}/resubmit/": {"post"},
    "/api/v1/organisations/": {"get"},
    "/api/v1/organisations/{id}/": {"get"},
    "/api/v1/policy-domains/": {"get"},
    "/api/v1/policy-domains/{slug}/": {"get"},
    "/api/v1/dialogues/": {"get"},
    "/api/v1/dialogues/{year}/": {"get"},
}


@pytest.fixture
def schema(db, client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_validates_and_has_every_endpoint(schema):
    validate_openapi(schema)
    for path, methods in API_PATHS.items():
        assert set(schema["paths"][path]) == methods, path


def test_schema_documents_the_api_key_and_the_headers(schema):
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": ANY,
    }
    paths = schema["paths"]
    assert {"ApiKeyAuth": []} in paths["/api/v1/assignments/"]["get"]["security"]

    def header_names(operation):
        return {p["name"] for p in operation["parameters"] if p["in"] == "header"}

    post = paths["/api/v1/assignments/{id}/follow-ups/"]["post"]
    assert header_names(post) == {"Idempotency-Key", "If-Match"}
    assert {"ETag", "Location"} <= set(post["responses"]["201"]["headers"])
    assert {"400", "401", "403", "404", "412", "422", "429"} <= set(post["responses"])
    patch = paths["/api/v1/assignments/{id}/"]["patch"]
    assert header_names(patch) == {"If-Match"}
    resubmit = paths["/api/v1/follow-ups/{id}/resubmit/"]["post"]
    assert header_names(resubmit) == {"Idempotency-Key", "If-Match"}
    detail = paths["/api/v1/recommendations/{reference}/"]["get"]
    assert "ETag" in detail["responses"]["200"]["headers"]
    assert "304" in detail["responses"]
    query = {p["name"] for p in paths["/api/v1/recommendations/"]["get"]["parameters"]}
    assert query >= {
        "state",
        "status",
        "policy_domain",
        "organisation",
        "dialogue",
        "workshop",
        "overdue",
        "due_before",
        "due_after",
        "updated_since",
        "search",
        "ordering",
        "page",
        "page_size",
    }
    assert {p["name"] for p in paths["/api/v1/assignments/"]["get"]["parameters"]} >= {
        "mine",
        "overdue",
    }


def test_schema_describes_every_field(schema):
    schemas = schema["components"]["schemas"]
    names = [
        "Recommendation",
        "AssignmentInRecommendation",
        "Assignment",
        "FollowUp",
        "FollowUpWrite",
        "FollowUpResubmit",
        "PatchedAssignmentResponse",
        "Organisation",
        "OrganisationBrief",
        "PolicyDomain",
        "Dialogue",
        "ApiError",
        "EvidenceFile",
        "CouncilSessionBrief",
    ]
    for name in names:
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} is not documented"
    for path in API_PATHS:
        for operation in schema["paths"][path].values():
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), (path, parameter["name"])
