"""The theme-proposal state machine holds for any sequence of valid and invalid service calls.

Three delegations create, edit, submit, withdraw, support and unsupport proposals in an open
round; the secretariat closes the round and decides. Each call is checked against a model of
what the services must allow: an allowed call has its effect, a refused one raises the app's
``ProposalError`` (or ``RoundError``) and changes nothing. Throughout, the states only ever
made moves of ``ProposalState.moves``, supports were only given to submitted proposals of
other delegations, once each, while the round was open.
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.factories.stakeholders import OrganisationFactory
from workshops.enums import ProposalEventKind, ProposalKind, ProposalState
from workshops.models import ProposalEvent, ProposalRound, ProposalSupport, ThemeProposal
from workshops.services import (
    EDITABLE_STATES,
    WorkshopsError,
    proposal_create,
    proposal_decide,
    proposal_submit,
    proposal_support,
    proposal_unsupport,
    proposal_update,
    proposal_withdraw,
    round_close,
)

pytestmark = pytest.mark.django_db

TARGET_YEAR = 2098
S = ProposalState
STATE_EVENTS = {
    ProposalEventKind.SUBMITTED: S.SUBMITTED,
    ProposalEventKind.WITHDRAWN: S.WITHDRAWN,
    ProposalEventKind.SELECTED: S.SELECTED,
    ProposalEventKind.DEFERRED: S.DEFERRED,
    ProposalEventKind.NOT_ENDORSED: S.NOT_ENDORSED,
}
# Text as a browser can send it: UTF-8 (no lone surrogates), and no NUL (forms refuse it).
titles = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
    st.just("   "),
    st.text(alphabet="xyz", min_size=250, max_size=260),
)
quarters = st.one_of(st.none(), st.integers(min_value=-1, max_value=5))


class ProposalMachine(RuleBasedStateMachine):
    proposals = Bundle("proposals")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        now = timezone.now()
        self.round = ProposalRound.objects.create(
            title="Topics for 2098",
            target_year=TARGET_YEAR,
            kind=ProposalKind.WORKSHOP_TOPIC,
            opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=30),
            topics_to_select=1,
        )
        self.delegations = [OrganisationFactory() for _ in range(3)]
        self.user = get_user_model().objects.create_user(f"delegate-{id(self)}")
        self.open = True
        self.states: dict[int, str] = {}
        self.titles: dict[int, str] = {}
        self.supports: set[tuple[int, int]] = set()
        self.proposer: dict[int, int] = {}

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -------------------------------------------------------------------------------

    def _snapshot(self):
        return (
            list(
                ThemeProposal.objects.filter(round=self.round)
                .order_by("pk")
                .values_list("pk", "state", "title", "rationale", "preferred_quarter")
            ),
            sorted(ProposalSupport.objects.values_list("proposal_id", "organisation_id")),
            ProposalEvent.objects.count(),
            ProposalRound.objects.get(pk=self.round.pk).closes_at,
        )

    def _call(self, allowed: bool, call):
        """Run ``call``; it must succeed when ``allowed``, else be refused and change nothing."""
        if allowed:
            return call()
        before = self._snapshot()
        with pytest.raises(WorkshopsError):
            call()
        assert self._snapshot() == before
        return None

    @staticmethod
    def _valid_title(title: str) -> bool:
        return bool(title.strip()) and len(title.strip()) <= 255

    # --- delegations ---------------------------------------------------------------------------

    @rule(target=proposals, who=st.integers(0, 2), title=titles, quarter=quarters)
    def create(self, who, title, quarter):
        delegation = self.delegations[who]
        allowed = self.open and self._valid_title(title) and quarter in (None, 1, 2, 3, 4)
        proposal = self._call(
            allowed,
            lambda: proposal_create(
                round=self.round,
                delegation=delegation,
                by=self.user,
                title=title,
                rationale="Because.",
                preferred_quarter=quarter,
            ),
        )
        if proposal is None:
            return None
        assert proposal.state == S.DRAFT
        self.states[proposal.pk] = S.DRAFT
        self.titles[proposal.pk] = title.strip()
        self.proposer[proposal.pk] = delegation.pk
        return proposal.pk

    @rule(pk=proposals, title=titles, quarter=quarters)
    def update(self, pk, title, quarter):
        if pk is None:
            return
        proposal = ThemeProposal.objects.get(pk=pk)
        allowed = (
            self.states[pk] in EDITABLE_STATES
            and self.open
            and self._valid_title(title)
            and quarter in (None, 1, 2, 3, 4)
        )
        updated = self._call(
            allowed,
            lambda: proposal_update(
                proposal=proposal, by=self.user, title=title, preferred_quarter=quarter
            ),
        )
        if updated is not None:
            self.titles[pk] = title.strip()

    @rule(pk=proposals)
    def submit(self, pk):
        if pk is None:
            return
        proposal = ThemeProposal.objects.get(pk=pk)
        state = self.states[pk]
        allowed = state == S.SUBMITTED or (state == S.DRAFT and self.open)
        if self._call(allowed, lambda: proposal_submit(proposal=proposal, by=self.user)):
            self.states[pk] = S.SUBMITTED

    @rule(pk=proposals)
    def withdraw(self, pk):
        if pk is None:
            return
        proposal = ThemeProposal.objects.get(pk=pk)
        state = self.states[pk]
        allowed = state == S.WITHDRAWN or (state in EDITABLE_STATES and self.open)
        if self._call(allowed, lambda: proposal_withdraw(proposal=proposal, by=self.user)):
            self.states[pk] = S.WITHDRAWN

    @rule(pk=proposals, who=st.integers(0, 2))
    def support(self, pk, who):
        if pk is None:
            return
        proposal = ThemeProposal.objects.get(pk=pk)
        delegation = self.delegations[who]
        allowed = (
            self.states[pk] == S.SUBMITTED
            and self.open
            and delegation.pk != self.proposer[pk]
            and (pk, delegation.pk) not in self.supports
        )
        support = self._call(
            allowed,
            lambda: proposal_support(proposal=proposal, delegation=delegation, by=self.user),
        )
        if support is not None:
            self.supports.add((pk, delegation.pk))

    @rule(pk=proposals, who=st.integers(0, 2))
    def unsupport(self, pk, who):
        if pk is None:
            return
        proposal = ThemeProposal.objects.get(pk=pk)
        delegation = self.delegations[who]
        self._call(
            self.open,
            lambda: proposal_unsupport(proposal=proposal, delegation=delegation, by=self.user),
        )
        if self.open:
            self.supports.discard((pk, delegation.pk))

    # --- secretariat ---------------------------------------------------------------------------

    @rule()
    def close_round(self):
        round_close(round=self.round, by=self.user)  # closing a closed round changes nothing
        self.round.refresh_from_db()
        self.open = False

    @rule(
        pk=proposals,
        outcome=st.sampled_from([S.SELECTED, S.DEFERRED, S.NOT_ENDORSED, S.WITHDRAWN, "bogus"]),
        deferred_to=st.sampled_from([None, TARGET_YEAR, TARGET_YEAR + 1]),
        confirm=st.booleans(),
    )
    def decide(self, pk, outcome, deferred_to, confirm):
        if pk is None:
            return
        proposal = ThemeProposal.objects.get(pk=pk)
        selected = sum(1 for state in self.states.values() if state == S.SELECTED)
        allowed = (
            outcome in (S.SELECTED, S.DEFERRED, S.NOT_ENDORSED)
            and self.states[pk] == S.SUBMITTED
            and not self.open
            and (deferred_to == TARGET_YEAR + 1 if outcome == S.DEFERRED else deferred_to is None)
            and (outcome != S.SELECTED or confirm or selected < 1)
        )
        decided = self._call(
            allowed,
            lambda: proposal_decide(
                proposal=proposal,
                outcome=outcome,
                by=self.user,
                deferred_to_year=deferred_to,
                confirm_over_limit=confirm,
            ),
        )
        if decided is not None:
            self.states[pk] = outcome

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def states_titles_and_supports_are_as_modelled(self):
        rows = ThemeProposal.objects.filter(round=self.round).values_list("pk", "state", "title")
        assert {pk: state for pk, state, _ in rows} == self.states
        assert {pk: title for pk, _, title in rows} == self.titles
        supports = set(ProposalSupport.objects.values_list("proposal_id", "organisation_id"))
        assert supports == self.supports
        assert all(self.proposer[pk] != org for pk, org in supports)

    @invariant()
    def every_state_change_was_an_allowed_move(self):
        events = ProposalEvent.objects.filter(
            proposal__round=self.round, kind__in=list(STATE_EVENTS)
        ).order_by("proposal_id", "pk")
        reached: dict[int, str] = {}
        for event in events:
            state = reached.get(event.proposal_id, S.DRAFT)
            new_state = STATE_EVENTS[event.kind]
            assert new_state in S.moves[state], (state, new_state)
            reached[event.proposal_id] = new_state
        assert {pk: reached.get(pk, S.DRAFT) for pk in self.states} == self.states


def test_proposal_states_hold_for_any_sequence_of_calls():
    run_state_machine_as_test(
        ProposalMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
