"""Filters of the recommendations API: recommendations, assignments, follow-up reports.

Conditions on a recommendation's addressees (``organisation``, ``overdue``, ``due_before``,
``due_after``) are one ``EXISTS`` on the same assignment: ``?organisation=ILO&overdue=true``
gives the recommendations on which ILO is late, and a list never has a row twice.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters

from stakeholders.enums import OrganisationKind
from stakeholders.models import Organisation

from .enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationState,
    ReportState,
    Response,
)
from .models import Assignment, FollowUpReport, Recommendation
from .rules import acting_organisation_id
from .selectors import OPEN_STATUSES, assignments_with_effective_due, public_recommendations_q

ORGANISATION_HELP = _(
    "Addressed to this organisation: its acronym (e.g. ILO), or its dataset id (e.g. org-ilo) "
    "where an acronym is shared."
)
POLICY_DOMAIN_HELP = _("In this policy domain: its slug, as in /api/v1/policy-domains/.")
WORKSHOP_HELP = _(
    'Made at this workshop: its key as in /api/v1/meetings/ ("workshop-7") or its number (7).'
)
DIALOGUE_HELP = _("Of the dialogue of this year, e.g. 2005.")
OVERDUE_HELP = _(
    "true: with an addressee still at work (not started or in progress) after its due date; "
    "false: without one."
)
UPDATED_SINCE_HELP = _(
    "Changed at or after this moment (ISO 8601, e.g. 2026-01-31T12:00:00Z), for incremental sync."
)


def today() -> dt.date:
    return timezone.localdate()


def _mine(queryset, request, value: bool, field: str):
    """``mine=true``: only what concerns the caller's organisation (nothing without one)."""
    if not value:
        return queryset
    organisation_id = acting_organisation_id(request.user)
    if organisation_id is None:
        return queryset.none()
    return queryset.filter(**{field: organisation_id})


def organisation_q(value: str, prefix: str = "organisation__") -> Q:
    return Q(**{f"{prefix}acronym": value}) | Q(**{f"{prefix}dataset_id": value})


def workshop_id(value: str) -> int | None:
    text = value.strip().removeprefix("workshop-")
    return int(text) if text.isdigit() else None


def overdue_q(prefix: str = "") -> Q:
    """Still at work after the effective due date (needs the ``effective_due`` annotation)."""
    return (
        public_recommendations_q(f"{prefix}recommendation__")
        & Q(**{f"{prefix}effective_due__lt": today()})
        & Q(**{f"{prefix}status__in": OPEN_STATUSES})
    )


# The largest id the database stores: a larger number in a filter is a 400, not a 500.
MAX_ID = 2**63 - 1


