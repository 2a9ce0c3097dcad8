import factory

from workshops.enums import (
    PartnerRole,
    ProposalEventKind,
    ProposalKind,
    WorkshopKind,
)
from workshops.models import (
    FundedParticipation,
    ProposalEvent,
    ProposalRound,
    ProposalSupport,
    Registration,
    ThemeProposal,
    Workshop,
    WorkshopPartner,
)

from .stakeholders import OrganisationFactory, PersonFactory


class WorkshopFactory(factory.django.DjangoModelFactory):
    title = factory.Sequence(lambda n: f"Workshop {n}")
    kind = WorkshopKind.IDM_INTERSESSIONAL

    class Meta:
        model = Workshop


class WorkshopPartnerFactory(factory.django.DjangoModelFactory):
    workshop = factory.SubFactory(WorkshopFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = PartnerRole.ORGANISER

    class Meta:
        model = WorkshopPartner


class FundedParticipationFactory(factory.django.DjangoModelFactory):
    workshop = factory.SubFactory(WorkshopFactory)
    funded_participants = 10

    class Meta:
        model = FundedParticipation
        skip_postgeneration_save = True

    @factory.post_generation
    def donors(self, create, extracted, **kwargs):
        if create and extracted:
            self.donors.set(extracted)


class RegistrationFactory(factory.django.DjangoModelFactory):
    workshop = factory.SubFactory(WorkshopFactory)
    person = factory.SubFactory(PersonFactory)

    class Meta:
        model = Registration


class ProposalRoundFactory(factory.django.DjangoModelFactory):
    title = factory.Sequence(lambda n: f"Proposal round {n}")
    target_year = factory.Sequence(lambda n: 2010 + n)
    kind = ProposalKind.WORKSHOP_TOPIC

    class Meta:
        model = ProposalRound


class ThemeProposalFactory(factory.django.DjangoModelFactory):
    title = factory.Sequence(lambda n: f"Theme proposal {n}")
    kind = ProposalKind.WORKSHOP_TOPIC
    proposing_organisation = factory.SubFactory(OrganisationFactory)

    class Meta:
        model = ThemeProposal


class ProposalEventFactory(factory.django.DjangoModelFactory):
    proposal = factory.SubFactory(ThemeProposalFactory)
    kind = ProposalEventKind.PROPOSED

    class Meta:
        model = ProposalEvent


class ProposalSupportFactory(factory.django.DjangoModelFactory):
    proposal = factory.SubFactory(ThemeProposalFactory)
    organisation = factory.SubFactory(OrganisationFactory)

    class Meta:
        model = ProposalSupport
