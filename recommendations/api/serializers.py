"""Serializers of the recommendations API: read shapes, and the bodies agencies send.

Read serializers only read what ``selectors.py`` selects or prefetches, so that a list costs the
same number of queries whatever its length. Write serializers refuse fields they do not take.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import unknown_fields
from idm.enums import DialogueStatus
from idm.models import CouncilSession, Dialogue, Meeting, PolicyDomain
from idm.selectors import event_key, event_key_for
from stakeholders.enums import OrganisationKind
from stakeholders.models import Organisation
from workshops.models import Workshop

from ..enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationKind,
    RecommendationState,
    ReportState,
    Response,
)
from ..models import Assignment, EvidenceFile, FollowUpReport, Recommendation
from ..selectors import OPEN_STATUSES, assignment_effective_due_date
from ..services import MAX_EVIDENCE_URLS, MAX_URL_LENGTH

# What an addressee may answer (``pending`` is where it starts, not an answer).
ANSWERS = [(value, label) for value, label in Response.choices if value != Response.PENDING]
NARRATIVE_MAX_LENGTH = 20_000
RESPONSE_TEXT_MAX_LENGTH = 20_000


# --- Reference data ------------------------------------------------------------------------------


class OrganisationSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text=_("Stable id of the organisation."))
    dataset_id = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text=_(
            'Key in the IDM dataset (e.g. "org-ilo"), where it comes from there; tells apart '
            "organisations sharing an acronym."
        ),
    )
    name = serializers.CharField(read_only=True, help_text=_("Name."))
    acronym = serializers.CharField(read_only=True, help_text=_("Acronym; may be empty."))
    full_name = serializers.CharField(read_only=True, help_text=_("Full name; may be empty."))
    kind = serializers.ChoiceField(
        choices=OrganisationKind.choices, read_only=True, help_text=_("Kind of organisation.")
    )
    country = serializers.CharField(read_only=True, help_text=_("Country; may be empty."))
    parent = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text=_("Id of the organisation it is part of; null when none."),
    )

    class Meta:
        model = Organisation
        fields = ["id", "dataset_id", "name", "acronym", "full_name", "kind", "country", "parent"]


class OrganisationBriefSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(
        read_only=True, help_text=_("Id of the organisation, as in /api/v1/organisations/.")
    )
    acronym = serializers.CharField(read_only=True, help_text=_("Acronym; may be empty."))
    name = serializers.CharField(read_only=True, help_text=_("Name."))

    class Meta:
        model = Organisation
        fields = ["id", "acronym", "name"]


class PolicyDomainSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(
        read_only=True, help_text=_("Stable key; use it in the policy_domain filters.")
    )
    name = serializers.CharField(read_only=True, help_text=_("Name."))
    description = serializers.CharField(read_only=True, help_text=_("Description; may be empty."))

    class Meta:
        model = PolicyDomain
        fields = ["slug", "name", "description"]


class DialogueSerializer(serializers.ModelSerializer):
    year = serializers.IntegerField(
        read_only=True, help_text=_("Year; the dialogue's key, used in the dialogue filters.")
    )
    theme = serializers.CharField(read_only=True, help_text=_("Theme."))
    status = serializers.ChoiceField(
        choices=DialogueStatus.choices,
        read_only=True,
        help_text=_("Whether the theme is proposed or agreed, or the dialogue held."),
    )

    class Meta:
        model = Dialogue
        fields = ["year", "theme", "status"]


class CouncilSessionBriefSerializer(serializers.ModelSerializer):
    id = serializers.SerializerMethodField(
        help_text=_('The session\'s key in /api/v1/meetings/, e.g. "council-session-3".')
    )
    number = serializers.IntegerField(read_only=True, help_text=_("Number of the session."))
    name = serializers.CharField(read_only=True, help_text=_("Name, e.g. Ninetieth Session."))
    start_date = serializers.DateField(
        read_only=True, allow_null=True, help_text=_("First day, if known.")
    )

    class Meta:
        model = CouncilSession
        fields = ["id", "number", "name", "start_date"]

    def get_id(self, session) -> str:
        return event_key(session)


# --- Assignments ---------------------------------------------------------------------------------


class AssignmentInRecommendationSerializer(serializers.ModelSerializer):
    """An addressee of a recommendation, with its own response, progress and due date."""

    id = serializers.IntegerField(
        read_only=True, help_text=_("Id of the assignment, as in /api/v1/assignments/{id}/.")
    )
    organisation = OrganisationBriefSerializer(
        read_only=True, help_text=_("The organisation addressed.")
    )
    role = serializers.ChoiceField(
        choices=AssignmentRole.choices,
        read_only=True,
        help_text=_("Lead or supporting (a lead counts twice in the overall progress)."),
    )
    response = serializers.ChoiceField(
        choices=Response.choices,
        read_only=True,
        help_text=_("The addressee's answer: pending until it answers."),
    )
    response_text = serializers.CharField(
        read_only=True, help_text=_("The addressee's words with its answer; may be empty.")
    )
    status = serializers.ChoiceField(
        choices=ImplementationStatus.choices,
        read_only=True,
        help_text=_("Implementation status: that of the latest accepted follow-up report."),
    )
    progress = serializers.IntegerField(
        read_only=True,
        min_value=0,
        max_value=100,
        help_text=_("Progress in percent: that of the latest accepted follow-up report."),
    )
    due_date = serializers.DateField(
        read_only=True, allow_null=True, help_text=_("Due date, when one is set as a date.")
    )
    due_before_session = CouncilSessionBriefSerializer(
        read_only=True,
        allow_null=True,
        help_text=_(
            "Instead of a date: due before this Council session (the due date moves with it)."
        ),
    )
    effective_due_date = serializers.SerializerMethodField(
        help_text=_(
            "The due date in effect: the date, or the first day of the session; null when "
            "neither is known."
        )
    )
    overdue = serializers.SerializerMethodField(
        help_text=_(
            "Still at work (not started or in progress) after the effective due date, on an "
            "adopted recommendation."
        )
    )
    updated_at = serializers.DateTimeField(read_only=True, help_text=_("Last change."))

    class Meta:
        model = Assignment
        fields = [
            "id",
            "organisation",
            "role",
            "response",
            "response_text",
            "status",
            "progress",
            "due_date",
            "due_before_session",
            "effective_due_date",
            "overdue",
            "updated_at",
        ]

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_effective_due_date(self, assignment):
        due = _effective_due(assignment)
        return due.isoformat() if due is not None else None

    def get_overdue(self, assignment) -> bool:
        return assignment_is_overdue(assignment)


def _effective_due(assignment):
    due = getattr(assignment, "effective_due", None)
    return due if due is not None else assignment_effective_due_date(assignment)


def assignment_is_overdue(assignment: Assignment, today=None) -> bool:
    """As ``selectors.assignments_overdue``, on an assignment and its recommendation in hand."""
    recommendation = assignment.recommendation
    due = _effective_due(assignment)
    return (
        due is not None
        and due < (today or timezone.localdate())
        and assignment.status in OPEN_STATUSES
        and recommendation.state == RecommendationState.ADOPTED
        and recommendation.archived_at is None
    )


class AssignmentSerializer(AssignmentInRecommendationSerializer):
    recommendation = serializers.SlugRelatedField(
        slug_field="reference",
        read_only=True,
        help_text=_("Reference of the recommendation, as in /api/v1/recommendations/{reference}/."),
    )
    recommendation_text = serializers.CharField(
        source="recommendation.text", read_only=True, help_text=_("Text of the recommendation.")
    )
    recommendation_state = serializers.ChoiceField(
        source="recommendation.state",
        choices=RecommendationState.choices,
        read_only=True,
        help_text=_("State of the recommendation."),
    )

    class Meta(AssignmentInRecommendationSerializer.Meta):
        fields = [
            "id",
            "recommendation",
            "recommendation_text",
            "recommendation_state",
            *AssignmentInRecommendationSerializer.Meta.fields[1:],
        ]


# --- Recommendations -----------------------------------------------------------------------------


class RecommendationSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(
        read_only=True, help_text=_("Stable reference, e.g. IDM-2005-R001; the key in URLs.")
    )
    text = serializers.CharField(read_only=True, help_text=_("The recommendation's text."))
    kind = serializers.ChoiceField(
        choices=RecommendationKind.choices, read_only=True, help_text=_("Kind of statement.")
    )
    state = serializers.ChoiceField(
        choices=RecommendationState.choices,
        read_only=True,
        help_text=_("draft → adopted → closed or superseded; outside the secretariat: adopted."),
    )
    superseded_by = serializers.SlugRelatedField(
        slug_field="reference",
        read_only=True,
        allow_null=True,
        help_text=_("Reference of the recommendation that supersedes it; null when none."),
    )
    parent = serializers.SlugRelatedField(
        slug_field="reference",
        read_only=True,
        allow_null=True,
        help_text=_("Reference of the recommendation it is part of; null when none."),
    )
    dialogue = serializers.SlugRelatedField(
        slug_field="year",
        read_only=True,
        allow_null=True,
        help_text=_("Year of the dialogue it comes from; null when none."),
    )
    council_session = serializers.SerializerMethodField(
        help_text=_("Council session it comes from: its key in /api/v1/meetings/; or null.")
    )
    meeting = serializers.SerializerMethodField(
        help_text=_('Meeting it comes from: its key in /api/v1/meetings/ ("meeting-3"); or null.')
    )
    workshop = serializers.SerializerMethodField(
        help_text=_('Workshop it comes from: its key in /api/v1/meetings/ ("workshop-7"); or null.')
    )
    agenda_item = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text=_("Id of the agenda item; or null.")
    )
    document = serializers.SerializerMethodField(
        help_text=_("Symbol (or, without one, title) of the document it is stated in; or null.")
    )
    paragraph = serializers.CharField(
        read_only=True, help_text=_("Paragraph or section of the document; may be empty.")
    )
    policy_domains = serializers.SlugRelatedField(
        slug_field="slug",
        many=True,
        read_only=True,
        help_text=_("Slugs of its policy domains, as in /api/v1/policy-domains/."),
    )
    addressed_to_text = serializers.CharField(
        read_only=True, help_text=_("Addressees as the source states them; may be empty.")
    )
    overall_status = serializers.ChoiceField(
        choices=ImplementationStatus.choices,
        read_only=True,
        help_text=_(
            "Computed from the assignments: implemented, not started or not implemented when "
            "all addressees are; partially implemented when all have concluded but differently; "
            "in progress otherwise."
        ),
    )
    overall_progress = serializers.IntegerField(
        read_only=True,
        min_value=0,
        max_value=100,
        help_text=_(
            "Mean of the assignments' progress weighted by role (lead 2, supporting 1), "
            "rounded half up."
        ),
    )
    assignments = AssignmentInRecommendationSerializer(
        many=True, read_only=True, help_text=_("Its addressees, lead first.")
    )
    archived_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=_("When it was archived (seen by the secretariat only); null otherwise."),
    )
    created_at = serializers.DateTimeField(read_only=True, help_text=_("Created."))
    updated_at = serializers.DateTimeField(
        read_only=True,
        help_text=_("Last change of the recommendation itself (see also its assignments)."),
    )

    class Meta:
        model = Recommendation
        fields = [
            "reference",
            "text",
            "kind",
            "state",
            "superseded_by",
            "parent",
            "dialogue",
            "council_session",
            "meeting",
            "workshop",
            "agenda_item",
            "document",
            "paragraph",
            "policy_domains",
            "addressed_to_text",
            "overall_status",
            "overall_progress",
            "assignments",
            "archived_at",
            "created_at",
            "updated_at",
        ]

    # Keys are built from the foreign keys alone: no join, no extra row loaded.
    def get_council_session(self, recommendation) -> str | None:
        return event_key_for(CouncilSession, recommendation.council_session_id)

    def get_meeting(self, recommendation) -> str | None:
        return event_key_for(Meeting, recommendation.meeting_id)

    def get_workshop(self, recommendation) -> str | None:
        return event_key_for(Workshop, recommendation.workshop_id)

    def get_document(self, recommendation) -> str | None:
        document = recommendation.document
        if document is None:
            return None
        return document.symbol or document.title


# --- Follow-up reports ---------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Refuses, with a field error each, the fields of a body that it does not take."""

    def validate(self, attrs):
        extra = unknown_fields(self.initial_data, self.fields)
        if extra:
            raise serializers.ValidationError(extra)
        return attrs


