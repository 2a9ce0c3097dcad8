"""Domain actions on theme rounds and proposals, over every state they accept or refuse."""

import datetime
import smtplib
from types import SimpleNamespace
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from stakeholders.enums import ActingRole, OrganisationKind
from tests.factories.idm import DialogueFactory, MeetingFactory, PolicyDomainFactory
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory, UserFactory
from tests.factories.workshops import ProposalRoundFactory, ThemeProposalFactory
from workshops import tasks
from workshops.enums import PartnerRole, ProposalEventKind, ProposalKind, ProposalState
from workshops.models import ProposalRound, ProposalSupport, ThemeProposal, WorkshopPartner
from workshops.services import (
    ProposalError,
    RoundError,
    SelectionLimitError,
    WorkshopsError,
    proposal_co_sponsor_add,
    proposal_create,
    proposal_decide,
    proposal_decision_notify,
    proposal_history,
    proposal_submit,
    proposal_support,
    proposal_unsupport,
    proposal_update,
    proposal_withdraw,
    round_close,
    round_create,
    workshop_create_from_proposal,
)

pytestmark = pytest.mark.django_db

ALL_STATES = list(ProposalState.values)
EDITABLE = [ProposalState.DRAFT, ProposalState.SUBMITTED]
NOT_EDITABLE = [s for s in ALL_STATES if s not in EDITABLE]
OUTCOMES = [ProposalState.SELECTED, ProposalState.DEFERRED, ProposalState.NOT_ENDORSED]


def days(n: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=n)


@pytest.fixture
def who():
    """Two member-state delegations with their delegates, a partner agency and the secretariat."""
    member = OrganisationKind.MEMBER_STATE
    a = OrganisationFactory(name="Delegation A", acronym="A", kind=member)
    b = OrganisationFactory(name="Delegation B", acronym="B", kind=member)
    c = OrganisationFactory(name="Delegation C", acronym="C", kind=member)
    agency = OrganisationFactory(name="Agency", kind=OrganisationKind.UN_AGENCY)
    iom = OrganisationFactory(name="IOM Administration", kind=OrganisationKind.INTERGOVERNMENTAL)

    def login(organisation, role=ActingRole.DELEGATION, **user):
        return RepresentativeFactory(
            organisation=organisation, role=role, user=UserFactory(**user)
        ).user

    return SimpleNamespace(
        a=a,
        b=b,
        c=c,
        agency_org=agency,
        delegate_a=login(a, first_name="Ana"),
        delegate_a2=login(a),
        delegate_b=login(b),
        delegate_c=login(c),
        agency=login(agency, ActingRole.AGENCY),
        secretariat=login(iom, ActingRole.SECRETARIAT, is_staff=True),
    )


@pytest.fixture
def open_round():
    return ProposalRoundFactory(
        title="Topics for the 2030 workshops",
        target_year=2030,
        opens_at=days(-7),
        closes_at=days(7),
        topics_to_select=2,
        decision_meeting=MeetingFactory(title="Informal consultations 2030"),
        dialogue=DialogueFactory(year=2030),
    )


def proposal_in(round_, delegation, state=ProposalState.SUBMITTED, **fields):
    return ThemeProposalFactory(
        round=round_,
        kind=round_.kind,
        target_year=round_.target_year,
        proposing_organisation=delegation,
        state=state,
        deferred_to_year=round_.target_year + 1 if state == ProposalState.DEFERRED else None,
        **fields,
    )


def close(round_) -> None:
    ProposalRound.objects.filter(pk=round_.pk).update(opens_at=days(-14), closes_at=days(-1))
    round_.refresh_from_db()


# --- Creating and editing ----------------------------------------------------------------------


def test_proposal_create_makes_a_draft_of_the_delegation_in_the_round(who, open_round):
    domain = PolicyDomainFactory()
    partner = OrganisationFactory(kind=OrganisationKind.UN_AGENCY)

    proposal = proposal_create(
        round=open_round,
        delegation=who.a,
        by=who.delegate_a,
        title="  Diaspora and development  ",
        rationale="Remittances matter.",
        policy_domains=[domain],
        suggested_partners=[partner],
        preferred_quarter=2,
    )

    proposal.refresh_from_db()
    assert proposal.state == ProposalState.DRAFT
    assert proposal.title == "Diaspora and development"
    assert (proposal.kind, proposal.target_year) == (ProposalKind.WORKSHOP_TOPIC, 2030)
    assert proposal.round == open_round
    assert proposal.proposing_organisation == who.a
    assert proposal.created_by == who.delegate_a
    assert list(proposal.policy_domains.all()) == [domain]
    assert list(proposal.suggested_partners.all()) == [partner]
    assert proposal.preferred_quarter == 2


