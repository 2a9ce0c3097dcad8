"""django-filter FilterSets of the dialogue's API."""

import django_filters
from django import forms
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from workshops.enums import WorkshopStatus
from workshops.models import Workshop

from .enums import MeetingKind
from .models import CouncilSession, Meeting


class EventKind(models.TextChoices):
    """What the public list calls each event; every kind of workshop counts as a workshop."""

    COUNCIL_SESSION = "council_session", _("Council session")
    IDM_SITTING = MeetingKind.IDM_SITTING.value, MeetingKind.IDM_SITTING.label
    INFORMAL_CONSULTATION = (
        MeetingKind.INFORMAL_CONSULTATION.value,
        MeetingKind.INFORMAL_CONSULTATION.label,
    )
    WORKSHOP = "workshop", _("Workshop or related event")


class EventStatus(models.TextChoices):
    """Every status an event may have: a meeting's, a workshop's, or a session's derived one."""

    PLANNED = WorkshopStatus.PLANNED.value, WorkshopStatus.PLANNED.label
    CONFIRMED = WorkshopStatus.CONFIRMED.value, WorkshopStatus.CONFIRMED.label
    HELD = WorkshopStatus.HELD.value, WorkshopStatus.HELD.label
    REPORT_PUBLISHED = WorkshopStatus.REPORT_PUBLISHED.value, WorkshopStatus.REPORT_PUBLISHED.label
    CANCELLED = WorkshopStatus.CANCELLED.value, WorkshopStatus.CANCELLED.label


def council_session_status(session: CouncilSession) -> str:
    """A session is held once its last day (or, lacking one, its first day) is past."""
    last_day = session.end_date or session.start_date
    if last_day is not None and last_day < timezone.localdate():
        return EventStatus.HELD
    return EventStatus.PLANNED


def event_kind(event) -> str:
    if isinstance(event, CouncilSession):
        return EventKind.COUNCIL_SESSION
    if isinstance(event, Meeting):
        return event.kind
    return EventKind.WORKSHOP


class YearFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class EventFilter(django_filters.FilterSet):
    """Filters the Council sessions, meetings and workshops of ``/api/v1/meetings/``.

    The list merges three tables, so the same FilterSet runs once on each queryset; each
    method answers for the model of the queryset it is given.
    """

    year = YearFilter(
        method="filter_year",
        min_value=1,
        max_value=9999,
        label=_("Year of the first day, or of the dialogue when the dates are not known."),
    )
    kind = django_filters.ChoiceFilter(
        choices=EventKind.choices, method="filter_kind", label=_("Kind of event.")
    )
    status = django_filters.ChoiceFilter(
        choices=EventStatus.choices,
        method="filter_status",
        label=_("Status; a Council session is held once its last day is past, else planned."),
    )

    def filter_year(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.filter(
            Q(start_date__year=value) | Q(start_date__isnull=True, dialogue__year=value)
        )

    def filter_kind(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        model = queryset.model
        if model is CouncilSession:
            return queryset if value == EventKind.COUNCIL_SESSION else queryset.none()
        if model is Meeting:
            return queryset.filter(kind=value)
        if model is Workshop:
            return queryset if value == EventKind.WORKSHOP else queryset.none()
        raise TypeError(f"not an event queryset: {model!r}")

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if queryset.model is not CouncilSession:
            return queryset.filter(status=value)
        today = timezone.localdate()
        held = Q(end_date__lt=today) | Q(end_date__isnull=True, start_date__lt=today)
        if value == EventStatus.HELD:
            return queryset.filter(held)
        if value == EventStatus.PLANNED:
            return queryset.exclude(held)
        return queryset.none()
