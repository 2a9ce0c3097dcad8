"""Follow-up report runs: the figures and files of one report, kept for the admin and the API."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from idm.models import CouncilSession, Dialogue
from idm.sources import TimeStampedModel

from ..enums import ReportKind, ReportRunState


def report_file_upload_to(instance: "ReportRun", filename: str) -> str:
    return f"reports/{timezone.now():%Y}/run-{instance.pk or 'new'}/{filename}"


class ReportRun(TimeStampedModel):
    kind = models.CharField(_("kind"), max_length=16, choices=ReportKind.choices)
    state = models.CharField(
        _("state"), max_length=16, choices=ReportRunState.choices, default=ReportRunState.QUEUED
    )
    period_key = models.CharField(
        _("period"),
        max_length=40,
        blank=True,
        help_text=_("2026-11 for a monthly report, council-session-N before a session."),
    )
    as_of = models.DateTimeField(_("figures as of"), default=timezone.now)
    dialogue = models.ForeignKey(
        Dialogue,
        verbose_name=_("only this dialogue"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="report_runs",
    )
    council_session = models.ForeignKey(
        CouncilSession,
        verbose_name=_("before Council session"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="report_runs",
    )
    previous = models.ForeignKey(
        "self",
        verbose_name=_("compared with"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    recommendation_count = models.PositiveIntegerField(_("recommendations"), default=0)
    figures = models.JSONField(_("figures"), default=dict, blank=True)
    html_file = models.FileField(_("HTML"), upload_to=report_file_upload_to, blank=True)
    csv_file = models.FileField(_("CSV"), upload_to=report_file_upload_to, blank=True)
    xlsx_file = models.FileField(_("XLSX"), upload_to=report_file_upload_to, blank=True)
    snapshot_file = models.FileField(
        _("state snapshot"),
        upload_to=report_file_upload_to,
        blank=True,
        help_text=_("Each assignment's status at this run, to tell what changed at the next."),
    )
    error = models.TextField(_("error"), blank=True)
    emailed_at = models.DateTimeField(_("emailed"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up report run")
        verbose_name_plural = _("follow-up report runs")
        ordering = ["-as_of", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "period_key"],
                condition=~Q(period_key=""),
                name="report_run_once_per_period",
                violation_error_message=_("This period's report has already been made."),
            ),
            models.CheckConstraint(
                condition=~Q(state=ReportRunState.DONE) | Q(finished_at__isnull=False),
                name="report_run_done_has_finish_time",
                violation_error_message=_("A finished report records when it finished."),
            ),
        ]

    def __str__(self) -> str:
        label = self.period_key or f"{self.as_of:%Y-%m-%d %H:%M}"
        return f"{self.get_kind_display()} follow-up report {label}"