class EvidenceFileSerializer(serializers.ModelSerializer):
    """An evidence file attached to a follow-up report; its bytes are at ``download_url``."""

    id = serializers.IntegerField(read_only=True, help_text=_("Id of the evidence file."))
    name = serializers.CharField(
        source="original_name",
        read_only=True,
        help_text=_("The file's name as uploaded (without any folder), used when downloading."),
    )
    size = serializers.IntegerField(read_only=True, help_text=_("Size in bytes."))
    content_type = serializers.CharField(
        read_only=True,
        help_text=_("Its media type, found from its extension and first bytes when uploaded."),
    )
    uploaded_at = serializers.DateTimeField(read_only=True, help_text=_("When it was uploaded."))
    download_url = serializers.SerializerMethodField(
        help_text=_(
            "Where to download it (with the same API key or session): /api/v1/evidence/{id}/"
            "download/."
        )
    )

    class Meta:
        model = EvidenceFile
        fields = ["id", "name", "size", "content_type", "uploaded_at", "download_url"]

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, evidence) -> str:
        url = reverse("api:evidence-download", kwargs={"pk": evidence.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


@extend_schema_field(OpenApiTypes.BINARY)
class UploadedFileField(serializers.FileField):
    """A file sent in a multipart body (documented as binary, not as the URL it reads as)."""


class EvidenceUploadSerializer(StrictSerializer):
    """The multipart body that attaches an evidence file to a report."""

    file = UploadedFileField(
        help_text=_(
            "The file: PDF, DOCX, XLSX, PNG, JPG, CSV or TXT, at most 10 MB. Its name is kept "
            "(without folders) for downloads."
        )
    )


class FollowUpSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(
        read_only=True, help_text=_("Id of the report, as in /api/v1/follow-ups/{id}/.")
    )
    assignment = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text=_("Id of the assignment reported on.")
    )
    recommendation = serializers.CharField(
        source="assignment.recommendation.reference",
        read_only=True,
        help_text=_("Reference of the recommendation."),
    )
    organisation = OrganisationBriefSerializer(
        source="assignment.organisation",
        read_only=True,
        help_text=_("The organisation reporting."),
    )
    period_start = serializers.DateField(
        read_only=True, help_text=_("First day of the reporting period.")
    )
    period_end = serializers.DateField(
        read_only=True, help_text=_("Last day of the reporting period.")
    )
    status = serializers.ChoiceField(
        choices=ImplementationStatus.choices,
        read_only=True,
        help_text=_("Implementation status reported."),
    )
    progress = serializers.IntegerField(
        read_only=True, min_value=0, max_value=100, help_text=_("Progress reported, in percent.")
    )
    narrative = serializers.CharField(read_only=True, help_text=_("What was done."))
    evidence_urls = serializers.ListField(
        child=serializers.URLField(), read_only=True, help_text=_("Links to evidence.")
    )
    evidence_files = EvidenceFileSerializer(
        source="files",
        many=True,
        read_only=True,
        help_text=_(
            "Evidence files attached (POST /api/v1/follow-ups/{id}/evidence/), each with its "
            "download_url."
        ),
    )
    state = serializers.ChoiceField(
        choices=ReportState.choices,
        read_only=True,
        help_text=_(
            "submitted (awaiting the secretariat), accepted (counts for progress) or returned "
            "(to be corrected and resubmitted)."
        ),
    )
    review_comment = serializers.CharField(
        read_only=True,
        help_text=_("The secretariat's comment: what to correct, for a returned report."),
    )
    submitted_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=_("When it was (last) submitted.")
    )
    reviewed_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=_("When the secretariat last reviewed it.")
    )
    created_at = serializers.DateTimeField(read_only=True, help_text=_("Created."))
    updated_at = serializers.DateTimeField(read_only=True, help_text=_("Last change."))

    class Meta:
        model = FollowUpReport
        fields = [
            "id",
            "assignment",
            "recommendation",
            "organisation",
            "period_start",
            "period_end",
            "status",
            "progress",
            "narrative",
            "evidence_urls",
            "evidence_files",
            "state",
            "review_comment",
            "submitted_at",
            "reviewed_at",
            "created_at",
            "updated_at",
        ]


