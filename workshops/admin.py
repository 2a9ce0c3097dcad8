from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from idm.admin import (
    IdmAdmin,
    IdmPlainAdmin,
    IdmTabularInline,
    SeedDocumentFilter,
    SourcedAdminMixin,
)

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
            {"fields": ["capacity", "attendance_total", "attendance_text"]},
        ),
        (_("Content"), {"fields": ["description", "outcomes", "notes"]}),
    ]
    inlines = [WorkshopPartnerInline, FundedParticipationInline, RegistrationInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("partners")

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

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(proposal_count=Count("proposals"))

    @admin.display(description=_("proposals"), ordering="proposal_count")
    def proposal_count(self, obj):
        return obj.proposal_count


class ProposalEventInline(IdmTabularInline):
    model = ProposalEvent
    fields = ["kind", "year", "occurred_at", "meeting", "text", "by"]
    autocomplete_fields = ["meeting", "by"]


class ProposalSupportInline(IdmTabularInline):
    model = ProposalSupport
    fields = ["organisation", "by", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["organisation", "by"]


@admin.register(ThemeProposal)
class ThemeProposalAdmin(SourcedAdminMixin, IdmAdmin):
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
        "workshop",
        "created_by",
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
    ]
    inlines = [ProposalEventInline, ProposalSupportInline]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(support_count=Count("supports", distinct=True))
        )

    @admin.display(description=_("supports"), ordering="support_count")
    def support_count(self, obj):
        return obj.support_count


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
