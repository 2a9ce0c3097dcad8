"""Celery tasks of the recommendations app: thin wrappers that unpack ids and call one service.

Reminders (``reminders.py``) and follow-up report runs (``reporting.py``) keep their rules in
their services; the tasks only find the row and log a one-line summary of scheduled runs.
"""

import logging

from celery import shared_task

from .models import Reminder, ReportRun

logger = logging.getLogger(__name__)


@shared_task(name="recommendations.sweep_reminders")
def sweep_reminders_task() -> dict:
    """Create every reminder due now from the database state, and queue the unsent ones."""
    from .reminders import reminders_sweep

    summary = reminders_sweep()
    logger.info("reminder sweep: %s", summary.line())
    return summary.as_dict()


@shared_task(
    name="recommendations.send_reminder",
    bind=True,
    max_retries=None,
    # A slow mail server cannot keep a reminder "being sent" until the sweep takes it over
    # (reminders.SENDING_STALE_AFTER, 5 minutes): the send is stopped after 3 minutes.
    time_limit=180,
    soft_time_limit=150,
)
def send_reminder_task(self, *, reminder_id: int) -> str:
    """Send one reminder; a temporary failure is retried later, the last one marked failed."""
    from .reminders import ReminderRetry, reminder_send

    reminder = Reminder.objects.filter(pk=reminder_id).first()
    if reminder is None:
        logger.warning("reminder %s is gone; nothing to send", reminder_id)
        return "gone"
    try:
        return reminder_send(reminder=reminder)
    except ReminderRetry as retry:
        raise self.retry(countdown=retry.countdown, exc=retry.error) from retry.error


@shared_task(name="recommendations.notify_agenda_change")
def notify_agenda_change_task(*, version_id: int) -> int:
    """Tell an event's participants what changed in its newly published agenda version."""
    from idm.models import AgendaVersion

    from .event_reminders import agenda_change_notify

    version = AgendaVersion.objects.filter(pk=version_id).first()
    if version is None:
        logger.warning("agenda version %s is gone; no change to notify", version_id)
        return 0
    return agenda_change_notify(version=version)


@shared_task(name="recommendations.schedule_reports")
def schedule_reports_task() -> list[int]:
    """Create the month's report and the reports before upcoming sessions that are not made yet."""
    from .reporting import report_runs_schedule

    runs = report_runs_schedule()
    logger.info(
        "report schedule: %s",
        ", ".join(str(run) for run in runs) if runs else "no report due",
    )
    return [run.pk for run in runs]


@shared_task(name="recommendations.build_report")
def build_report_task(*, run_id: int) -> str:
    """Build one report run's figures and files, then email it to the secretariat's list."""
    from .reporting import report_run_build

    run = ReportRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("report run %s is gone; nothing to build", run_id)
        return "gone"
    run = report_run_build(run=run)
    logger.info(
        "report run %s: %s, %s recommendations", run.pk, run.state, run.recommendation_count
    )
    return run.state
