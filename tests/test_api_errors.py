"""Errors of the API come in its one shape, also from outside REST framework's views.

Unknown URLs under /api/ (Django's handler404), unhandled errors (handler500), throttling, 405,
and a body that is not JSON; elsewhere the site keeps its HTML pages.
"""

import pytest
from django.test import Client
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config import urls as project_urls
from stakeholders.enums import ActingRole, OrganisationKind
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"status", "code", "message", "errors"}
    assert (body["status"], body["code"]) == (status, code)
    assert isinstance(body["message"], str) and body["message"]
    return body


# --- A urlconf with views that fail, for handler500 --------------------------------------------


def failing_page(request):
    raise RuntimeError("a bug in a page")


class FailingApiView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("a bug in the API")


urlpatterns = [
    path("api/v1/failing/", FailingApiView.as_view()),
    path("api/v1/failing-plain/", failing_page),
    path("failing/", failing_page),
    path("", include(project_urls)),
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@pytest.fixture
def tolerant_client():
    """A client that gets the 500 answer instead of the exception."""
    client = Client()
    client.raise_request_exception = False
    return client


# --- 404 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/nope/",
        "/api/v1/recommendations/NOPE/extra/",
        "/api/v1/meetings/meeting-1/agenda/nope/",
        "/api/v2/",
        "/api/",
    ],
)
def test_unknown_api_url_is_json_404_in_the_error_shape(db, client, url):
    body = assert_error(client.get(url), 404, "not_found")
    assert body == {"status": 404, "code": "not_found", "message": "Not found."}


def test_unknown_api_url_is_json_404_for_other_methods_too(db, client):
    assert_error(client.post("/api/v1/nope/", {"a": 1}), 404, "not_found")
    assert_error(client.delete("/api/v1/nope/"), 404, "not_found")


def test_api_url_without_its_slash_is_still_redirected(db, client):
    response = client.get("/api/v1/meetings")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/meetings/"


@pytest.mark.parametrize("url", ["/nope/", "/apinope/", "/accounts/nope/"])
def test_unknown_page_is_the_html_404_page(db, client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "404.html" in [template.name for template in response.templates]
    assert "There is nothing here" in response.content.decode()


# --- 500 -----------------------------------------------------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["/api/v1/failing/", "/api/v1/failing-plain/"])
def test_unhandled_error_in_the_api_is_json_500(db, tolerant_client, url):
    body = assert_error(tolerant_client.get(url), 500, "server_error")
    assert "a bug" not in body["message"]


@pytest.mark.urls(__name__)
def test_unhandled_error_in_a_page_is_the_html_500_page(db, tolerant_client):
    response = tolerant_client.get("/failing/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert "Something went wrong" in response.content.decode()


# --- 429, 405, 400 -------------------------------------------------------------------------------


def test_anonymous_client_beyond_its_rate_is_429_with_retry_after(db, client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100/min", "user": "100/min", "anon": "2/min"},
    }
    for _ in range(2):
        assert client.get("/api/v1/meetings/").status_code == 200
    response = client.get("/api/v1/meetings/")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # One budget per anonymous client, shared by every endpoint.
    assert_error(client.get("/api/v1/theme-proposals/"), 429, "throttled")


def test_every_endpoint_is_throttled_by_default(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == [
        "config.throttling.ApiRateThrottle"
    ]


def test_cache_is_local_memory_by_default(settings):
    assert settings.CACHES["default"]["BACKEND"] == (
        "django.core.cache.backends.locmem.LocMemCache"
    )


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writing_to_a_read_only_endpoint_is_405_in_the_error_shape(db, client, method):
    response = getattr(client, method)("/api/v1/meetings/", {}, content_type="application/json")
    assert_error(response, 405, "method_not_allowed")


def test_malformed_json_body_is_400_in_the_error_shape(db, client):
    delegation = OrganisationFactory(kind=OrganisationKind.MEMBER_STATE)
    delegate = RepresentativeFactory(organisation=delegation, role=ActingRole.DELEGATION).user
    client.force_login(delegate)
    response = client.post("/api/v1/theme-proposals/", "{bad", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_api_modules_import_first_in_a_fresh_process():
    """DRF reads the throttle setting while its views load; that must not loop back to us."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
        "django.setup(); import config.api, recommendations.api.serializers; print('imported')"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


@pytest.mark.django_db
def test_the_api_root_lists_the_endpoints_of_every_app(client):
    response = client.get("/api/v1/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert {
        "meetings",
        "theme-proposals",
        "proposal-rounds",
        "recommendations",
        "assignments",
        "follow-ups",
        "reports",
    } <= set(response.json())
