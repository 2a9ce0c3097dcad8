"""Who may do what with a proposal: every permission, over every state, role and round date."""

import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from stakeholders.enums import ActingRole, OrganisationKind
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory, UserFactory
from tests.factories.workshops import (
    ProposalRoundFactory,
    ProposalSupportFactory,
    ThemeProposalFactory,
)
from workshops.enums import ProposalState

pytestmark = pytest.mark.django_db

S = ProposalState
ALL_STATES = list(S)
PUBLIC = {S.SUBMITTED, S.SELECTED, S.DEFERRED, S.NOT_ENDORSED}
ROLES = ["own", "own_colleague", "other", "co_sponsor", "agency", "secretariat", "anonymous"]
ROLES += ["no_representative", "superuser"]


def days(n: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=n)


@pytest.fixture
def world():
    member = OrganisationKind.MEMBER_STATE
    own, other, co_sponsor = (OrganisationFactory(kind=member) for _ in range(3))

    def login(organisation, role=ActingRole.DELEGATION):
        return RepresentativeFactory(organisation=organisation, role=role).user

    users = {
        "own": login(own),
        "own_colleague": login(own),
        "other": login(other),
        "co_sponsor": login(co_sponsor),
        "agency": login(OrganisationFactory(kind=OrganisationKind.UN_AGENCY), ActingRole.AGENCY),
        "secretariat": login(OrganisationFactory(), ActingRole.SECRETARIAT),
        "anonymous": AnonymousUser(),
        "no_representative": UserFactory(),
        "superuser": UserFactory(is_superuser=True, is_staff=True),
    }
    return {"own": own, "other": other, "co_sponsor": co_sponsor, "users": users}


def make(world, state, *, round_open=True):
    round_ = ProposalRoundFactory(opens_at=days(-10), closes_at=days(5) if round_open else days(-1))
    proposal = ThemeProposalFactory(
        round=round_,
        target_year=round_.target_year,
        proposing_organisation=world["own"],
        state=state,
        deferred_to_year=round_.target_year + 1 if state == S.DEFERRED else None,
    )
    proposal.co_sponsors.add(world["co_sponsor"])
    return proposal


def expected(permission: str, role: str, state: str, round_open: bool) -> bool:
    if role == "superuser":
        return True  # Django grants an active superuser every permission
    own = role in ("own", "own_colleague")
    delegate = role in ("own", "own_colleague", "other", "co_sponsor")
    if permission == "view_proposal":
        return role == "secretariat" or own or state in PUBLIC
    if permission in ("change_proposal", "withdraw_proposal"):
        return own and state in (S.DRAFT, S.SUBMITTED) and round_open
    if permission == "submit_proposal":
        return own and state == S.DRAFT and round_open
    if permission == "support_proposal":
        return delegate and not own and role != "co_sponsor" and state == S.SUBMITTED and round_open
    if permission == "unsupport_proposal":
        return False  # nobody supports it in these cases: see the tests with a support below
    if permission == "decide_proposal":
        return role == "secretariat"
    raise AssertionError(permission)


PERMISSIONS = [
    "view_proposal",
    "change_proposal",
    "submit_proposal",
    "withdraw_proposal",
    "support_proposal",
    "unsupport_proposal",
    "decide_proposal",
]


@pytest.mark.parametrize("round_open", [True, False], ids=["open", "closed"])
@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("permission", PERMISSIONS)
def test_proposal_permissions(world, permission, state, round_open):
    proposal = make(world, state, round_open=round_open)
    answers = {
        role: user.has_perm(f"workshops.{permission}", proposal)
        for role, user in world["users"].items()
    }
    assert answers == {role: expected(permission, role, state, round_open) for role in ROLES}


@pytest.mark.parametrize("round_open", [True, False], ids=["open", "closed"])
def test_a_supporting_delegation_may_withdraw_its_support_while_the_round_is_open(
    world, round_open
):
    proposal = make(world, S.SUBMITTED, round_open=round_open)
    ProposalSupportFactory(proposal=proposal, organisation=world["other"])
    users = world["users"]

    assert users["other"].has_perm("workshops.unsupport_proposal", proposal) is round_open
    assert not users["own"].has_perm("workshops.unsupport_proposal", proposal)
    assert not users["agency"].has_perm("workshops.unsupport_proposal", proposal)


@pytest.mark.parametrize(
    ("opens", "closes", "may"),
    [(None, None, True), (-1, 5, True), (2, 5, False), (-5, -1, False)],
    ids=["no-dates", "open", "not-yet-open", "closed"],
)
def test_only_a_delegate_proposes_and_only_in_an_open_round(world, opens, closes, may):
    round_ = ProposalRoundFactory(
        opens_at=days(opens) if opens is not None else None,
        closes_at=days(closes) if closes is not None else None,
    )
    answers = {
        role: user.has_perm("workshops.add_proposal", round_)
        for role, user in world["users"].items()
    }
    delegates = {"own", "own_colleague", "other", "co_sponsor"}
    assert answers == {role: (role in delegates and may) or role == "superuser" for role in ROLES}


def test_without_a_round_add_proposal_asks_only_whether_the_login_is_a_delegate(world):
    users = world["users"]
    assert users["own"].has_perm("workshops.add_proposal")
    assert not users["agency"].has_perm("workshops.add_proposal")
    assert not users["secretariat"].has_perm("workshops.add_proposal")
    assert not users["anonymous"].has_perm("workshops.add_proposal")


def test_an_inactive_delegate_may_do_nothing(world):
    proposal = make(world, S.DRAFT)
    user = world["users"]["own"]
    user.is_active = False
    assert not user.has_perm("workshops.view_proposal", proposal)
    assert not user.has_perm("workshops.change_proposal", proposal)
