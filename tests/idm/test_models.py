import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from idm.enums import CouncilBody, MeetingKind
from idm.models import Document
from tests.factories import violated
from tests.factories.idm import (
    AgendaFactory,
    AgendaItemFactory,
    AgendaSlotFactory,
    CouncilSessionFactory,
    DialogueFactory,
    DocumentFactory,
    MeetingFactory,
    RoomFactory,
    VenueFactory,
)
from tests.factories.workshops import WorkshopFactory

pytestmark = pytest.mark.django_db

UNIQUE_VIOLATION = r"(?i)unique constraint"


def test_ninetieth_council_session_graph_saves_and_reads_well():
    venue = VenueFactory(name="Palais des Nations", city="Geneva")
    room = RoomFactory(venue=venue, name="Salle XVIII")
    dialogue = DialogueFactory(year=2005, theme="Migration and development")
    session = CouncilSessionFactory(
        number=90,
        name="Ninetieth Session",
        start_date=datetime.date(2005, 11, 29),
        end_date=datetime.date(2005, 12, 2),
        venue=venue,
        room=room,
        dialogue=dialogue,
    )
    sitting = MeetingFactory(
        kind=MeetingKind.IDM_SITTING,
        title="IDM at the 90th Council",
        dialogue=dialogue,
        council_session=session,
    )
    document = DocumentFactory(symbol="MC/INF/279", title="International Dialogue on Migration")
    agenda = AgendaFactory(council_session=session, title="Provisional agenda", document=document)
    item = AgendaItemFactory(agenda=agenda, number=5, title="Migration and development")
    sub_item = AgendaItemFactory(parent=item, title="Panel discussion", dialogue=dialogue)
    sub_item.documents.add(document)
    slot = AgendaSlotFactory(
        item=sub_item,
        day=datetime.date(2005, 11, 29),
        start_time=datetime.time(12, 0),
        end_time=datetime.time(13, 0),
    )

    for obj in (venue, room, dialogue, session, sitting, document, agenda, item, sub_item, slot):
        obj.full_clean()
    assert sub_item.agenda == agenda
    assert list(item.sub_items.all()) == [sub_item]
    assert list(document.agenda_items.all()) == [sub_item]
    assert agenda.event == session
    assert str(venue) == "Palais des Nations, Geneva"
    assert str(room) == "Salle XVIII, Palais des Nations"
    assert str(dialogue) == "IDM 2005: Migration and development"
    assert str(session) == "Council, Ninetieth Session"
    assert str(sitting) == "IDM at the 90th Council"
    assert str(document) == "MC/INF/279 — International Dialogue on Migration"
    assert str(agenda) == "Provisional agenda: Council, Ninetieth Session"
    assert item.full_label == "Item 5"
    assert str(item) == "Item 5: Migration and development"
    assert sub_item.full_label == "Item 5(a)"
    assert str(sub_item) == "(a): Panel discussion"
    assert str(slot) == "Tuesday 29 November 2005 12.00 - 13.00"


def test_slot_without_times_reads_as_the_day_only():
    slot = AgendaSlotFactory(day=datetime.date(2005, 11, 30), start_time=None, end_time=None)

    assert str(slot) == "Wednesday 30 November 2005"


# Venues and rooms


def test_second_venue_of_the_same_name_in_one_city_is_refused():
    VenueFactory(name="CICG", city="Geneva")

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        VenueFactory(name="CICG", city="Geneva")
    VenueFactory(name="CICG", city="Bern")


def test_venue_closing_before_it_opens_is_refused():
    venue = VenueFactory.build(opens_at=datetime.time(18, 0), closes_at=datetime.time(9, 0))

    with pytest.raises(ValidationError) as excinfo:
        venue.full_clean()
    assert excinfo.value.message_dict == violated("venue_closes_after_it_opens")

    with pytest.raises(IntegrityError, match="venue_closes_after_it_opens"), transaction.atomic():
        venue.save()


def test_second_room_of_the_same_name_in_one_venue_is_refused():
    room = RoomFactory(name="Salle XVIII")

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        RoomFactory(venue=room.venue, name="Salle XVIII")


# Dialogues and Council sessions


@pytest.mark.parametrize("year", [2000, 2101])
def test_dialogue_in_an_implausible_year_is_refused(year):
    dialogue = DialogueFactory.build(year=year)

    with pytest.raises(ValidationError) as excinfo:
        dialogue.full_clean()
    assert excinfo.value.message_dict == violated("dialogue_year_plausible")

    with pytest.raises(IntegrityError, match="dialogue_year_plausible"), transaction.atomic():
        dialogue.save()


