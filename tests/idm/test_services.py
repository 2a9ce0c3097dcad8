import datetime
import re

import pytest
from django.contrib.auth import get_user_model

from idm.enums import AgendaState
from idm.models import Agenda, AgendaItem, AgendaVersion, AgendaVersionFrozenError
from idm.services import (
    AgendaChangeKind,
    AgendaClosedError,
    AgendaConflictError,
    AgendaError,
    AgendaStateError,
    PlannedItem,
    PlannedSlot,
    agenda_adopt,
    agenda_changes_since_published,
    agenda_changes_text,
    agenda_close,
    agenda_conflicts,
    agenda_copy_to,
    agenda_item_move,
    agenda_next_event,
    agenda_publish,
    agenda_renumber,
    agenda_versions_diff,
)
from tests.factories.idm import (
    AgendaFactory,
    AgendaItemFactory,
    AgendaSlotFactory,
    CouncilSessionFactory,
    RoomFactory,
    VenueFactory,
)
from tests.factories.stakeholders import PersonFactory

pytestmark = pytest.mark.django_db

TUESDAY = datetime.date(2005, 11, 29)
WEDNESDAY = datetime.date(2005, 11, 30)


def t(hours: int, minutes: int = 0) -> datetime.time:
    return datetime.time(hours, minutes)


@pytest.fixture
def officer():
    return get_user_model().objects.create_user("officer", password="unused")


@pytest.fixture
def session():
    return CouncilSessionFactory(
        name="Ninety-ninth Session",
        start_date=TUESDAY,
        end_date=datetime.date(2005, 12, 2),
    )


@pytest.fixture
def agenda(session):
    return AgendaFactory(council_session=session)


@pytest.fixture
def room():
    return RoomFactory(name="Conference Room XVIII")


def item(agenda, number, *, parent=None, position=None, room=None, slots=(), **kwargs):
    if parent is not None:
        kwargs.setdefault("sub_item", kwargs.pop("letter", "a"))
        created = AgendaItemFactory(
            parent=parent, position=position or 0, room=room, number=parent.number, **kwargs
        )
    else:
        created = AgendaItemFactory(
            agenda=agenda, number=number, position=position or number, room=room, **kwargs
        )
    for index, (day, start, end) in enumerate(slots):
        AgendaSlotFactory(item=created, day=day, start_time=start, end_time=end, position=index)
    return created


def messages(agenda, **kwargs):
    return [conflict.message for conflict in agenda_conflicts(agenda=agenda, **kwargs)]


# --- Numbering ---------------------------------------------------------------------------------


def labels(agenda):
    return [
        (each.title, each.full_label)
        for each in AgendaItem.objects.filter(agenda=agenda).order_by("position")
    ]


def test_renumber_numbers_main_items_by_position_and_letters_sub_items(agenda):
    # numbers in the way of one another: the final numbers are held by other rows at first
    first = item(agenda, 2, position=1, title="First")
    second = item(agenda, 1, position=2, title="Second")
    item(agenda, 3, position=5, parent=second, letter="b", title="Second b")
    item(agenda, 3, position=4, parent=second, letter="a", title="Second a")
    AgendaItem.objects.filter(parent=second).update(number=1)
    item(agenda, 7, position=9, title="Third")

    agenda_renumber(agenda=agenda)

    assert labels(agenda) == [
        ("First", "Item 1"),
        ("Second", "Item 2"),
        ("Second a", "Item 2(a)"),
        ("Second b", "Item 2(b)"),
        ("Third", "Item 3"),
    ]
    first.refresh_from_db()
    assert first.history.count() == 2  # created, renumbered once (temporary numbers unrecorded)


def test_renumber_of_a_well_numbered_agenda_writes_nothing(agenda, django_assert_num_queries):
    item(agenda, 1)
    item(agenda, 2)

    with django_assert_num_queries(4):  # savepoint, lock, read, release
        agenda_renumber(agenda=agenda)


def test_moving_a_main_item_takes_its_sub_items_along_and_renumbers(agenda):
    one = item(agenda, 1, title="One")
    two = item(agenda, 2, title="Two")
    item(agenda, 2, parent=two, letter="a", title="Two a")
    item(agenda, 3, title="Three")

    moved = agenda_item_move(item=two, position=1)

    assert moved.full_label == "Item 1"
    assert labels(agenda) == [
        ("Two", "Item 1"),
        ("Two a", "Item 1(a)"),
        ("One", "Item 2"),
        ("Three", "Item 3"),
    ]
    assert list(
        AgendaItem.objects.filter(agenda=agenda)
        .order_by("position")
        .values_list("position", flat=True)
    ) == [1, 2, 3, 4]
    one.refresh_from_db()
    assert one.number == 2


