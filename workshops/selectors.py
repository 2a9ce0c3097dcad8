"""Reusable reads of workshops, proposal rounds and theme proposals."""

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from .enums import ProposalState
from .models import ProposalRound, ThemeProposal

VISIBLE_PROPOSAL_STATES = [s for s in ProposalState.values if s != ProposalState.DRAFT]


def proposal_rounds_open(*, now=None) -> QuerySet[ProposalRound]:
    """Rounds taking proposals: opened (or with no opening date) and not yet closed."""
    now = now or timezone.now()
    proposals = (
        ThemeProposal.objects.filter(state__in=VISIBLE_PROPOSAL_STATES)
        .select_related("proposing_organisation")
        .annotate(support_count=Count("supports"))
        .order_by("title")
    )
    return (
        ProposalRound.objects.filter(Q(opens_at__isnull=True) | Q(opens_at__lte=now))
        .filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))
        .select_related("dialogue", "decision_meeting")
        .prefetch_related(Prefetch("proposals", queryset=proposals))
        .order_by("target_year", "kind")
    )
