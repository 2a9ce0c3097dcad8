"""Reminders: a row per message, so that each one is sent exactly once.

A reminder is identified by what it is about (``kind``), who gets it (``recipient_key``) and which
occurrence it is (``occurrence``); the unique constraint on the three is what makes two sweeps
running at once, or a task delivered twice, still produce a single message.
"""

from django.core.validators import int_list_validator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from idm.models import AgendaVersion, Document
from idm.sources import TimeStampedModel
from stakeholders.models import Organisation, Person
from workshops.models import ProposalRound

from ..enums import ReminderKind, ReminderState
from .core import Assignment

LANGUAGES = [("en", _("English")), ("fr", _("French")), ("es", _("Spanish"))]


class ReminderRule(TimeStampedModel):
    """When reminders of one kind go out: the secretariat edits these in the admin."""

    kind = models.CharField(_("kind"), max_length=32, choices=ReminderKind.choices, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    lead_days = models.CharField(
        _("days before"),
        max_length=64,
        blank=True,
        validators=[int_list_validator(sep=",", allow_negative=False)],
        help_text=_("Comma-separated numbers of days before the date, e.g. 30,7."),
    )
    on_the_day = models.BooleanField(_("also on the day"), default=False)
    repeat_every_days = models.PositiveSmallIntegerField(
        _("then every … days while overdue"),
        null=True,
        blank=True,
        help_text=_("Leave empty to send nothing after the date."),
    )
    escalate_after = models.PositiveSmallIntegerField(
        _("escalate after … overdue reminders"),
        null=True,
        blank=True,
        help_text=_(
            "From the next overdue reminder on, copy the head of office and the secretariat."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("reminder rule")
        verbose_name_plural = _("reminder rules")
        ordering = ["kind"]
        constraints = [
            models.CheckConstraint(
                condition=Q(repeat_every_days__isnull=True) | Q(repeat_every_days__gte=1),
                name="reminder_rule_repeat_at_least_a_day",
                violation_error_message=_("Repeat at most once a day (1 or more days)."),
            ),
            models.CheckConstraint(
                condition=Q(escalate_after__isnull=True) | Q(escalate_after__gte=1),
                name="reminder_rule_escalate_after_one_or_more",
                violation_error_message=_("Escalate after at least one overdue reminder."),
            ),
        ]

    def __str__(self) -> str:
        return str(self.get_kind_display())

    @property
    def lead_days_list(self) -> list[int]:
        """The lead times, largest first, without repeats."""
        days = {int(part) for part in self.lead_days.split(",") if part.strip()}
        return sorted(days, reverse=True)


class Reminder(TimeStampedModel):
    """One message to one recipient about one occurrence of something due."""

    kind = models.CharField(_("kind"), max_length=32, choices=ReminderKind.choices)
    recipient_key = models.CharField(
        _("recipient"),
        max_length=255,
        help_text=_("organisation:<id> for a digest to an organisation, else the email address."),
    )
    occurrence = models.CharField(
        _("occurrence"),
        max_length=120,
        help_text=_("Which reminder this is, e.g. workshop-5:before-14 or the digest's day."),
    )
    due_on = models.DateField(
        _("due on"), db_index=True, help_text=_("The day the reminder is due to go out.")
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
    )
    person = models.ForeignKey(
        Person,
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
    )
    event_key = models.CharField(_("event"), max_length=40, blank=True)
    agenda_version = models.ForeignKey(
        AgendaVersion,
        verbose_name=_("agenda version"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
    )
    proposal_round = models.ForeignKey(
        ProposalRound,
        verbose_name=_("proposal round"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
    )
    document = models.ForeignKey(
        Document,
        verbose_name=_("document"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
    )
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGES, default="en")
    to_emails = models.JSONField(_("to"), default=list, blank=True)
    cc_emails = models.JSONField(_("copy to"), default=list, blank=True)
    escalated = models.BooleanField(_("escalated"), default=False)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body_text = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True)
    attachment_name = models.CharField(_("attachment name"), max_length=120, blank=True)
    attachment = models.TextField(_("attachment (iCalendar)"), blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=ReminderState.choices, default=ReminderState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(
        _("sending since"),
        null=True,
        blank=True,
        help_text=_("When a worker took the reminder to send it (committed before the hand-over)."),
    )
    claim_token = models.CharField(
        _("sending worker"),
        max_length=64,
        blank=True,
        help_text=_("Which send attempt holds the reminder while it is being sent."),
    )
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    message_id = models.CharField(_("message id"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-due_on", "kind", "recipient_key"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "recipient_key", "occurrence"],
                name="reminder_once_per_recipient_and_occurrence",
                violation_error_message=_("This reminder was already made."),
            ),
            models.CheckConstraint(
                condition=~Q(state=ReminderState.SENT) | Q(sent_at__isnull=False),
                name="reminder_sent_has_a_time",
                violation_error_message=_("A sent reminder records when it was sent."),
            ),
            models.CheckConstraint(
                condition=~Q(state=ReminderState.SENDING)
                | (Q(claimed_at__isnull=False) & ~Q(claim_token="")),
                name="reminder_sending_is_claimed",
                violation_error_message=_("A reminder being sent records who took it and when."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient_key} ({self.occurrence})"


class ReminderItem(models.Model):
    """One assignment's line in a follow-up digest: which of its reminders this was."""

    reminder = models.ForeignKey(
        Reminder, verbose_name=_("reminder"), on_delete=models.CASCADE, related_name="items"
    )
    assignment = models.ForeignKey(
        Assignment,
        verbose_name=_("assignment"),
        on_delete=models.CASCADE,
        related_name="reminder_items",
    )
    due_date = models.DateField(_("due date"))
    occurrence = models.CharField(
        _("occurrence"), max_length=32, help_text=_("before-30, due, overdue-1, overdue-2 …")
    )
    days_overdue = models.IntegerField(_("days overdue"), default=0)
    escalated = models.BooleanField(_("escalated"), default=False)

    class Meta:
        verbose_name = _("reminder line")
        verbose_name_plural = _("reminder lines")
        ordering = ["reminder", "due_date", "assignment"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "due_date", "occurrence"],
                name="reminder_item_once_per_assignment_occurrence",
                violation_error_message=_("This assignment has already been reminded of this."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}: {self.occurrence}"
