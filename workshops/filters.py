"""django-filter FilterSets of the theme-proposal API."""

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from stakeholders.rules import delegation_of

from .enums import ProposalKind, ProposalState
from .models import ProposalRound, ThemeProposal

# The largest id the database stores: a larger number in a filter is a 400, not a 500.
MAX_ID = 2**63 - 1


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class ThemeProposalFilter(django_filters.FilterSet):
    round = IntegerFilter(
        field_name="round_id",
        min_value=1,
        max_value=MAX_ID,
        label=_("Id of a proposal round: only its proposals."),
    )
    state = django_filters.ChoiceFilter(
        choices=ProposalState.choices, label=_("Only proposals in this state.")
    )
    kind = django_filters.ChoiceFilter(
        choices=ProposalKind.choices,
        label=_("Only dialogue themes, workshop topics, or topics for other forums."),
    )
    target_year = IntegerFilter(
        field_name="target_year",
        min_value=1,
        max_value=9999,
        label=_("Only proposals for this year."),
    )
    mine = django_filters.BooleanFilter(
        method="filter_mine",
        label=_(
            "true: only the proposals your delegation proposes or co-sponsors; "
            "false: only the others."
        ),
    )

    class Meta:
        model = ThemeProposal
        fields = ["round", "state", "kind", "target_year", "mine"]

    def filter_mine(self, queryset: QuerySet, name: str, value) -> QuerySet:
        if value is None:
            return queryset
        delegation = delegation_of(getattr(self.request, "user", None))
        if delegation is None:
            return queryset.none() if value else queryset
        own = ThemeProposal.objects.filter(
            Q(proposing_organisation=delegation) | Q(co_sponsors=delegation)
        ).values("pk")
        return queryset.filter(pk__in=own) if value else queryset.exclude(pk__in=own)


class ProposalRoundFilter(django_filters.FilterSet):
    target_year = IntegerFilter(
        field_name="target_year",
        min_value=1,
        max_value=9999,
        label=_("Only the rounds for this year."),
    )
    kind = django_filters.ChoiceFilter(
        choices=ProposalKind.choices, label=_("Only rounds for dialogue themes or workshop topics.")
    )
    open = django_filters.BooleanFilter(
        method="filter_open",
        label=_("true: only the rounds taking proposals now; false: only the others."),
    )

    class Meta:
        model = ProposalRound
        fields = ["target_year", "kind", "open"]

    def filter_open(self, queryset: QuerySet, name: str, value) -> QuerySet:
        if value is None:
            return queryset
        now = timezone.now()
        is_open = (Q(opens_at__isnull=True) | Q(opens_at__lte=now)) & (
            Q(closes_at__isnull=True) | Q(closes_at__gt=now)
        )
        return queryset.filter(is_open) if value else queryset.exclude(is_open)
