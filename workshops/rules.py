"""Who may do what with theme rounds and proposals (django-rules).

A delegate acts for its member-state delegation, never for itself: it edits, submits and
withdraws its delegation's proposals (in draft or submitted, until the round's deadline) and
supports the submitted proposals of other delegations while the round is open. Partner agencies
and visitors read submitted and decided proposals; drafts and withdrawn proposals stay with
their delegation and the secretariat, which alone records decisions.

The services re-check the domain rules (deadline, state, one support per delegation); these
predicates answer "may this login try?", for the portal's buttons and the API's 403s.
"""

import rules

from stakeholders.rules import delegation_of, is_delegate, is_secretariat

from .enums import ProposalState
from .models import ProposalSupport
from .selectors import PUBLIC_PROPOSAL_STATES

PUBLIC_STATES = frozenset(PUBLIC_PROPOSAL_STATES)
EDITABLE_STATES = frozenset({ProposalState.DRAFT, ProposalState.SUBMITTED})


@rules.predicate
def is_own_delegation(user, proposal) -> bool:
    """The login acts for the delegation that proposes ``proposal``."""
    if proposal is None:
        return False
    delegation = delegation_of(user)
    return delegation is not None and proposal.proposing_organisation_id == delegation.pk


@rules.predicate
def is_co_sponsor(user, proposal) -> bool:
    """The login acts for a delegation co-sponsoring ``proposal``."""
    if proposal is None:
        return False
    delegation = delegation_of(user)
    if delegation is None:
        return False
    if "co_sponsors" in getattr(proposal, "_prefetched_objects_cache", {}):
        return any(org.pk == delegation.pk for org in proposal.co_sponsors.all())
    return proposal.co_sponsors.filter(pk=delegation.pk).exists()


@rules.predicate
def is_public(user, proposal) -> bool:
    """Submitted or decided: anyone may read it."""
    return proposal is not None and proposal.state in PUBLIC_STATES


@rules.predicate
def is_draft(user, proposal) -> bool:
    return proposal is not None and proposal.state == ProposalState.DRAFT


@rules.predicate
def is_submitted(user, proposal) -> bool:
    return proposal is not None and proposal.state == ProposalState.SUBMITTED


@rules.predicate
def is_editable(user, proposal) -> bool:
    return proposal is not None and proposal.state in EDITABLE_STATES


@rules.predicate
def before_deadline(user, proposal) -> bool:
    """The proposal's round has not closed (a proposal outside any round has no deadline)."""
    if proposal is None:
        return False
    return proposal.round is None or not proposal.round.is_past_deadline()


@rules.predicate
def round_is_open(user, proposal) -> bool:
    """The proposal's round takes support: opened and not closed."""
    return proposal is not None and proposal.round is not None and proposal.round.is_open()


@rules.predicate
def round_accepts_proposals(user, round_) -> bool:
    """Without a round, any round may do; with one, it must be open."""
    return round_ is None or round_.is_open()


@rules.predicate
def supported_by_own_delegation(user, proposal) -> bool:
    if proposal is None:
        return False
    delegation = delegation_of(user)
    if delegation is None:
        return False
    annotated = getattr(proposal, "supported_by_me", None)
    if annotated is not None:
        return bool(annotated)
    return ProposalSupport.objects.filter(proposal=proposal, organisation=delegation).exists()


can_view_proposal = is_secretariat | is_public | is_own_delegation
can_change_proposal = is_own_delegation & is_editable & before_deadline

rules.add_perm("workshops.view_proposal", can_view_proposal)
rules.add_perm("workshops.add_proposal", is_delegate & round_accepts_proposals)
rules.add_perm("workshops.change_proposal", can_change_proposal)
rules.add_perm("workshops.submit_proposal", is_own_delegation & is_draft & before_deadline)
rules.add_perm("workshops.withdraw_proposal", can_change_proposal)
rules.add_perm(
    "workshops.support_proposal",
    is_delegate & is_submitted & round_is_open & ~is_own_delegation & ~is_co_sponsor,
)
rules.add_perm(
    "workshops.unsupport_proposal",
    is_delegate & round_is_open & supported_by_own_delegation,
)
rules.add_perm("workshops.decide_proposal", is_secretariat)
