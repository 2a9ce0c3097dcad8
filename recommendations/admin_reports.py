"""Admin of follow-up report runs: the list, a read-only page per run with its files, and
"Build a report now" / "Rebuild failed", which call the reporting services.

Runs are made by the services only (no add form, nothing edited or deleted). Their files are
never served from a public media URL: the admin's own view streams them to staff who may view
report runs, the HTML page inline (no scripts may run in it), the CSV and XLSX as attachments.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from idm.models import Dialogue

from .admin import SecretariatOnlyMixin
from .enums import ReportKind, ReportRunState
from .models import ReportRun
from .reporting import (
    FILE_CONTENT_TYPES,
    ReportError,
    report_run_create,
    report_run_summary,
    report_runs_rebuild_failed,
)

FILE_FIELDS = {"html": "html_file", "csv": "csv_file", "xlsx": "xlsx_file"}
BUILD_PERMISSION = "recommendations.add_reportrun"


def report_file_response(run: ReportRun, kind: str) -> FileResponse:
    """The run's HTML (inline), CSV or XLSX (attachment); ``Http404`` when it has none."""
    field_name = FILE_FIELDS.get(kind)
    if field_name is None or run.state != ReportRunState.DONE:
        raise Http404
    field_file = getattr(run, field_name)
    if not field_file:
        raise Http404
    try:
        handle = field_file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle,
        as_attachment=kind != "html",
        filename=Path(field_file.name).name,
        content_type=FILE_CONTENT_TYPES[kind],
    )
    if kind == "html":
        # Inline, but self-contained: styles and SVG only, nothing loaded, nothing run.
        response["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
        )
    else:
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


class BuildReportForm(forms.Form):
    dialogue = forms.ModelChoiceField(
        Dialogue.objects.order_by("-year"),
        required=False,
        label=_("Only this dialogue"),
        empty_label=_("All recommendations under follow-up"),
    )


@admin.register(ReportRun)
class ReportRunAdmin(SecretariatOnlyMixin, admin.ModelAdmin):
    change_list_template = "recommendations/reports/admin_change_list.html"
    list_display = [
        "__str__",
        "kind",
        "state",
        "period_key",
        "as_of",
        "recommendation_count",
        "assignment_count",
        "overdue_count",
        "file_links",
        "emailed_at",
    ]
    list_filter = ["kind", "state"]
    search_fields = ["period_key"]
    date_hierarchy = "as_of"
    list_select_related = ["dialogue", "council_session"]
    actions = ["rebuild_failed"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "kind",
                    "state",
                    "period_key",
                    "as_of",
                    "dialogue",
                    "council_session",
                    "previous",
                    "requested_by",
                ]
            },
        ),
        (_("Figures"), {"fields": ["summary", "recommendation_count", "files"]}),
        (_("Run"), {"fields": ["created_at", "started_at", "finished_at", "emailed_at", "error"]}),
    ]
    readonly_fields = [
        "kind",
        "state",
        "period_key",
        "as_of",
        "dialogue",
        "council_session",
        "previous",
        "requested_by",
        "summary",
        "recommendation_count",
        "files",
        "created_at",
        "started_at",
        "finished_at",
        "emailed_at",
        "error",
    ]

    # Runs are made by the services; nothing is edited or deleted here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_build_permission(self, request) -> bool:
        return not self._outside_secretariat(request) and request.user.has_perm(BUILD_PERMISSION)

    # -- Columns ---------------------------------------------------------------------------------

    @admin.display(description=_("assignments"))
    def assignment_count(self, obj):
        return ((obj.figures or {}).get("totals") or {}).get("assignments", "–")

    @admin.display(description=_("overdue"))
    def overdue_count(self, obj):
        return ((obj.figures or {}).get("totals") or {}).get("overdue", "–")

    def _file_links(self, obj, separator):
        if obj.state != ReportRunState.DONE:
            return "–"
        links = [
            (reverse("admin:recommendations_reportrun_file", args=[obj.pk, kind]), kind.upper())
            for kind, field_name in FILE_FIELDS.items()
            if getattr(obj, field_name)
        ]
        return format_html_join(separator, '<a href="{}">{}</a>', links) or "–"

    @admin.display(description=_("files"))
    def file_links(self, obj):
        return self._file_links(obj, " · ")

    @admin.display(description=_("files"))
    def files(self, obj):
        return self._file_links(obj, " · ")

    @admin.display(description=_("summary"))
    def summary(self, obj):
        text = report_run_summary(obj)
        missing = (obj.figures or {}).get("domains_without_active_agency") or []
        if not missing:
            return text
        return format_html(
            "{}<br>{} {}",
            text,
            gettext("Policy domains with no active agency:"),
            ", ".join(missing),
        )

    # -- Views -----------------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "build/",
                self.admin_site.admin_view(self.build_view),
                name="recommendations_reportrun_build",
            ),
            path(
                "<int:pk>/file/<str:kind>/",
                self.admin_site.admin_view(self.file_view),
                name="recommendations_reportrun_file",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "build_url": reverse("admin:recommendations_reportrun_build"),
            "has_build_permission": self.has_build_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def file_view(self, request, pk: int, kind: str):
        run = ReportRun.objects.filter(pk=pk).first()
        if run is None or not self.has_view_permission(request, run):
            raise Http404
        return report_file_response(run, kind)

    def build_view(self, request):
        """Build a report now: an on-demand run, queued; optionally limited to one dialogue."""
        if not self.has_build_permission(request):
            raise PermissionDenied
        form = BuildReportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = report_run_create(
                    kind=ReportKind.ON_DEMAND,
                    by=request.user,
                    dialogue=form.cleaned_data["dialogue"],
                )
            except ReportError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                self.log_addition(request, run, gettext("Requested from the admin."))
                self.message_user(
                    request,
                    gettext(
                        "The report is queued; it appears here with its files when it is built, "
                        "and is emailed to the secretariat."
                    ),
                    level=messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:recommendations_reportrun_change", args=[run.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Build a follow-up report now"),
            "opts": self.opts,
            "form": form,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "recommendations/reports/admin_build.html", context)

    # -- Actions ---------------------------------------------------------------------------------

    @admin.action(description=_("Rebuild the failed report runs selected"), permissions=["build"])
    def rebuild_failed(self, request, queryset):
        requeued = report_runs_rebuild_failed(runs=queryset)
        skipped = queryset.count() - len(requeued)
        if requeued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d failed run is queued to be built again.",
                    "%(count)d failed runs are queued to be built again.",
                    len(requeued),
                )
                % {"count": len(requeued)},
                level=messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d run was not rebuilt: only failed runs are.",
                    "%(count)d runs were not rebuilt: only failed runs are.",
                    skipped,
                )
                % {"count": skipped},
                level=messages.WARNING,
            )
