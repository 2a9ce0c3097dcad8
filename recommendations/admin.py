"""Admin of recommendations, their assignments, follow-up reports and evidence files.

States change only through actions, which call the services and show their refusals as error
messages. Nothing is deleted (archive instead); every change is in the history. Follow-up
reports open as a verification queue: submitted reports first, to accept or return.
Recommendations are imported and exported with their assignments (``resources.py``).
"""

from __future__ import annotations

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from idm.admin import IdmAdmin, IdmTabularInline, SeedDocumentFilter, SourcedAdminMixin
from idm.models import CouncilSession
from stakeholders.models import Organisation

from .enums import AssignmentRole, RecommendationState, ReportState
from .models import Assignment, EvidenceFile, FollowUpReport, Recommendation
from .resources import RecommendationResource
from .rules import is_representative, is_secretariat
from .selectors import assignment_effective_due_date
from .services import (
    RecommendationError,
    assignments_set_due,
    followup_accept,
    followup_archive,
    followup_return,
    recommendation_adopt,
    recommendation_archive,
    recommendation_assign,
    recommendation_close,
    recommendation_rollup,
    recommendation_supersede,
)

ACTION_FORM_TEMPLATE = "admin/recommendations/action_form.html"


# --- Shared -------------------------------------------------------------------------------------


class NothingDeletedMixin:
    """Nothing is deleted here: recommendations and reports are archived instead."""

    def has_delete_permission(self, request, obj=None):
        return False


class SecretariatOnlyMixin:
    """The admin of these models is the secretariat's.

    ``recommendations.view_recommendation`` and ``view_assignment`` are also rules (``rules.py``)
    that let delegations and agencies read adopted recommendations through the API; a staff
    login acting for a delegation or an agency must not get the admin's unfiltered lists
    through them. Others keep Django's model permissions (the Secretariat group).
    """

    def _outside_secretariat(self, request) -> bool:
        return is_representative(request.user) and not is_secretariat(request.user)

    def has_view_permission(self, request, obj=None):
        return not self._outside_secretariat(request) and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._outside_secretariat(request) and super().has_change_permission(
            request, obj
        )

    def has_add_permission(self, request, *args):
        return not self._outside_secretariat(request) and super().has_add_permission(request, *args)


class NoRevertMixin:
    """The history is shown, never reverted: a revert would save old states and progress
    behind the services' back (a state changes only through its action)."""

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class ManagePermissionMixin:
    def has_manage_permission(self, request):
        return request.user.has_perm("recommendations.manage_recommendation")

    def has_review_permission(self, request):
        return request.user.has_perm("recommendations.review_followup")


def _run(modeladmin, request, objects, action, success) -> int:
    """Call ``action`` on each object; refusals become error messages naming the object.

    ``success(count)`` is the message once the others are done.
    """
    done = 0
    for obj in objects:
        try:
            action(obj)
        except RecommendationError as error:
            modeladmin.message_user(
                request, format_html("{}: {}", str(obj), error.message), level=messages.ERROR
            )
        else:
            done += 1
    if done:
        modeladmin.message_user(request, success(done), level=messages.SUCCESS)
    return done


