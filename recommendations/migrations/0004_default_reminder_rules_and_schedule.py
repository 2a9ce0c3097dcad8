"""Install the default reminder lead times and the Celery beat schedule.

Both are edited in the admin afterwards; running this again (or on a database that already has
them) changes nothing, so the secretariat's edits are never overwritten.
"""

from django.db import migrations

DEFAULT_RULES = [
    # kind, lead days, on the day, repeat every, escalate after
    ("followup_due", "30,7", True, 7, 2),
    ("event", "14,2", False, None, None),
    ("agenda_changed", "", False, None, None),
    ("round_closing", "7,1", False, None, None),
    ("document_due", "14,3", False, None, None),
]

# name, task, crontab (minute, hour, day of month), description
DEFAULT_SCHEDULE = [
    (
        "Reminder sweep",
        "recommendations.sweep_reminders",
        ("*/15", "*", "*"),
        "Works out from the database which reminders are due, creates each once and sends it; "
        "a sweep that did not run is caught up by the next.",
    ),
    (
        "Follow-up reports (monthly and before dialogue sessions)",
        "recommendations.schedule_reports",
        ("30", "6", "*"),
        "Builds the month's follow-up report once the month has begun, and one before each "
        "Council session that holds a dialogue session.",
    ),
]


def install(apps, schema_editor):
    ReminderRule = apps.get_model("recommendations", "ReminderRule")
    for kind, lead_days, on_the_day, repeat, escalate in DEFAULT_RULES:
        ReminderRule.objects.get_or_create(
            kind=kind,
            defaults={
                "lead_days": lead_days,
                "on_the_day": on_the_day,
                "repeat_every_days": repeat,
                "escalate_after": escalate,
            },
        )
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, (minute, hour, day), description in DEFAULT_SCHEDULE:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day,
            month_of_year="*",
            day_of_week="*",
            timezone="Europe/Zurich",
        )
        PeriodicTask.objects.create(
            name=name, task=task, crontab=crontab, description=description, enabled=True
        )


def uninstall(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in DEFAULT_SCHEDULE]).delete()
    apps.get_model("recommendations", "ReminderRule").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0003_reminders_and_report_runs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
