"""Tasks run by a real Celery worker: on Redis (production) and on the embedded filesystem broker.

The worker is celery.contrib.testing's embedded worker: the project's own app, its own consumer,
a thread of this process. The web side queues tasks as the code does (``config.queue``, after
commit), so these tests prove the whole path: commit, publish, broker, worker, service, result
stored by django-celery-results. ``.ci/run`` starts a throw-away ``redis-server`` and sets
REDIS_URL; without it the Redis tests are skipped, the embedded-broker ones still run.
"""

import datetime
import importlib
import os
import threading
import uuid
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from celery import signals
from celery.contrib.testing.worker import start_worker
from django.apps import apps as django_apps
from django.core import mail
from django.db import connections, transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from config.celery import app as celery_app
from recommendations.enums import RecommendationState
from stakeholders.enums import ActingRole, OrganisationKind
from tests.factories.idm import MeetingFactory
from tests.factories.recommendations import AssignmentFactory, RecommendationFactory
from tests.factories.stakeholders import (
    OrganisationFactory,
    PersonFactory,
    RepresentativeFactory,
    UserFactory,
)
from tests.factories.workshops import ProposalRoundFactory, ThemeProposalFactory
from workshops.enums import ProposalState
from workshops.models import ThemeProposal
from workshops.services import proposal_decide

# The worker is another thread with its own database connection: the test data must be
# committed, so these tests are transactional (the database is emptied after each).
worker_db = pytest.mark.django_db(transaction=True)

DATA_MIGRATION = "recommendations.migrations.0004_default_reminder_rules_and_schedule"


def install_migrated_rows() -> None:
    """What the data migration installs: the default reminder rules and the beat schedule.

    The flush after a transactional test empties every table, these rows with the rest; this
    runs the migration's own function again. Rows that are there are left as they are.
    """
    importlib.import_module(DATA_MIGRATION).install(django_apps, None)


@pytest.fixture
def migrated_rows():
    install_migrated_rows()


@pytest.fixture(scope="module", autouse=True)
def _migrated_rows_left_in_place(django_db_setup, django_db_blocker):
    """After this module's flushes, the next module in this process finds the migration's rows."""
    yield
    with django_db_blocker.unblock():
        install_migrated_rows()


# How long a test waits for the worker before failing (it normally answers in well under 1 s).
WAIT = 20

# What the helpers below change on the app, restored after each use.
_SWAPPED_SETTINGS = ("broker_url", "broker_transport_options", "worker_hijack_root_logger")


def _drop_broker_connections(app) -> None:
    """Forget the app's cached connection and producer pools (they hold the old broker)."""
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@contextmanager
def celery_app_on(broker_url: str, transport_options: dict | None = None):
    """The project's Celery app talking to ``broker_url`` for the block; restored afterwards.

    Celery reads CELERY_BROKER_URL from the environment before its configuration: a developer's
    shell that sets it must not redirect the test.
    """
    app = celery_app
    app.finalize()
    saved = {name: app.conf[name] for name in _SWAPPED_SETTINGS}
    saved_environment = os.environ.pop("CELERY_BROKER_URL", None)
    _drop_broker_connections(app)
    app.conf.update(
        broker_url=broker_url,
        broker_transport_options=transport_options or {},
        # The embedded worker sets up logging: leave pytest's handlers (caplog) in place.
        worker_hijack_root_logger=False,
    )
    try:
        yield app
    finally:
        _drop_broker_connections(app)
        app.conf.update(saved)
        if saved_environment is not None:
            os.environ["CELERY_BROKER_URL"] = saved_environment


def _close_worker_connections(**_kwargs) -> None:
    # A real worker closes its database connections after each task (Celery's Django fix-up);
    # the embedded one does not install it, and PostgreSQL would keep the test database busy.
    connections.close_all()


class FinishedTasks:
    """The tasks the embedded worker has finished (result stored), as its signals report them."""

    def __init__(self):
        self._condition = threading.Condition()
        self._finished: dict[str, tuple[str, object]] = {}

    def record(self, task_id=None, state=None, retval=None, **_kwargs) -> None:
        with self._condition:
            self._finished[task_id] = (state, retval)
            self._condition.notify_all()

    def wait(self, task_id: str, timeout: float = WAIT) -> tuple[str, object]:
        with self._condition:
            if not self._condition.wait_for(lambda: task_id in self._finished, timeout):
                raise AssertionError(f"the worker did not finish task {task_id} in {timeout} s")
            return self._finished[task_id]


finished = FinishedTasks()