def test_duplicate_council_session_is_refused():
    CouncilSessionFactory(body=CouncilBody.COUNCIL, number=90)
    duplicate = CouncilSessionFactory.build(body=CouncilBody.COUNCIL, number=90)

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["There is already a session of this body with this number."]
    }

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        duplicate.save()


def test_same_session_number_in_another_body_is_accepted():
    CouncilSessionFactory(body=CouncilBody.COUNCIL, number=102)
    excom = CouncilSessionFactory.build(body=CouncilBody.EXECUTIVE_COMMITTEE, number=102)

    excom.full_clean()
    excom.save()


def test_council_session_ending_before_it_starts_is_refused():
    session = CouncilSessionFactory.build(
        start_date=datetime.date(2005, 12, 2), end_date=datetime.date(2005, 11, 29)
    )

    with pytest.raises(ValidationError) as excinfo:
        session.full_clean()
    assert excinfo.value.message_dict == violated("council_session_ends_after_it_starts")

    with (
        pytest.raises(IntegrityError, match="council_session_ends_after_it_starts"),
        transaction.atomic(),
    ):
        session.save()


# Meetings


def test_meeting_ending_before_it_starts_is_refused():
    with pytest.raises(IntegrityError, match="meeting_ends_after_it_starts"), transaction.atomic():
        MeetingFactory(start_date=datetime.date(2005, 3, 2), end_date=datetime.date(2005, 3, 1))


def test_idm_sitting_without_council_session_is_refused():
    sitting = MeetingFactory.build(kind=MeetingKind.IDM_SITTING, council_session=None)

    with pytest.raises(ValidationError) as excinfo:
        sitting.full_clean()
    assert excinfo.value.message_dict == violated("idm_sitting_has_council_session")

    with (
        pytest.raises(IntegrityError, match="idm_sitting_has_council_session"),
        transaction.atomic(),
    ):
        sitting.save()


def test_informal_consultation_needs_no_council_session():
    MeetingFactory(kind=MeetingKind.INFORMAL_CONSULTATION, council_session=None).full_clean()


# Documents


def test_duplicate_document_symbol_is_refused():
    DocumentFactory(symbol="MC/INF/279")
    duplicate = DocumentFactory.build(symbol="MC/INF/279")

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.message_dict == {"symbol": ["Document with this Symbol already exists."]}

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        duplicate.save()


def test_documents_without_symbol_may_be_many():
    first = DocumentFactory(symbol=None)
    second = DocumentFactory.build(symbol=None)

    second.full_clean()
    second.save()

    assert Document.objects.filter(pk__in=[first.pk, second.pk], symbol__isnull=True).count() == 2


def test_blank_document_symbol_is_refused():
    document = DocumentFactory.build(symbol="")

    with pytest.raises(ValidationError) as excinfo:
        document.full_clean()
    assert excinfo.value.message_dict == violated("document_symbol_not_blank")

    with pytest.raises(IntegrityError, match="document_symbol_not_blank"), transaction.atomic():
        document.save()


def test_document_without_title_is_refused():
    with pytest.raises(IntegrityError, match="document_title_not_empty"), transaction.atomic():
        DocumentFactory(title="")


# Agendas


def test_agenda_of_two_events_is_refused():
    agenda = AgendaFactory.build(council_session=CouncilSessionFactory(), meeting=MeetingFactory())

    with pytest.raises(ValidationError) as excinfo:
        agenda.full_clean()
    assert excinfo.value.message_dict == violated("agenda_belongs_to_exactly_one_event")

    with (
        pytest.raises(IntegrityError, match="agenda_belongs_to_exactly_one_event"),
        transaction.atomic(),
    ):
        agenda.save()


def test_agenda_of_no_event_is_refused():
    agenda = AgendaFactory.build(council_session=None, meeting=None, workshop=None)

    with pytest.raises(ValidationError) as excinfo:
        agenda.full_clean()
    assert excinfo.value.message_dict == violated("agenda_belongs_to_exactly_one_event")

    with (
        pytest.raises(IntegrityError, match="agenda_belongs_to_exactly_one_event"),
        transaction.atomic(),
    ):
        agenda.save()


@pytest.mark.parametrize("event", ["council_session", "meeting", "workshop"])
def test_agenda_of_exactly_one_event_is_accepted(event):
    owner = {
        "council_session": CouncilSessionFactory,
        "meeting": MeetingFactory,
        "workshop": WorkshopFactory,
    }[event]()

    agenda = AgendaFactory(**{event: owner})

    agenda.full_clean()
    assert agenda.event == owner


