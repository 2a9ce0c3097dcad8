import datetime

import factory

from idm.enums import CouncilBody, DialogueStatus, DocumentKind, MeetingKind
from idm.models import (
    Agenda,
    AgendaItem,
    AgendaSlot,
    CouncilSession,
    Dialogue,
    Document,
    Meeting,
    PolicyDomain,
    Room,
    Venue,
)


class PolicyDomainFactory(factory.django.DjangoModelFactory):
    name = factory.Sequence(lambda n: f"Policy domain {n}")
    slug = factory.Sequence(lambda n: f"policy-domain-{n}")

    class Meta:
        model = PolicyDomain


class VenueFactory(factory.django.DjangoModelFactory):
    name = factory.Sequence(lambda n: f"Venue {n}")
    city = "Geneva"
    country = "Switzerland"

    class Meta:
        model = Venue


class RoomFactory(factory.django.DjangoModelFactory):
    venue = factory.SubFactory(VenueFactory)
    name = factory.Sequence(lambda n: f"Room {n}")

    class Meta:
        model = Room


class DialogueFactory(factory.django.DjangoModelFactory):
    # Years must lie in 2001-2100; starting at 2010 keeps clear of the seed data (2003-2006).
    year = factory.Sequence(lambda n: 2010 + n % 90)
    theme = factory.Sequence(lambda n: f"Dialogue theme {n}")
    status = DialogueStatus.AGREED

    class Meta:
        model = Dialogue


class CouncilSessionFactory(factory.django.DjangoModelFactory):
    body = CouncilBody.COUNCIL
    # Above the seed data's session numbers (88-90, ExCom 102).
    number = factory.Sequence(lambda n: 200 + n)
    name = factory.LazyAttribute(lambda o: f"Session {o.number}")

    class Meta:
        model = CouncilSession


class MeetingFactory(factory.django.DjangoModelFactory):
    kind = MeetingKind.INFORMAL_CONSULTATION
    title = factory.Sequence(lambda n: f"Meeting {n}")

    class Meta:
        model = Meeting


class DocumentFactory(factory.django.DjangoModelFactory):
    title = factory.Sequence(lambda n: f"Document {n}")
    kind = DocumentKind.OTHER

    class Meta:
        model = Document


class AgendaFactory(factory.django.DjangoModelFactory):
    """An agenda of a new Council session, unless a meeting or a workshop is given."""

    meeting = None
    workshop = None
    council_session = factory.Maybe(
        factory.LazyAttribute(lambda o: o.meeting is None and o.workshop is None),
        yes_declaration=factory.SubFactory(CouncilSessionFactory),
        no_declaration=None,
    )

    class Meta:
        model = Agenda


class AgendaItemFactory(factory.django.DjangoModelFactory):
    """A top-level item; given a ``parent``, sub-item (a) of it, on the parent's agenda."""

    parent = None
    agenda = factory.Maybe(
        "parent",
        yes_declaration=factory.SelfAttribute("parent.agenda"),
        no_declaration=factory.SubFactory(AgendaFactory),
    )
    number = factory.Maybe(
        "parent",
        yes_declaration=factory.SelfAttribute("parent.number"),
        no_declaration=factory.Sequence(lambda n: n + 1),
    )
    sub_item = factory.Maybe("parent", yes_declaration="a", no_declaration="")
    title = factory.Sequence(lambda n: f"Agenda item {n}")

    class Meta:
        model = AgendaItem


class AgendaSlotFactory(factory.django.DjangoModelFactory):
    item = factory.SubFactory(AgendaItemFactory)
    day = datetime.date(2005, 11, 29)
    start_time = datetime.time(10, 0)
    end_time = datetime.time(13, 0)

    class Meta:
        model = AgendaSlot
