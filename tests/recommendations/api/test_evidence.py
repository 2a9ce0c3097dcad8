"""Evidence files through the API: upload by the reporting agency, download by readers only.

The world is in ``tests/recommendations/api/__init__.py``: ILO has a submitted, a returned and
an accepted report on IDM-2005-R001; WHO a returned one. Files go to a temporary MEDIA_ROOT.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.test import RequestFactory

from recommendations.models import EVIDENCE_MAX_BYTES, EvidenceFile
from recommendations.services import followup_accept
from recommendations.views import evidence_download
from stakeholders.enums import ActingRole
from tests.factories.stakeholders import RepresentativeFactory

from . import build_world, client_for, key_client, session_client

FOLLOW_UPS = "/api/v1/follow-ups/"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def world(db):
    return build_world()


def evidence_url(report) -> str:
    return f"{FOLLOW_UPS}{report.pk}/evidence/"


def upload(client, report, name="Minutes 2006.pdf", content=PDF, content_type="application/pdf"):
    return client.post(
        evidence_url(report),
        {"file": SimpleUploadedFile(name, content, content_type=content_type)},
        format="multipart",
    )


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) <= {"status", "code", "message", "errors"}, body
    assert body["status"] == status and body["code"] and body["message"]
    return body


# -- Upload ---------------------------------------------------------------------------------------


def test_agency_uploads_a_pdf_and_downloads_the_same_bytes(world, media_root):
    ilo = key_client(world.ilo_key)

    response = upload(ilo, world.ilo_submitted)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "name", "size", "content_type", "uploaded_at", "download_url"}
    assert body["name"] == "Minutes 2006.pdf"
    assert body["size"] == len(PDF)
    assert body["content_type"] == "application/pdf"
    assert body["download_url"] == f"http://testserver/api/v1/evidence/{body['id']}/download/"
    assert response.headers["Location"] == body["download_url"]

    evidence = EvidenceFile.objects.get(pk=body["id"])
    assert evidence.report == world.ilo_submitted
    path = Path(evidence.file.path)
    assert path.is_relative_to(media_root) and path.read_bytes() == PDF
    assert path.name != "Minutes 2006.pdf"  # stored under a random name

    download = ilo.get(body["download_url"])
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == 'attachment; filename="Minutes 2006.pdf"'
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert streamed(download) == PDF


def test_the_report_lists_its_evidence_files_with_their_download_url(world):
    ilo = key_client(world.ilo_key)
    etag = ilo.get(f"{FOLLOW_UPS}{world.ilo_submitted.pk}/").headers["ETag"]
    created = upload(ilo, world.ilo_submitted).json()

    report = ilo.get(f"{FOLLOW_UPS}{world.ilo_submitted.pk}/")

    assert report.json()["evidence_files"] == [created]
    assert report.headers["ETag"] != etag  # a new file changes the report's version
    listed = ilo.get(FOLLOW_UPS, {"state": "submitted"}).json()["results"]
    assert [item["evidence_files"] for item in listed if item["id"] == world.ilo_submitted.pk] == [
        [created]
    ]


def test_a_returned_report_takes_evidence_and_the_type_comes_from_the_bytes(world):
    response = upload(
        key_client(world.ilo_key),
        world.ilo_returned,
        name="photo.png",
        content=PNG,
        content_type="application/octet-stream",
    )

    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == "image/png"


def test_a_folder_in_the_file_name_is_dropped(world):
    response = upload(key_client(world.ilo_key), world.ilo_submitted, name='..\\..\\evil"name.pdf')

    assert response.status_code == 201, response.content
    assert response.json()["name"] == "evilname.pdf"


def test_a_file_over_10_mb_is_refused_before_it_is_stored(world, media_root):
    big = b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024)

    response = upload(key_client(world.ilo_key), world.ilo_submitted, content=big)

    body = assert_error(response, 413)
    assert body["errors"]["file"]
    assert not EvidenceFile.objects.exists()
    assert not (media_root / "evidence").exists()


def test_a_file_just_over_10_mb_in_a_small_body_is_refused_too(world):
    """The body's length passes the early check; the file's own size does not."""
    content = b"%PDF-1.4\n" + b"0" * (EVIDENCE_MAX_BYTES - 9 + 1)

    response = upload(key_client(world.ilo_key), world.ilo_submitted, content=content)

    assert assert_error(response, 413)["errors"]["file"]
    assert not EvidenceFile.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "application/octet-stream"),
        ("report.pdf", b"<html><script>alert(1)</script></html>", "application/pdf"),
        ("report.pdf", b"<html><script>alert(1)</script></html>", "text/html"),
        ("page.html", b"<html></html>", "text/html"),
        ("fake.png", PDF, "image/png"),
        ("binary.txt", b"abc\x00def", "text/plain"),
        ("noextension", b"hello", "text/plain"),
    ],
)
def test_a_file_of_another_type_is_refused(world, media_root, name, content, content_type):
    response = upload(
        key_client(world.ilo_key),
        world.ilo_submitted,
        name=name,
        content=content,
        content_type=content_type,
    )

    body = assert_error(response, 400)
    assert body["code"] == "invalid" and body["errors"]["file"]
    assert not EvidenceFile.objects.exists()
    assert not (media_root / "evidence").exists()


def test_a_body_without_a_file_is_a_field_error(world):
    response = key_client(world.ilo_key).post(
        evidence_url(world.ilo_submitted), {"other": "x"}, format="multipart"
    )

    body = assert_error(response, 400)
    assert "file" in body["errors"]


# Who may upload: the reporting agency only, while the report is submitted or returned.
UPLOADS = [
    # (report, anonymous, delegation, agency A (ILO), agency B (WHO), secretariat)
    ("ilo_submitted", (401, 404, 201, 404, 403)),
    ("ilo_returned", (401, 404, 201, 404, 403)),
    ("ilo_accepted", (401, 403, 403, 403, 403)),
    ("who_returned", (401, 404, 404, 201, 403)),
]
ACTORS = ["anonymous", "delegation", "agency_a", "agency_b", "secretariat"]


@pytest.mark.parametrize(
    ("report", "actor", "expected"),
    [
        (report, actor, statuses[position])
        for report, statuses in UPLOADS
        for position, actor in enumerate(ACTORS)
    ],
)
def test_who_may_upload(world, report, actor, expected):
    response = upload(client_for(world, actor), getattr(world, report))

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert_error(response, expected)
    assert EvidenceFile.objects.count() == (1 if expected == 201 else 0)


def test_a_caller_who_may_not_upload_is_refused_before_the_size_or_type(world):
    who = key_client(world.who_key)
    big = b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024)

    assert_error(upload(who, world.ilo_submitted, content=big), 404)
    assert_error(upload(who, world.ilo_accepted, name="x.exe", content=b"MZ"), 403)


def test_an_upload_retried_with_the_same_idempotency_key_stores_one_file(world):
    ilo = key_client(world.ilo_key)
    sent = [
        ilo.post(
            evidence_url(world.ilo_submitted),
            {"file": SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="evidence-1",
        )
        for _ in range(2)
    ]

    assert [r.status_code for r in sent] == [201, 201]
    assert sent[0].json() == sent[1].json()
    assert sent[1].headers["Idempotent-Replayed"] == "true"
    assert EvidenceFile.objects.count() == 1


# -- Download -------------------------------------------------------------------------------------


def test_another_agency_sees_the_file_only_once_the_report_is_accepted(world):
    ilo, who = key_client(world.ilo_key), key_client(world.who_key)
    url = upload(ilo, world.ilo_submitted).json()["download_url"]

    assert_error(who.get(url), 404)
    assert_error(client_for(world, "delegation").get(url), 404)
    assert client_for(world, "secretariat").get(url).status_code == 200

    followup_accept(report=world.ilo_submitted, by=world.officer)

    # Everyone acting for an organisation reads accepted reports, and so their evidence.
    response = who.get(url)
    assert response.status_code == 200
    assert streamed(response) == PDF
    assert client_for(world, "delegation").get(url).status_code == 200


def test_anonymous_callers_get_401_and_unknown_files_404(world):
    url = upload(key_client(world.ilo_key), world.ilo_submitted).json()["download_url"]

    body = assert_error(client_for(world, "anonymous").get(url), 401)
    assert body["code"] == "not_authenticated"
    assert_error(key_client(world.ilo_key).get("/api/v1/evidence/999999/download/"), 404)


def test_download_ignores_accept_and_is_read_only(world):
    ilo = key_client(world.ilo_key)
    url = upload(ilo, world.ilo_submitted).json()["download_url"]

    assert ilo.get(url, HTTP_ACCEPT="application/pdf").status_code == 200
    assert ilo.post(url, {}).status_code == 405
    assert ilo.delete(url).status_code == 405


def test_a_session_user_downloads_through_the_api(world):
    url = upload(key_client(world.ilo_key), world.ilo_submitted).json()["download_url"]

    response = session_client(world.officer).get(url)

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_a_non_ascii_name_is_given_in_filename_star(world):
    ilo = key_client(world.ilo_key)
    url = upload(ilo, world.ilo_submitted, name="Rapport d'activité.pdf").json()["download_url"]

    disposition = ilo.get(url).headers["Content-Disposition"]

    assert disposition.startswith("attachment;")
    assert "filename*=utf-8''Rapport%20d%27activit%C3%A9.pdf" in disposition


def test_the_schema_documents_upload_and_download(client, db):
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]

    post = paths["/api/v1/follow-ups/{id}/evidence/"]["post"]
    assert set(post["requestBody"]["content"]) == {"multipart/form-data"}
    assert {"201", "400", "401", "403", "404", "413"} <= set(post["responses"])
    get = paths["/api/v1/evidence/{id}/download/"]["get"]
    assert get["responses"]["200"]["content"]["application/pdf"]["schema"] == {
        "type": "string",
        "format": "binary",
    }
    assert set(paths["/api/v1/evidence/{id}/download/"]) == {"get"}


# -- The browser download (session) ---------------------------------------------------------------


def browser_get(user, evidence_id):
    """``recommendations.views.evidence_download`` as a browser with a session calls it."""
    request = RequestFactory().get(f"/evidence/{evidence_id}/download/")
    request.user = user or AnonymousUser()
    return evidence_download(request, pk=evidence_id)


def test_the_browser_download_serves_readers_only(world):
    created = upload(key_client(world.ilo_key), world.ilo_submitted).json()
    ilo_user = RepresentativeFactory(organisation=world.ilo, role=ActingRole.AGENCY).user
    who_user = RepresentativeFactory(organisation=world.who, role=ActingRole.AGENCY).user

    response = browser_get(ilo_user, created["id"])
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="Minutes 2006.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert streamed(response) == PDF
    assert browser_get(world.officer, created["id"]).status_code == 200

    for user in (who_user, world.delegate):
        with pytest.raises(Http404):
            browser_get(user, created["id"])
    with pytest.raises(Http404):
        browser_get(ilo_user, 999999)

    anonymous = browser_get(None, created["id"])
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]

    followup_accept(report=world.ilo_submitted, by=world.officer)
    assert browser_get(who_user, created["id"]).status_code == 200