def test_moving_a_sub_item_reletters_its_siblings(agenda):
    five = item(agenda, 1, title="Five")
    a = item(agenda, 1, parent=five, letter="a", position=2, title="a")
    item(agenda, 1, parent=five, letter="b", position=3, title="b")
    item(agenda, 1, parent=five, letter="c", position=4, title="c")

    agenda_item_move(item=a, position=3)

    assert labels(agenda) == [
        ("Five", "Item 1"),
        ("b", "Item 1(a)"),
        ("c", "Item 1(b)"),
        ("a", "Item 1(c)"),
    ]


def test_items_of_a_closed_agenda_cannot_be_moved(agenda):
    one = item(agenda, 1)
    Agenda.objects.filter(pk=agenda.pk).update(state=AgendaState.CLOSED)

    with pytest.raises(AgendaClosedError, match="closed"):
        agenda_item_move(item=one, position=2)


# --- Conflicts ---------------------------------------------------------------------------------


def test_the_ninetieth_session_agenda_has_no_conflicts(idm_data):
    agenda = Agenda.objects.get(council_session__number=90)

    assert agenda_conflicts(agenda=agenda) == []


def test_slot_outside_the_event_dates_is_a_conflict(agenda):
    item(agenda, 1, slots=[(TUESDAY, t(10), t(11))])
    late = item(agenda, 2, slots=[(datetime.date(2005, 12, 5), t(10), t(11))])

    conflicts = agenda_conflicts(agenda=agenda)

    assert [(c.key, c.field) for c in conflicts] == [(late.pk, "slots")]
    assert conflicts[0].message == (
        "Item 2: Monday 5 December 2005 10.00-11.00 is outside the dates of Council, "
        "Ninety-ninth Session (Tuesday 29 November 2005 - Friday 2 December 2005)."
    )


def test_slot_outside_the_venue_hours_is_a_conflict(session):
    venue = VenueFactory(name="Palais des Nations", opens_at=t(9), closes_at=t(18))
    room = RoomFactory(venue=venue)
    agenda = AgendaFactory(council_session=session)
    item(agenda, 1, room=room, slots=[(TUESDAY, t(9), t(18))])
    evening = item(agenda, 2, room=room, slots=[(TUESDAY, t(18), t(19))])
    early = item(agenda, 3, room=room, slots=[(WEDNESDAY, t(8, 30), None)])

    conflicts = agenda_conflicts(agenda=agenda)

    assert [c.key for c in conflicts] == [evening.pk, early.pk]
    assert "outside the opening hours of Palais des Nations (09.00 to 18.00)" in str(conflicts[0])


def test_event_venue_hours_apply_to_items_without_a_room(session):
    session.venue = VenueFactory(opens_at=t(9), closes_at=t(18))
    session.save()
    agenda = AgendaFactory(council_session=session)
    item(agenda, 1, slots=[(TUESDAY, t(17), t(19))])

    assert len(agenda_conflicts(agenda=agenda)) == 1


def test_two_items_in_one_room_at_once_conflict(agenda, room):
    item(agenda, 3, room=room, slots=[(TUESDAY, t(10), t(11))])
    five = item(agenda, 5, room=room, slots=[(TUESDAY, t(10, 30), t(12))])

    conflicts = agenda_conflicts(agenda=agenda)

    assert [(c.key, c.field) for c in conflicts] == [(five.pk, "room")]
    assert conflicts[0].message == (
        "Item 5 overlaps Item 3 of Council, Ninety-ninth Session in Conference Room XVIII "
        "(Tuesday 29 November 2005 10.30-12.00)."
    )


def test_back_to_back_items_or_other_rooms_do_not_conflict(agenda, room):
    item(agenda, 1, room=room, slots=[(TUESDAY, t(10), t(11))])
    item(agenda, 2, room=room, slots=[(TUESDAY, t(11), t(12))])
    item(agenda, 3, room=RoomFactory(), slots=[(TUESDAY, t(10), t(12))])
    item(agenda, 4, slots=[(TUESDAY, t(10), t(12))])  # no room

    assert agenda_conflicts(agenda=agenda) == []


def test_items_printed_as_one_block_do_not_conflict(agenda, room):
    for number in (1, 2, 3):
        item(agenda, number, room=room, slots=[(TUESDAY, t(10), t(11))])

    assert agenda_conflicts(agenda=agenda) == []


