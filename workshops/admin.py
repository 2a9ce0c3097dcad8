from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.template import engines
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from idm.admin import (
    IdmAdmin,
    IdmPlainAdmin,
    IdmTabularInline,
    SeedDocumentFilter,
    SourcedAdminMixin,
)
from idm.models import Meeting

from .enums import ProposalState
from .models import (
    FundedParticipation,
    ProposalEvent,
    ProposalRound,
    ProposalSupport,
    Registration,
    ThemeProposal,
    Workshop,
    WorkshopPartner,
)
from .selectors import workshop_totals_text, workshops_with_totals
from .services import (
    SelectionLimitError,
    WorkshopsError,
    proposal_decide,
    round_close,
    round_create,
    workshop_create_from_proposal,
)


def _names(organisations) -> str:
    return ", ".join(organisation.short_name for organisation in organisations)


class WorkshopPartnerInline(IdmTabularInline):
    model = WorkshopPartner
    fields = ["organisation", "role"]
    autocomplete_fields = ["organisation"]


class FundedParticipationInline(IdmTabularInline):
    model = FundedParticipation
    fields = [
        "donors",
        "funded_participants",
        "participant_profile",
        "per_person_amount",
        "currency",
        "text",
    ]
    autocomplete_fields = ["donors"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("donors")


class RegistrationInline(IdmTabularInline):
    model = Registration
    fields = ["person", "organisation", "role", "attendance_confirmed", "funded_by"]
    autocomplete_fields = ["person", "organisation", "funded_by"]


@admin.register(Workshop)
class WorkshopAdmin(SourcedAdminMixin, IdmAdmin):
    label_related = ("dialogue",)
    list_display = [
        "display_title",
        "kind",
        "dialogue",
        "start_date",
        "date_text",
        "city",
        "country",
        "status",
        "partner_names",
        "totals",
    ]
    list_select_related = ["dialogue"]
    search_fields = [
        "title",
        "acronym",
        "date_text",
        "city",
        "country",
        "description",
        "partners__name",
        "partners__acronym",
    ]
    list_filter = ["kind", "status", "dialogue", SeedDocumentFilter]
    date_hierarchy = "start_date"
    autocomplete_fields = ["dialogue", "venue", "follow_up_of"]
    fieldsets = [
        (None, {"fields": ["title", "acronym", "kind", "dialogue", "follow_up_of"]}),
        (
            _("When and where"),
            {"fields": ["start_date", "end_date", "date_text", "venue", "city", "country"]},
        ),
        (_("Status"), {"fields": ["status", "status_note"]}),
        (
            _("Attendance"),
            {"fields": ["capacity", "attendance_total", "attendance_text", "totals"]},
        ),
        (_("Content"), {"fields": ["description", "outcomes", "notes"]}),
    ]
    readonly_fields = ["totals"]
    inlines = [WorkshopPartnerInline, FundedParticipationInline, RegistrationInline]

    def get_queryset(self, request):
        return workshops_with_totals(super().get_queryset(request).prefetch_related("partners"))

    @admin.display(description=_("attendance and funding"))
    def totals(self, obj):
        if obj is None or obj.pk is None:
            return self.get_empty_value_display()
        return workshop_totals_text(obj) or self.get_empty_value_display()

    @admin.display(description=_("title"), ordering="title")
    def display_title(self, obj):
        return obj.display_title

    @admin.display(description=_("partners"))
    def partner_names(self, obj):
        return _names(obj.partners.all())


@admin.register(WorkshopPartner)
class WorkshopPartnerAdmin(IdmPlainAdmin):
    label_related = ("organisation",)
    list_display = ["organisation", "workshop", "role"]
    list_select_related = ["organisation", "workshop__dialogue"]
    search_fields = [
        "organisation__name",
        "organisation__acronym",
        "workshop__title",
        "workshop__acronym",
    ]
    list_filter = ["role"]
    autocomplete_fields = ["workshop", "organisation"]


@admin.register(FundedParticipation)
class FundedParticipationAdmin(IdmAdmin):
    list_display = [
        "workshop",
        "funded_participants",
        "donor_names",
        "participant_profile",
        "per_person_amount",
        "currency",
    ]
    list_select_related = ["workshop__dialogue"]
    search_fields = [
        "workshop__title",
        "participant_profile",
        "text",
        "donors__name",
        "donors__acronym",
    ]
    autocomplete_fields = ["workshop", "donors"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("donors")

    @admin.display(description=_("donors"))
    def donor_names(self, obj):
        return _names(obj.donors.all())


@admin.register(Registration)
class RegistrationAdmin(IdmAdmin):
    label_related = ("person",)
    list_display = [
        "person",
        "workshop",
        "organisation",
        "role",
        "attendance_confirmed",
        "funded_by",
    ]
    list_select_related = ["person", "workshop__dialogue", "organisation", "funded_by"]
    search_fields = [
        "person__name",
        "workshop__title",
        "organisation__name",
        "organisation__acronym",
    ]
    list_filter = ["role", "attendance_confirmed"]
    autocomplete_fields = ["workshop", "person", "organisation", "funded_by"]


@admin.register(ProposalRound)
class ProposalRoundAdmin(IdmAdmin):
    """Rounds are created through ``round_create``, which carries deferred proposals into them."""

    list_display = [
        "title",
        "target_year",
        "kind",
        "dialogue",
        "opens_at",
        "closes_at",
        "topics_to_select",
        "decision_meeting",
        "proposal_count",
    ]
    list_select_related = ["dialogue", "decision_meeting"]
    search_fields = ["title", "selection_process", "dialogue__theme"]
    list_filter = ["kind", "target_year"]
    ordering = ["-target_year", "kind"]  # Meta.ordering is dropped by the annotation
    autocomplete_fields = ["dialogue", "decision_meeting"]
    actions = ["close_round"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(proposal_count=Count("proposals"))

    @admin.display(description=_("proposals"), ordering="proposal_count")
    def proposal_count(self, obj):
        return obj.proposal_count

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        fields = {
            field.name: getattr(obj, field.name)
            for field in ProposalRound._meta.concrete_fields
            if field.editable and field.name in form.cleaned_data
        }
        try:
            created = round_create(by=request.user, **fields)
        except WorkshopsError as error:
            self.message_user(request, error.message, level=messages.ERROR)
            return
        for field in ProposalRound._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db
        carried = created.proposals.count()
        if carried:
            self.message_user(
                request,
                ngettext(
                    "%(count)d proposal deferred to this round was carried into it.",
                    "%(count)d proposals deferred to this round were carried into it.",
                    carried,
                )
                % {"count": carried},
                level=messages.INFO,
            )

    def log_addition(self, request, obj, message):
        if obj.pk is not None:  # not created: the error is already shown
            return super().log_addition(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:
            return HttpResponseRedirect(reverse("admin:workshops_proposalround_changelist"))
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description=_("Close round (no more proposals or support; decisions can follow)"))
    def close_round(self, request, queryset):
        for round_ in queryset:
            try:
                closed = round_close(round=round_, by=request.user)
            except WorkshopsError as error:
                self.message_user(request, f"{round_}: {error.message}", level=messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("%(round)s is closed (since %(date)s).")
                    % {
                        "round": closed,
                        "date": date_format(timezone.localtime(closed.closes_at), "j F Y, H:i"),
                    },
                    level=messages.SUCCESS,
                )


class ProposalEventInline(IdmTabularInline):
    model = ProposalEvent
    fields = ["kind", "year", "occurred_at", "meeting", "text", "by"]
    autocomplete_fields = ["meeting", "by"]


class ProposalSupportInline(IdmTabularInline):
    model = ProposalSupport
    fields = ["organisation", "by", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["organisation", "by"]


class DecisionForm(forms.Form):
    """What the secretariat records with a decision: where it was taken, and a note."""

    meeting = forms.ModelChoiceField(
        label=_("Decided at"),
        queryset=Meeting.objects.order_by("-start_date", "title"),
        required=False,
        help_text=_("Leave empty for the consultation named on the round."),
    )
    note = forms.CharField(
        label=_("Note"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )
    deferred_to_year = forms.IntegerField(
        label=_("Deferred to"),
        min_value=2001,
        max_value=2100,
        required=False,
        help_text=_("Leave empty for the year after the one each proposal was made for."),
    )
    confirm_over_limit = forms.BooleanField(
        label=_("Select them even though the round would then have more topics than it selects"),
        required=False,
    )

    def __init__(self, *args, outcome: str, **kwargs):
        super().__init__(*args, **kwargs)
        if outcome != ProposalState.DEFERRED:
            del self.fields["deferred_to_year"]
        if outcome != ProposalState.SELECTED:
            del self.fields["confirm_over_limit"]


# The confirmation page of the decision actions (kept here: it belongs to these actions only).
DECISION_PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}{% load i18n admin_urls %}
{% block breadcrumbs %}<div class="breadcrumbs">
  <a href="{% url 'admin:index' %}">{% translate 'Home' %}</a> &rsaquo;
  <a href="{% url 'admin:app_list' app_label=opts.app_label %}">
    {{ opts.app_config.verbose_name }}</a> &rsaquo;
  <a href="{% url opts|admin_urlname:'changelist' %}">
    {{ opts.verbose_name_plural|capfirst }}</a> &rsaquo; {{ title }}
</div>{% endblock %}
{% block content %}
{% if warnings %}<ul class="messagelist">
  {% for warning in warnings %}<li class="warning">{{ warning }}</li>{% endfor %}
</ul>{% endif %}
<p>{% translate "The decision will be recorded for:" %}</p>
<ul>{% for proposal in proposals %}
  <li>{{ proposal.title }} ({{ proposal.get_state_display }}){% if proposal.round %}
    — {{ proposal.round.title }}:
    {% blocktranslate count counter=proposal.round.topics_to_select %}selects {{ counter }}
    topic{% plural %}selects {{ counter }} topics{% endblocktranslate %}{% endif %}</li>
{% endfor %}</ul>
<form method="post">{% csrf_token %}
  <fieldset class="module aligned">{% for field in form %}
    <div class="form-row">{{ field.errors }}
      <div class="flex-container">{{ field.label_tag }} {{ field }}</div>
      {% if field.help_text %}<div class="help">{{ field.help_text }}</div>{% endif %}
    </div>{% endfor %}
  </fieldset>
  {% for pk in selected %}
    <input type="hidden" name="{{ action_checkbox_name }}" value="{{ pk }}">
  {% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <input type="hidden" name="apply" value="1">
  <div class="submit-row">
    <input type="submit" class="default" value="{{ title }}">
    <a href="{% url opts|admin_urlname:'changelist' %}" class="button cancel-link">
      {% translate "Cancel" %}</a>
  </div>
</form>
{% endblock %}"""
)

DECISION_TITLES = {
    ProposalState.SELECTED: _("Record decision: selected"),
    ProposalState.DEFERRED: _("Record decision: deferred to next year"),
    ProposalState.NOT_ENDORSED: _("Record decision: not endorsed"),
}


@admin.register(ThemeProposal)
class ThemeProposalAdmin(SourcedAdminMixin, IdmAdmin):
    """States change through the decision actions (and the portal), never by editing."""

    list_display = [
        "title",
        "kind",
        "target_year",
        "proposing_organisation",
        "state",
        "deferred_to_year",
        "round",
        "support_count",
    ]
    list_select_related = ["proposing_organisation", "round"]
    search_fields = [
        "title",
        "rationale",
        "target_forum",
        "target_text",
        "status_note",
        "proposing_organisation__name",
        "proposing_organisation__acronym",
    ]
    list_filter = ["state", "kind", "target_year", "round", SeedDocumentFilter]
    ordering = ["-target_year", "title"]  # Meta.ordering is dropped by the annotation
    autocomplete_fields = [
        "round",
        "proposing_organisation",
        "co_sponsors",
        "proposed_by_people",
        "policy_domains",
        "suggested_partners",
        "earlier_version",
        "created_by",
    ]
    readonly_fields = [
        "state",
        "deferred_to_year",
        "workshop",
        "decided_at",
        "decided_by",
        "decision_meeting",
        "decision_note",
        "decision_notified_at",
    ]
    fieldsets = [
        (None, {"fields": ["title", "rationale", "kind", "round"]}),
        (
            _("Target"),
            {"fields": ["target_year", "target_forum", "target_text", "preferred_quarter"]},
        ),
        (
            _("Proposed by"),
            {"fields": ["proposing_organisation", "co_sponsors", "proposed_by_people"]},
        ),
        (_("Content"), {"fields": ["policy_domains", "suggested_partners"]}),
        (
            _("Status"),
            {
                "fields": [
                    "state",
                    "status_note",
                    "deferred_to_year",
                    "earlier_version",
                    "workshop",
                    "created_by",
                ]
            },
        ),
        (
            _("Decision"),
            {
                "fields": [
                    "decided_at",
                    "decided_by",
                    "decision_meeting",
                    "decision_note",
                    "decision_notified_at",
                ]
            },
        ),
    ]
    inlines = [ProposalEventInline, ProposalSupportInline]
    actions = ["decide_selected", "decide_deferred", "decide_not_endorsed", "create_workshop"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(support_count=Count("supports", distinct=True))
        )

    @admin.display(description=_("supports"), ordering="support_count")
    def support_count(self, obj):
        return obj.support_count

    # -- Decisions ------------------------------------------------------------------------------

    @admin.action(description=DECISION_TITLES[ProposalState.SELECTED])
    def decide_selected(self, request, queryset):
        return self._decide(request, queryset, ProposalState.SELECTED, "decide_selected")

    @admin.action(description=DECISION_TITLES[ProposalState.DEFERRED])
    def decide_deferred(self, request, queryset):
        return self._decide(request, queryset, ProposalState.DEFERRED, "decide_deferred")

    @admin.action(description=DECISION_TITLES[ProposalState.NOT_ENDORSED])
    def decide_not_endorsed(self, request, queryset):
        return self._decide(request, queryset, ProposalState.NOT_ENDORSED, "decide_not_endorsed")

    def _decide(self, request, queryset, outcome: str, action: str):
        """First a page asking for the meeting and a note; then one decision per proposal."""
        proposals = list(queryset.select_related("round").order_by("title", "pk"))
        if "apply" not in request.POST:
            return self._decision_page(
                request, proposals, outcome, action, DecisionForm(outcome=outcome)
            )
        form = DecisionForm(request.POST, outcome=outcome)
        if not form.is_valid():
            return self._decision_page(request, proposals, outcome, action, form)
        data = form.cleaned_data
        over_limit, warnings = [], []
        for proposal in proposals:
            deferred_to = None
            if outcome == ProposalState.DEFERRED:
                year = proposal.target_year or (
                    proposal.round.target_year if proposal.round else None
                )
                deferred_to = data.get("deferred_to_year") or (year + 1 if year else None)
            try:
                proposal_decide(
                    proposal=proposal,
                    outcome=outcome,
                    by=request.user,
                    meeting=data.get("meeting"),
                    note=data.get("note", ""),
                    deferred_to_year=deferred_to,
                    confirm_over_limit=bool(data.get("confirm_over_limit")),
                )
            except SelectionLimitError as error:
                over_limit.append(proposal)
                warnings.append(error.message)
            except WorkshopsError as error:
                self.message_user(request, f"{proposal}: {error.message}", level=messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("“%(title)s”: %(outcome)s recorded.")
                    % {"title": proposal.title, "outcome": ProposalState(outcome).label.lower()},
                    level=messages.SUCCESS,
                )
        if over_limit:
            # Not recorded: ask again, for these only, with the warning and the confirmation box.
            form = DecisionForm(
                outcome=outcome,
                initial={"meeting": data.get("meeting"), "note": data.get("note", "")},
            )
            return self._decision_page(request, over_limit, outcome, action, form, warnings)
        return None

    def _decision_page(self, request, proposals, outcome, action, form, warnings=()):
        title = DECISION_TITLES[outcome]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "proposals": proposals,
            "selected": [proposal.pk for proposal in proposals],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": action,
            "form": form,
            "warnings": warnings,
        }
        return HttpResponse(DECISION_PAGE.render(context, request))

    @admin.action(description=_("Create workshop from selected topic"))
    def create_workshop(self, request, queryset):
        for proposal in queryset.order_by("title", "pk"):
            try:
                workshop = workshop_create_from_proposal(proposal=proposal, by=request.user)
            except WorkshopsError as error:
                self.message_user(request, f"{proposal}: {error.message}", level=messages.ERROR)
            else:
                self.message_user(
                    request,
                    format_html(
                        '{} <a href="{}">{}</a>',
                        gettext("Planned as the workshop"),
                        reverse("admin:workshops_workshop_change", args=[workshop.pk]),
                        workshop.display_title,
                    ),
                    level=messages.SUCCESS,
                )


@admin.register(ProposalEvent)
class ProposalEventAdmin(SourcedAdminMixin, IdmPlainAdmin):
    list_display = ["proposal", "kind", "year", "occurred_at", "meeting", "by"]
    list_select_related = ["proposal", "meeting", "by"]
    search_fields = ["proposal__title", "text"]
    list_filter = ["kind", "year", SeedDocumentFilter]
    autocomplete_fields = ["proposal", "meeting", "by"]


@admin.register(ProposalSupport)
class ProposalSupportAdmin(IdmPlainAdmin):
    label_related = ("organisation", "proposal")
    list_display = ["organisation", "proposal", "by", "created_at"]
    list_select_related = ["organisation", "proposal", "by"]
    search_fields = ["organisation__name", "organisation__acronym", "proposal__title"]
    autocomplete_fields = ["proposal", "organisation", "by"]
    date_hierarchy = "created_at"
