"""Admin of reminder rules (edited, with their history) and reminders (read, sent, retried).

A reminder is a record of a message: nothing in it is edited by hand. The actions call the
services: "Send now" sends waiting reminders at once, "Retry failed" puts failed ones back in the
queue. Nothing is deleted: a reminder that is not needed any more is "cancelled" by its service.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, TextField
from django.db.models.functions import Cast
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from idm.admin import IdmAdmin, IdmPlainAdmin, IdmTabularInline

from .enums import ReminderState
from .models import Reminder, ReminderItem, ReminderRule
from .reminders import ReminderError, ReminderRetry, reminder_retry, reminder_send


class ReminderRuleForm(forms.ModelForm):
    class Meta:
        model = ReminderRule
        fields = [
            "kind",
            "enabled",
            "lead_days",
            "on_the_day",
            "repeat_every_days",
            "escalate_after",
        ]

    def clean_lead_days(self):
        """Accept "30, 7" or "7 30" as well as "30,7"; store the days largest first."""
        value = self.cleaned_data["lead_days"]
        parts = [part for part in value.replace(",", " ").split() if part]
        if not all(part.isdigit() for part in parts):
            raise forms.ValidationError(
                gettext("Give whole numbers of days separated by commas, e.g. 30,7.")
            )
        days = sorted({int(part) for part in parts}, reverse=True)
        if 0 in days:
            raise forms.ValidationError(
                gettext("0 days before is the day itself: tick “also on the day” instead.")
            )
        return ",".join(str(n) for n in days)


@admin.register(ReminderRule)
class ReminderRuleAdmin(IdmAdmin):
    form = ReminderRuleForm
    list_display = [
        "kind",
        "enabled",
        "lead_days",
        "on_the_day",
        "repeat_every_days",
        "escalate_after",
        "updated_at",
    ]
    list_editable = ["enabled"]
    list_filter = ["enabled"]

    def get_readonly_fields(self, request, obj=None):
        return ["kind"] if obj is not None else []

    def has_add_permission(self, request):
        # One rule per kind, installed by a migration (recommendations 0004) with the defaults
        # and never deleted: a rule is edited, or switched off with "enabled", not added.
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # switch a kind off with "enabled" instead


class ReminderItemInline(IdmTabularInline):
    model = ReminderItem
    fields = ["assignment", "due_date", "occurrence", "days_overdue", "escalated"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("assignment__recommendation", "assignment__organisation")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecipientSearchMixin:
    """Search also in the addresses the reminder went to (a JSON list)."""

    def get_search_results(self, request, queryset, search_term):
        results, distinct = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            by_address = (
                Reminder.objects.annotate(
                    to_text=Cast("to_emails", TextField()), cc_text=Cast("cc_emails", TextField())
                )
                .filter(Q(to_text__icontains=term) | Q(cc_text__icontains=term))
                .values("pk")
            )
            results = results | queryset.filter(pk__in=by_address)
        return results, distinct


@admin.register(Reminder)
class ReminderAdmin(RecipientSearchMixin, IdmPlainAdmin):
    inlines = [ReminderItemInline]
    label_related = ()
    list_select_related = ["organisation"]
    list_display = [
        "kind",
        "recipient",
        "occurrence",
        "due_on",
        "state",
        "escalated",
        "attempts",
        "sent_at",
        "line_count",
    ]
    list_filter = ["kind", "state", "escalated", "due_on", "language"]
    date_hierarchy = "due_on"
    search_fields = ["recipient_key", "organisation__name", "organisation__acronym", "subject"]
    actions = ["send_now", "retry_failed"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "kind",
                    "recipient_key",
                    "organisation",
                    "person",
                    "occurrence",
                    "due_on",
                    "state",
                    "escalated",
                ]
            },
        ),
        (
            _("Sending"),
            {
                "fields": [
                    "to_emails",
                    "cc_emails",
                    "language",
                    "attempts",
                    "next_attempt_at",
                    "last_error",
                    "claimed_at",
                    "sent_at",
                    "message_id",
                ]
            },
        ),
        (_("Message"), {"fields": ["subject", "text_preview", "attachment_name"]}),
        (
            _("What it is about"),
            {
                "classes": ["collapse"],
                "fields": ["event_key", "agenda_version", "proposal_round", "document"],
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_lines=Count("items"))

    def get_readonly_fields(self, request, obj=None):
        return [
            field
            for fieldset in self.fieldsets
            for field in fieldset[1]["fields"]
            if field != "text_preview"
        ] + ["text_preview"]

    def has_add_permission(self, request):
        return False  # reminders are made by the sweep

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what was sent

    @admin.display(description=_("recipient"), ordering="recipient_key")
    def recipient(self, obj):
        if obj.organisation_id and obj.recipient_key.startswith("organisation:"):
            return obj.organisation.short_name
        return obj.recipient_key

    @admin.display(description=_("lines"), ordering="_lines")
    def line_count(self, obj):
        return obj._lines or "—"

    @admin.display(description=_("text"))
    def text_preview(self, obj):
        return format_html('<pre style="white-space: pre-wrap;">{}</pre>', obj.body_text)

    @admin.action(description=_("Send now"), permissions=["change"])
    def send_now(self, request, queryset):
        sent = 0
        for reminder in queryset.order_by("pk"):
            if reminder.state != ReminderState.PENDING:
                self.message_user(
                    request,
                    gettext("%(reminder)s is %(state)s: not sent.")
                    % {"reminder": reminder, "state": reminder.get_state_display().lower()},
                    level=messages.WARNING,
                )
                continue
            try:
                outcome = reminder_send(reminder=reminder, force=True)
            except ReminderRetry as retry:
                self.message_user(
                    request,
                    gettext(
                        "%(reminder)s could not be sent (%(error)s); it is tried again in "
                        "%(minutes)d minutes."
                    )
                    % {
                        "reminder": reminder,
                        "error": retry.error,
                        "minutes": retry.countdown // 60,
                    },
                    level=messages.ERROR,
                )
                continue
            if outcome == "sent":
                sent += 1
            else:
                self.message_user(
                    request,
                    gettext("%(reminder)s: %(outcome)s.")
                    % {"reminder": reminder, "outcome": outcome},
                    level=messages.WARNING,
                )
        if sent:
            self.message_user(
                request,
                ngettext("%(count)d reminder sent.", "%(count)d reminders sent.", sent)
                % {"count": sent},
                level=messages.SUCCESS,
            )

    @admin.action(description=_("Retry failed reminders"), permissions=["change"])
    def retry_failed(self, request, queryset):
        queued = 0
        for reminder in queryset.order_by("pk"):
            try:
                reminder_retry(reminder=reminder)
            except ReminderError as error:
                self.message_user(request, error.message, level=messages.WARNING)
            else:
                queued += 1
        if queued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d failed reminder queued to be sent again.",
                    "%(count)d failed reminders queued to be sent again.",
                    queued,
                )
                % {"count": queued},
                level=messages.SUCCESS,
            )


@admin.register(ReminderItem)
class ReminderItemAdmin(IdmPlainAdmin):
    """Which assignment was reminded of what, and in which digest: read-only, for looking up."""

    list_display = ["assignment", "occurrence", "due_date", "days_overdue", "escalated", "reminder"]
    list_filter = ["escalated", "due_date"]
    list_select_related = [
        "assignment__recommendation",
        "assignment__organisation",
        "reminder",
        "reminder__organisation",
    ]
    search_fields = ["assignment__recommendation__reference", "assignment__organisation__name"]
    label_related = ()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