def _action_form(modeladmin, request, queryset, *, form, action: str, title: str, intro: str):
    """The intermediate page of an action asking for more (an organisation, a comment…)."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "objects": list(queryset),
        "form": form,
        "action": action,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, ACTION_FORM_TEMPLATE, context)


class DueForm(forms.Form):
    due_date = forms.DateField(
        label=_("Due date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    due_before_session = forms.ModelChoiceField(
        label=_("or due before the Council session"),
        queryset=CouncilSession.objects.order_by("body", "-number"),
        required=False,
        help_text=_("The due date then moves when the session moves."),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("due_date") and cleaned.get("due_before_session"):
            raise forms.ValidationError(
                _("Give either a due date or a Council session it is due before, not both.")
            )
        return cleaned


class AssignForm(DueForm):
    organisation = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organisation.objects.order_by("name")
    )
    role = forms.ChoiceField(
        label=_("Role"), choices=AssignmentRole.choices, initial=AssignmentRole.LEAD
    )
    field_order = ["organisation", "role", "due_date", "due_before_session"]


class SetDueForm(DueForm):
    organisation = forms.ModelChoiceField(
        label=_("Only the assignments to"),
        queryset=Organisation.objects.order_by("name"),
        required=False,
        help_text=_("Leave empty for every addressee. Leave both dates empty to clear them."),
    )
    field_order = ["organisation", "due_date", "due_before_session"]


class SupersedeForm(forms.Form):
    superseded_by = forms.CharField(
        label=_("Superseded by (reference)"), max_length=32, help_text=_("e.g. IDM-2006-R004")
    )

    def clean_superseded_by(self):
        reference = self.cleaned_data["superseded_by"].strip()
        successor = Recommendation.objects.filter(reference=reference).first()
        if successor is None:
            raise forms.ValidationError(_("No recommendation has this reference."))
        return successor


class ReturnForm(forms.Form):
    comment = forms.CharField(
        label=_("What should be corrected"),
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text=_("Sent back to the agency with the report."),
    )


def _set_due(modeladmin, request, assignments_by_recommendation, data) -> None:
    done = 0
    for recommendation, assignments in assignments_by_recommendation.items():
        try:
            assignments_set_due(
                assignments=assignments,
                by=request.user,
                due_date=data["due_date"],
                due_before_session=data["due_before_session"],
            )
        except RecommendationError as error:
            modeladmin.message_user(
                request,
                format_html("{}: {}", str(recommendation), error.message),
                level=messages.ERROR,
            )
        else:
            done += len(assignments)
    if done:
        modeladmin.message_user(
            request,
            ngettext(
                "Due date set on %(count)d assignment.",
                "Due date set on %(count)d assignments.",
                done,
            )
            % {"count": done},
            level=messages.SUCCESS,
        )


# --- Recommendations ----------------------------------------------------------------------------


class ArchivedFilter(admin.SimpleListFilter):
    title = _("archived")
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("no", _("No")), ("yes", _("Yes"))]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        return queryset


def _followed_up(recommendation) -> bool:
    """Addressees and due dates change while a recommendation is a draft or adopted."""
    return recommendation is None or (
        recommendation.archived_at is None
        and recommendation.state in (RecommendationState.DRAFT, RecommendationState.ADOPTED)
    )


class AssignmentInline(NothingDeletedMixin, IdmTabularInline):
    model = Assignment
    label_related = ("organisation", "due_before_session")
    fields = [
        "organisation",
        "role",
        "response",
        "status",
        "progress",
        "due_date",
        "due_before_session",
        "due",
    ]
    readonly_fields = ["status", "progress", "due"]
    autocomplete_fields = ["organisation", "due_before_session"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return _followed_up(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return _followed_up(obj) and super().has_change_permission(request, obj)

    @admin.display(description=_("effective due date"))
    def due(self, obj):
        return assignment_effective_due_date(obj) if obj.pk else None


@admin.register(Recommendation)
class RecommendationAdmin(
    SecretariatOnlyMixin,
    NoRevertMixin,
    NothingDeletedMixin,
    ManagePermissionMixin,
    ImportExportMixin,
    SourcedAdminMixin,
    IdmAdmin,
):
    resource_classes = [RecommendationResource]
    formats = [CSV, XLSX]
    import_error_display = ("message", "row")
    list_display = [
        "reference",
        "short_text",
        "kind",
        "state",
        "made_by",
        "addressed_to",
        "overall_status",
        "overall_progress",
        "archived",
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
        ArchivedFilter,
        "kind",
        "overall_status",
        "dialogue",
        "policy_domains",
        SeedDocumentFilter,
    ]
    autocomplete_fields = [
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
    readonly_fields = [
        "state",
        "superseded_by",
        "archived_at",
        "overall_status",
        "overall_progress",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": ["reference", "text", "kind", "state", "superseded_by", "parent"],
                "description": _(
                    "The state changes through the actions of the list (adopt, close, "
                    "supersede, archive)."
                ),
            },
        ),
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
                "fields": ["overall_status", "overall_progress", "archived_at"],
                "description": _(
                    "Rolled up from the assignments below: progress is their mean weighted "
                    "by role (lead 2, supporting 1)."
                ),
            },
        ),
        (None, {"fields": ["notes"]}),
    ]
    inlines = [AssignmentInline]
    actions = [
        "adopt",
        "close",
        "supersede",
        "archive",
        "assign_to_organisation",
        "set_due_date",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("addressees")

    def has_change_permission(self, request, obj=None):
        # An archived recommendation no longer changes: its page opens read-only.
        if obj is not None and obj.archived_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_import_permission(self, request):
        return self.has_manage_permission(request) and self.has_add_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Addressees added or their roles changed in the inline: the roll-up follows.
        recommendation_rollup(recommendation=form.instance, by=request.user)

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

    @admin.display(description=_("archived"), boolean=True, ordering="archived_at")
    def archived(self, obj):
        return obj.archived_at is not None

    # Actions

    @admin.action(description=_("Adopt the selected recommendations"), permissions=["manage"])
    def adopt(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda r: recommendation_adopt(recommendation=r, by=request.user),
            lambda count: (
                ngettext(
                    "%(count)d recommendation adopted.", "%(count)d recommendations adopted.", count
                )
                % {"count": count}
            ),
        )

    @admin.action(description=_("Close the selected recommendations"), permissions=["manage"])
    def close(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda r: recommendation_close(recommendation=r, by=request.user),
            lambda count: (
                ngettext(
                    "%(count)d recommendation closed.", "%(count)d recommendations closed.", count
                )
                % {"count": count}
            ),
        )

    @admin.action(
        description=_("Archive the selected recommendations (instead of deleting)"),
        permissions=["manage"],
    )
    def archive(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda r: recommendation_archive(recommendation=r, by=request.user),
            lambda count: (
                ngettext(
                    "%(count)d recommendation archived.",
                    "%(count)d recommendations archived.",
                    count,
                )
                % {"count": count}
            ),
        )

    @admin.action(
        description=_("Mark as superseded by another recommendation…"), permissions=["manage"]
    )
    def supersede(self, request, queryset):
        form = SupersedeForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            successor = form.cleaned_data["superseded_by"]
            _run(
                self,
                request,
                queryset,
                lambda r: recommendation_supersede(
                    recommendation=r, by=request.user, superseded_by=successor
                ),
                lambda count: (
                    ngettext(
                        "%(count)d recommendation superseded by %(reference)s.",
                        "%(count)d recommendations superseded by %(reference)s.",
                        count,
                    )
                    % {"count": count, "reference": successor.reference}
                ),
            )
            return None
        return _action_form(
            self,
            request,
            queryset,
            form=form,
            action="supersede",
            title=gettext("Mark as superseded"),
            intro=gettext("These adopted recommendations will be superseded by the one named:"),
        )

    @admin.action(description=_("Assign to an organisation…"), permissions=["manage"])
    def assign_to_organisation(self, request, queryset):
        form = AssignForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data = form.cleaned_data
            _run(
                self,
                request,
                queryset,
                lambda r: recommendation_assign(
                    recommendation=r,
                    organisation=data["organisation"],
                    by=request.user,
                    role=data["role"],
                    due_date=data["due_date"],
                    due_before_session=data["due_before_session"],
                ),
                lambda count: (
                    ngettext(
                        "%(count)d recommendation assigned to %(organisation)s.",
                        "%(count)d recommendations assigned to %(organisation)s.",
                        count,
                    )
                    % {"count": count, "organisation": data["organisation"].short_name}
                ),
            )
            return None
        return _action_form(
            self,
            request,
            queryset,
            form=form,
            action="assign_to_organisation",
            title=gettext("Assign to an organisation"),
            intro=gettext(
                "Address these recommendations to one organisation. An organisation already "
                "addressed keeps its assignment, with the role and due date given here."
            ),
        )

    @admin.action(description=_("Set the due date of their assignments…"), permissions=["manage"])
    def set_due_date(self, request, queryset):
        form = SetDueForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data = form.cleaned_data
            assignments = Assignment.objects.filter(recommendation__in=queryset).select_related(
                "recommendation"
            )
            if data["organisation"] is not None:
                assignments = assignments.filter(organisation=data["organisation"])
            grouped = defaultdict(list)
            for assignment in assignments:
                grouped[assignment.recommendation].append(assignment)
            if not grouped:
                self.message_user(
                    request, gettext("No assignment to change."), level=messages.WARNING
                )
                return None
            _set_due(self, request, grouped, data)
            return None
        return _action_form(
            self,
            request,
            queryset,
            form=form,
            action="set_due_date",
            title=gettext("Set the due date"),
            intro=gettext("Set the due date of the assignments of these recommendations:"),
        )


# --- Assignments --------------------------------------------------------------------------------


class FollowUpReportInline(NothingDeletedMixin, IdmTabularInline):
    model = FollowUpReport
    fields = [
        "period_start",
        "period_end",
        "status",
        "progress",
        "state",
        "submitted_at",
        "archived_at",
    ]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Assignment)
class AssignmentAdmin(
    SecretariatOnlyMixin, NoRevertMixin, NothingDeletedMixin, ManagePermissionMixin, IdmAdmin
):
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
    readonly_fields = ["status", "progress"]
    inlines = [FollowUpReportInline]
    actions = ["set_due_date"]

    def has_add_permission(self, request):
        # Addressees are added on the recommendation's page or by its "Assign" action.
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and not _followed_up(obj.recommendation):
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # One assignment per addressee: moving it would rewrite its reports' meaning.
            readonly += ["recommendation", "organisation"]
        return readonly

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        recommendation_rollup(recommendation=obj.recommendation, by=request.user)

    @admin.display(description=_("due"), ordering="due_date")
    def due(self, obj):
        return assignment_effective_due_date(obj)

    @admin.action(description=_("Set the due date…"), permissions=["manage"])
    def set_due_date(self, request, queryset):
        form = DueForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            grouped = defaultdict(list)
            for assignment in queryset.select_related("recommendation"):
                grouped[assignment.recommendation].append(assignment)
            _set_due(self, request, grouped, form.cleaned_data)
            return None
        return _action_form(
            self,
            request,
            queryset.select_related("recommendation", "organisation"),
            form=form,
            action="set_due_date",
            title=gettext("Set the due date"),
            intro=gettext("Set the due date of these assignments:"),
        )


# --- Follow-up reports: the verification queue --------------------------------------------------


class ReviewQueueFilter(admin.SimpleListFilter):
    """Submitted reports unless asked otherwise: the list opens as the verification queue."""

    title = _("review state")
    parameter_name = "review"
    default = ReportState.SUBMITTED

    def lookups(self, request, model_admin):
        return [*ReportState.choices, ("all", _("All"))]

    def value(self):
        return super().value() or self.default

    def queryset(self, request, queryset):
        value = self.value()
        if value in ReportState.values:
            return queryset.filter(state=value)
        return queryset

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class ReportArchivedFilter(admin.SimpleListFilter):
    """Reports that are not archived, on recommendations that are not, unless asked."""

    title = _("archived")
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("no", _("No")), ("yes", _("Yes")), ("all", _("All"))]

    def value(self):
        return super().value() or "no"

    def queryset(self, request, queryset):
        archived = Q(archived_at__isnull=False) | Q(
            assignment__recommendation__archived_at__isnull=False
        )
        if self.value() == "no":
            return queryset.exclude(archived)
        if self.value() == "yes":
            return queryset.filter(archived)
        return queryset

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class EvidenceFileInline(NothingDeletedMixin, IdmTabularInline):
    model = EvidenceFile
    fields = ["link", "content_type", "size", "uploaded_by", "uploaded_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("file"))
    def link(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("recommendations:evidence-download", args=[obj.pk]),
            obj.original_name,
        )


REPORT_FIELDS = [
    "assignment",
    "period_start",
    "period_end",
    "status",
    "progress",
    "narrative",
    "links",
    "state",
    "review_comment",
    "submitted_by",
    "submitted_at",
    "reviewed_by",
    "reviewed_at",
    "archived_at",
]


@admin.register(FollowUpReport)
class FollowUpReportAdmin(
    SecretariatOnlyMixin, NoRevertMixin, NothingDeletedMixin, ManagePermissionMixin, IdmAdmin
):
    """The verification queue: reports are read here and accepted or returned by action.

    Reports come from the agencies (the API); their content is never edited here.
    """

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
    list_filter = [ReviewQueueFilter, ReportArchivedFilter, "status"]
    date_hierarchy = "period_end"
    fields = REPORT_FIELDS
    readonly_fields = REPORT_FIELDS
    inlines = [EvidenceFileInline]
    actions = ["accept", "return_for_correction", "archive"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("evidence links"))
    def links(self, obj):
        if not obj.evidence_urls:
            return self.get_empty_value_display()
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{0}" rel="noopener">{0}</a></li>',
                ((u,) for u in obj.evidence_urls),
            ),
        )

    @admin.action(description=_("Accept the selected reports"), permissions=["review"])
    def accept(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda report: followup_accept(report=report, by=request.user),
            lambda count: (
                ngettext("%(count)d report accepted.", "%(count)d reports accepted.", count)
                % {"count": count}
            ),
        )

    @admin.action(
        description=_("Return the selected reports for correction…"), permissions=["review"]
    )
    def return_for_correction(self, request, queryset):
        form = ReturnForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            comment = form.cleaned_data["comment"]
            _run(
                self,
                request,
                queryset,
                lambda report: followup_return(report=report, by=request.user, comment=comment),
                lambda count: (
                    ngettext("%(count)d report returned.", "%(count)d reports returned.", count)
                    % {"count": count}
                ),
            )
            return None
        return _action_form(
            self,
            request,
            queryset,
            form=form,
            action="return_for_correction",
            title=gettext("Return for correction"),
            intro=gettext("These reports go back to their agencies with your comment:"),
        )

    @admin.action(
        description=_("Archive the selected reports (instead of deleting)"),
        permissions=["review"],
    )
    def archive(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda report: followup_archive(report=report, by=request.user),
            lambda count: (
                ngettext("%(count)d report archived.", "%(count)d reports archived.", count)
                % {"count": count}
            ),
        )


@admin.register(EvidenceFile)
class EvidenceFileAdmin(SecretariatOnlyMixin, NoRevertMixin, NothingDeletedMixin, IdmAdmin):
    label_related = ("report__assignment__recommendation", "report__assignment__organisation")
    list_display = ["original_name", "report", "content_type", "size", "uploaded_by", "uploaded_at"]
    list_select_related = [
        "report__assignment__recommendation",
        "report__assignment__organisation",
        "uploaded_by",
    ]
    search_fields = ["original_name", "report__assignment__recommendation__reference"]
    list_filter = ["content_type"]
    fields = [
        "report",
        "file",
        "original_name",
        "size",
        "content_type",
        "uploaded_by",
        "uploaded_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Reminders and report runs have admin modules of their own.
from . import admin_reminders, admin_reports  # noqa: E402, F401