# Agenda items


def test_duplicate_item_number_within_one_agenda_is_refused():
    item = AgendaItemFactory(number=5)
    duplicate = AgendaItemFactory.build(agenda=item.agenda, number=5)

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["This agenda already has an item with this number and letter."]
    }

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        duplicate.save()


def test_same_item_number_in_two_agendas_is_accepted():
    AgendaItemFactory(number=5)
    other = AgendaItemFactory.build(agenda=AgendaFactory(), number=5)

    other.full_clean()
    other.save()


def test_sub_items_of_one_item_need_different_letters():
    item = AgendaItemFactory(number=5)
    AgendaItemFactory(parent=item, sub_item="a")
    AgendaItemFactory(parent=item, sub_item="b")

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        AgendaItemFactory(parent=item, sub_item="a")


def test_item_number_zero_is_refused():
    with pytest.raises(IntegrityError, match="agenda_item_number_positive"), transaction.atomic():
        AgendaItemFactory(number=0)


def test_top_level_item_with_a_letter_is_refused():
    item = AgendaItemFactory.build(agenda=AgendaFactory(), parent=None, sub_item="a")

    with pytest.raises(ValidationError) as excinfo:
        item.full_clean()
    assert excinfo.value.message_dict == violated("agenda_sub_item_has_parent_and_letter")

    with (
        pytest.raises(IntegrityError, match="agenda_sub_item_has_parent_and_letter"),
        transaction.atomic(),
    ):
        item.save()


def test_item_under_a_parent_without_letter_is_refused():
    parent = AgendaItemFactory(number=5)
    item = AgendaItemFactory.build(parent=parent, sub_item="")

    with pytest.raises(ValidationError) as excinfo:
        item.full_clean()
    # Without a letter it also reads as a second "Item 5", which is reported too.
    assert (
        violated("agenda_sub_item_has_parent_and_letter")["__all__"][0]
        in excinfo.value.message_dict["__all__"]
    )

    with (
        pytest.raises(IntegrityError, match="agenda_sub_item_has_parent_and_letter"),
        transaction.atomic(),
    ):
        item.save()


@pytest.mark.parametrize("letter", ["A", "1", "a1", " a"])
def test_sub_item_letter_other_than_lowercase_letters_is_refused(letter):
    parent = AgendaItemFactory(number=5)

    with (
        pytest.raises(IntegrityError, match="agenda_sub_item_has_parent_and_letter"),
        transaction.atomic(),
    ):
        AgendaItemFactory(parent=parent, sub_item=letter)


def test_agenda_item_without_title_is_refused():
    with pytest.raises(IntegrityError, match="agenda_item_title_not_empty"), transaction.atomic():
        AgendaItemFactory(title="")


# Agenda slots


def test_slot_ending_before_it_starts_is_refused():
    slot = AgendaSlotFactory.build(
        item=AgendaItemFactory(), start_time=datetime.time(13, 0), end_time=datetime.time(12, 0)
    )

    with pytest.raises(ValidationError) as excinfo:
        slot.full_clean()
    assert excinfo.value.message_dict == violated("agenda_slot_ends_after_it_starts")

    with (
        pytest.raises(IntegrityError, match="agenda_slot_ends_after_it_starts"),
        transaction.atomic(),
    ):
        slot.save()


def test_slot_ending_when_it_starts_is_refused():
    with (
        pytest.raises(IntegrityError, match="agenda_slot_ends_after_it_starts"),
        transaction.atomic(),
    ):
        AgendaSlotFactory(start_time=datetime.time(12, 0), end_time=datetime.time(12, 0))


def test_slot_with_an_end_but_no_start_is_refused():
    slot = AgendaSlotFactory.build(
        item=AgendaItemFactory(), start_time=None, end_time=datetime.time(13, 0)
    )

    with pytest.raises(ValidationError) as excinfo:
        slot.full_clean()
    assert excinfo.value.message_dict == violated("agenda_slot_ends_after_it_starts")

    with (
        pytest.raises(IntegrityError, match="agenda_slot_ends_after_it_starts"),
        transaction.atomic(),
    ):
        slot.save()


def test_slot_with_a_start_but_no_end_is_accepted():
    slot = AgendaSlotFactory(start_time=datetime.time(15, 0), end_time=None)

    slot.full_clean()
    assert str(slot) == "Tuesday 29 November 2005 15.00"
