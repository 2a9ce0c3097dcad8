import uuid
from pathlib import PurePath

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from idm.models import AgendaItem, CouncilSession, Dialogue, Document, Meeting, PolicyDomain
from idm.sources import SourcedModel, TimeStampedModel
from stakeholders.models import Organisation, Person
from workshops.models import Workshop

from ..enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationKind,
    RecommendationState,
    ReportState,
    Response,
)

PERCENT = [MinValueValidator(0), MaxValueValidator(100)]
REFERENCE_PATTERN = r"^[A-Z]{2,10}-[0-9]{4}-R[0-9]{3,5}\Z"
EVIDENCE_MAX_BYTES = 10 * 1024 * 1024


class Recommendation(SourcedModel):
    reference = models.CharField(
        _("reference"), max_length=32, unique=True, help_text=_("e.g. IDM-2005-R001")
    )
    text = models.TextField(_("text"))
    kind = models.CharField(
        _("kind"),
        max_length=32,
        choices=RecommendationKind.choices,
        default=RecommendationKind.RECOMMENDATION,
    )
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=RecommendationState.choices,
        default=RecommendationState.DRAFT,
    )
    superseded_by = models.ForeignKey(
        "self",
        verbose_name=_("superseded by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supersedes",
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("part of"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="parts",
    )
    # Where it came from.
    dialogue = models.ForeignKey(
        Dialogue,
        verbose_name=_("dialogue"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendations",
    )
    council_session = models.ForeignKey(
        CouncilSession,
        verbose_name=_("Council session"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendations",
    )
    meeting = models.ForeignKey(
        Meeting,
        verbose_name=_("meeting"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendations",
    )
    workshop = models.ForeignKey(
        Workshop,
        verbose_name=_("workshop"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendations",
    )
    agenda_item = models.ForeignKey(
        AgendaItem,
        verbose_name=_("agenda item"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendations",
    )
    document = models.ForeignKey(
        Document,
        verbose_name=_("document"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendations",
    )
    paragraph = models.CharField(_("paragraph or section"), max_length=255, blank=True)
    cited_documents = models.ManyToManyField(
        Document, verbose_name=_("documents cited"), blank=True, related_name="cited_by"
    )
    # Who made it.
    made_by_person = models.ForeignKey(
        Person,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendations",
    )
    co_authors = models.ManyToManyField(
        Person, verbose_name=_("co-authors"), blank=True, related_name="co_authored_recommendations"
    )
    made_by_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("made by (organisation)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendations_made",
    )
    made_by_text = models.CharField(_("made by as stated"), max_length=255, blank=True)
    quoted_by = models.ForeignKey(
        Person,
        verbose_name=_("quoted by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="quoted_recommendations",
    )
    policy_domains = models.ManyToManyField(
        PolicyDomain,
        verbose_name=_("policy domains"),
        blank=True,
        related_name="recommendations",
    )
    addressed_to_text = models.CharField(_("addressed to as stated"), max_length=255, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Roll-up of the assignments, stored for fast listing.
    overall_status = models.CharField(
        _("overall status"),
        max_length=32,
        choices=ImplementationStatus.choices,
        default=ImplementationStatus.NOT_STARTED,
    )
    overall_progress = models.PositiveSmallIntegerField(
        _("overall progress"), default=0, validators=PERCENT
    )
    addressees = models.ManyToManyField(
        Organisation, through="Assignment", related_name="recommendations_addressed", blank=True
    )
    archived_at = models.DateTimeField(
        _("archived"),
        null=True,
        blank=True,
        help_text=_(
            "Nothing is deleted: an archived recommendation is hidden outside the "
            "secretariat and no longer changes."
        ),
    )
    history = HistoricalRecords(m2m_fields=[policy_domains, co_authors, cited_documents])

    class Meta:
        verbose_name = _("recommendation")
        verbose_name_plural = _("recommendations")
        ordering = ["reference"]
        indexes = [models.Index(fields=["state", "reference"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(reference__regex=REFERENCE_PATTERN),
                name="recommendation_reference_format",
                violation_error_message=_("Use a reference such as IDM-2005-R001."),
            ),
            models.CheckConstraint(
                condition=~Q(text=""),
                name="recommendation_text_not_empty",
                violation_error_message=_("A recommendation needs its text."),
            ),
            models.CheckConstraint(
                condition=Q(overall_progress__gte=0, overall_progress__lte=100),
                name="recommendation_progress_0_100",
                violation_error_message=_("Progress is a percentage from 0 to 100."),
            ),
            models.CheckConstraint(
                condition=~Q(state=RecommendationState.SUPERSEDED) | Q(superseded_by__isnull=False),
                name="superseded_recommendation_names_successor",
                violation_error_message=_(
                    "A superseded recommendation must name the one that supersedes it."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(superseded_by=F("pk")),
                name="recommendation_not_superseded_by_itself",
                violation_error_message=_("A recommendation cannot supersede itself."),
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class Assignment(TimeStampedModel):
    """A recommendation addressed to one organisation, with that addressee's own follow-up."""

    recommendation = models.ForeignKey(
        Recommendation,
        verbose_name=_("recommendation"),
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("addressed to"),
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    role = models.CharField(
        _("role"), max_length=16, choices=AssignmentRole.choices, default=AssignmentRole.LEAD
    )
    response = models.CharField(
        _("response"), max_length=20, choices=Response.choices, default=Response.PENDING
    )
    response_text = models.TextField(_("response text"), blank=True)
    status = models.CharField(
        _("implementation status"),
        max_length=32,
        choices=ImplementationStatus.choices,
        default=ImplementationStatus.NOT_STARTED,
    )
    progress = models.PositiveSmallIntegerField(_("progress"), default=0, validators=PERCENT)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    due_before_session = models.ForeignKey(
        CouncilSession,
        verbose_name=_("due before Council session"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assignments_due",
        help_text=_("Instead of a date: due before this session, moving with it."),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["recommendation__reference", "organisation__name"]
        indexes = [models.Index(fields=["organisation", "due_date"])]
        constraints = [
            models.UniqueConstraint(
                fields=["recommendation", "organisation"],
                name="one_assignment_per_addressee",
                violation_error_message=_(
                    "This recommendation is already addressed to this organisation."
                ),
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100),
                name="assignment_progress_0_100",
                violation_error_message=_("Progress is a percentage from 0 to 100."),
            ),
            models.CheckConstraint(
                condition=Q(due_date__isnull=True) | Q(due_before_session__isnull=True),
                name="assignment_one_kind_of_due_date",
                violation_error_message=_(
                    "Give either a due date or a Council session it is due before, not both."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recommendation.reference} → {self.organisation.short_name}"

    @property
    def effective_due_date(self):
        if self.due_date:
            return self.due_date
        if self.due_before_session_id and self.due_before_session.start_date:
            return self.due_before_session.start_date
        return None


class FollowUpReport(TimeStampedModel):
    assignment = models.ForeignKey(
        Assignment,
        verbose_name=_("assignment"),
        on_delete=models.PROTECT,
        related_name="reports",
    )
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period to"))
    status = models.CharField(
        _("status reported"), max_length=32, choices=ImplementationStatus.choices
    )
    progress = models.PositiveSmallIntegerField(_("progress reported"), validators=PERCENT)
    narrative = models.TextField(_("narrative"))
    evidence_urls = models.JSONField(_("evidence links"), default=list, blank=True)
    state = models.CharField(
        _("review state"),
        max_length=16,
        choices=ReportState.choices,
        default=ReportState.SUBMITTED,
    )
    review_comment = models.TextField(_("secretariat comment"), blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("submitted by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    archived_at = models.DateTimeField(
        _("archived"),
        null=True,
        blank=True,
        help_text=_(
            "Nothing is deleted: an archived report is hidden outside the secretariat "
            "and no longer counts towards the assignment's progress."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("follow-up report")
        verbose_name_plural = _("follow-up reports")
        ordering = ["-period_end", "-pk"]
        indexes = [models.Index(fields=["assignment", "state", "period_end"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="report_period_ends_after_it_starts",
                violation_error_message=_(
                    "The reporting period must end on or after its first day."
                ),
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100),
                name="report_progress_0_100",
                violation_error_message=_("Progress is a percentage from 0 to 100."),
            ),
            models.CheckConstraint(
                condition=~Q(narrative=""),
                name="report_narrative_not_empty",
                violation_error_message=_("A follow-up report needs a narrative."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assignment} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"


def evidence_upload_to(instance: "EvidenceFile", filename: str) -> str:
    """``evidence/<year>/<random name><extension>``: the original name is kept in a field only."""
    suffix = PurePath(filename).suffix.lower()[:10]
    return f"evidence/{timezone.now():%Y}/{uuid.uuid4().hex}{suffix}"


class EvidenceFile(models.Model):
    """A file attached to a follow-up report as evidence (checked by ``followup_submit``)."""

    report = models.ForeignKey(
        FollowUpReport,
        verbose_name=_("follow-up report"),
        on_delete=models.PROTECT,
        related_name="files",
    )
    file = models.FileField(_("file"), upload_to=evidence_upload_to, max_length=255)
    original_name = models.CharField(_("original name"), max_length=255)
    size = models.PositiveIntegerField(_("size in bytes"))
    content_type = models.CharField(_("content type"), max_length=100)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("evidence file")
        verbose_name_plural = _("evidence files")
        ordering = ["report", "uploaded_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(size__lte=EVIDENCE_MAX_BYTES),
                name="evidence_file_at_most_10_mb",
                violation_error_message=_("An evidence file may be at most 10 MB."),
            ),
            models.CheckConstraint(
                condition=~Q(original_name=""),
                name="evidence_file_has_a_name",
                violation_error_message=_("An evidence file needs its original name."),
            ),
        ]

    def __str__(self) -> str:
        return self.original_name