def test_a_parent_and_its_sub_items_do_not_conflict(agenda, room):
    five = item(agenda, 5, room=room, slots=[(TUESDAY, t(15), t(18))])
    item(agenda, 5, parent=five, room=room, slots=[(TUESDAY, t(15), t(16))])

    assert agenda_conflicts(agenda=agenda) == []


def test_an_intended_parallel_session_does_not_conflict(agenda, room):
    item(agenda, 1, room=room, slots=[(TUESDAY, t(10), t(12))])
    item(agenda, 2, room=room, allow_overlap=True, slots=[(TUESDAY, t(11), t(13))])

    assert agenda_conflicts(agenda=agenda) == []


def test_room_conflicts_reach_across_agendas(agenda, room):
    other = AgendaFactory(council_session=CouncilSessionFactory(name="Other Session"))
    item(other, 3, room=room, slots=[(TUESDAY, t(10), t(11))])
    mine = item(agenda, 1, room=room, slots=[(TUESDAY, t(10), t(11))])

    conflicts = agenda_conflicts(agenda=agenda)

    assert [c.key for c in conflicts] == [mine.pk]  # same times, but not one agenda's block
    assert "overlaps Item 3 of Council, Other Session in Conference Room XVIII" in str(conflicts[0])


def test_untimed_slots_are_ignored_and_an_open_end_is_a_point_in_time(agenda, room):
    item(agenda, 1, room=room, slots=[(TUESDAY, None, None)])
    item(agenda, 2, room=room, slots=[(TUESDAY, t(10), None)])
    item(agenda, 3, room=room, slots=[(TUESDAY, t(11), t(12))])
    ten = item(agenda, 4, room=room, slots=[(TUESDAY, t(9), t(10, 30))])

    assert [c.key for c in agenda_conflicts(agenda=agenda)] == [ten.pk]


def test_a_presenter_in_two_places_at_once_conflicts_across_agendas(agenda):
    person = PersonFactory(name="Gervais Appave")
    other = AgendaFactory(council_session=CouncilSessionFactory(name="Other Session"))
    there = item(other, 2, room=RoomFactory(), slots=[(TUESDAY, t(12), t(13))])
    there.presenters.add(person)
    here = item(agenda, 5, room=RoomFactory(), slots=[(TUESDAY, t(12, 30), t(14))])
    here.presenters.add(person)

    conflicts = agenda_conflicts(agenda=agenda)

    assert [(c.key, c.field) for c in conflicts] == [(here.pk, "presenters")]
    assert conflicts[0].message == (
        "Item 5: Gervais Appave also presents Item 2 of Council, Other Session at the same "
        "time (Tuesday 29 November 2005 12.30-14.00)."
    )


def test_a_presenter_of_a_parent_and_its_sub_item_or_at_other_times_does_not_conflict(agenda):
    person = PersonFactory()
    five = item(agenda, 5, slots=[(TUESDAY, t(12), t(13))])
    sub = item(agenda, 5, parent=five, slots=[(TUESDAY, t(12), t(13))])
    later = item(agenda, 6, slots=[(TUESDAY, t(15), t(16))])
    for each in (five, sub, later):
        each.presenters.add(person)

    assert agenda_conflicts(agenda=agenda) == []


def test_a_sub_item_outside_its_parents_slots_conflicts(agenda):
    five = item(agenda, 5, slots=[(TUESDAY, t(12), t(13)), (TUESDAY, t(15), t(18))])
    item(agenda, 5, parent=five, letter="a", position=6, slots=[(TUESDAY, t(12), t(13))])
    item(agenda, 5, parent=five, letter="b", position=7, slots=[(TUESDAY, t(16), t(18))])
    wrong = item(agenda, 5, parent=five, letter="c", position=8, slots=[(TUESDAY, t(13), t(15))])

    conflicts = agenda_conflicts(agenda=agenda)

    assert [c.key for c in conflicts] == [wrong.pk]
    assert conflicts[0].message == (
        "Item 5(c): Tuesday 29 November 2005 13.00-15.00 is outside the times of its parent Item 5."
    )