@pytest.mark.parametrize(
    ("opens", "closes", "message"),
    [(1, 8, "opens on"), (-8, -1, "closed on")],
    ids=["not-yet-open", "closed"],
)
def test_proposal_create_outside_the_round_dates_is_refused(who, opens, closes, message):
    round_ = ProposalRoundFactory(opens_at=days(opens), closes_at=days(closes))

    with pytest.raises(ProposalError, match=message):
        proposal_create(round=round_, delegation=who.a, by=who.delegate_a, title="T", rationale="")

    assert not ThemeProposal.objects.exists()


def test_a_round_without_dates_takes_proposals(who):
    round_ = ProposalRoundFactory(opens_at=None, closes_at=None)
    proposal = proposal_create(
        round=round_, delegation=who.a, by=who.delegate_a, title="T", rationale=""
    )
    assert proposal.state == ProposalState.DRAFT


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"title": "   "}, "needs a title"), ({"title": "T", "preferred_quarter": 5}, "quarter")],
    ids=["blank-title", "quarter-5"],
)
def test_proposal_create_bad_input_is_refused(who, open_round, fields, message):
    with pytest.raises(ProposalError, match=message):
        proposal_create(
            round=open_round, delegation=who.a, by=who.delegate_a, rationale="", **fields
        )
    assert not ThemeProposal.objects.exists()


@pytest.mark.parametrize("state", EDITABLE)
def test_proposal_update_changes_only_what_is_given(who, open_round, state):
    proposal = proposal_in(open_round, who.a, state, rationale="Old", preferred_quarter=3)
    domain = PolicyDomainFactory()

    proposal_update(proposal=proposal, by=who.delegate_a, title="New", policy_domains=[domain])

    proposal.refresh_from_db()
    assert (proposal.title, proposal.rationale, proposal.preferred_quarter) == ("New", "Old", 3)
    assert list(proposal.policy_domains.all()) == [domain]


def test_proposal_update_with_quarter_none_clears_it(who, open_round):
    proposal = proposal_in(open_round, who.a, ProposalState.DRAFT, preferred_quarter=3)
    proposal_update(proposal=proposal, by=who.delegate_a, preferred_quarter=None)
    proposal.refresh_from_db()
    assert proposal.preferred_quarter is None


@pytest.mark.parametrize("state", NOT_EDITABLE)
def test_proposal_update_in_a_final_state_is_refused(who, open_round, state):
    proposal = proposal_in(open_round, who.a, state, title="Before")
    with pytest.raises(ProposalError, match="can be edited"):
        proposal_update(proposal=proposal, by=who.delegate_a, title="After")
    proposal.refresh_from_db()
    assert proposal.title == "Before"


@pytest.mark.parametrize("state", EDITABLE)
def test_proposal_update_after_the_deadline_is_refused(who, open_round, state):
    proposal = proposal_in(open_round, who.a, state, title="Before")
    close(open_round)
    with pytest.raises(ProposalError, match="can no longer be edited"):
        proposal_update(proposal=proposal, by=who.delegate_a, title="After")
    proposal.refresh_from_db()
    assert proposal.title == "Before"


# --- Submitting and withdrawing ----------------------------------------------------------------


def test_proposal_submit_moves_a_draft_and_records_it(who, open_round):
    proposal = proposal_in(open_round, who.a, ProposalState.DRAFT)

    proposal_submit(proposal=proposal, by=who.delegate_a)

    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED
    event = proposal.events.get()
    assert (event.kind, event.year, event.by) == (ProposalEventKind.SUBMITTED, 2030, who.delegate_a)


