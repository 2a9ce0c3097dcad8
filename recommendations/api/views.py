"""The recommendations API: what partner agencies read, answer and report on.

Who may act is a permission of ``rules.py`` asked by ``config.api.RulesPermission`` before the
request body is read: 404 for what the caller may not see, 403 for what it may see but not
change. What the caller sees comes from ``selectors.py`` (``recommendations_for`` …), so a list
and a detail never disagree. Every write locks its row, checks ``If-Match`` on it, and calls one
service in the same transaction; a ``RecommendationError`` becomes a 400 with the service's
message (a field error when it names a field). POSTs accept an ``Idempotency-Key``.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from config.api import (
    ETAG_HEADER,
    IDEMPOTENCY_KEY_PARAMETER,
    IF_MATCH_HEADER,
    IF_NONE_MATCH_HEADER,
    LOCATION_HEADER,
    NOT_MODIFIED,
    REPLAYED_HEADER_PARAMETER,
    ApiPagination,
    ApiRateThrottle,
    ETagMixin,
    Refused,
    RulesPermission,
    check_if_match,
    error_response,
    errors,
    etag_of,
    idempotent,
)
from idm.models import Dialogue, PolicyDomain
from stakeholders.models import Organisation

from ..filters import AssignmentFilter, FollowUpFilter, OrganisationFilter, RecommendationFilter
from ..models import EVIDENCE_MAX_BYTES, Assignment, EvidenceFile, FollowUpReport, Recommendation
from ..rules import (
    is_addressed_agency,
    is_agency,
)
from ..selectors import (
    assignment_effective_due_date,
    assignments_for,
    followups_for,
    recommendations_for,
)
from ..services import (
    RecommendationError,
    assignment_respond,
    evidence_add,
    followup_resubmit,
    followup_submit,
)
from ..views import evidence_response
from .serializers import (
    AssignmentResponseSerializer,
    AssignmentSerializer,
    DialogueSerializer,
    EvidenceFileSerializer,
    EvidenceUploadSerializer,
    FollowUpResubmitSerializer,
    FollowUpSerializer,
    FollowUpWriteSerializer,
    OrganisationSerializer,
    PolicyDomainSerializer,
    RecommendationSerializer,
    assignment_is_overdue,
)


def domain_error(error: RecommendationError) -> exceptions.APIException:
    """A service's refusal as a 400: a field error when it names a field, else ``refused``."""
    if error.field:
        return exceptions.ValidationError({error.field: [error.message]})
    return Refused(error.message)


# --- Row versions (ETags) and locks --------------------------------------------------------------


def assignment_etag(assignment: Assignment) -> str:
    """Changes with the assignment, its effective due date (a session that moves) and overdue."""
    return etag_of(
        "assignment",
        assignment.pk,
        assignment.updated_at,
        assignment_effective_due_date(assignment),
        assignment_is_overdue(assignment),
    )


def report_etag(report: FollowUpReport) -> str:
    """Changes with the report and with its evidence files (prefetched by ``followups_for``)."""
    return etag_of(
        "follow-up", report.pk, report.updated_at, sorted(f.pk for f in report.files.all())
    )


def recommendation_etag(recommendation: Recommendation) -> str:
    """The recommendation with its (prefetched) assignments and policy domains."""
    return etag_of(
        "recommendation",
        recommendation.pk,
        recommendation.updated_at,
        [
            (assignment.pk, assignment.updated_at, assignment_effective_due_date(assignment))
            for assignment in recommendation.assignments.all()
        ],
        sorted(domain.slug for domain in recommendation.policy_domains.all()),
    )


def lock_assignment(pk: int) -> Assignment:
    """The assignment locked for update, after its recommendation (the services' lock order)."""
    recommendation_id = Assignment.objects.values_list("recommendation_id", flat=True).get(pk=pk)
    recommendation = Recommendation.objects.select_for_update().get(pk=recommendation_id)
    assignment = Assignment.objects.select_for_update().get(pk=pk)
    assignment.recommendation = recommendation
    return assignment


def lock_report(pk: int) -> FollowUpReport:
    """The report locked for update, after its assignment and recommendation."""
    assignment_id = FollowUpReport.objects.values_list("assignment_id", flat=True).get(pk=pk)
    assignment = lock_assignment(assignment_id)
    report = FollowUpReport.objects.select_for_update().get(pk=pk)
    report.assignment = assignment
    return report


# --- Schema pieces -------------------------------------------------------------------------------

