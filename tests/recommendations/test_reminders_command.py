"""``manage.py send_reminders``: the sweep, sending at once; --dry-run lists and writes nothing."""

import datetime as dt
import io
import subprocess
import sys
import zoneinfo

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from recommendations.enums import ReminderKind, ReminderState
from recommendations.models import Reminder, ReminderItem, ReminderRule
from tests.factories.reminders import (
    FocalPointFactory,
    HeadOfOfficeFactory,
    OpenAssignmentFactory,
    ReminderFactory,
)
from tests.factories.stakeholders import OrganisationFactory

pytestmark = pytest.mark.django_db

ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")
DUE = dt.date(2026, 12, 31)


@pytest.fixture(autouse=True)
def setup(settings, time_machine):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SECRETARIAT_EMAILS = ["idm-secretariat@example.org"]
    ReminderRule.objects.exclude(kind=ReminderKind.FOLLOWUP_DUE).update(enabled=False)
    time_machine.move_to(dt.datetime(2026, 12, 1, 9, 30, tzinfo=ZURICH), tick=False)


def unhcr():
    organisation = OrganisationFactory(acronym="UNHCR", name="UNHCR")
    FocalPointFactory(organisation=organisation, email="focal@unhcr.example.org")
    HeadOfOfficeFactory(organisation=organisation, email="head@unhcr.example.org")
    return organisation


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("send_reminders", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dry_run_lists_what_would_be_sent_and_writes_nothing():
    organisation = unhcr()
    OpenAssignmentFactory(organisation=organisation, due_date=dt.date(2026, 12, 10))

    out, _ = run("--dry-run", "--date", "2026-12-31")

    lines = out.splitlines()
    assert lines[0].split() == ["kind", "recipient", "occurrence", "to", "cc"]
    assert lines[1].split() == [
        "followup_due",
        f"organisation:{organisation.pk}",
        "2026-12-31",
        "focal@unhcr.example.org",
        "head@unhcr.example.org,",
        "idm-secretariat@example.org",
    ]
    assert "(dry run): would make 1 reminder(s) (followup_due 1)" in lines[-1]
    assert (Reminder.objects.count(), ReminderItem.objects.count(), len(mail.outbox)) == (0, 0, 0)


def test_dry_run_with_nothing_due_says_so():
    out, _ = run("--dry-run")

    assert out.splitlines()[0] == "Nothing new to send."


def test_without_dry_run_the_reminders_are_made_and_sent_at_once():
    OpenAssignmentFactory(organisation=unhcr(), due_date=DUE)
    waiting = ReminderFactory()
    Reminder.objects.filter(pk=waiting.pk).update(
        created_at=dt.datetime(2026, 11, 30, 9, 0, tzinfo=ZURICH)
    )

    out, _ = run()  # 30 days before the due date

    assert len(mail.outbox) == 2  # the new digest and the one left waiting
    assert set(Reminder.objects.values_list("state", flat=True)) == {ReminderState.SENT}
    assert "made 1 reminder(s) (followup_due 1), 1 follow-up line(s)" in out
    assert "sending: 2 sent" in out

    out, _ = run()  # again: nothing new
    assert len(mail.outbox) == 2
    assert "made 0 reminder(s)" in out


def test_a_refused_send_is_reported_and_left_for_the_retry(settings):
    settings.EMAIL_BACKEND = "tests.recommendations.test_reminders.FailingBackend"
    OpenAssignmentFactory(organisation=unhcr(), due_date=DUE)

    out, err = run()

    assert "not sent: " in err and "tried again by the sweep in 2 min" in err
    assert "sending: 1 to retry" in out
    reminder = Reminder.objects.get()
    assert (reminder.state, reminder.attempts) == (ReminderState.PENDING, 1)


@pytest.mark.parametrize("value", ["2026-13-01", "tomorrow", "31.12.2026", ""])
def test_a_bad_date_is_refused_in_one_line(value):
    with pytest.raises(CommandError) as refused:
        run("--date", value)

    assert str(refused.value) == (
        f"--date: “{value}” is not a date; give it as YYYY-MM-DD, e.g. 2026-11-23."
    )
    assert "\n" not in str(refused.value)
    assert Reminder.objects.count() == 0


def test_a_bad_date_exits_non_zero_from_the_shell():
    result = subprocess.run(
        [sys.executable, "manage.py", "send_reminders", "--dry-run", "--date", "2026-02-30"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "CommandError: --date: “2026-02-30” is not a date; give it as YYYY-MM-DD, e.g. 2026-11-23."
    ]
