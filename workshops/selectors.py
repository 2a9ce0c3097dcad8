"""Reusable reads of workshops, proposal rounds and theme proposals."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import (
    Aggregate,
    CharField,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from stakeholders.rules import delegation_of, is_secretariat

from .enums import ProposalState
from .models import (
    FundedParticipation,
    ProposalEvent,
    ProposalRound,
    ProposalSupport,
    ThemeProposal,
    Workshop,
)

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


# -- Attendance totals, as the seed reports them ---------------------------------------------------

NAME_SEPARATOR = "|"


class _NamesJoined(Aggregate):
    """Text values joined by ``NAME_SEPARATOR``: GROUP_CONCAT on SQLite, STRING_AGG on
    PostgreSQL (the two databases the project runs on)."""

    function = "GROUP_CONCAT"
    template = f"%(function)s(%(expressions)s, '{NAME_SEPARATOR}')"
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="STRING_AGG", **extra_context)


def workshops_with_totals(queryset: QuerySet[Workshop] | None = None) -> QuerySet[Workshop]:
    """Workshops carrying what ``workshop_totals_text`` reads, computed in the same query:
    ``funded_total`` (the sum of their funded participants) and ``funder_names`` (their donors'
    names, joined). A changelist of any length therefore costs no extra query."""
    queryset = Workshop.objects.all() if queryset is None else queryset
    totals = (
        FundedParticipation.objects.filter(workshop=OuterRef("pk"))
        .order_by()
        .values("workshop")
        .annotate(total=Sum("funded_participants"))
        .values("total")
    )
    names = (
        FundedParticipation.donors.through.objects.filter(
            fundedparticipation__workshop=OuterRef("pk")
        )
        .order_by()
        .values("fundedparticipation__workshop")
        .annotate(names=_NamesJoined("organisation__name"))
        .values("names")
    )
    return queryset.annotate(
        funded_total=Coalesce(Subquery(totals, output_field=IntegerField()), Value(0)),
        funder_names=Subquery(names, output_field=CharField()),
    )


def _and_list(names: list[str]) -> str:
    if len(names) < 2:
        return "".join(names)
    return _("%(first)s and %(last)s") % {"first": ", ".join(names[:-1]), "last": names[-1]}


def workshop_totals_text(workshop: Workshop) -> str:
    """ "some 175 officials, 60 of them funded by United States and Australia".

    Built from the attendance total (else the attendance as reported), the sum of the funded
    participants and their donors' names (in alphabetical order). Reads the annotations of
    ``workshops_with_totals``, else two queries; empty when nothing is known.
    """
    if hasattr(workshop, "funded_total"):
        funded = workshop.funded_total or 0
        names = (workshop.funder_names or "").split(NAME_SEPARATOR)
    else:
        funded = sum(workshop.fundings.values_list("funded_participants", flat=True))
        names = FundedParticipation.donors.through.objects.filter(
            fundedparticipation__workshop=workshop
        ).values_list("organisation__name", flat=True)
    donors = sorted({name for name in names if name})
    if workshop.attendance_total:
        text = _("some %(total)s officials") % {"total": workshop.attendance_total}
    else:
        text = workshop.attendance_text.strip()
    if not funded:
        return text
    if text:
        funding_text = _("%(count)s of them funded") % {"count": funded}
    else:
        funding_text = _("%(count)s officials funded") % {"count": funded}
    if donors:
        funding_text += " " + _("by %(donors)s") % {"donors": _and_list(donors)}
    return f"{text}, {funding_text}" if text else funding_text
