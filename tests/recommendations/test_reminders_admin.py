"""The reminders admin: rules edited with their history; reminders read, sent and retried."""

import datetime as dt
import zoneinfo

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from config import queue
from recommendations import tasks
from recommendations.enums import ReminderKind, ReminderState
from recommendations.models import Reminder, ReminderRule
from recommendations.reminders import REMINDER_MAX_ATTEMPTS
from stakeholders.enums import ActingRole
from stakeholders.services import representative_login_ensure
from tests.factories.reminders import ReminderFactory, ReminderItemFactory
from tests.factories.stakeholders import OrganisationFactory

pytestmark = pytest.mark.django_db

ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")


@pytest.fixture(autouse=True)
def setup(settings, time_machine):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    time_machine.move_to(dt.datetime(2026, 12, 1, 9, 30, tzinfo=ZURICH), tick=False)


@pytest.fixture
def officer(client):
    """A secretariat officer as the demo creates one: staff, Secretariat group, no superuser."""
    user = representative_login_ensure(
        username="officer",
        password="unused",
        organisation=OrganisationFactory(acronym="IOM"),
        role=ActingRole.SECRETARIAT,
    ).user
    client.force_login(user)
    return client


@pytest.fixture
def queued(monkeypatch):
    """The broker: the ids of the reminders whose sending was published."""
    ids = []

    def publish(task, **kwargs):
        assert task is tasks.send_reminder_task
        ids.append(kwargs["reminder_id"])
        return True

    monkeypatch.setattr(queue, "publish", publish)
    return ids


def url(model, view, *args):
    return reverse(f"admin:recommendations_{model._meta.model_name}_{view}", args=args)


def run_action(client, action, objects):
    return client.post(
        url(Reminder, "changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects], "index": 0},
        follow=True,
    )


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


# --- Rules ---------------------------------------------------------------------------------------


def test_a_rule_is_edited_with_its_lead_days_normalised_and_kept_in_its_history(officer):
    rule = ReminderRule.objects.get(kind=ReminderKind.FOLLOWUP_DUE)

    response = officer.post(
        url(ReminderRule, "change", rule.pk),
        {
            "enabled": "on",
            "lead_days": "7, 45 30",
            "on_the_day": "on",
            "repeat_every_days": "14",
            "escalate_after": "3",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert (rule.lead_days, rule.repeat_every_days, rule.escalate_after) == ("45,30,7", 14, 3)
    assert rule.history.first().lead_days == "45,30,7"
    assert officer.get(url(ReminderRule, "history", rule.pk)).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lead_days", "30,seven", "Give whole numbers of days separated by commas, e.g. 30,7."),
        ("lead_days", "0,7", "0 days before is the day itself"),
        ("repeat_every_days", "0", "Repeat at most once a day (1 or more days)."),
        ("escalate_after", "0", "Escalate after at least one overdue reminder."),
    ],
)
def test_a_bad_rule_is_refused_with_a_form_error(officer, field, value, message):
    rule = ReminderRule.objects.get(kind=ReminderKind.FOLLOWUP_DUE)
    data = {"enabled": "on", "lead_days": "30,7", "on_the_day": "on", "repeat_every_days": "7"}

    response = officer.post(url(ReminderRule, "change", rule.pk), {**data, field: value})

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors)
    rule.refresh_from_db()
    assert (rule.lead_days, rule.repeat_every_days) == ("30,7", 7)


def test_rules_are_not_deleted_and_the_kind_is_fixed(officer, rf):
    rule = ReminderRule.objects.get(kind=ReminderKind.EVENT)
    model_admin = admin.site.get_model_admin(ReminderRule)
    request = rf.get("/")
    request.user = officer.get(url(ReminderRule, "changelist")).wsgi_request.user

    assert not model_admin.has_delete_permission(request, rule)
    assert not model_admin.has_add_permission(request)  # every kind has its rule
    assert "kind" in model_admin.get_readonly_fields(request, rule)


