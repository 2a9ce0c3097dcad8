"""The web front stays up when the cache, the broker or the database are briefly away."""

import logging

import pytest
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError

from config import queue
from config.throttling import ApiRateThrottle
from tests.factories.stakeholders import UserFactory

pytestmark = pytest.mark.django_db


def test_the_api_serves_without_rate_limit_while_the_cache_is_unreachable(
    client, monkeypatch, caplog
):
    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(ApiRateThrottle.cache, "get", unreachable)
    caplog.set_level(logging.WARNING, logger="idm.throttling")

    response = client.get("/api/v1/meetings/")

    assert response.status_code == 200
    assert "rate limit not applied, the cache is unreachable" in caplog.text


class _Task:
    name = "tests.example"

    def __init__(self, app, fail: bool):
        self.app, self.fail, self.calls = app, fail, 0

    def delay(self, **kwargs):
        self.calls += 1
        if self.fail:
            raise BrokerError("Error 111 connecting to localhost:6379. Connection refused.")


@pytest.fixture
def fresh_breaker():
    queue.broker_pause_reset()
    yield
    queue.broker_pause_reset()


def test_after_a_failed_publish_the_broker_is_left_alone_for_a_moment(fresh_breaker, caplog):
    from config.celery import app

    down = _Task(app, fail=True)
    assert queue.publish(down, reminder_id=1) is False
    assert queue.publish(down, reminder_id=2) is False
    assert queue.publish(down, reminder_id=3) is False

    assert down.calls == 1  # the two after it did not wait on the broker again
    assert "not queued tests.example(reminder_id=3)" in caplog.text

    queue.broker_pause_reset()
    up = _Task(app, fail=False)
    assert queue.publish(up, reminder_id=4) is True
    assert up.calls == 1


def _database_down(*args, **kwargs):
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")


def test_an_unreachable_database_answers_503_with_retry_after_in_the_api(client, monkeypatch):
    from idm.api.views import MeetingViewSet

    monkeypatch.setattr(MeetingViewSet, "get_events", _database_down)

    response = client.get("/api/v1/meetings/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "database_unavailable"


def test_an_unreachable_database_answers_503_on_a_page(client, monkeypatch):
    user = UserFactory()
    client.force_login(user)
    monkeypatch.setattr("idm.views.dialogues_with_events", _database_down)

    response = client.get("/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "retry in a few seconds" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "updated_since=2064-11-23T15%3A33%3A22%2B22%3A48",
        "organisation=%00x",
        "search=a%00b",
    ],
)
def test_input_no_database_can_store_is_a_400_not_a_500(client, query):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get(f"/api/v1/recommendations/?{query}")

    assert response.status_code == 400
    assert response.json()["status"] == 400