def test_proposal_submit_twice_changes_nothing(who, open_round):
    proposal = proposal_in(open_round, who.a, ProposalState.DRAFT)
    proposal_submit(proposal=proposal, by=who.delegate_a)
    proposal_submit(proposal=proposal, by=who.delegate_a2)
    assert proposal.events.count() == 1


@pytest.mark.parametrize("state", [s for s in ALL_STATES if s not in EDITABLE])
def test_proposal_submit_from_a_final_state_is_refused(who, open_round, state):
    proposal = proposal_in(open_round, who.a, state)
    with pytest.raises(ProposalError, match="only a draft can be submitted"):
        proposal_submit(proposal=proposal, by=who.delegate_a)


def test_proposal_submit_after_the_deadline_is_refused(who, open_round):
    proposal = proposal_in(open_round, who.a, ProposalState.DRAFT)
    close(open_round)
    with pytest.raises(ProposalError, match="can no longer be submitted"):
        proposal_submit(proposal=proposal, by=who.delegate_a)
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.DRAFT
    assert not proposal.events.exists()


@pytest.mark.parametrize("state", EDITABLE)
def test_proposal_withdraw_from_draft_or_submitted(who, open_round, state):
    proposal = proposal_in(open_round, who.a, state)
    proposal_withdraw(proposal=proposal, by=who.delegate_a)
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.WITHDRAWN
    assert proposal.events.get().kind == ProposalEventKind.WITHDRAWN
    proposal_withdraw(proposal=proposal, by=who.delegate_a)  # twice is once
    assert proposal.events.count() == 1


@pytest.mark.parametrize("state", OUTCOMES)
def test_proposal_withdraw_after_a_decision_is_refused(who, open_round, state):
    proposal = proposal_in(open_round, who.a, state)
    with pytest.raises(ProposalError, match="can be withdrawn"):
        proposal_withdraw(proposal=proposal, by=who.delegate_a)


def test_proposal_withdraw_after_the_deadline_is_refused(who, open_round):
    proposal = proposal_in(open_round, who.a)
    close(open_round)
    with pytest.raises(ProposalError, match="can no longer be withdrawn"):
        proposal_withdraw(proposal=proposal, by=who.delegate_a)


# --- Support -----------------------------------------------------------------------------------


def test_proposal_support_by_another_delegation(who, open_round):
    proposal = proposal_in(open_round, who.a)

    support = proposal_support(proposal=proposal, delegation=who.b, by=who.delegate_b)

    assert (support.proposal, support.organisation, support.by) == (proposal, who.b, who.delegate_b)


def test_a_second_support_from_the_same_delegation_is_refused(who, open_round):
    proposal = proposal_in(open_round, who.a)
    proposal_support(proposal=proposal, delegation=who.b, by=who.delegate_b)

    with pytest.raises(ProposalError, match="already supports"):
        proposal_support(proposal=proposal, delegation=who.b, by=who.delegate_b)

    assert ProposalSupport.objects.count() == 1


def test_supporting_ones_own_proposal_is_refused(who, open_round):
    proposal = proposal_in(open_round, who.a)
    with pytest.raises(ProposalError, match="supporting one's own proposal"):
        proposal_support(proposal=proposal, delegation=who.a, by=who.delegate_a)


def test_a_co_sponsor_cannot_also_support(who, open_round):
    proposal = proposal_in(open_round, who.a)
    proposal.co_sponsors.add(who.c)
    with pytest.raises(ProposalError, match="supporting one's own proposal"):
        proposal_support(proposal=proposal, delegation=who.c, by=who.delegate_c)


@pytest.mark.parametrize("state", [s for s in ALL_STATES if s != ProposalState.SUBMITTED])
def test_only_a_submitted_proposal_is_supported(who, open_round, state):
    proposal = proposal_in(open_round, who.a, state)
    with pytest.raises(ProposalError, match="only a submitted proposal"):
        proposal_support(proposal=proposal, delegation=who.b, by=who.delegate_b)


@pytest.mark.parametrize(("opens", "closes"), [(-8, -1), (1, 8)], ids=["closed", "not-open"])
def test_support_outside_the_round_dates_is_refused(who, opens, closes):
    round_ = ProposalRoundFactory(opens_at=days(opens), closes_at=days(closes))
    proposal = proposal_in(round_, who.a)
    with pytest.raises(ProposalError, match="while the proposal's round is open"):
        proposal_support(proposal=proposal, delegation=who.b, by=who.delegate_b)