def test_conflicts_of_unsaved_data_replace_the_saved_item(agenda, room):
    item(agenda, 1, room=room, slots=[(TUESDAY, t(10), t(11))])
    two = item(agenda, 2, room=room, slots=[(TUESDAY, t(11), t(12))])
    planned = PlannedItem.from_item(two, slots=[PlannedSlot(TUESDAY, t(10, 30), t(12), "slot-0")])
    new = PlannedItem(
        key="new-0",
        agenda_id=agenda.pk,
        number=3,
        position=3,
        room=room,
        slots=[PlannedSlot(TUESDAY, t(11, 30), t(12))],
    )

    conflicts = agenda_conflicts(agenda=agenda, items=[planned, new])

    assert {(c.key, c.slot) for c in conflicts} == {(two.pk, "slot-0"), ("new-0", None)}
    assert agenda_conflicts(agenda=agenda) == []
    assert agenda_conflicts(agenda=agenda, items=[planned], removed=[two.pk - 1]) == []


# --- Lifecycle ---------------------------------------------------------------------------------


def test_publishing_an_empty_agenda_is_refused(agenda, officer):
    with pytest.raises(AgendaError, match="no items"):
        agenda_publish(agenda=agenda, by=officer)

    agenda.refresh_from_db()
    assert agenda.state == AgendaState.DRAFT
    assert not agenda.versions.exists()


def test_publishing_an_agenda_with_conflicts_is_refused(agenda, room, officer):
    item(agenda, 1, room=room, slots=[(TUESDAY, t(10), t(12))])
    item(agenda, 2, room=room, slots=[(TUESDAY, t(11), t(13))])

    with pytest.raises(AgendaConflictError) as error:
        agenda_publish(agenda=agenda, by=officer)

    assert error.value.messages == [
        "Item 2 overlaps Item 1 of Council, Ninety-ninth Session in Conference Room XVIII "
        "(Tuesday 29 November 2005 11.00-13.00)."
    ]
    assert not agenda.versions.exists()


def test_publish_change_publish_makes_two_versions_and_their_diff(agenda, officer):
    one = item(agenda, 1, title="Opening", slots=[(TUESDAY, t(10), t(11))])
    two = item(agenda, 2, title="Election of officers", slots=[(TUESDAY, t(11), t(12))])
    five = item(agenda, 3, title="Dialogue", slots=[(TUESDAY, t(12), t(18))])
    sub = item(agenda, 3, parent=five, position=4, title="Panel", slots=[(TUESDAY, t(15), t(18))])
    gone = item(agenda, 5, title="Any other business")

    first = agenda_publish(agenda=agenda, by=officer, symbol="MC/2190")

    agenda.refresh_from_db()
    assert agenda.state == AgendaState.PROVISIONAL
    assert (first.number, first.state, first.symbol, first.published_by) == (
        1,
        AgendaState.PROVISIONAL,
        "MC/2190",
        officer,
    )
    assert first.published_at is not None
    assert [entry["label"] for entry in first.snapshot["items"]] == [
        "Item 1",
        "Item 2",
        "Item 3",
        "Item 3(a)",
        "Item 5",
    ]
    assert agenda_publish(agenda=agenda, by=officer) == first  # nothing changed: no version

    two.title = "Election of the officers"
    two.save()
    sub.slots.update(start_time=t(16))
    gone.delete()
    item(agenda, 6, title="Date of the next session", position=6)
    agenda_item_move(item=one, position=2)  # Opening becomes item 2, Election item 1
    assert [c.kind for c in agenda_changes_since_published(agenda=agenda)] == [
        AgendaChangeKind.MOVED,
        AgendaChangeKind.RENAMED,
        AgendaChangeKind.MOVED,
        AgendaChangeKind.RETIMED,
        AgendaChangeKind.ADDED,
        AgendaChangeKind.REMOVED,
    ]

    second = agenda_publish(agenda=agenda, by=officer, symbol="MC/2190/Rev.1")

    assert second.number == 2
    changes = agenda_versions_diff(old=first, new=second)
    assert agenda_changes_text(changes).splitlines() == [
        "Item 2 moved: now Item 1",
        'Item 1 renamed: "Election of officers" → "Election of the officers"',
        "Item 1 moved: now Item 2",
        "Item 3(a) retimed: Tuesday 29 November 2005 15.00-18.00 → 16.00-18.00",
        "Item 4 added: Date of the next session",
        "Item 5 removed: Any other business",
    ]
    assert {(c.kind, c.key) for c in changes} >= {
        (AgendaChangeKind.RENAMED, two.pk),
        (AgendaChangeKind.RETIMED, sub.pk),
        (AgendaChangeKind.REMOVED, first.snapshot["items"][-1]["key"]),
    }
    assert agenda_changes_since_published(agenda=agenda) == []