REFERENCE_PARAMETER = OpenApiParameter(
    "reference",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description=gettext_lazy("The recommendation's reference, e.g. IDM-2005-R001."),
)
ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=gettext_lazy("Its id.")
)


def _list_schema(summary, description, serializer):
    return extend_schema(
        summary=summary,
        description=description,
        responses={200: serializer(many=True), **errors(400, 401, 403, 429)},
    )


def _detail_schema(summary, description, serializer, parameter=ID_PARAMETER):
    return extend_schema(
        summary=summary,
        description=description,
        parameters=[parameter, IF_NONE_MATCH_HEADER, ETAG_HEADER],
        responses={200: serializer, 304: NOT_MODIFIED, **errors(401, 404, 429)},
    )


# --- Recommendations -----------------------------------------------------------------------------


@extend_schema_view(
    list=_list_schema(
        gettext_lazy("Recommendations"),
        gettext_lazy(
            "Adopted recommendations (the secretariat sees all), each with its addressees; by "
            "reference unless ordered otherwise. For delegations, agencies and the secretariat."
        ),
        RecommendationSerializer,
    ),
    retrieve=_detail_schema(
        gettext_lazy("One recommendation"),
        gettext_lazy("With its addressees; the ETag changes when they change."),
        RecommendationSerializer,
        REFERENCE_PARAMETER,
    ),
)
class RecommendationViewSet(ETagMixin, viewsets.ReadOnlyModelViewSet):
    """Recommendations of the dialogues and workshops, with each addressee's follow-up."""

    serializer_class = RecommendationSerializer
    filterset_class = RecommendationFilter
    pagination_class = ApiPagination
    throttle_classes = [ApiRateThrottle]
    permission_classes = [RulesPermission]
    rules_permissions = {"read": "recommendations.view_recommendation"}
    lookup_field = "reference"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return recommendations_for(user=self.request.user).select_related("superseded_by", "parent")

    def get_etag(self, obj) -> str:
        return recommendation_etag(obj)


# --- Assignments ---------------------------------------------------------------------------------


