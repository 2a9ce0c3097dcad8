from unittest import mock

import pytest
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def _raise(error):
    def raising(*args, **kwargs):
        raise error

    return raising


def test_healthz_reports_ok_when_database_and_broker_answer(db, client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_needs_no_login_and_is_never_cached(db, client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_head(db, client):
    assert client.head("/healthz").status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_healthz_refuses_other_methods(db, client, method):
    assert getattr(client, method)("/healthz").status_code == 405


def test_healthz_is_unavailable_when_the_broker_is_unreachable(db, client, settings):
    settings.CELERY_BROKER_URL = UNREACHABLE_REDIS
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"] != "ok"


def test_healthz_is_unavailable_when_the_filesystem_broker_folders_are_missing(
    db, client, settings, tmp_path
):
    missing = str(tmp_path / "missing")
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": missing,
        "data_folder_out": missing,
        "processed_folder": missing,
        "control_folder": missing,
    }

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["broker"] != "ok"
    assert "does not exist" in response.json()["broker"]


@pytest.mark.parametrize(
    "error",
    [OperationalError("could not connect to server"), RuntimeError("something unexpected")],
)
def test_healthz_is_unavailable_when_the_database_fails(db, client, error):
    connection = connections[DEFAULT_DB_ALIAS]
    with mock.patch.object(connection, "cursor", _raise(error)):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "unavailable"
    assert str(error) in body["database"]
    assert body["broker"] == "ok"


def test_healthz_is_unavailable_when_both_fail(db, client, settings):
    settings.CELERY_BROKER_URL = UNREACHABLE_REDIS
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    connection = connections[DEFAULT_DB_ALIAS]
    with mock.patch.object(connection, "cursor", _raise(OperationalError("down"))):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] != "ok"
    assert body["broker"] != "ok"
