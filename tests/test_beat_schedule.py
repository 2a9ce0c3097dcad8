"""The beat schedule and the reminder lead times: installed by a migration, edited in the admin.

Beat runs with django-celery-beat's DatabaseScheduler: what it runs is the PeriodicTask rows the
data migration ``recommendations/0004`` installs, and the secretariat changes them in the admin.
django-celery-results shows each run next to them.
"""

import datetime
import zoneinfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler
from django_celery_results.models import TaskResult

from config.celery import app as celery_app
from recommendations.models import ReminderRule
from tests.test_celery_worker import DATA_MIGRATION, install_migrated_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def after_migrate():
    """The rows as migrate left them.

    A transactional test that ran before in this process emptied the tables; the data
    migration's function then installs them again (it leaves rows that are there untouched).
    """
    install_migrated_rows()


ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")
SWEEP = "Reminder sweep"
REPORTS = "Follow-up reports (monthly and before dialogue sessions)"
# 06:10 in Zurich: beat's DatabaseScheduler loads only crontabs due within a couple of hours.
MONDAY_MORNING = datetime.datetime(2026, 3, 2, 6, 10, tzinfo=ZURICH)


def registered_tasks() -> set[str]:
    """The task names a worker knows, after the autodiscovery a worker does at start-up."""
    celery_app.loader.import_default_modules()
    return set(celery_app.tasks)


def beat_schedule_at(moment: datetime.datetime) -> dict:
    """What beat's DatabaseScheduler reads from the database at ``moment``: name -> entry."""
    with time_machine.travel(moment, tick=False):
        return DatabaseScheduler(app=celery_app, lazy=True).all_as_schedule()


def test_the_data_migration_is_applied_by_migrate():
    applied = MigrationRecorder(connection).applied_migrations()
    app_label, name = "recommendations", DATA_MIGRATION.rsplit(".", 1)[1]
    migration = MigrationLoader(connection).get_migration(app_label, name)

    assert (app_label, name) in applied
    assert [type(operation).__name__ for operation in migration.operations] == ["RunPython"]


def test_the_migration_installs_the_schedule_beat_runs(after_migrate):
    tasks = {
        task.name: (
            task.task,
            task.enabled,
            task.crontab.minute,
            task.crontab.hour,
            str(task.crontab.timezone),
        )
        for task in PeriodicTask.objects.select_related("crontab")
    }

    assert tasks[SWEEP] == ("recommendations.sweep_reminders", True, "*/15", "*", "Europe/Zurich")
    assert tasks[REPORTS] == ("recommendations.schedule_reports", True, "30", "6", "Europe/Zurich")
    # A typo in a task name would only show as "unregistered task" in the worker's log.
    assert {task for task, *_ in tasks.values()} - registered_tasks() == set()
    # Beat reads them: at 06:10 the sweep is next due at 06:15 and the reports at 06:30.
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    with time_machine.travel(MONDAY_MORNING, tick=False):
        schedule = DatabaseScheduler(app=celery_app, lazy=True).all_as_schedule()
        sweep, reports = schedule[SWEEP], schedule[REPORTS]
        assert (sweep.task, reports.task) == (
            "recommendations.sweep_reminders",
            "recommendations.schedule_reports",
        )
        assert sweep.schedule.remaining_estimate(MONDAY_MORNING).total_seconds() == 5 * 60
        assert reports.schedule.remaining_estimate(MONDAY_MORNING).total_seconds() == 20 * 60


def test_the_migration_installs_the_default_reminder_rules(after_migrate):
    rules = {
        rule.kind: (
            rule.enabled,
            rule.lead_days_list,
            rule.on_the_day,
            rule.repeat_every_days,
            rule.escalate_after,
        )
        for rule in ReminderRule.objects.all()
    }

    assert rules["followup_due"] == (True, [30, 7], True, 7, 2)
    assert rules["event"] == (True, [14, 2], False, None, None)
    assert rules["round_closing"] == (True, [7, 1], False, None, None)
    assert rules["document_due"] == (True, [14, 3], False, None, None)


def test_the_project_tasks_are_registered_under_their_names():
    assert {
        "recommendations.sweep_reminders",
        "recommendations.send_reminder",
        "recommendations.schedule_reports",
        "recommendations.build_report",
        "recommendations.notify_agenda_change",
        "workshops.notify_proposal_decision",
    } <= registered_tasks()


def periodic_task(name: str, task: str, minute: str, hour: str = "*") -> PeriodicTask:
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month="*",
        month_of_year="*",
        day_of_week="*",
        timezone="Europe/Zurich",
    )
    return PeriodicTask.objects.update_or_create(
        name=name, defaults={"task": task, "crontab": crontab, "enabled": True}
    )[0]


def test_a_task_disabled_in_the_admin_is_no_longer_run_by_beat(admin_client):
    sweep = periodic_task(SWEEP, "recommendations.sweep_reminders", "*/15")
    periodic_task(REPORTS, "recommendations.schedule_reports", "30", "6")

    response = admin_client.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": "disable_tasks", "_selected_action": [sweep.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert PeriodicTask.objects.get(pk=sweep.pk).enabled is False
    schedule = beat_schedule_at(MONDAY_MORNING)
    assert SWEEP not in schedule
    assert REPORTS in schedule


def test_the_schedule_and_the_last_runs_show_in_the_admin(admin_client):
    sweep = periodic_task(SWEEP, "recommendations.sweep_reminders", "*/15")
    periodic_task(REPORTS, "recommendations.schedule_reports", "30", "6")
    run = TaskResult.objects.create(
        task_id="5b0e2f1c-0000-4000-8000-000000000001",
        task_name="recommendations.sweep_reminders",
        status="SUCCESS",
        result='{"planned": 0}',
    )
    pages = [
        reverse("admin:django_celery_beat_periodictask_changelist"),
        reverse("admin:django_celery_beat_periodictask_change", args=[sweep.pk]),
        reverse("admin:django_celery_beat_crontabschedule_changelist"),
        reverse("admin:django_celery_results_taskresult_changelist"),
        reverse("admin:django_celery_results_taskresult_change", args=[run.pk]),
        reverse("admin:django_celery_results_groupresult_changelist"),
    ]

    statuses = {page: admin_client.get(page).status_code for page in pages}

    assert statuses == dict.fromkeys(pages, 200)
    listing = admin_client.get(pages[0]).content.decode()
    assert SWEEP in listing
    assert REPORTS in listing
    assert "recommendations.sweep_reminders" in admin_client.get(pages[3]).content.decode()
