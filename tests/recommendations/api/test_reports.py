"""The reports API: the secretariat requests follow-up reports and downloads their files."""

import pytest
from django.core.cache import cache

from recommendations.enums import ReportKind, ReportRunState
from recommendations.models import ReportRun
from recommendations.reporting import report_run_build

from . import build_world, client_for

REPORTS = "/api/v1/reports/"


@pytest.fixture(autouse=True)
def setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db):
    return build_world()


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == status and body["message"]
    if code:
        assert body["code"] == code
    return body


def test_secretariat_requests_a_report_and_gets_202_with_the_run(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    from recommendations import reporting

    queued = []
    monkeypatch.setattr(reporting, "enqueue_on_commit", lambda task, **kw: queued.append(kw))
    client = client_for(world, "secretariat")
    response = client.post(REPORTS, {}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    run = ReportRun.objects.get()
    assert body["id"] == run.pk and queued == [{"run_id": run.pk}]
    assert body["kind"] == "on_demand" and body["state"] == "queued"
    assert body["summary"] is None and body["links"] is None
    assert response.headers["Location"].endswith(f"{REPORTS}{run.pk}/")
    assert run.requested_by == world.officer


def test_a_report_limited_to_a_dialogue_by_year_or_id(world):
    client = client_for(world, "secretariat")
    by_year = client.post(REPORTS, {"dialogue": 2005}, format="json")
    by_id = client.post(REPORTS, {"dialogue": world.dialogue.pk}, format="json")
    assert by_year.status_code == by_id.status_code == 202
    assert by_year.json()["dialogue"] == by_id.json()["dialogue"] == 2005


def test_retry_with_the_same_idempotency_key_makes_one_run(world):
    client = client_for(world, "secretariat")
    first = client.post(REPORTS, {}, format="json", HTTP_IDEMPOTENCY_KEY="report-1")
    retry = client.post(REPORTS, {}, format="json", HTTP_IDEMPOTENCY_KEY="report-1")
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    assert ReportRun.objects.count() == 1


def test_the_monthly_report_already_made_is_returned(world):
    client = client_for(world, "secretariat")
    first = client.post(REPORTS, {"kind": "monthly"}, format="json")
    again = client.post(REPORTS, {"kind": "monthly"}, format="json")
    assert first.json()["id"] == again.json()["id"]
    assert ReportRun.objects.filter(kind=ReportKind.MONTHLY).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "weekly"}, "kind"),
        ({"dialogue": 1999}, "dialogue"),
        ({"dialogue": "the latest"}, "dialogue"),
        ({"kind": "monthly", "dialogue": 2005}, "dialogue"),
        ({"kind": "session"}, "council_session"),
        ({"kind": "session", "council_session": "meeting-1"}, "council_session"),
        ({"format": "pdf"}, "format"),
    ],
)
def test_bad_input_is_400_with_field_errors(world, body, field):
    response = client_for(world, "secretariat").post(REPORTS, body, format="json")
    errors = assert_error(response, 400, "invalid")["errors"]
    assert field in errors, errors
    assert ReportRun.objects.count() == 0


@pytest.mark.parametrize("actor", ["agency_a", "delegation"])
def test_agencies_and_delegations_may_not_see_or_request_reports(world, actor):
    client = client_for(world, actor)
    run = ReportRun.objects.create(kind=ReportKind.ON_DEMAND)
    assert_error(client.post(REPORTS, {}, format="json"), 403, "permission_denied")
    assert_error(client.get(REPORTS), 403)
    assert_error(client.get(f"{REPORTS}{run.pk}/csv/"), 403)
    assert ReportRun.objects.count() == 1


def test_anonymous_is_401(world):
    client = client_for(world, "anonymous")
    assert_error(client.post(REPORTS, {}, format="json"), 401, "not_authenticated")
    assert_error(client.get(REPORTS), 401)


def test_downloads_of_a_done_run(world):
    client = client_for(world, "secretariat")
    run_id = client.post(REPORTS, {}, format="json").json()["id"]
    assert_error(client.get(f"{REPORTS}{run_id}/csv/"), 404)  # not built yet
    report_run_build(run=ReportRun.objects.get(pk=run_id))

    detail = client.get(f"{REPORTS}{run_id}/").json()
    assert detail["state"] == "done"
    assert detail["summary"]["assignments"] == 3  # the adopted recommendations' addressees
    assert detail["summary"]["overdue"] == 1
    links = detail["links"]
    csv_response = client.get(links["csv"])
    assert csv_response.status_code == 200
    assert csv_response["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_response["Content-Disposition"].startswith("attachment; filename=")
    assert b"# Overdue" in b"".join(csv_response.streaming_content)
    xlsx = client.get(links["xlsx"])
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert xlsx["Content-Disposition"].startswith("attachment; filename=")
    assert xlsx["Content-Disposition"].endswith('.xlsx"')
    page = client.get(links["html"])
    assert page["Content-Type"] == "text/html; charset=utf-8"
    assert page["Content-Disposition"].startswith("inline")
    assert "sandbox" in page["Content-Security-Policy"]
    listed = client.get(REPORTS).json()
    assert [item["id"] for item in listed["results"]] == [run_id]


def test_a_failed_run_has_no_files(world):
    client = client_for(world, "secretariat")
    run = ReportRun.objects.create(kind=ReportKind.ON_DEMAND, state=ReportRunState.FAILED)
    assert_error(client.get(f"{REPORTS}{run.pk}/xlsx/"), 404)
    assert_error(client.get(f"{REPORTS}{run.pk + 100}/"), 404)


def test_the_schema_documents_the_reports_endpoints(world):
    paths = client_for(world, "anonymous").get("/api/v1/schema/?format=json").json()["paths"]
    assert set(paths[REPORTS]) == {"get", "post"}
    for suffix in ("", "csv/", "xlsx/", "html/"):
        assert f"{REPORTS}{{id}}/{suffix}" in paths
    assert "202" in paths[REPORTS]["post"]["responses"]
