"""The broker is down: web requests still succeed, the failure is logged, the sweep catches up.

The secretariat records a decision in the admin while nothing listens on the broker's port. The
page answers at once (the publish retry policy in settings gives up after a fraction of a
second), the decision is saved, ``config.queue`` logs the task it could not queue. When the
broker is back, the next reminder sweep (Celery beat, every 15 minutes) finds the decision never
emailed and queues the email again; a real worker sends it.
"""

import datetime
import logging
import socket
import time

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from config.queue import publish
from stakeholders.enums import ActingRole, OrganisationKind
from tests.factories.idm import MeetingFactory
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory, UserFactory
from tests.factories.workshops import ProposalRoundFactory, ThemeProposalFactory
from tests.test_celery_worker import (
    celery_app_on,
    filesystem_transport_options,
    install_migrated_rows,
    recording_published,
    result_of,
    running_worker,
    worker_db,
)
from workshops.enums import ProposalState
from workshops.models import ThemeProposal


@pytest.fixture(scope="module", autouse=True)
def _migrated_rows_left_in_place(django_db_setup, django_db_blocker):
    """After this module's flushes, the next module in this process finds the migration's rows."""
    yield
    with django_db_blocker.unblock():
        install_migrated_rows()


# A request that queues a task may take this long with the broker down (it takes well under 1 s;
# the bound leaves room for a loaded machine, and is far below a connection timeout's wait).
REQUEST_BOUND = 3.0


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker_down():
    with celery_app_on(f"redis://127.0.0.1:{closed_port()}/0", {"visibility_timeout": 3600}) as app:
        yield app


def days(n: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=n)


@pytest.fixture
def proposal():
    """A submitted proposal in a closed round, of a delegation with a login that has an email."""
    delegation = OrganisationFactory(name="Delegation A", kind=OrganisationKind.MEMBER_STATE)
    RepresentativeFactory(
        organisation=delegation,
        role=ActingRole.DELEGATION,
        user=UserFactory(email="delegate-a@example.org"),
    )
    round_ = ProposalRoundFactory(
        title="Topics for the 2030 workshops",
        target_year=2030,
        opens_at=days(-14),
        closes_at=days(-1),
        decision_meeting=MeetingFactory(title="Informal consultations 2030"),
    )
    return ThemeProposalFactory(
        round=round_,
        kind=round_.kind,
        target_year=2030,
        title="Diaspora and development",
        proposing_organisation=delegation,
        state=ProposalState.SUBMITTED,
    )


@pytest.fixture
def published():
    with recording_published() as ids:
        yield ids


def decide_in_the_admin(client, proposal):
    return client.post(
        reverse("admin:workshops_themeproposal_changelist"),
        {"action": "decide_selected", "_selected_action": [proposal.pk], "apply": "1"},
        follow=True,
    )


def test_publishing_gives_up_within_a_second():
    # The settings' policy: two quick retries, then the web request carries on.
    policy = settings.CELERY_TASK_PUBLISH_RETRY_POLICY
    waits = [
        min(policy["interval_start"] + step * policy["interval_step"], policy["interval_max"])
        for step in range(policy["max_retries"])
    ]

    assert settings.CELERY_TASK_PUBLISH_RETRY is True
    assert sum(waits) < 1
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT <= 5


def test_publish_reports_a_broker_that_is_down_instead_of_raising(broker_down, caplog):
    from workshops.tasks import notify_proposal_decision_task

    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="idm.queue"):
        queued = publish(notify_proposal_decision_task, proposal_id=42)

    assert queued is False
    assert time.monotonic() - started < REQUEST_BOUND
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "could not queue workshops.notify_proposal_decision(proposal_id=42)"
    ]


@worker_db
def test_a_decision_made_while_the_broker_is_down_is_saved_and_mailed_later(
    broker_down, proposal, admin_client, caplog, tmp_path, published
):
    install_migrated_rows()  # the reminder rules the sweep reads, as after migrate
    with caplog.at_level(logging.ERROR, logger="idm.queue"):
        started = time.monotonic()
        response = decide_in_the_admin(admin_client, proposal)
        elapsed = time.monotonic() - started

    # The secretariat sees its decision recorded, without waiting on the broker.
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "“Diaspora and development”: selected recorded."
    ]
    assert elapsed < REQUEST_BOUND
    decided = ThemeProposal.objects.get(pk=proposal.pk)
    assert decided.state == ProposalState.SELECTED
    assert decided.decision_notified_at is None
    # The failure is in the log, with what was not queued.
    failures = [r for r in caplog.records if r.name == "idm.queue"]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert (
        f"could not queue workshops.notify_proposal_decision(proposal_id={proposal.pk})"
        in failures[0].getMessage()
    )
    assert mail.outbox == []

    pytest.importorskip("recommendations.reminders")
    from recommendations.tasks import sweep_reminders_task

    # Twenty minutes later the broker is back; beat's next sweep finds the decision not emailed.
    later = timezone.now() + datetime.timedelta(minutes=20)
    with (
        time_machine.travel(later, tick=True),
        celery_app_on("filesystem://", filesystem_transport_options(tmp_path)) as app,
        running_worker(app),
    ):
        published.clear()
        sweep = sweep_reminders_task.apply_async()
        summary = result_of(sweep.id)
        assert summary["decisions"] == [proposal.pk]
        assert [name for name, _ in published] == [
            "recommendations.sweep_reminders",
            "workshops.notify_proposal_decision",
        ]
        assert result_of(published[1][1]) == 1

    assert ThemeProposal.objects.get(pk=proposal.pk).decision_notified_at is not None
    assert [message.to for message in mail.outbox] == [["delegate-a@example.org"]]
    assert mail.outbox[0].subject == "Decision on “Diaspora and development”: selected"


def test_publish_reports_an_embedded_broker_that_cannot_write(tmp_path, caplog):
    from workshops.tasks import notify_proposal_decision_task

    options = filesystem_transport_options(tmp_path)
    options["data_folder_out"] = str(tmp_path / "removed")  # not there: the write fails
    with (
        celery_app_on("filesystem://", options),
        caplog.at_level(logging.ERROR, logger="idm.queue"),
    ):
        queued = publish(notify_proposal_decision_task, proposal_id=42)

    assert queued is False
    assert "could not queue workshops.notify_proposal_decision" in caplog.text