def test_a_version_is_never_edited(agenda, officer):
    item(agenda, 1)
    version = agenda_publish(agenda=agenda, by=officer)

    version.symbol = "changed"
    with pytest.raises(AgendaVersionFrozenError):
        version.save()

    assert AgendaVersion.objects.get(pk=version.pk).symbol == ""


def test_adopt_then_close(agenda, officer):
    item(agenda, 1)
    agenda_publish(agenda=agenda, by=officer)

    adopted = agenda_adopt(agenda=agenda, by=officer)

    agenda.refresh_from_db()
    assert agenda.state == AgendaState.ADOPTED
    assert (adopted.number, adopted.state) == (2, AgendaState.ADOPTED)
    assert agenda_adopt(agenda=agenda, by=officer) == adopted  # twice: nothing new

    agenda_close(agenda=agenda, by=officer)
    agenda_close(agenda=agenda, by=officer)

    agenda.refresh_from_db()
    assert agenda.state == AgendaState.CLOSED
    assert agenda.versions.count() == 2


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (AgendaState.DRAFT, agenda_adopt),
        (AgendaState.DRAFT, agenda_close),
        (AgendaState.PROVISIONAL, agenda_close),
        (AgendaState.ADOPTED, agenda_publish),
        (AgendaState.CLOSED, agenda_publish),
        (AgendaState.CLOSED, agenda_adopt),
    ],
)
def test_refused_moves(agenda, officer, state, action):
    item(agenda, 1)
    Agenda.objects.filter(pk=agenda.pk).update(state=state)
    agenda.refresh_from_db()

    with pytest.raises(AgendaStateError, match=re.escape(f"is {AgendaState(state).label.lower()}")):
        action(agenda=agenda, by=officer)

    agenda.refresh_from_db()
    assert agenda.state == state
    assert not agenda.versions.exists()


# --- Copies ------------------------------------------------------------------------------------


def test_copy_to_the_next_session_shifts_the_slots(agenda, session, room, officer):
    person = PersonFactory()
    five = item(
        agenda,
        5,
        room=room,
        block_title="Dialogue",
        bullets=["Partnerships"],
        slots=[(TUESDAY, t(12), t(13))],
    )
    five.presenters.add(person)
    item(agenda, 5, parent=five, position=6, slots=[(WEDNESDAY, t(10), None)])
    following = CouncilSessionFactory(
        number=session.number + 1, start_date=datetime.date(2006, 11, 28)
    )

    assert agenda_next_event(agenda=agenda) == following
    copy = agenda_copy_to(agenda=agenda, event=following, by=officer)

    assert (copy.council_session, copy.state, copy.copied_from) == (
        following,
        AgendaState.DRAFT,
        agenda,
    )
    copied = list(copy.items.order_by("position"))
    assert [(c.full_label, c.title, c.room) for c in copied] == [
        ("Item 5", five.title, room),
        ("Item 5(a)", copied[1].title, None),
    ]
    assert copied[1].parent == copied[0]
    assert copied[0].block_title == "Dialogue"
    assert copied[0].bullets == ["Partnerships"]
    assert list(copied[0].presenters.all()) == [person]
    assert [(s.day, s.start_time) for s in copied[0].slots.all()] == [
        (datetime.date(2006, 11, 28), t(12))
    ]
    assert [(s.day, s.start_time) for s in copied[1].slots.all()] == [
        (datetime.date(2006, 11, 29), t(10))
    ]


def test_copy_to_an_event_with_an_agenda_is_refused(agenda, officer):
    taken = AgendaFactory().council_session

    with pytest.raises(AgendaError, match="already has an agenda"):
        agenda_copy_to(agenda=agenda, event=taken, by=officer)


def test_no_next_event(agenda):
    assert agenda_next_event(agenda=agenda) is None


def test_the_ninetieth_session_agenda_publishes_its_changes_as_version_2(idm_data, officer):
    agenda = Agenda.objects.get(council_session__number=90)
    first = agenda.versions.get()
    assert agenda_publish(agenda=agenda, by=officer, symbol=first.symbol) == first

    item = agenda.items.get(dataset_id="ag-90-05b")
    item.slots.update(start_time=t(16))
    second = agenda_publish(agenda=agenda, by=officer)

    assert second.number == 2
    assert agenda_changes_text(agenda_versions_diff(old=first, new=second)) == (
        "Item 5(b) retimed: Tuesday 29 November 2005 15.00-18.00 → 16.00-18.00"
    )