@extend_schema_view(
    list=_list_schema(
        gettext_lazy("Assignments"),
        gettext_lazy(
            "Each addressee of an adopted recommendation with its response, status, progress "
            "and due date. mine=true for the caller's organisation, overdue=true for the late."
        ),
        AssignmentSerializer,
    ),
    retrieve=_detail_schema(
        gettext_lazy("One assignment"),
        gettext_lazy("Send its ETag in If-Match when answering."),
        AssignmentSerializer,
    ),
    partial_update=extend_schema(
        summary=gettext_lazy("Answer a recommendation addressed to the caller's organisation"),
        description=gettext_lazy(
            "Only response and response_text may be sent (any other field is refused with "
            "400, nothing changed), only by the addressed agency (403 for others who may see "
            "the assignment). The recommendation must be adopted."
        ),
        parameters=[ID_PARAMETER, IF_MATCH_HEADER, ETAG_HEADER],
        request=AssignmentResponseSerializer,
        responses={200: AssignmentSerializer, **errors(400, 401, 403, 404, 412, 429)},
    ),
)
class AssignmentViewSet(ETagMixin, viewsets.ReadOnlyModelViewSet):
    """The addressees of recommendations: one assignment per recommendation and organisation."""

    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter
    pagination_class = ApiPagination
    throttle_classes = [ApiRateThrottle]
    parser_classes = [JSONParser]
    permission_classes = [RulesPermission]
    rules_permissions = {
        "read": "recommendations.view_assignment",
        "partial_update": "recommendations.respond_assignment",
        "follow_ups": "recommendations.add_followup",
    }
    # PATCH answers; no PUT, no DELETE: both 405.
    http_method_names = ["get", "patch", "post", "head", "options"]

    def get_queryset(self):
        return assignments_for(user=self.request.user).order_by(
            "recommendation__reference", "organisation__name", "pk"
        )

    def get_etag(self, obj) -> str:
        return assignment_etag(obj)

    def refusal(self, action_name, assignment) -> str:
        if assignment is not None and not is_addressed_agency(self.request.user, assignment):
            if is_agency(self.request.user):
                return _("This recommendation is addressed to another organisation.")
            return _("Only the addressed agency answers and reports on its assignments.")
        return _("You may not do this.")

    def _read(self, pk: int, status_code=status.HTTP_200_OK, headers=None) -> Response:
        assignment = self.get_queryset().get(pk=pk)
        return Response(
            AssignmentSerializer(assignment, context=self.get_serializer_context()).data,
            status=status_code,
            headers={"ETag": assignment_etag(assignment), **(headers or {})},
        )

    def partial_update(self, request, *args, **kwargs):
        assignment = self.get_object()  # 404 or 403 before the body is read
        serializer = AssignmentResponseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            locked = lock_assignment(assignment.pk)
            check_if_match(request, assignment_etag(locked))
            try:
                assignment_respond(
                    assignment=locked,
                    by=request.user,
                    response=data.get("response", locked.response),
                    response_text=data.get("response_text", locked.response_text),
                )
            except RecommendationError as error:
                raise domain_error(error) from None
        return self._read(assignment.pk)

    @extend_schema(
        summary=gettext_lazy("Report progress on an assignment"),
        description=gettext_lazy(
            "A follow-up report by the addressed agency, entered as submitted for the "
            "secretariat to accept or return. Send an Idempotency-Key to retry safely: a retry "
            "returns the first response and creates nothing. If-Match, optional, is the "
            "assignment's ETag."
        ),
        parameters=[
            ID_PARAMETER,
            IDEMPOTENCY_KEY_PARAMETER,
            IF_MATCH_HEADER,
            ETAG_HEADER,
            LOCATION_HEADER,
            REPLAYED_HEADER_PARAMETER,
        ],
        request=FollowUpWriteSerializer,
        responses={201: FollowUpSerializer, **errors(400, 401, 403, 404, 412, 422, 429)},
    )
    @action(detail=True, methods=["post"], url_path="follow-ups", url_name="follow-ups")
    def follow_ups(self, request, pk=None):
        # A retry is answered from its stored response first: the first request was allowed.
        return idempotent(request, lambda: self._submit(request), authorize=self.get_object)

    def _submit(self, request) -> Response:
        assignment = self.get_object()  # 404 or 403 before the body is read
        serializer = FollowUpWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            locked = lock_assignment(assignment.pk)
            check_if_match(request, assignment_etag(locked))
            try:
                report = followup_submit(
                    assignment=locked, by=request.user, **serializer.validated_data
                )
            except RecommendationError as error:
                raise domain_error(error) from None
        report = followups_for(user=request.user).get(pk=report.pk)
        location = request.build_absolute_uri(
            reverse("api:follow-up-detail", kwargs={"pk": report.pk})
        )
        return Response(
            FollowUpSerializer(report, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
            headers={"ETag": report_etag(report), "Location": location},
        )


# --- Evidence files ------------------------------------------------------------------------------

# A multipart body around a file of at most 10 MB is at most this long: longer bodies are refused
# from their Content-Length, before they are read.
EVIDENCE_MAX_BODY_BYTES = EVIDENCE_MAX_BYTES + 64 * 1024
EVIDENCE_MEDIA_TYPES = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "image/png",
    "image/jpeg",
    "text/csv",
    "text/plain",
)


CONTENT_DISPOSITION_HEADER = OpenApiParameter(
    "Content-Disposition",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    description=gettext_lazy(
        'attachment; filename="<its original name>" (with filename* for names that are not '
        "ASCII): save the file, never display it inline."
    ),
)


class EvidenceTooLarge(exceptions.ValidationError):
    """A file (or a whole body) over the 10 MB limit: 413, in the one error shape."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


def too_large() -> EvidenceTooLarge:
    return EvidenceTooLarge({"file": [_("An evidence file may be at most 10 MB.")]})


def evidence_data(evidence: EvidenceFile, request) -> dict:
    return EvidenceFileSerializer(evidence, context={"request": request}).data


class EvidencePermission(RulesPermission):
    """``RulesPermission`` asked about an evidence file's report."""

    def has_object_permission(self, request, view, obj) -> bool:
        return super().has_object_permission(request, view, obj.report)