def test_proposal_unsupport_removes_the_support_and_twice_is_once(who, open_round):
    proposal = proposal_in(open_round, who.a)
    proposal_support(proposal=proposal, delegation=who.b, by=who.delegate_b)

    proposal_unsupport(proposal=proposal, delegation=who.b, by=who.delegate_b)
    proposal_unsupport(proposal=proposal, delegation=who.b, by=who.delegate_b)

    assert not ProposalSupport.objects.exists()


def test_proposal_unsupport_after_the_deadline_is_refused(who, open_round):
    proposal = proposal_in(open_round, who.a)
    proposal_support(proposal=proposal, delegation=who.b, by=who.delegate_b)
    close(open_round)
    with pytest.raises(ProposalError, match="only while the proposal's round is open"):
        proposal_unsupport(proposal=proposal, delegation=who.b, by=who.delegate_b)
    assert ProposalSupport.objects.count() == 1


def test_co_sponsoring_replaces_the_delegations_support(who, open_round):
    proposal = proposal_in(open_round, who.a)
    proposal_support(proposal=proposal, delegation=who.b, by=who.delegate_b)

    proposal_co_sponsor_add(proposal=proposal, delegation=who.b, by=who.delegate_a)
    proposal_co_sponsor_add(proposal=proposal, delegation=who.b, by=who.delegate_a)

    assert list(proposal.co_sponsors.all()) == [who.b]
    assert not ProposalSupport.objects.exists()
    with pytest.raises(ProposalError, match="cannot also co-sponsor"):
        proposal_co_sponsor_add(proposal=proposal, delegation=who.a, by=who.delegate_a)


# --- Rounds ------------------------------------------------------------------------------------


def test_round_create_refuses_a_round_closing_before_it_opens(who):
    with pytest.raises(RoundError, match="must close after it opens"):
        round_create(
            by=who.secretariat,
            title="Backwards",
            target_year=2031,
            kind=ProposalKind.WORKSHOP_TOPIC,
            opens_at=days(5),
            closes_at=days(1),
        )
    assert not ProposalRound.objects.exists()


def test_round_close_sets_the_deadline_to_now_and_keeps_an_earlier_one(who):
    round_ = ProposalRoundFactory(opens_at=None, closes_at=None)

    closed = round_close(round=round_, by=who.secretariat)
    assert closed.closes_at <= timezone.now()
    again = round_close(round=round_, by=who.secretariat)
    assert again.closes_at == closed.closes_at


def test_closing_a_round_not_yet_open_is_refused(who):
    round_ = ProposalRoundFactory(opens_at=days(2), closes_at=days(9))
    with pytest.raises(RoundError, match="opens only on"):
        round_close(round=round_, by=who.secretariat)


# --- Decisions ---------------------------------------------------------------------------------


@pytest.fixture
def no_task(monkeypatch):
    """The decision email task, replaced by a mock (the broker is not under test here)."""
    delay = mock.Mock()
    monkeypatch.setattr(tasks.notify_proposal_decision_task, "delay", delay)
    return delay


def decide(proposal, outcome, by, **kwargs):
    if outcome == ProposalState.DEFERRED:
        kwargs.setdefault("deferred_to_year", proposal.target_year + 1)
    return proposal_decide(proposal=proposal, outcome=outcome, by=by, **kwargs)


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_proposal_decide_records_the_outcome_and_its_history(who, open_round, no_task, outcome):
    proposal = proposal_in(open_round, who.a)
    close(open_round)

    decide(proposal, outcome, who.secretariat, note="Agreed by consensus.")

    proposal.refresh_from_db()
    assert proposal.state == outcome
    assert proposal.decided_by == who.secretariat
    assert proposal.decision_meeting == open_round.decision_meeting
    assert proposal.decision_note == "Agreed by consensus."
    event = proposal.events.get(kind=outcome)
    assert event.meeting == open_round.decision_meeting
    assert event.text == "Agreed by consensus."
    assert event.year == (2031 if outcome == ProposalState.DEFERRED else 2030)


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_deciding_in_a_round_still_open_is_refused(who, open_round, no_task, outcome):
    proposal = proposal_in(open_round, who.a)
    with pytest.raises(ProposalError, match="decisions are recorded once it has closed"):
        decide(proposal, outcome, who.secretariat)
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED
    no_task.assert_not_called()


