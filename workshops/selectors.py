"""Reusable reads of workshops, proposal rounds and theme proposals."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from stakeholders.rules import delegation_of, is_secretariat

from .enums import ProposalState
from .models import ProposalEvent, ProposalRound, ProposalSupport, ThemeProposal

# What anyone may read: submitted proposals and the decided ones. Drafts and withdrawn proposals
# stay with their delegation and the secretariat.
PUBLIC_PROPOSAL_STATES = [
    ProposalState.SUBMITTED,
    ProposalState.SELECTED,
    ProposalState.DEFERRED,
    ProposalState.NOT_ENDORSED,
]
VISIBLE_PROPOSAL_STATES = PUBLIC_PROPOSAL_STATES  # the name the home page was written against


def proposal_rounds_open(*, now=None) -> QuerySet[ProposalRound]:
    """Rounds taking proposals: opened (or with no opening date) and not yet closed."""
    now = now or timezone.now()
    proposals = (
        ThemeProposal.objects.filter(state__in=PUBLIC_PROPOSAL_STATES)
        .select_related("proposing_organisation")
        .annotate(support_count=_support_count())
        .order_by("title")
    )
    return (
        ProposalRound.objects.filter(Q(opens_at__isnull=True) | Q(opens_at__lte=now))
        .filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))
        .select_related("dialogue", "decision_meeting")
        .prefetch_related(Prefetch("proposals", queryset=proposals))
        .order_by("target_year", "kind")
    )


def proposal_rounds() -> QuerySet[ProposalRound]:
    """Every round, with what a listing shows, latest first."""
    return (
        ProposalRound.objects.select_related("dialogue", "decision_meeting")
        .annotate(
            proposal_count=Count(
                "proposals", filter=Q(proposals__state__in=PUBLIC_PROPOSAL_STATES), distinct=True
            )
        )
        .order_by("-target_year", "kind", "pk")
    )


def _support_count() -> Coalesce:
    supports = (
        ProposalSupport.objects.filter(proposal=OuterRef("pk"))
        .order_by()
        .values("proposal")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(supports, output_field=IntegerField()), Value(0))


def proposals_visible_to(*, user) -> QuerySet[ThemeProposal]:
    """The proposals ``user`` may read, as the list and the detail pages both show them.

    Anyone reads submitted and decided proposals; a delegate also its delegation's drafts and
    withdrawn proposals; the secretariat everything. Each row carries ``support_count`` and
    ``supported_by_me`` (the user's delegation supports it), and the relations a listing shows
    are fetched once for the whole list, not once a row.
    """
    proposals = ThemeProposal.objects.all()
    delegation = delegation_of(user)
    if not is_secretariat(user):
        visible = Q(state__in=PUBLIC_PROPOSAL_STATES)
        if delegation is not None:
            visible |= Q(proposing_organisation=delegation)
        proposals = proposals.filter(visible)
    if delegation is not None:
        supported_by_me = Exists(
            ProposalSupport.objects.filter(proposal=OuterRef("pk"), organisation=delegation)
        )
    else:
        supported_by_me = Value(False)
    return (
        proposals.select_related("round", "proposing_organisation")
        .prefetch_related("co_sponsors", "policy_domains", "suggested_partners")
        .annotate(support_count=_support_count(), supported_by_me=supported_by_me)
        .order_by("-target_year", "title", "pk")
    )


def proposal_histories(*, proposals: Iterable[ThemeProposal]) -> dict[int, list[ProposalEvent]]:
    """For each proposal, the history of it and its earlier versions, oldest first.

    One query per generation of earlier versions and one for all the events, however many
    proposals are asked about.
    """
    proposals = list(proposals)
    earlier: dict[int, int | None] = {p.pk: p.earlier_version_id for p in proposals}
    missing = {pk for pk in earlier.values() if pk is not None and pk not in earlier}
    while missing:
        rows = list(
            ThemeProposal.objects.filter(pk__in=missing).values_list("pk", "earlier_version_id")
        )
        earlier.update(rows)
        missing = {pk for _, pk in rows if pk is not None and pk not in earlier}
    events_of: dict[int, list[ProposalEvent]] = {}
    for event in ProposalEvent.objects.filter(proposal_id__in=earlier).select_related(
        "proposal", "meeting", "by"
    ):
        events_of.setdefault(event.proposal_id, []).append(event)
    histories = {}
    for proposal in proposals:
        chain, pk = [], proposal.pk
        while pk is not None and pk not in chain:  # a cycle (hand-made in the admin) stops here
            chain.append(pk)
            pk = earlier.get(pk)
        history = []
        for generation, version in enumerate(reversed(chain)):
            history.extend(
                sorted(events_of.get(version, []), key=lambda e, g=generation: _event_key(g, e))
            )
        histories[proposal.pk] = history
    return histories


def _event_key(generation: int, event: ProposalEvent) -> tuple:
    """Earlier versions first; within one, by year, then time (undated first), then entry."""
    return (
        generation,
        event.year is not None,
        event.year or 0,
        event.occurred_at is not None,
        event.occurred_at.timestamp() if event.occurred_at else 0,
        event.pk,
    )