# --- Reminders -----------------------------------------------------------------------------------


def test_the_reminder_list_filters_and_searches_by_recipient(officer):
    unhcr = OrganisationFactory(acronym="UNHCR", name="UN Refugee Agency")
    mine = ReminderFactory(organisation=unhcr, to_emails=["desk@unhcr.example.org"])
    other = ReminderFactory(state=ReminderState.FAILED, to_emails=["x@ilo.example.org"])
    for _ in range(3):
        ReminderItemFactory(reminder=mine)

    by_address = officer.get(url(Reminder, "changelist"), {"q": "desk@unhcr"})
    by_name = officer.get(url(Reminder, "changelist"), {"q": "UNHCR"})
    failed = officer.get(url(Reminder, "changelist"), {"state__exact": "failed"})

    assert list(by_address.context["cl"].result_list) == [mine]
    assert list(by_name.context["cl"].result_list) == [mine]
    assert list(failed.context["cl"].result_list) == [other]
    assert by_address.status_code == by_name.status_code == failed.status_code == 200


def test_a_reminder_page_shows_its_lines_read_only(officer):
    item = ReminderItemFactory(occurrence="overdue-2", days_overdue=14)

    page = officer.get(url(Reminder, "change", item.reminder.pk))

    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "state" not in form.fields and "to_emails" not in form.fields
    [inline] = page.context["inline_admin_formsets"]
    assert not inline.has_add_permission and not inline.has_delete_permission
    assert item.assignment.recommendation.reference in page.content.decode()
    assert "overdue-2" in page.content.decode()
    assert officer.get(url(Reminder, "add")).status_code == 403
    assert officer.post(url(Reminder, "delete", item.reminder.pk)).status_code == 403


def test_send_now_sends_waiting_reminders_once(officer):
    waiting = ReminderFactory(to_emails=["desk@unhcr.example.org"])
    sent = ReminderFactory(
        state=ReminderState.SENT, sent_at=dt.datetime(2026, 11, 30, tzinfo=ZURICH)
    )

    response = run_action(officer, "send_now", [waiting, sent])

    assert [m.to for m in mail.outbox] == [["desk@unhcr.example.org"]]
    waiting.refresh_from_db()
    assert waiting.state == ReminderState.SENT
    assert ("success", "1 reminder sent.") in messages_of(response)
    assert ("warning", f"{sent} is sent: not sent.") in messages_of(response)


def test_send_now_with_a_refusing_mail_server_says_when_it_is_tried_again(officer, settings):
    settings.EMAIL_BACKEND = "tests.recommendations.test_reminders.FailingBackend"
    waiting = ReminderFactory()

    response = run_action(officer, "send_now", [waiting])

    [(level, text)] = messages_of(response)
    assert level == "error"
    assert (
        "could not be sent (Connection unexpectedly closed); it is tried again in 2 minutes" in text
    )
    waiting.refresh_from_db()
    assert (waiting.state, waiting.attempts) == (ReminderState.PENDING, 1)


def test_retry_failed_puts_failed_reminders_back_in_the_queue(
    officer, queued, django_capture_on_commit_callbacks
):
    failed = ReminderFactory(state=ReminderState.FAILED, attempts=REMINDER_MAX_ATTEMPTS)
    waiting = ReminderFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(officer, "retry_failed", [failed, waiting])

    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == (ReminderState.PENDING, 0)
    assert queued == [failed.pk]
    assert ("success", "1 failed reminder queued to be sent again.") in messages_of(response)
    assert any("only a failed reminder can be retried" in text for _, text in messages_of(response))


def test_an_agency_login_does_not_see_the_reminders(client):
    user = representative_login_ensure(
        username="agency",
        password="unused",
        organisation=OrganisationFactory(acronym="ILO"),
        role=ActingRole.AGENCY,
    ).user
    client.force_login(user)
    ReminderFactory()

    assert client.get(url(Reminder, "changelist")).status_code in (302, 403)
