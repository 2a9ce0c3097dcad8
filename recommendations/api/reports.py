"""Follow-up report runs in the API: the secretariat requests a report and downloads its files.

``POST /api/v1/reports/`` queues a run (202) and returns it; ``GET`` lists and reads runs; the
HTML page, the CSV and the XLSX of a finished run are downloaded from ``{id}/html/``,
``{id}/csv/`` and ``{id}/xlsx/``. Only the secretariat (``recommendations.view_report_run`` and
``request_report_run`` in ``rules.py``): 401 without credentials, 403 for delegations and
agencies. The POST accepts an ``Idempotency-Key``.
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
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from config.api import (
    IDEMPOTENCY_KEY_PARAMETER,
    REPLAYED_HEADER_PARAMETER,
    ApiPagination,
    ApiRateThrottle,
    RulesPermission,
    errors,
    idempotent,
    unknown_fields,
)
from idm.models import CouncilSession, Dialogue
from idm.selectors import event_from_key, event_key_for

from ..admin_reports import report_file_response
from ..enums import ReportKind, ReportRunState
from ..models import ReportRun
from ..reporting import FILE_CONTENT_TYPES, ReportError, report_run_create
from .views import IgnoreAcceptNegotiation

VIEW = "recommendations.view_report_run"
REQUEST = "recommendations.request_report_run"
DIALOGUE_YEARS = range(2001, 2101)


class ReportSummarySerializer(serializers.Serializer):
    assignments = serializers.IntegerField(help_text=gettext_lazy("Assignments (addressees)."))
    concluded = serializers.IntegerField(
        help_text=gettext_lazy("Assignments concluded: implemented, partially or not implemented.")
    )
    completion_rate = serializers.FloatField(
        allow_null=True,
        help_text=gettext_lazy("Share of assignments concluded, in percent; null without any."),
    )
    average_progress = serializers.FloatField(
        allow_null=True, help_text=gettext_lazy("Mean progress of the assignments, in percent.")
    )
    overdue = serializers.IntegerField(help_text=gettext_lazy("Assignments overdue."))
    without_active_agency = serializers.IntegerField(
        help_text=gettext_lazy("Open recommendations none of whose addressees is in progress.")
    )
    domains_without_active_agency = serializers.ListField(
        child=serializers.CharField(),
        help_text=gettext_lazy(
            "Policy domains with open recommendations and no addressee in progress on any."
        ),
    )
    changes = serializers.DictField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text=gettext_lazy(
            "Since the previous report of the same scope: changed, status changed, newly "
            "concluded, new, closed; null when there is none to compare with."
        ),
    )


class ReportLinksSerializer(serializers.Serializer):
    html = serializers.URLField(help_text=gettext_lazy("The HTML page with its charts."))
    csv = serializers.URLField(help_text=gettext_lazy("The CSV: summary tables, then rows."))
    xlsx = serializers.URLField(help_text=gettext_lazy("The XLSX: one sheet per table."))


class ReportRunSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text=gettext_lazy("Id of the run."))
    kind = serializers.ChoiceField(
        choices=ReportKind.choices, read_only=True, help_text=gettext_lazy("Kind of report.")
    )
    state = serializers.ChoiceField(
        choices=ReportRunState.choices,
        read_only=True,
        help_text=gettext_lazy("queued, running, done or failed (see error)."),
    )
    period_key = serializers.CharField(
        read_only=True,
        help_text=gettext_lazy(
            'The month ("2026-11") of a monthly report, the session ("council-session-3") of a '
            "report before a session; empty on demand."
        ),
    )
    as_of = serializers.DateTimeField(
        read_only=True, help_text=gettext_lazy("When the figures were (or will be) taken.")
    )
    dialogue = serializers.SerializerMethodField(
        help_text=gettext_lazy("Year of the only dialogue covered; null: all recommendations.")
    )
    council_session = serializers.SerializerMethodField(
        help_text=gettext_lazy("Key of the Council session a session report is made before.")
    )
    requested_at = serializers.DateTimeField(
        source="created_at", read_only=True, help_text=gettext_lazy("When it was requested.")
    )
    started_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=gettext_lazy("When its build started.")
    )
    finished_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=gettext_lazy("When its build ended.")
    )
    recommendation_count = serializers.IntegerField(
        read_only=True, help_text=gettext_lazy("Recommendations covered (once done).")
    )
    summary = serializers.SerializerMethodField(
        help_text=gettext_lazy("The key figures, once done; null before.")
    )
    links = serializers.SerializerMethodField(
        help_text=gettext_lazy("Where to download its files, once done; null before.")
    )
    error = serializers.CharField(
        read_only=True, help_text=gettext_lazy("Why the build failed; empty otherwise.")
    )
    emailed_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy("When it was emailed to the secretariat's list."),
    )

    class Meta:
        model = ReportRun
        fields = [
            "id",
            "kind",
            "state",
            "period_key",
            "as_of",
            "dialogue",
            "council_session",
            "requested_at",
            "started_at",
            "finished_at",
            "recommendation_count",
            "summary",
            "links",
            "error",
            "emailed_at",
        ]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_dialogue(self, run) -> int | None:
        return run.dialogue.year if run.dialogue_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_council_session(self, run) -> str | None:
        return event_key_for(CouncilSession, run.council_session_id)

    @extend_schema_field(ReportSummarySerializer(allow_null=True))
    def get_summary(self, run) -> dict | None:
        if run.state != ReportRunState.DONE:
            return None
        figures = run.figures or {}
        totals = figures.get("totals") or {}
        changes = figures.get("changes") or {}
        return {
            "assignments": totals.get("assignments", 0),
            "concluded": totals.get("concluded", 0),
            "completion_rate": totals.get("completion_rate"),
            "average_progress": totals.get("average_progress"),
            "overdue": totals.get("overdue", 0),
            "without_active_agency": totals.get("without_active_agency", 0),
            "domains_without_active_agency": figures.get("domains_without_active_agency", []),
            "changes": changes.get("counts") if changes.get("previous") else None,
        }

    @extend_schema_field(ReportLinksSerializer(allow_null=True))
    def get_links(self, run) -> dict | None:
        if run.state != ReportRunState.DONE:
            return None
        request = self.context.get("request")
        links = {}
        for kind in FILE_CONTENT_TYPES:
            url = reverse(f"api:report-{kind}", kwargs={"pk": run.pk})
            links[kind] = request.build_absolute_uri(url) if request is not None else url
        return links


class ReportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ReportKind.choices,
        default=ReportKind.ON_DEMAND,
        help_text=gettext_lazy(
            "on_demand (default): a new report now. monthly: this month's report (the one "
            "already made is returned). session: the report before council_session."
        ),
    )
    dialogue = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text=gettext_lazy(
            "Only this dialogue's recommendations: its year (its key, e.g. 2005) or its id. "
            "On-demand reports only."
        ),
    )
    council_session = serializers.CharField(
        required=False,
        help_text=gettext_lazy('For kind session: the session\'s key, e.g. "council-session-1".'),
    )

    def validate_dialogue(self, value):
        if value is None:
            return None
        field = "year" if value in DIALOGUE_YEARS else "pk"
        dialogue = Dialogue.objects.filter(**{field: value}).first()
        if dialogue is None:
            raise serializers.ValidationError(_("No dialogue has this year or id."))
        return dialogue

    def validate_council_session(self, value):
        session = event_from_key(value)
        if not isinstance(session, CouncilSession):
            raise serializers.ValidationError(
                _('No Council session has this key; give one such as "council-session-1".')
            )
        return session

    def validate(self, attrs):
        extra = unknown_fields(self.initial_data, self.fields)
        if extra:
            raise serializers.ValidationError(extra)
        return attrs


ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=gettext_lazy("Id of the run.")
)


def _download_schema(kind: str, disposition: str):
    return extend_schema(
        summary=gettext_lazy("Download a report's %(kind)s") % {"kind": kind.upper()},
        description=gettext_lazy(
            "The file of a finished run (404 while it is queued or running, or when it failed), "
            "with Content-Disposition: %(disposition)s. Secretariat only."
        )
        % {"disposition": disposition},
        parameters=[ID_PARAMETER],
        responses={
            (200, FILE_CONTENT_TYPES[kind].split(";")[0]): OpenApiResponse(
                OpenApiTypes.BINARY, description=gettext_lazy("The file's bytes.")
            ),
            **errors(401, 403, 404, 429),
        },
    )


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("Follow-up report runs"),
        description=gettext_lazy(
            "Monthly, before-session and on-demand follow-up reports, latest first, with their "
            "state, key figures and file links. Secretariat only."
        ),
        responses={200: ReportRunSerializer(many=True), **errors(401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary=gettext_lazy("One follow-up report run"),
        description=gettext_lazy("Poll it after a POST until its state is done or failed."),
        parameters=[ID_PARAMETER],
        responses={200: ReportRunSerializer, **errors(401, 403, 404, 429)},
    ),
    create=extend_schema(
        summary=gettext_lazy("Request a follow-up report"),
        description=gettext_lazy(
            "Queues a report built in the background from the figures as they stand, and "
            "answers 202 with the run (state queued; a monthly or session report already made "
            "is returned as it is). Poll the run; once done it links to its HTML, CSV and XLSX "
            "and is emailed to the secretariat. An empty body asks for an on-demand report on "
            "all recommendations. Idempotency-Key as for other POSTs. Secretariat only."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER, REPLAYED_HEADER_PARAMETER],
        request=ReportRequestSerializer,
        responses={202: ReportRunSerializer, **errors(400, 401, 403, 422, 429)},
    ),
    html=_download_schema("html", 'inline; filename="…html"'),
    csv=_download_schema("csv", 'attachment; filename="…csv"'),
    xlsx=_download_schema("xlsx", 'attachment; filename="…xlsx"'),
)
class ReportRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Follow-up report runs and their files, for the secretariat."""

    serializer_class = ReportRunSerializer
    pagination_class = ApiPagination
    throttle_classes = [ApiRateThrottle]
    parser_classes = [JSONParser]
    permission_classes = [RulesPermission]
    rules_permissions = {"read": VIEW, "html": VIEW, "csv": VIEW, "xlsx": VIEW}
    filter_backends = []

    def get_queryset(self):
        return ReportRun.objects.select_related("dialogue").order_by("-as_of", "-pk")

    def create(self, request, *args, **kwargs):
        if not request.user.has_perm(REQUEST):
            raise exceptions.PermissionDenied(_("Only the secretariat requests reports."))
        return idempotent(request, lambda: self._create(request))

    def _create(self, request) -> Response:
        serializer = ReportRequestSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            with transaction.atomic():
                run = report_run_create(
                    kind=data["kind"],
                    by=request.user,
                    dialogue=data.get("dialogue"),
                    council_session=data.get("council_session"),
                )
        except ReportError as error:
            raise exceptions.ValidationError(
                {error.field or "non_field_errors": [error.message]}
            ) from None
        run = self.get_queryset().get(pk=run.pk)
        location = request.build_absolute_uri(reverse("api:report-detail", kwargs={"pk": run.pk}))
        return Response(
            ReportRunSerializer(run, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )

    def _download(self, kind: str):
        run = self.get_object()
        if run.state != ReportRunState.DONE:
            raise exceptions.NotFound(
                _("This report is %(state)s: its files exist once it is done.")
                % {"state": run.get_state_display().lower()}
            )
        return report_file_response(run, kind)

    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptNegotiation)
    def html(self, request, pk=None):
        return self._download("html")

    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptNegotiation)
    def csv(self, request, pk=None):
        return self._download("csv")

    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptNegotiation)
    def xlsx(self, request, pk=None):
        return self._download("xlsx")