class _SafeIsoDateTimeField(filters.IsoDateTimeFilter.field_class):
    """An ISO 8601 moment the database can store: offset within ±16 hours, year 1 to 9999."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        offset = moment.utcoffset()
        if offset is not None and abs(offset) >= dt.timedelta(hours=16):
            raise forms.ValidationError(_("The time zone offset must be within ±16 hours."))
        try:
            moment.astimezone(dt.UTC)
        except OverflowError as error:
            raise forms.ValidationError(_("Give a moment between the years 1 and 9999.")) from error
        return moment


class SafeIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = _SafeIsoDateTimeField


class IntegerFilter(filters.NumberFilter):
    """A whole number, within the bounds given (out of them: a 400 with the field's error)."""

    field_class = forms.IntegerField


class OrderingFilter(filters.OrderingFilter):
    """django-filter's ordering, with the primary key last so that pages never overlap."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        if value:
            qs = qs.order_by(*qs.query.order_by, "pk")
        return qs


def in_policy_domain(slug: str, recommendation_ref) -> Exists:
    through = Recommendation.policy_domains.through
    return Exists(
        through.objects.filter(recommendation_id=recommendation_ref, policydomain__slug=slug)
    )


class RecommendationFilter(filters.FilterSet):
    state = filters.ChoiceFilter(
        choices=RecommendationState.choices,
        help_text=_("In this state (outside the secretariat only adopted ones are visible)."),
    )
    status = filters.ChoiceFilter(
        field_name="overall_status",
        choices=ImplementationStatus.choices,
        help_text=_("With this overall implementation status."),
    )
    policy_domain = filters.CharFilter(method="filter_policy_domain", help_text=POLICY_DOMAIN_HELP)
    organisation = filters.CharFilter(method="filter_by_assignment", help_text=ORGANISATION_HELP)
    dialogue = IntegerFilter(
        field_name="dialogue__year", min_value=1, max_value=9999, help_text=DIALOGUE_HELP
    )
    workshop = filters.CharFilter(method="filter_workshop", help_text=WORKSHOP_HELP)
    overdue = filters.BooleanFilter(method="filter_by_assignment", help_text=OVERDUE_HELP)
    due_before = filters.DateFilter(
        method="filter_by_assignment",
        help_text=_("With an addressee due on or before this day (YYYY-MM-DD)."),
    )
    due_after = filters.DateFilter(
        method="filter_by_assignment",
        help_text=_("With an addressee due on or after this day (YYYY-MM-DD)."),
    )
    updated_since = SafeIsoDateTimeFilter(
        method="filter_updated_since",
        help_text=_(
            "The recommendation or one of its assignments changed at or after this moment "
            "(ISO 8601), for incremental sync."
        ),
    )
    search = filters.CharFilter(
        method="filter_search", help_text=_("Words in the reference or the text.")
    )
    ordering = OrderingFilter(
        fields=(
            ("reference", "reference"),
            ("updated_at", "updated_at"),
            ("overall_progress", "overall_progress"),
            ("overall_status", "status"),
        ),
        help_text=_(
            "Sort by reference (default), updated_at, overall_progress or status; "
            'prefix with "-" for descending.'
        ),
    )

    class Meta:
        model = Recommendation
        fields: list[str] = []

    def filter_policy_domain(self, queryset, name, value):
        return queryset.filter(in_policy_domain(value, OuterRef("pk")))

    def filter_workshop(self, queryset, name, value):
        pk = workshop_id(value)
        return queryset.filter(workshop_id=pk) if pk is not None else queryset.none()

    def filter_updated_since(self, queryset, name, value):
        changed = Assignment.objects.filter(recommendation=OuterRef("pk"), updated_at__gte=value)
        return queryset.filter(Q(updated_at__gte=value) | Exists(changed))

    def filter_search(self, queryset, name, value):
        condition = Q()
        for word in value.split():
            condition &= Q(reference__icontains=word) | Q(text__icontains=word)
        return queryset.filter(condition)

    def filter_by_assignment(self, queryset, name, value):
        return queryset  # all at once in filter_queryset, on the same assignment

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        conditions = Q()
        if data.get("organisation"):
            conditions &= organisation_q(data["organisation"])
        if data.get("due_before") is not None:
            conditions &= Q(effective_due__lte=data["due_before"])
        if data.get("due_after") is not None:
            conditions &= Q(effective_due__gte=data["due_after"])
        overdue = data.get("overdue")
        if overdue is True:
            conditions &= overdue_q()
        if conditions:
            assignments = assignments_with_effective_due(
                Assignment.objects.filter(recommendation=OuterRef("pk"))
            )
            queryset = queryset.filter(Exists(assignments.filter(conditions)))
        if overdue is False:
            late = assignments_with_effective_due(
                Assignment.objects.filter(recommendation=OuterRef("pk"))
            ).filter(overdue_q())
            queryset = queryset.filter(~Exists(late))
        return queryset


class AssignmentFilter(filters.FilterSet):
    mine = filters.BooleanFilter(
        method="filter_mine",
        help_text=_(
            "true: only those addressed to the caller's own organisation (the API key's); "
            "none for a caller that acts for no organisation."
        ),
    )
    state = filters.ChoiceFilter(
        field_name="recommendation__state",
        choices=RecommendationState.choices,
        help_text=_("The recommendation is in this state."),
    )
    status = filters.ChoiceFilter(
        choices=ImplementationStatus.choices,
        help_text=_("With this implementation status (that of the latest accepted report)."),
    )
    response = filters.ChoiceFilter(
        choices=Response.choices, help_text=_("With this response of the addressee.")
    )
    role = filters.ChoiceFilter(
        choices=AssignmentRole.choices, help_text=_("Lead or supporting addressee.")
    )
    recommendation = filters.CharFilter(
        field_name="recommendation__reference",
        help_text=_("Of this recommendation: its reference, e.g. IDM-2005-R001."),
    )
    policy_domain = filters.CharFilter(method="filter_policy_domain", help_text=POLICY_DOMAIN_HELP)
    organisation = filters.CharFilter(method="filter_organisation", help_text=ORGANISATION_HELP)
    dialogue = IntegerFilter(
        field_name="recommendation__dialogue__year",
        min_value=1,
        max_value=9999,
        help_text=DIALOGUE_HELP,
    )
    workshop = filters.CharFilter(method="filter_workshop", help_text=WORKSHOP_HELP)
    overdue = filters.BooleanFilter(
        method="filter_overdue",
        help_text=_(
            "true: still at work (not started or in progress) after the due date; false: not."
        ),
    )
    due_before = filters.DateFilter(
        field_name="effective_due",
        lookup_expr="lte",
        help_text=_("Due on or before this day (YYYY-MM-DD)."),
    )
    due_after = filters.DateFilter(
        field_name="effective_due",
        lookup_expr="gte",
        help_text=_("Due on or after this day (YYYY-MM-DD)."),
    )
    updated_since = SafeIsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text=UPDATED_SINCE_HELP
    )
    search = filters.CharFilter(
        method="filter_search",
        help_text=_("Words in the recommendation's reference or text, or the response text."),
    )
    ordering = OrderingFilter(
        fields=(
            ("recommendation__reference", "recommendation"),
            ("effective_due", "due"),
            ("updated_at", "updated_at"),
            ("progress", "progress"),
            ("organisation__name", "organisation"),
        ),
        help_text=_(
            "Sort by recommendation (default), due, updated_at, progress or organisation; "
            'prefix with "-" for descending.'
        ),
    )

    class Meta:
        model = Assignment
        fields: list[str] = []

    def filter_mine(self, queryset, name, value):
        return _mine(queryset, self.request, value, "organisation_id")

    def filter_policy_domain(self, queryset, name, value):
        return queryset.filter(in_policy_domain(value, OuterRef("recommendation_id")))

    def filter_organisation(self, queryset, name, value):
        return queryset.filter(organisation_q(value))

    def filter_workshop(self, queryset, name, value):
        pk = workshop_id(value)
        if pk is None:
            return queryset.none()
        return queryset.filter(recommendation__workshop_id=pk)

    def filter_overdue(self, queryset, name, value):
        return queryset.filter(overdue_q()) if value else queryset.exclude(overdue_q())

    def filter_search(self, queryset, name, value):
        condition = Q()
        for word in value.split():
            condition &= (
                Q(recommendation__reference__icontains=word)
                | Q(recommendation__text__icontains=word)
                | Q(response_text__icontains=word)
            )
        return queryset.filter(condition)


class FollowUpFilter(filters.FilterSet):
    mine = filters.BooleanFilter(
        method="filter_mine",
        help_text=_("true: only reports of the caller's own organisation."),
    )
    state = filters.ChoiceFilter(
        choices=ReportState.choices,
        help_text=_("In this review state (others' reports are visible only once accepted)."),
    )
    status = filters.ChoiceFilter(
        choices=ImplementationStatus.choices, help_text=_("Reporting this implementation status.")
    )
    assignment = IntegerFilter(
        field_name="assignment_id",
        min_value=1,
        max_value=MAX_ID,
        help_text=_("On this assignment (its id)."),
    )
    recommendation = filters.CharFilter(
        field_name="assignment__recommendation__reference",
        help_text=_("On this recommendation: its reference."),
    )
    organisation = filters.CharFilter(method="filter_organisation", help_text=ORGANISATION_HELP)
    period_after = filters.DateFilter(
        field_name="period_end",
        lookup_expr="gte",
        help_text=_("The reporting period ends on or after this day."),
    )
    period_before = filters.DateFilter(
        field_name="period_start",
        lookup_expr="lte",
        help_text=_("The reporting period starts on or before this day."),
    )
    updated_since = SafeIsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text=UPDATED_SINCE_HELP
    )
    ordering = OrderingFilter(
        fields=(
            ("period_end", "period_end"),
            ("submitted_at", "submitted_at"),
            ("updated_at", "updated_at"),
        ),
        help_text=_(
            "Sort by period_end (default: latest first), submitted_at or updated_at; "
            'prefix with "-" for descending.'
        ),
    )

    class Meta:
        model = FollowUpReport
        fields: list[str] = []

    def filter_mine(self, queryset, name, value):
        return _mine(queryset, self.request, value, "assignment__organisation_id")

    def filter_organisation(self, queryset, name, value):
        return queryset.filter(organisation_q(value, "assignment__organisation__"))


class OrganisationFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(
        choices=OrganisationKind.choices, help_text=_("Of this kind of organisation.")
    )
    acronym = filters.CharFilter(
        field_name="acronym", lookup_expr="iexact", help_text=_("With this acronym.")
    )
    search = filters.CharFilter(
        method="filter_search", help_text=_("Words in the name, full name or acronym.")
    )

    class Meta:
        model = Organisation
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        condition = Q()
        for word in value.split():
            condition &= (
                Q(name__icontains=word) | Q(full_name__icontains=word) | Q(acronym__icontains=word)
            )
        return queryset.filter(condition)
