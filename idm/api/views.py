"""The public, read-only meetings API: Council sessions, IDM sittings, consultations, workshops."""

import datetime

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import ApiPagination, error_response
from idm.filters import EventFilter, EventKind, EventStatus
from idm.models import AgendaVersion, CouncilSession, Meeting
from idm.selectors import EVENT_KEY_PREFIXES, event_title
from workshops.models import Workshop

from .serializers import AgendaQuerySerializer, AgendaVersionSerializer, MeetingSerializer


def _published_version(agenda_lookup: str) -> Subquery:
    return Subquery(
        AgendaVersion.objects.filter(**{agenda_lookup: OuterRef("pk")})
        .order_by("-number")
        .values("number")[:1]
    )


def event_querysets() -> list[QuerySet]:
    """One queryset per table of events, each with what an entry shows: one query apiece."""
    return [
        CouncilSession.objects.select_related("venue", "room", "dialogue", "agenda").annotate(
            published_version=_published_version("agenda__council_session")
        ),
        Meeting.objects.select_related("venue", "room", "dialogue", "agenda").annotate(
            published_version=_published_version("agenda__meeting")
        ),
        Workshop.objects.select_related("venue", "dialogue", "agenda").annotate(
            published_version=_published_version("agenda__workshop")
        ),
    ]


_MODEL_ORDER = {CouncilSession: 0, Meeting: 1, Workshop: 2}


def _event_sort_key(event):
    """Newest first by first day, undated last, then by title; the key makes it total."""
    start: datetime.date | None = event.start_date
    title = event_title(event).casefold()
    return (
        start is None,
        -start.toordinal() if start else 0,
        title,
        _MODEL_ORDER[type(event)],
        event.pk,
    )


LIST_PARAMETERS = [
    OpenApiParameter(
        "year",
        OpenApiTypes.INT,
        description=_(
            "Only events of this year: the year of the first day, or of the dialogue when "
            "the dates are not known."
        ),
    ),
    OpenApiParameter(
        "kind", OpenApiTypes.STR, enum=EventKind.values, description=_("Kind of event.")
    ),
    OpenApiParameter(
        "status",
        OpenApiTypes.STR,
        enum=EventStatus.values,
        description=_(
            "Only events with this status (a Council session is held once its last day is past)."
        ),
    ),
]
ID_PARAMETER = OpenApiParameter(
    "id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description=_('The event\'s key, e.g. "council-session-1", "meeting-3" or "workshop-7".'),
)
NOT_FOUND = error_response(_("No such event (code not_found)."))
THROTTLED = error_response(
    _("Too many requests from this client (code throttled): retry after Retry-After seconds.")
)


@extend_schema(tags=["meetings"])
class MeetingViewSet(viewsets.GenericViewSet):
    """Council sessions, IDM sittings, informal consultations and workshops, read-only.

    Public data: anyone may read, nobody may write through the API (every other method is 405).
    Errors come in the API's one shape (``config.api``); anonymous clients are throttled.
    """

    serializer_class = MeetingSerializer
    pagination_class = ApiPagination
    filter_backends = []  # the list runs EventFilter on each of its three querysets itself
    authentication_classes = []
    permission_classes = [AllowAny]
    http_method_names = ["get", "head", "options"]
    lookup_field = "id"
    lookup_value_regex = "[^/]+"

    def get_events(self) -> list:
        """The events the list shows, filtered and sorted: three queries whatever their number."""
        filterset = EventFilter(self.request.query_params, queryset=CouncilSession.objects.none())
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        events = []
        for queryset in event_querysets():
            events.extend(EventFilter(self.request.query_params, queryset=queryset).qs)
        events.sort(key=_event_sort_key)
        return events

    def get_object(self):
        prefix, _sep, pk = str(self.kwargs[self.lookup_field]).rpartition("-")
        model = EVENT_KEY_PREFIXES.get(prefix)
        if model is None or not pk.isdigit():
            raise Http404
        for queryset in event_querysets():
            if queryset.model is model:
                event = queryset.filter(pk=int(pk)).first()
                if event is not None:
                    return event
        raise Http404

    @extend_schema(
        summary=_("List events"),
        parameters=LIST_PARAMETERS,
        responses={
            200: MeetingSerializer(many=True),
            400: error_response(
                _("A filter is invalid (code invalid; errors names each query parameter).")
            ),
            429: THROTTLED,
        },
    )
    def list(self, request: Request) -> Response:
        """Every event, newest first (undated ones last), then by title."""
        page = self.paginate_queryset(self.get_events())
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        summary=_("One event"),
        parameters=[ID_PARAMETER],
        responses={200: MeetingSerializer, 404: NOT_FOUND, 429: THROTTLED},
    )
    def retrieve(self, request: Request, id: str) -> Response:
        """One event, as the list shows it."""
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary=_("An event's published agenda"),
        parameters=[
            ID_PARAMETER,
            OpenApiParameter(
                "version",
                OpenApiTypes.INT,
                description=_("Number of an earlier published version; the latest by default."),
            ),
        ],
        responses={
            200: AgendaVersionSerializer,
            400: error_response(_("The version is invalid (code invalid; errors names it).")),
            404: error_response(
                _("No such event, no published agenda, or no such version (code not_found).")
            ),
            429: THROTTLED,
        },
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def agenda(self, request: Request, id: str) -> Response:
        """The latest published version of the event's agenda, or the one asked for."""
        query = AgendaQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        number = query.validated_data.get("version")
        event = self.get_object()
        versions = AgendaVersion.objects.filter(**{_agenda_owner(event): event})
        if number is None:
            version = versions.order_by("-number").first()
            if version is None:
                raise NotFound(_("This event has no published agenda."))
        else:
            version = versions.filter(number=number).first()
            if version is None:
                raise NotFound(
                    _("This event's agenda has no published version %(number)s.")
                    % {"number": number}
                )
        return Response(AgendaVersionSerializer(version).data)


def _agenda_owner(event) -> str:
    if isinstance(event, CouncilSession):
        return "agenda__council_session"
    if isinstance(event, Meeting):
        return "agenda__meeting"
    return "agenda__workshop"