class IgnoreAcceptNegotiation(DefaultContentNegotiation):
    """A download answers with the file's own type whatever ``Accept`` says; errors in JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema_view(
    download=extend_schema(
        summary=gettext_lazy("Download an evidence file"),
        description=gettext_lazy(
            'The file itself, as an attachment (Content-Disposition: attachment; filename="its '
            'original name"), with the content type found when it was uploaded and '
            "X-Content-Type-Options: nosniff. Only for callers who may read its follow-up "
            "report (404 for others). With an API key or a session."
        ),
        parameters=[ID_PARAMETER, CONTENT_DISPOSITION_HEADER],
        responses={
            **{
                (200, media_type): OpenApiResponse(
                    OpenApiTypes.BINARY, description=gettext_lazy("The file's bytes.")
                )
                for media_type in EVIDENCE_MEDIA_TYPES
            },
            **errors(401, 403, 404, 429),
        },
    ),
)
class EvidenceViewSet(viewsets.GenericViewSet):
    """Evidence files of follow-up reports, downloaded by those who may read the report."""

    serializer_class = EvidenceFileSerializer
    throttle_classes = [ApiRateThrottle]
    permission_classes = [EvidencePermission]
    rules_permissions = {
        "read": "recommendations.view_followup",
        "download": "recommendations.view_followup",
    }
    content_negotiation_class = IgnoreAcceptNegotiation
    filter_backends = []
    pagination_class = None

    def get_queryset(self):
        readable = followups_for(user=self.request.user).values("pk")
        return EvidenceFile.objects.filter(report__in=readable).select_related(
            "report__assignment__recommendation", "report__assignment__organisation"
        )

    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        return evidence_response(self.get_object())


# --- Follow-up reports ---------------------------------------------------------------------------


@extend_schema_view(
    list=_list_schema(
        gettext_lazy("Follow-up reports"),
        gettext_lazy(
            "Accepted reports on adopted recommendations; an agency also sees its own in every "
            "state (submitted, returned with the secretariat's comment); the secretariat all. "
            "Latest period first."
        ),
        FollowUpSerializer,
    ),
    retrieve=_detail_schema(
        gettext_lazy("One follow-up report"),
        gettext_lazy("Send its ETag in If-Match when resubmitting."),
        FollowUpSerializer,
    ),
)
class FollowUpViewSet(ETagMixin, viewsets.ReadOnlyModelViewSet):
    """Follow-up reports of addressees, reviewed by the secretariat."""

    serializer_class = FollowUpSerializer
    filterset_class = FollowUpFilter
    pagination_class = ApiPagination
    throttle_classes = [ApiRateThrottle]
    parser_classes = [JSONParser]
    permission_classes = [RulesPermission]
    rules_permissions = {
        "read": "recommendations.view_followup",
        "resubmit": "recommendations.resubmit_followup",
        # Reading the report is needed (404 otherwise); add_evidence is checked next.
        "evidence": "recommendations.view_followup",
    }

    def get_queryset(self):
        return followups_for(user=self.request.user)

    def get_etag(self, obj) -> str:
        return report_etag(obj)

    def refusal(self, action_name, report) -> str:
        if report is not None and not is_addressed_agency(self.request.user, report):
            return _("Only the reporting agency resubmits its reports.")
        return _(
            "This report is %(state)s: only a returned report can be corrected and resubmitted."
        ) % {"state": report.get_state_display().lower() if report else "?"}

    @extend_schema(
        summary=gettext_lazy("Correct and resubmit a returned report"),
        description=gettext_lazy(
            "By the reporting agency, after the secretariat returned the report with a comment. "
            "The fields sent replace the report's; the others are kept. The report is "
            "submitted again. Idempotency-Key and If-Match (the report's ETag) as for reports."
        ),
        parameters=[
            ID_PARAMETER,
            IDEMPOTENCY_KEY_PARAMETER,
            IF_MATCH_HEADER,
            ETAG_HEADER,
            REPLAYED_HEADER_PARAMETER,
        ],
        request=FollowUpResubmitSerializer,
        responses={200: FollowUpSerializer, **errors(400, 401, 403, 404, 412, 422, 429)},
    )
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        # A retry is answered from its stored response first: once resubmitted, the report is
        # no longer returned, and the rules would refuse the retry itself.
        return idempotent(request, lambda: self._resubmit(request), authorize=self.get_object)

    def _resubmit(self, request) -> Response:
        report = self.get_object()  # 404 or 403 before the body is read
        serializer = FollowUpResubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            locked = lock_report(report.pk)
            check_if_match(request, report_etag(locked))
            try:
                followup_resubmit(report=locked, by=request.user, **serializer.validated_data)
            except RecommendationError as error:
                raise domain_error(error) from None
        fresh = self.get_queryset().get(pk=report.pk)
        return Response(
            FollowUpSerializer(fresh, context=self.get_serializer_context()).data,
            headers={"ETag": report_etag(fresh)},
        )

    @extend_schema(
        summary=gettext_lazy("Attach an evidence file to a report"),
        description=gettext_lazy(
            "By the reporting agency, while the report is submitted or returned (403 otherwise; "
            "404 for a report the caller may not see). A multipart/form-data body with one "
            "field, file: PDF, DOCX, XLSX, PNG, JPG, CSV or TXT, at most 10 MB (413 above). The "
            "type is found from the extension and the file's first bytes, not from the "
            "declared content type, which must not contradict them (400). At most 20 files per "
            "report. Idempotency-Key as for reports."
        ),
        parameters=[
            ID_PARAMETER,
            IDEMPOTENCY_KEY_PARAMETER,
            LOCATION_HEADER,
            REPLAYED_HEADER_PARAMETER,
        ],
        request={"multipart/form-data": EvidenceUploadSerializer},
        responses={
            201: EvidenceFileSerializer,
            **errors(400, 401, 403, 404, 422, 429),
            413: error_response(
                gettext_lazy("The file is larger than 10 MB (errors on file); nothing stored.")
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[MultiPartParser],
        url_path="evidence",
        url_name="evidence",
    )
    def evidence(self, request, pk=None):
        # Who may act and the announced size are checked before the body is read.
        report = self.get_object()  # 401, 404
        if not request.user.has_perm("recommendations.add_evidence", report):
            raise exceptions.PermissionDenied(self.evidence_refusal(report))
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > EVIDENCE_MAX_BODY_BYTES:
            raise too_large()
        return idempotent(request, lambda: self._add_evidence(request, report))

    def evidence_refusal(self, report) -> str:
        if not is_addressed_agency(self.request.user, report):
            return _("Only the reporting agency attaches evidence to its reports.")
        return _(
            "This report is %(state)s: evidence is added only while it is submitted or returned."
        ) % {"state": report.get_state_display().lower()}

    def _add_evidence(self, request, report) -> Response:
        serializer = EvidenceUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        if upload.size is None or upload.size > EVIDENCE_MAX_BYTES:
            raise too_large()
        try:
            evidence = evidence_add(report=report, by=request.user, file=upload)
        except RecommendationError as error:
            raise domain_error(error) from None
        location = request.build_absolute_uri(
            reverse("api:evidence-download", kwargs={"pk": evidence.pk})
        )
        return Response(
            evidence_data(evidence, request),
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


# --- Reference data (public) ---------------------------------------------------------------------


class PublicViewSet(ETagMixin, viewsets.ReadOnlyModelViewSet):
    """Public reference data: anyone may read; nobody writes through the API (405)."""

    pagination_class = ApiPagination
    throttle_classes = [ApiRateThrottle]
    permission_classes = [AllowAny]


@extend_schema_view(
    list=_list_schema(
        gettext_lazy("Organisations"),
        gettext_lazy("Every organisation of the dataset and since, by name. Public."),
        OrganisationSerializer,
    ),
    retrieve=_detail_schema(
        gettext_lazy("One organisation"), gettext_lazy("Public."), OrganisationSerializer
    ),
)
class OrganisationViewSet(PublicViewSet):
    """Organisations: addressees of recommendations, delegations, agencies."""

    serializer_class = OrganisationSerializer
    filterset_class = OrganisationFilter
    queryset = Organisation.objects.order_by("name", "pk")


@extend_schema_view(
    list=_list_schema(
        gettext_lazy("Policy domains"),
        gettext_lazy("The policy domains recommendations are classed in, by name. Public."),
        PolicyDomainSerializer,
    ),
    retrieve=_detail_schema(
        gettext_lazy("One policy domain"),
        gettext_lazy("Public."),
        PolicyDomainSerializer,
        OpenApiParameter(
            "slug",
            OpenApiTypes.STR,
            OpenApiParameter.PATH,
            description=gettext_lazy("The policy domain's slug."),
        ),
    ),
)
class PolicyDomainViewSet(PublicViewSet):
    serializer_class = PolicyDomainSerializer
    filterset_class = None
    queryset = PolicyDomain.objects.order_by("name", "pk")
    lookup_field = "slug"


@extend_schema_view(
    list=_list_schema(
        gettext_lazy("Dialogues"),
        gettext_lazy("The International Dialogues on Migration, latest first. Public."),
        DialogueSerializer,
    ),
    retrieve=_detail_schema(
        gettext_lazy("One dialogue"),
        gettext_lazy("Public."),
        DialogueSerializer,
        OpenApiParameter(
            "year",
            OpenApiTypes.INT,
            OpenApiParameter.PATH,
            description=gettext_lazy("The dialogue's year."),
        ),
    ),
)
class DialogueViewSet(PublicViewSet):
    serializer_class = DialogueSerializer
    filterset_class = None
    queryset = Dialogue.objects.order_by("-year")
    lookup_field = "year"
    lookup_value_regex = "[0-9]{4}"