def test_deciding_in_a_round_without_a_closing_date_asks_to_close_it(who, no_task):
    round_ = ProposalRoundFactory(opens_at=None, closes_at=None)
    proposal = proposal_in(round_, who.a)
    with pytest.raises(ProposalError, match="close the round before recording decisions"):
        decide(proposal, ProposalState.SELECTED, who.secretariat)


@pytest.mark.parametrize("state", [s for s in ALL_STATES if s != ProposalState.SUBMITTED])
def test_only_a_submitted_proposal_is_decided(who, open_round, no_task, state):
    proposal = proposal_in(open_round, who.a, state)
    close(open_round)
    with pytest.raises(ProposalError, match="only a submitted proposal can be decided"):
        decide(proposal, ProposalState.SELECTED, who.secretariat)


@pytest.mark.parametrize(
    ("outcome", "year", "message"),
    [
        (ProposalState.DEFERRED, None, "needs the year"),
        (ProposalState.DEFERRED, 2030, "later year"),
        (ProposalState.DEFERRED, 2029, "later year"),
        (ProposalState.SELECTED, 2031, "Only a deferred proposal"),
        ("adopted", None, "Unknown decision"),
    ],
)
def test_proposal_decide_bad_input_is_refused(who, open_round, no_task, outcome, year, message):
    proposal = proposal_in(open_round, who.a)
    close(open_round)
    with pytest.raises(ProposalError, match=message):
        proposal_decide(
            proposal=proposal, outcome=outcome, by=who.secretariat, deferred_to_year=year
        )
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED
    assert not proposal.events.exists()


def test_selecting_over_the_limit_needs_a_confirmation(who, open_round, no_task):
    first, second, third = (proposal_in(open_round, who.a, title=t) for t in "XYZ")
    close(open_round)
    decide(first, ProposalState.SELECTED, who.secretariat)
    decide(second, ProposalState.SELECTED, who.secretariat)

    with pytest.raises(SelectionLimitError, match="selects 2 topic") as refused:
        decide(third, ProposalState.SELECTED, who.secretariat)
    assert (refused.value.limit, refused.value.selected) == (2, ["X", "Y"])
    third.refresh_from_db()
    assert third.state == ProposalState.SUBMITTED

    decide(third, ProposalState.SELECTED, who.secretariat, confirm_over_limit=True)
    third.refresh_from_db()
    assert third.state == ProposalState.SELECTED


def test_decision_email_task_is_queued_only_after_commit(
    who, open_round, no_task, django_capture_on_commit_callbacks
):
    proposal = proposal_in(open_round, who.a)
    close(open_round)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        decide(proposal, ProposalState.SELECTED, who.secretariat)
        no_task.assert_not_called()
    for callback in callbacks:
        callback()

    no_task.assert_called_once_with(proposal_id=proposal.pk)


def test_a_refused_decision_queues_no_email(
    who, open_round, no_task, django_capture_on_commit_callbacks
):
    proposal = proposal_in(open_round, who.a)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ProposalError),
    ):
        decide(proposal, ProposalState.SELECTED, who.secretariat)
    assert callbacks == []
    no_task.assert_not_called()


def test_a_deferred_proposal_comes_back_in_the_existing_round_of_its_year(who, open_round, no_task):
    domain = PolicyDomainFactory()
    proposal = proposal_in(open_round, who.a, rationale="Why", preferred_quarter=1)
    proposal.co_sponsors.add(who.c)
    proposal.policy_domains.add(domain)
    next_round = ProposalRoundFactory(target_year=2031, kind=open_round.kind)
    close(open_round)

    decide(proposal, ProposalState.DEFERRED, who.secretariat, deferred_to_year=2031)

    carried = next_round.proposals.get()
    assert carried.earlier_version == proposal
    assert carried.state == ProposalState.SUBMITTED
    assert (carried.title, carried.rationale, carried.target_year) == (proposal.title, "Why", 2031)
    assert carried.proposing_organisation == who.a
    assert list(carried.co_sponsors.all()) == [who.c]
    assert list(carried.policy_domains.all()) == [domain]
    kinds = [(e.kind, e.year) for e in proposal_history(proposal=carried)]
    assert kinds == [(ProposalEventKind.DEFERRED, 2031), (ProposalEventKind.PROPOSED, 2031)]