# --- What agencies send --------------------------------------------------------------------------


class AssignmentResponseSerializer(StrictSerializer):
    """PATCH of an assignment: the addressee's answer. No other field may be sent."""

    response = serializers.ChoiceField(
        choices=ANSWERS,
        required=False,
        help_text=_("The answer: supported, supported in part or noted (kept when omitted)."),
    )
    response_text = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=RESPONSE_TEXT_MAX_LENGTH,
        help_text=_("The agency's words with its answer (kept when omitted)."),
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not attrs:
            raise serializers.ValidationError(
                {"response": [_("Send response, response_text or both.")]}
            )
        return attrs


class FollowUpWriteSerializer(StrictSerializer):
    """A follow-up report, as the addressed agency submits it."""

    period_start = serializers.DateField(help_text=_("First day of the reporting period."))
    period_end = serializers.DateField(
        help_text=_("Last day of the reporting period (on or after its first day).")
    )
    status = serializers.ChoiceField(
        choices=ImplementationStatus.choices,
        help_text=_(
            "Implementation status at the end of the period (not_started means 0% progress, "
            "implemented 100%)."
        ),
    )
    progress = serializers.IntegerField(
        min_value=0, max_value=100, help_text=_("Progress in whole percent, 0 to 100.")
    )
    narrative = serializers.CharField(
        max_length=NARRATIVE_MAX_LENGTH, help_text=_("What was done in the period.")
    )
    evidence_urls = serializers.ListField(
        child=serializers.URLField(max_length=MAX_URL_LENGTH),
        max_length=MAX_EVIDENCE_URLS,
        required=False,
        help_text=_("Links (http or https) to evidence, at most 20."),
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        start, end = attrs.get("period_start"), attrs.get("period_end")
        if start is not None and end is not None and end < start:
            raise serializers.ValidationError(
                {"period_end": [_("The reporting period must end on or after its first day.")]}
            )
        return attrs


class FollowUpResubmitSerializer(FollowUpWriteSerializer):
    """A returned report, corrected: the fields sent replace the report's; others are kept."""

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields
