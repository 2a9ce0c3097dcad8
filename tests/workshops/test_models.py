import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from idm.enums import MeetingKind
from stakeholders.enums import OrganisationKind
from tests.factories import violated
from tests.factories.idm import (
    CouncilSessionFactory,
    DialogueFactory,
    MeetingFactory,
    PolicyDomainFactory,
    VenueFactory,
)
from tests.factories.stakeholders import OrganisationFactory, PersonFactory, UserFactory
from tests.factories.workshops import (
    FundedParticipationFactory,
    ProposalEventFactory,
    ProposalRoundFactory,
    ProposalSupportFactory,
    RegistrationFactory,
    ThemeProposalFactory,
    WorkshopFactory,
    WorkshopPartnerFactory,
)
from workshops.enums import (
    PartnerRole,
    ProposalEventKind,
    ProposalKind,
    ProposalState,
    RegistrationRole,
    WorkshopStatus,
)

pytestmark = pytest.mark.django_db

UNIQUE_VIOLATION = r"(?i)unique constraint"


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def test_workshop_and_proposal_graph_saves_and_reads_well():
    dialogue = DialogueFactory(year=2005)
    iom = OrganisationFactory(name="International Organization for Migration", acronym="IOM")
    usa = OrganisationFactory(name="United States", kind=OrganisationKind.MEMBER_STATE)
    australia = OrganisationFactory(name="Australia", kind=OrganisationKind.MEMBER_STATE)
    workshop = WorkshopFactory(
        title="Migration and Trade",
        dialogue=dialogue,
        start_date=datetime.date(2005, 11, 3),
        end_date=datetime.date(2005, 11, 4),
        venue=VenueFactory(),
        status=WorkshopStatus.HELD,
    )
    partner = WorkshopPartnerFactory(workshop=workshop, organisation=iom, role=PartnerRole.HOST)
    funding = FundedParticipationFactory(
        workshop=workshop,
        funded_participants=60,
        per_person_amount=Decimal("1500.00"),
        currency="USD",
        donors=[usa, australia],
    )
    registration = RegistrationFactory(
        workshop=workshop,
        person=PersonFactory(honorific="Mr", name="John Smith"),
        organisation=usa,
        role=RegistrationRole.SPEAKER,
        funded_by=usa,
    )
    sitting = MeetingFactory(kind=MeetingKind.IDM_SITTING, council_session=CouncilSessionFactory())
    proposal_round = ProposalRoundFactory(
        title="Workshop topics for 2006",
        target_year=2006,
        kind=ProposalKind.WORKSHOP_TOPIC,
        dialogue=dialogue,
        opens_at=at(2005, 12, 1, 9),
        closes_at=at(2006, 1, 31, 17),
        topics_to_select=2,
        decision_meeting=sitting,
    )
    proposal = ThemeProposalFactory(
        title="Migration and health",
        round=proposal_round,
        target_year=2006,
        proposing_organisation=usa,
        preferred_quarter=2,
        state=ProposalState.DEFERRED,
        deferred_to_year=2007,
        workshop=workshop,
        created_by=UserFactory(),
    )
    proposal.co_sponsors.add(australia)
    proposal.policy_domains.add(PolicyDomainFactory(name="Health"))
    event = ProposalEventFactory(proposal=proposal, kind=ProposalEventKind.DEFERRED, year=2006)
    support = ProposalSupportFactory(proposal=proposal, organisation=australia)

    for obj in (workshop, partner, funding, registration, proposal_round, proposal, support):
        obj.full_clean()
    assert list(workshop.partners.all()) == [iom]
    assert set(funding.donors.all()) == {usa, australia}
    assert list(proposal_round.proposals.all()) == [proposal]
    assert list(workshop.candidate_proposals.all()) == [proposal]
    assert workshop.is_intersessional
    assert str(workshop) == "Migration and Trade"
    assert str(partner) == "IOM (Host)"
    assert str(funding) == "60 funded participants"
    assert str(registration) == "Mr John Smith (Speaker)"
    assert str(proposal_round) == "Workshop topics for 2006"
    assert str(proposal) == "Migration and health"
    assert str(event) == "Deferred 2006"
    assert str(support) == "Australia supports Migration and health"


def test_planned_workshop_without_title_reads_as_topic_to_be_selected():
    workshop = WorkshopFactory(
        title="", status=WorkshopStatus.PLANNED, date_text="first quarter of 2006"
    )

    workshop.full_clean()
    assert str(workshop) == "IDM workshop, topic to be selected (first quarter of 2006)"


# Workshops


def test_workshop_ending_before_it_starts_is_refused():
    workshop = WorkshopFactory.build(
        start_date=datetime.date(2005, 11, 4), end_date=datetime.date(2005, 11, 3)
    )

    with pytest.raises(ValidationError) as excinfo:
        workshop.full_clean()
    assert excinfo.value.message_dict == violated("workshop_ends_after_it_starts")

    with (
        pytest.raises(IntegrityError, match="workshop_ends_after_it_starts"),
        transaction.atomic(),
    ):
        workshop.save()


def test_one_day_workshop_is_accepted():
    day = datetime.date(2005, 11, 3)

    WorkshopFactory(start_date=day, end_date=day).full_clean()


def test_held_workshop_without_title_is_refused():
    workshop = WorkshopFactory.build(title="", status=WorkshopStatus.HELD)

    with pytest.raises(ValidationError) as excinfo:
        workshop.full_clean()
    assert excinfo.value.message_dict == violated("workshop_titled_unless_planned")

    with (
        pytest.raises(IntegrityError, match="workshop_titled_unless_planned"),
        transaction.atomic(),
    ):
        workshop.save()