@contextmanager
def running_worker(app):
    """A real worker consuming the app's broker in a thread of this process, for the block."""
    # task_postrun comes after the result is stored (django-celery-results).
    signals.task_postrun.connect(finished.record, weak=False)
    signals.task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=WAIT, loglevel="WARNING"
        ) as worker:
            yield worker
    finally:
        signals.task_postrun.disconnect(_close_worker_connections)
        signals.task_postrun.disconnect(finished.record)


def redis_transport_options() -> dict:
    """Keys of their own: parallel test processes on one Redis never take each other's tasks."""
    return {"visibility_timeout": 3600, "global_keyprefix": f"idm-test-{uuid.uuid4().hex}:"}


def filesystem_transport_options(folder) -> dict:
    """kombu's filesystem transport in ``folder``, laid out as the settings lay out var/broker."""
    paths = {name: folder / name for name in ("queue", "processed", "control")}
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(paths["queue"]),
        "data_folder_out": str(paths["queue"]),
        "processed_folder": str(paths["processed"]),
        "control_folder": str(paths["control"]),
        "store_processed": False,
        # The worker looks at the folder every 0.1 s instead of every second: a faster test.
        "polling_interval": 0.1,
    }


def redis_url_or_skip() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.skip("REDIS_URL is not set: start redis-server and export REDIS_URL (.ci/run does)")
    return url


@pytest.fixture(params=["redis", "filesystem"])
def broker(request, tmp_path):
    """The project's Celery app on Redis, then on the embedded (filesystem) broker."""
    if request.param == "redis":
        url, options = redis_url_or_skip(), redis_transport_options()
    else:
        url, options = "filesystem://", filesystem_transport_options(tmp_path / "broker")
    with celery_app_on(url, options) as app:
        yield app


@pytest.fixture
def filesystem_broker(tmp_path):
    """The project's Celery app on the embedded broker, in a folder of the test's own."""
    with celery_app_on("filesystem://", filesystem_transport_options(tmp_path / "broker")) as app:
        yield app


@contextmanager
def recording_published():
    """A list that receives (task name, task id) of every task published in the block."""
    ids: list[tuple[str, str]] = []

    def record(sender=None, headers=None, **_kwargs):
        ids.append((headers["task"], headers["id"]))

    signals.after_task_publish.connect(record, weak=False)
    try:
        yield ids
    finally:
        signals.after_task_publish.disconnect(record)


@pytest.fixture
def published():
    """The tasks published during the test, in order: (name, id)."""
    with recording_published() as ids:
        yield ids


def result_of(task_id: str):
    """The task's return value, once the worker has run it and stored its result.

    Waits on the worker's signal, not on the result in the database: SQLite's in-memory test
    database locks a table against the other thread while one writes to it, so the test reads
    the database only while the worker is idle or stopped.
    """
    state, value = finished.wait(task_id)
    assert state == "SUCCESS", f"task {task_id} ended {state}: {value!r}"
    return value


def days(n: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=n)


@pytest.fixture
def decision_world():
    """A closed round with one submitted proposal of a delegation that has a login."""
    delegation = OrganisationFactory(name="Delegation A", kind=OrganisationKind.MEMBER_STATE)
    delegate = RepresentativeFactory(
        organisation=delegation,
        role=ActingRole.DELEGATION,
        user=UserFactory(email="delegate-a@example.org"),
    ).user
    secretariat = RepresentativeFactory(
        organisation=OrganisationFactory(name="IOM Administration"),
        role=ActingRole.SECRETARIAT,
        user=UserFactory(is_staff=True),
    ).user
    round_ = ProposalRoundFactory(
        title="Topics for the 2030 workshops",
        target_year=2030,
        opens_at=days(-14),
        closes_at=days(-1),
        decision_meeting=MeetingFactory(title="Informal consultations 2030"),
    )
    proposal = ThemeProposalFactory(
        round=round_,
        kind=round_.kind,
        target_year=2030,
        title="Diaspora and development",
        proposing_organisation=delegation,
        state=ProposalState.SUBMITTED,
    )
    return SimpleNamespace(proposal=proposal, delegate=delegate, secretariat=secretariat)


# --- The decision email, queued after commit and sent by the worker ----------------------------


@worker_db
def test_a_committed_decision_is_mailed_by_the_worker(broker, decision_world, published):
    with running_worker(broker):
        proposal_decide(
            proposal=decision_world.proposal,
            outcome=ProposalState.SELECTED,
            by=decision_world.secretariat,
        )

        assert [name for name, _ in published] == ["workshops.notify_proposal_decision"]
        task_id = published[0][1]
        assert result_of(task_id) == 1

    assert [message.to for message in mail.outbox] == [["delegate-a@example.org"]]
    assert mail.outbox[0].subject == "Decision on “Diaspora and development”: selected"
    proposal = ThemeProposal.objects.get(pk=decision_world.proposal.pk)
    assert proposal.decision_notified_at is not None
    # django-celery-results keeps the run for the admin: name, arguments, outcome.
    run = TaskResult.objects.get(task_id=task_id)
    assert run.status == "SUCCESS"
    assert run.task_name == "workshops.notify_proposal_decision"
    assert str(decision_world.proposal.pk) in run.task_kwargs
    assert run.result == "1"