def test_a_round_created_later_pulls_in_the_proposals_deferred_to_it(who, open_round, no_task):
    proposal = proposal_in(open_round, who.a)
    other_kind = proposal_in(
        ProposalRoundFactory(target_year=2030, kind=ProposalKind.DIALOGUE_THEME), who.b
    )
    close(open_round)
    ProposalRound.objects.filter(pk=other_kind.round_id).update(closes_at=days(-1))
    decide(proposal, ProposalState.DEFERRED, who.secretariat, deferred_to_year=2032)
    decide(other_kind, ProposalState.DEFERRED, who.secretariat, deferred_to_year=2032)
    assert ThemeProposal.objects.count() == 2  # no round for 2032 yet

    new_round = round_create(
        by=who.secretariat, title="2032", target_year=2032, kind=ProposalKind.WORKSHOP_TOPIC
    )

    carried = new_round.proposals.get()
    assert carried.earlier_version == proposal
    assert carried.state == ProposalState.SUBMITTED


def test_history_follows_the_chain_of_earlier_versions_oldest_first(who, no_task):
    rounds = [ProposalRoundFactory(target_year=year, closes_at=days(-1)) for year in (2040, 2041)]
    first = proposal_in(rounds[0], who.a)
    first.events.create(kind=ProposalEventKind.NOTE, text="Undated note from the seed")
    decide(first, ProposalState.DEFERRED, who.secretariat, deferred_to_year=2041)
    second = rounds[1].proposals.get()
    decide(second, ProposalState.SELECTED, who.secretariat)

    history = proposal_history(proposal=second)

    assert [(e.proposal_id, e.kind, e.year) for e in history] == [
        (first.pk, ProposalEventKind.NOTE, None),
        (first.pk, ProposalEventKind.DEFERRED, 2041),
        (second.pk, ProposalEventKind.PROPOSED, 2041),
        (second.pk, ProposalEventKind.SELECTED, 2041),
    ]


# --- Workshops from selected topics -------------------------------------------------------------


def test_workshop_create_from_a_selected_topic(who, open_round, no_task):
    partner = OrganisationFactory(kind=OrganisationKind.UN_AGENCY, name="WHO")
    proposal = proposal_in(open_round, who.a, title="Health workers", preferred_quarter=2)
    proposal.suggested_partners.add(partner)
    proposal.co_sponsors.add(who.c)
    close(open_round)
    decide(proposal, ProposalState.SELECTED, who.secretariat)

    workshop = workshop_create_from_proposal(proposal=proposal, by=who.secretariat)

    proposal.refresh_from_db()
    assert proposal.workshop == workshop
    assert (workshop.title, workshop.kind, workshop.status) == (
        "Health workers",
        "idm_intersessional",
        "planned",
    )
    assert workshop.dialogue == open_round.dialogue
    assert workshop.date_text == "second quarter of 2030"
    roles = set(WorkshopPartner.objects.values_list("organisation__name", "role"))
    assert roles == {
        ("WHO", PartnerRole.PARTNER),
        ("Delegation A", PartnerRole.REQUESTED_BY),
        ("Delegation C", PartnerRole.REQUESTED_BY),
    }
    with pytest.raises(ProposalError, match="already planned"):
        workshop_create_from_proposal(proposal=proposal, by=who.secretariat)


@pytest.mark.parametrize("state", [s for s in ALL_STATES if s != ProposalState.SELECTED])
def test_only_a_selected_topic_becomes_a_workshop(who, open_round, state):
    proposal = proposal_in(open_round, who.a, state)
    with pytest.raises(ProposalError, match="only a selected topic"):
        workshop_create_from_proposal(proposal=proposal, by=who.secretariat)


def test_a_selected_dialogue_theme_is_no_workshop(who):
    round_ = ProposalRoundFactory(kind=ProposalKind.DIALOGUE_THEME)
    proposal = proposal_in(round_, who.a, ProposalState.SELECTED)
    with pytest.raises(ProposalError, match="not a workshop topic"):
        workshop_create_from_proposal(proposal=proposal, by=who.secretariat)


