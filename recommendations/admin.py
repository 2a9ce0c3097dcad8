from django.contrib import admin
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from idm.admin import IdmAdmin, IdmTabularInline, SeedDocumentFilter, SourcedAdminMixin

from .models import Assignment, FollowUpReport, Recommendation


class AssignmentInline(IdmTabularInline):
    model = Assignment
    fields = [
        "organisation",
        "role",
        "response",
        "status",
        "progress",
        "due_date",
        "due_before_session",
    ]
    autocomplete_fields = ["organisation", "due_before_session"]
    show_change_link = True


@admin.register(Recommendation)
class RecommendationAdmin(SourcedAdminMixin, IdmAdmin):
    list_display = [
        "reference",
        "short_text",
        "kind",
        "state",
        "made_by",
        "addressed_to",
        "overall_status",
        "overall_progress",
    ]
    list_select_related = ["made_by_person", "made_by_organisation"]
    search_fields = [
        "reference",
        "text",
        "paragraph",
        "made_by_text",
        "addressed_to_text",
        "notes",
        "made_by_person__name",
        "made_by_organisation__name",
        "made_by_organisation__acronym",
    ]
    list_filter = [
        "state",
        "kind",
        "overall_status",
        "dialogue",
        "policy_domains",
        SeedDocumentFilter,
    ]
    autocomplete_fields = [
        "superseded_by",
        "parent",
        "dialogue",
        "council_session",
        "meeting",
        "workshop",
        "agenda_item",
        "document",
        "cited_documents",
        "made_by_person",
        "co_authors",
        "made_by_organisation",
        "quoted_by",
        "policy_domains",
    ]
    readonly_fields = ["overall_status", "overall_progress"]
    fieldsets = [
        (None, {"fields": ["reference", "text", "kind", "state", "superseded_by", "parent"]}),
        (
            _("Where it came from"),
            {
                "fields": [
                    "dialogue",
                    "council_session",
                    "meeting",
                    "workshop",
                    "agenda_item",
                    "document",
                    "paragraph",
                    "cited_documents",
                ]
            },
        ),
        (
            _("Who made it"),
            {
                "fields": [
                    "made_by_person",
                    "co_authors",
                    "made_by_organisation",
                    "made_by_text",
                    "quoted_by",
                ]
            },
        ),
        (_("Addressed to"), {"fields": ["addressed_to_text", "policy_domains"]}),
        (
            _("Follow-up"),
            {
                "fields": ["overall_status", "overall_progress"],
                "description": _("Rolled up from the assignments below."),
            },
        ),
        (None, {"fields": ["notes"]}),
    ]
    inlines = [AssignmentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("addressees")

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return Truncator(obj.text).chars(120)

    @admin.display(description=_("made by"))
    def made_by(self, obj):
        return obj.made_by_person or obj.made_by_organisation or obj.made_by_text

    @admin.display(description=_("addressed to"))
    def addressed_to(self, obj):
        names = [organisation.short_name for organisation in obj.addressees.all()]
        return ", ".join(names) or obj.addressed_to_text


class FollowUpReportInline(IdmTabularInline):
    model = FollowUpReport
    fields = ["period_start", "period_end", "status", "progress", "state", "submitted_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Assignment)
class AssignmentAdmin(IdmAdmin):
    label_related = ("recommendation", "organisation")
    list_display = [
        "recommendation",
        "organisation",
        "role",
        "response",
        "status",
        "progress",
        "due",
    ]
    list_select_related = ["recommendation", "organisation", "due_before_session"]
    search_fields = [
        "recommendation__reference",
        "recommendation__text",
        "organisation__name",
        "organisation__acronym",
        "response_text",
    ]
    list_filter = ["role", "response", "status", "due_before_session"]
    date_hierarchy = "due_date"
    autocomplete_fields = ["recommendation", "organisation", "due_before_session"]
    inlines = [FollowUpReportInline]

    @admin.display(description=_("due"), ordering="due_date")
    def due(self, obj):
        return obj.effective_due_date


@admin.register(FollowUpReport)
class FollowUpReportAdmin(IdmAdmin):
    label_related = ("assignment__recommendation", "assignment__organisation")
    list_display = [
        "assignment",
        "period_start",
        "period_end",
        "status",
        "progress",
        "state",
        "submitted_by",
        "submitted_at",
        "reviewed_at",
    ]
    list_select_related = [
        "assignment__recommendation",
        "assignment__organisation",
        "submitted_by",
    ]
    search_fields = [
        "assignment__recommendation__reference",
        "assignment__organisation__name",
        "assignment__organisation__acronym",
        "narrative",
        "review_comment",
    ]
    list_filter = ["state", "status"]
    date_hierarchy = "period_end"
    autocomplete_fields = ["assignment", "submitted_by", "reviewed_by"]