def test_same_partner_twice_in_one_role_is_refused():
    partner = WorkshopPartnerFactory(role=PartnerRole.ORGANISER)

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        WorkshopPartnerFactory(
            workshop=partner.workshop, organisation=partner.organisation, role=PartnerRole.ORGANISER
        )
    WorkshopPartnerFactory(
        workshop=partner.workshop, organisation=partner.organisation, role=PartnerRole.FUNDER
    )


def test_negative_funding_per_person_is_refused():
    funding = FundedParticipationFactory.build(
        workshop=WorkshopFactory(), per_person_amount=Decimal("-1.00")
    )

    with pytest.raises(ValidationError) as excinfo:
        funding.full_clean()
    assert excinfo.value.message_dict == {
        "per_person_amount": ["Ensure this value is greater than or equal to 0."]
    }

    with pytest.raises(IntegrityError, match="funding_amount_not_negative"), transaction.atomic():
        funding.save()


def test_second_registration_of_a_person_for_one_workshop_is_refused():
    registration = RegistrationFactory()
    duplicate = RegistrationFactory.build(
        workshop=registration.workshop, person=registration.person
    )

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["This person is already registered for this workshop."]
    }

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        duplicate.save()


# Proposal rounds


def test_round_closing_before_it_opens_is_refused():
    proposal_round = ProposalRoundFactory.build(
        opens_at=at(2006, 1, 31, 17), closes_at=at(2005, 12, 1, 9)
    )

    with pytest.raises(ValidationError) as excinfo:
        proposal_round.full_clean()
    assert excinfo.value.message_dict == violated("round_closes_after_it_opens")

    with pytest.raises(IntegrityError, match="round_closes_after_it_opens"), transaction.atomic():
        proposal_round.save()


def test_round_closing_the_moment_it_opens_is_refused():
    moment = timezone.now()

    with pytest.raises(IntegrityError, match="round_closes_after_it_opens"), transaction.atomic():
        ProposalRoundFactory(opens_at=moment, closes_at=moment)


def test_round_without_deadline_is_accepted():
    ProposalRoundFactory(opens_at=at(2005, 12, 1, 9), closes_at=None).full_clean()


def test_second_round_for_the_same_year_and_kind_is_refused():
    ProposalRoundFactory(target_year=2006, kind=ProposalKind.WORKSHOP_TOPIC)
    duplicate = ProposalRoundFactory.build(target_year=2006, kind=ProposalKind.WORKSHOP_TOPIC)

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["There is already a round of this kind for this year."]
    }

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        duplicate.save()
    ProposalRoundFactory(target_year=2006, kind=ProposalKind.DIALOGUE_THEME)


def test_round_selecting_no_topic_is_refused():
    with pytest.raises(IntegrityError, match="round_selects_at_least_one"), transaction.atomic():
        ProposalRoundFactory(topics_to_select=0)


# Theme proposals


def test_proposal_without_title_is_refused():
    with pytest.raises(IntegrityError, match="proposal_title_not_empty"), transaction.atomic():
        ThemeProposalFactory(title="")


def test_workshop_topic_without_proposer_is_refused():
    proposal = ThemeProposalFactory.build(
        kind=ProposalKind.WORKSHOP_TOPIC, proposing_organisation=None
    )

    with pytest.raises(ValidationError) as excinfo:
        proposal.full_clean()
    assert excinfo.value.message_dict == violated("idm_proposal_has_proposer")

    with pytest.raises(IntegrityError, match="idm_proposal_has_proposer"), transaction.atomic():
        proposal.save()


def test_topic_for_another_forum_needs_no_proposer():
    ThemeProposalFactory(kind=ProposalKind.OTHER_FORUM, proposing_organisation=None).full_clean()


def test_deferred_proposal_without_year_is_refused():
    proposal = ThemeProposalFactory.build(
        proposing_organisation=OrganisationFactory(),
        state=ProposalState.DEFERRED,
        deferred_to_year=None,
    )

    with pytest.raises(ValidationError) as excinfo:
        proposal.full_clean()
    assert excinfo.value.message_dict == violated("proposal_deferred_has_year")

    with pytest.raises(IntegrityError, match="proposal_deferred_has_year"), transaction.atomic():
        proposal.save()


def test_proposal_not_deferred_but_with_a_year_is_refused():
    proposal = ThemeProposalFactory.build(
        proposing_organisation=OrganisationFactory(),
        state=ProposalState.SUBMITTED,
        deferred_to_year=2007,
    )

    with pytest.raises(ValidationError) as excinfo:
        proposal.full_clean()
    assert excinfo.value.message_dict == violated("proposal_deferred_has_year")

    with pytest.raises(IntegrityError, match="proposal_deferred_has_year"), transaction.atomic():
        proposal.save()


@pytest.mark.parametrize("quarter", [0, 5])
def test_preferred_quarter_outside_1_to_4_is_refused(quarter):
    with pytest.raises(IntegrityError, match="proposal_quarter_1_to_4"), transaction.atomic():
        ThemeProposalFactory(preferred_quarter=quarter)


def test_second_support_by_the_same_delegation_is_refused():
    support = ProposalSupportFactory()
    duplicate = ProposalSupportFactory.build(
        proposal=support.proposal, organisation=support.organisation
    )

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["This delegation already supports this proposal."]
    }

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        duplicate.save()
    ProposalSupportFactory(proposal=support.proposal)