# --- Emails ------------------------------------------------------------------------------------


def test_decision_email_goes_to_the_proposing_and_co_sponsoring_delegations_once(
    who, open_round, no_task, mailoutbox
):
    proposal = proposal_in(open_round, who.a, title="Diaspora")
    proposal.co_sponsors.add(who.c)
    RepresentativeFactory(organisation=who.a, user=UserFactory(email=""))  # no address
    RepresentativeFactory(organisation=who.a, user=UserFactory(is_active=False))
    close(open_round)
    decide(proposal, ProposalState.DEFERRED, who.secretariat, note="Next year.")

    sent = proposal_decision_notify(proposal=proposal)

    recipients = sorted(address for message in mailoutbox for address in message.to)
    expected = sorted(u.email for u in (who.delegate_a, who.delegate_a2, who.delegate_c))
    assert (sent, recipients) == (3, expected)
    message = next(m for m in mailoutbox if m.to == [who.delegate_a.email])
    assert message.subject == "Decision on “Diaspora”: deferred"
    assert "Dear Ana" in message.body
    assert "deferred to 2031" in message.body and "Next year." in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "<strong>Deferred</strong>" in html
    assert proposal_decision_notify(proposal=proposal) == 0  # a retried task sends nothing twice
    assert len(mailoutbox) == 3


def test_decision_emails_already_handed_over_are_not_sent_again(
    who, open_round, no_task, mailoutbox
):
    """A worker died after the mail backend took the first email and before the notification was
    recorded: the retried task sends only the others."""
    proposal = proposal_in(open_round, who.a, title="Diaspora")
    proposal.co_sponsors.add(who.c)
    close(open_round)
    decide(proposal, ProposalState.SELECTED, who.secretariat)
    proposal_decision_notify(proposal=proposal)
    first, *others = sorted(mailoutbox, key=lambda message: message.to)
    ThemeProposal.objects.filter(pk=proposal.pk).update(decision_notified_at=None)
    mailoutbox[:] = [first]

    assert proposal_decision_notify(proposal=proposal) == len(others)

    ids = [message.extra_headers["Message-ID"] for message in mailoutbox]
    assert len(ids) == len(set(ids)) == 1 + len(others)
    assert sorted(m.to for m in mailoutbox) == sorted([first.to] + [m.to for m in others])


def test_an_undecided_proposal_sends_no_email(who, open_round, mailoutbox):
    proposal = proposal_in(open_round, who.a)
    assert proposal_decision_notify(proposal=proposal) == 0
    assert mailoutbox == []


def test_the_task_sends_the_email(who, open_round, no_task, mailoutbox):
    proposal = proposal_in(open_round, who.a)
    close(open_round)
    decide(proposal, ProposalState.SELECTED, who.secretariat)

    assert tasks.notify_proposal_decision_task.run(proposal_id=proposal.pk) == 2
    assert len(mailoutbox) == 2


def test_the_task_of_a_deleted_proposal_logs_and_returns(caplog):
    assert tasks.notify_proposal_decision_task.run(proposal_id=987654) == 0
    assert "987654 is gone" in caplog.text


def test_the_task_retries_later_when_the_mail_server_fails(who, open_round, monkeypatch):
    proposal = proposal_in(open_round, who.a, ProposalState.SELECTED)
    monkeypatch.setattr(
        tasks, "proposal_decision_notify", mock.Mock(side_effect=smtplib.SMTPServerDisconnected)
    )
    retry = mock.Mock(side_effect=Retry())
    monkeypatch.setattr(tasks.notify_proposal_decision_task, "retry", retry)

    with pytest.raises(Retry):
        tasks.notify_proposal_decision_task.run(proposal_id=proposal.pk)

    assert retry.call_args.kwargs["countdown"] == 60
    assert isinstance(retry.call_args.kwargs["exc"], smtplib.SMTPServerDisconnected)


def test_every_refusal_is_a_workshops_error():
    assert issubclass(SelectionLimitError, ProposalError)
    assert issubclass(ProposalError, WorkshopsError)
    assert issubclass(RoundError, WorkshopsError)
