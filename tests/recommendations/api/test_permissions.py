# ruff: noqa: E501 - the permission table reads best one row per line
"""Who may do what through the API: every endpoint and method × every kind of caller.

Anonymous visitors, a delegation (session), agency A (ILO's key), agency B (WHO's key) and the
secretariat (session). The world is in ``tests/recommendations/api/__init__.py``. A caller who
may not act gets 401, 403 or 404, never a 400 (even for a bad body) and never a 500.
"""

import pytest
from django.core.cache import cache

from recommendations.models import FollowUpReport

from . import ACTORS, build_world, client_for, report_body

R = "/api/v1/recommendations/"
A = "/api/v1/assignments/"
F = "/api/v1/follow-ups/"


def a(name):
    return lambda w: f"{A}{getattr(w, name).pk}/"


def a_follow_ups(name):
    return lambda w: f"{A}{getattr(w, name).pk}/follow-ups/"


def f(name):
    return lambda w: f"{F}{getattr(w, name).pk}/"


def f_resubmit(name):
    return lambda w: f"{F}{getattr(w, name).pk}/resubmit/"


def fixed(url):
    return lambda w: url


BAD_REPORT = {"progress": "lots", "extra": True}
# (label, method, url, body, expected status for: anonymous, delegation, agency A, agency B,
# secretariat)
MATRIX = [
    # Recommendations: read-only; drafts only for the secretariat.
    ("recommendations", "get", fixed(R), None, (401, 200, 200, 200, 200)),
    ("recommendations", "post", fixed(R), {}, (401, 405, 405, 405, 405)),
    ("adopted recommendation", "get", fixed(f"{R}IDM-2005-R001/"), None, (401, 200, 200, 200, 200)),
    ("draft recommendation", "get", fixed(f"{R}IDM-2005-R002/"), None, (401, 404, 404, 404, 200)),
    ("unknown recommendation", "get", fixed(f"{R}IDM-1999-R999/"), None, (401, 404, 404, 404, 404)),
    ("adopted recommendation", "put", fixed(f"{R}IDM-2005-R001/"), {}, (401, 405, 405, 405, 405)),
    ("adopted recommendation", "patch", fixed(f"{R}IDM-2005-R001/"), {}, (401, 405, 405, 405, 405)),
    ("adopted recommendation", "delete", fixed(f"{R}IDM-2005-R001/"), None, (401, 405, 405, 405, 405)),
    # Assignments: everyone who acts for an organisation reads those of adopted recommendations;
    # the addressed agency (and the secretariat) answers.
    ("assignments", "get", fixed(A), None, (401, 200, 200, 200, 200)),
    ("assignments", "post", fixed(A), {}, (401, 405, 405, 405, 405)),
    ("ILO assignment", "get", a("a_ilo"), None, (401, 200, 200, 200, 200)),
    ("WHO assignment", "get", a("a_who"), None, (401, 200, 200, 200, 200)),
    ("draft assignment", "get", a("a_draft"), None, (401, 404, 404, 404, 200)),
    ("ILO assignment", "patch", a("a_ilo"), {"response": "supported"}, (401, 403, 200, 403, 200)),
    ("ILO assignment bad body", "patch", a("a_ilo"), {"progress": 5}, (401, 403, 400, 403, 400)),
    ("ILO assignment no JSON", "patch", a("a_ilo"), "{oops", (401, 403, 400, 403, 400)),
    ("WHO assignment", "patch", a("a_who"), {"response": "noted"}, (401, 403, 403, 200, 200)),
    ("draft assignment", "patch", a("a_draft"), {"response": "noted"}, (401, 404, 404, 404, 400)),
    ("ILO assignment", "put", a("a_ilo"), {"response": "noted"}, (401, 405, 405, 405, 405)),
    ("ILO assignment", "delete", a("a_ilo"), None, (401, 405, 405, 405, 405)),
    # Reporting: only the addressed agency, on an adopted recommendation.
    ("ILO follow-ups", "post", a_follow_ups("a_ilo"), report_body(), (401, 403, 201, 403, 403)),
    ("ILO follow-ups bad body", "post", a_follow_ups("a_ilo"), BAD_REPORT, (401, 403, 400, 403, 403)),
    ("WHO follow-ups", "post", a_follow_ups("a_who"), report_body(), (401, 403, 403, 201, 403)),
    ("draft follow-ups", "post", a_follow_ups("a_draft"), report_body(), (401, 404, 404, 404, 403)),
    ("ILO follow-ups", "get", a_follow_ups("a_ilo"), None, (401, 405, 405, 405, 405)),
    # Follow-up reports: accepted ones for all; an agency's own in every state.
    ("follow-ups", "get", fixed(F), None, (401, 200, 200, 200, 200)),
    ("follow-ups", "post", fixed(F), report_body(), (401, 405, 405, 405, 405)),
    ("ILO submitted report", "get", f("ilo_submitted"), None, (401, 404, 200, 404, 200)),
    ("ILO returned report", "get", f("ilo_returned"), None, (401, 404, 200, 404, 200)),
    ("ILO accepted report", "get", f("ilo_accepted"), None, (401, 200, 200, 200, 200)),
    ("WHO returned report", "get", f("who_returned"), None, (401, 404, 404, 200, 200)),
    ("ILO accepted report", "patch", f("ilo_accepted"), {}, (401, 405, 405, 405, 405)),
    ("ILO accepted report", "delete", f("ilo_accepted"), None, (401, 405, 405, 405, 405)),
    # Resubmitting: only the reporting agency, only a returned report.
    ("ILO returned resubmit", "post", f_resubmit("ilo_returned"), {"narrative": "Fixed."}, (401, 404, 200, 404, 403)),
    ("ILO returned resubmit bad body", "post", f_resubmit("ilo_returned"), BAD_REPORT, (401, 404, 400, 404, 403)),
    ("ILO submitted resubmit", "post", f_resubmit("ilo_submitted"), {"narrative": "x"}, (401, 404, 403, 404, 403)),
    ("ILO accepted resubmit", "post", f_resubmit("ilo_accepted"), {"narrative": "x"}, (401, 403, 403, 403, 403)),
    ("WHO returned resubmit", "post", f_resubmit("who_returned"), {"narrative": "Fixed."}, (401, 404, 404, 200, 403)),
    ("WHO returned resubmit bad body", "post", f_resubmit("who_returned"), BAD_REPORT, (401, 404, 404, 400, 403)),
    ("ILO returned resubmit", "get", f_resubmit("ilo_returned"), None, (401, 405, 405, 405, 405)),
    # Reference data: public and read-only.
    ("organisations", "get", fixed("/api/v1/organisations/"), None, (200, 200, 200, 200, 200)),
    ("organisations", "post", fixed("/api/v1/organisations/"), {}, (405, 405, 405, 405, 405)),
    ("organisation", "get", lambda w: f"/api/v1/organisations/{w.ilo.pk}/", None, (200, 200, 200, 200, 200)),
    ("organisation", "delete", lambda w: f"/api/v1/organisations/{w.ilo.pk}/", None, (405, 405, 405, 405, 405)),
    ("policy domains", "get", fixed("/api/v1/policy-domains/"), None, (200, 200, 200, 200, 200)),
    ("policy domains", "post", fixed("/api/v1/policy-domains/"), {}, (405, 405, 405, 405, 405)),
    ("policy domain", "get", fixed("/api/v1/policy-domains/labour-migration/"), None, (200, 200, 200, 200, 200)),
    ("policy domain", "put", fixed("/api/v1/policy-domains/labour-migration/"), {}, (405, 405, 405, 405, 405)),
    ("dialogues", "get", fixed("/api/v1/dialogues/"), None, (200, 200, 200, 200, 200)),
    ("dialogues", "post", fixed("/api/v1/dialogues/"), {}, (405, 405, 405, 405, 405)),
    ("dialogue", "get", fixed("/api/v1/dialogues/2005/"), None, (200, 200, 200, 200, 200)),
    ("dialogue", "patch", fixed("/api/v1/dialogues/2005/"), {}, (405, 405, 405, 405, 405)),
]  # fmt: skip
CASES = [
    (label, method, url, body, actor, expected[position])
    for label, method, url, body, expected in MATRIX
    for position, actor in enumerate(ACTORS)
]


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize(
    ("label", "method", "url", "body", "actor", "expected"),
    CASES,
    ids=[f"{method.upper()} {label} as {actor}" for label, method, _, _, actor, _ in CASES],
)
def test_permission_matrix(db, label, method, url, body, actor, expected):
    world = build_world()
    client = client_for(world, actor)
    reports_before = FollowUpReport.objects.count()
    send = getattr(client, method)
    if body is None:
        response = send(url(world))
    elif isinstance(body, str):
        response = send(url(world), body, content_type="application/json")
    else:
        response = send(url(world), body, format="json")
    assert response.status_code == expected, response.content
    if expected >= 400:
        payload = response.json()
        assert payload["status"] == expected
        assert payload["code"] and payload["message"]
        assert set(payload) <= {"status", "code", "message", "errors"}
    if expected == 401:
        assert response.headers["WWW-Authenticate"].startswith("Api-Key")
    created = FollowUpReport.objects.count() - reports_before
    assert created == (1 if expected == 201 else 0)