@pytest.mark.django_db
def test_a_decision_rolled_back_queues_nothing(
    decision_world, published, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        proposal_decide(
            proposal=decision_world.proposal,
            outcome=ProposalState.SELECTED,
            by=decision_world.secretariat,
        )
        raise RuntimeError("the request failed after the decision")

    assert callbacks == []
    assert published == []
    assert ThemeProposal.objects.get(pk=decision_world.proposal.pk).state == (
        ProposalState.SUBMITTED
    )


@worker_db
def test_a_task_delivered_twice_mails_once(filesystem_broker, decision_world, published):
    # What a redelivery after a lost worker amounts to: the same task, twice.
    from workshops.tasks import notify_proposal_decision_task

    proposal_decide(
        proposal=decision_world.proposal,
        outcome=ProposalState.SELECTED,
        by=decision_world.secretariat,
    )
    notify_proposal_decision_task.apply_async(kwargs={"proposal_id": decision_world.proposal.pk})

    with running_worker(filesystem_broker):
        results = sorted(result_of(task_id) for _, task_id in published)

    assert results == [0, 1]
    assert len(mail.outbox) == 1


# --- The reminder sweep, run by beat's task through the worker --------------------------------


@pytest.fixture
def overdue_world():
    """An agency with a focal point and two assignments: one a week overdue, one due later."""
    agency = OrganisationFactory(name="Agency A", kind=OrganisationKind.UN_AGENCY)
    PersonFactory(organisation=agency, email="focal@agency-a.example.org", is_focal_point=True)
    today = timezone.localdate()
    overdue = AssignmentFactory(
        recommendation=RecommendationFactory(state=RecommendationState.ADOPTED),
        organisation=agency,
        due_date=today - datetime.timedelta(days=7),
    )
    AssignmentFactory(
        recommendation=RecommendationFactory(state=RecommendationState.ADOPTED),
        organisation=agency,
        due_date=today + datetime.timedelta(days=100),
    )
    return SimpleNamespace(agency=agency, overdue=overdue)


def _run_sweep(app, published) -> list[str]:
    """Queue the sweep as beat does and wait for it and for every send it queues."""
    from recommendations.tasks import sweep_reminders_task

    published.clear()
    sweep_reminders_task.apply_async()
    with running_worker(app):
        result_of(published[0][1])
        sends = [task_id for name, task_id in published if name == "recommendations.send_reminder"]
        for task_id in sends:
            result_of(task_id)
    return [task_id for _, task_id in published]


@worker_db
def test_the_sweep_run_by_the_worker_mails_one_digest_for_an_overdue_assignment(
    broker, migrated_rows, overdue_world, published
):
    pytest.importorskip("recommendations.reminders")
    from recommendations.models import Reminder, ReminderItem

    task_ids = _run_sweep(broker, published)

    assert [message.to for message in mail.outbox] == [["focal@agency-a.example.org"]]
    assert overdue_world.overdue.recommendation.reference in mail.outbox[0].body
    reminder = Reminder.objects.get()
    assert reminder.organisation == overdue_world.agency
    assert reminder.state == "sent"
    assert list(ReminderItem.objects.values_list("assignment_id", "occurrence")) == [
        (overdue_world.overdue.pk, "overdue-1")
    ]
    # Both runs are in django-celery-results: the sweep and the one send it queued.
    runs = TaskResult.objects.filter(task_id__in=task_ids).order_by("date_created")
    assert [(run.task_name, run.status) for run in runs] == [
        ("recommendations.sweep_reminders", "SUCCESS"),
        ("recommendations.send_reminder", "SUCCESS"),
    ]

    # Beat runs the sweep every 15 minutes: the next run finds everything sent.
    mail.outbox.clear()
    task_ids = _run_sweep(broker, published)

    assert mail.outbox == []
    assert Reminder.objects.count() == 1
    assert [name for name, _ in published] == ["recommendations.sweep_reminders"]


# --- A worker lost mid-task -------------------------------------------------------------------


def test_a_task_is_acknowledged_only_once_it_has_finished():
    conf = celery_app.conf

    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    # One task at a time per process: a lost worker takes at most that one back to the queue.
    assert conf.worker_prefetch_multiplier == 1
