"""Properties of agenda numbering and conflict detection, for any sequence of calls.

Items are added and deleted as the admin does (a row, then ``agenda_renumber``), moved with
``agenda_item_move`` and renumbered with ``agenda_renumber``; the agenda may be published,
adopted and closed, after which every edit is refused. After each step the items are numbered
1..n in printed order, each main item's sub-items are lettered (a), (b)… in their order, the
order is the one a simple model of the calls predicts, and a refused call changed nothing.
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from idm.enums import AgendaState
from idm.models import Agenda, AgendaItem
from idm.services import (
    AgendaClosedError,
    AgendaError,
    AgendaStateError,
    PlannedItem,
    PlannedSlot,
    agenda_adopt,
    agenda_close,
    agenda_conflicts,
    agenda_item_move,
    agenda_publish,
    agenda_renumber,
)
from tests.factories.idm import AgendaFactory, AgendaSlotFactory, CouncilSessionFactory, RoomFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2005, 11, 29)
LETTERS = "abcdefghijklmnopqrstuvwxyz"
FAST = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _expected_letter(index: int) -> str:
    return LETTERS[index] if index < 26 else LETTERS[index // 26 - 1] + LETTERS[index % 26]


def _rows(agenda: Agenda) -> list[tuple]:
    """The agenda's items as (pk, parent, number, letter, position), in printed order."""
    return list(
        AgendaItem.objects.filter(agenda=agenda)
        .order_by("position", "number", "sub_item", "pk")
        .values_list("pk", "parent_id", "number", "sub_item", "position")
    )


# Text as a browser can send it: UTF-8 (no lone surrogates), and no NUL (forms refuse it).
NO_NUL = st.characters(codec="utf-8", exclude_characters="\x00")


class AgendaNumbering(RuleBasedStateMachine):
    """The model: an ordered list of main items, each with its ordered list of sub-items."""

    def __init__(self):
        super().__init__()
        # Each run builds its data in a savepoint rolled back at teardown.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.user = get_user_model().objects.create_user(f"officer-{id(self)}")
        self.agenda = AgendaFactory(
            council_session=CouncilSessionFactory(start_date=DAY, end_date=DAY)
        )
        self.mains: list[int] = []
        self.subs: dict[int, list[int]] = {}
        self.closed = False

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -------------------------------------------------------------------------------

    def _all_items(self) -> list[int]:
        return [pk for main in self.mains for pk in [main, *self.subs[main]]]

    def _next_position(self) -> int:
        last = AgendaItem.objects.filter(agenda=self.agenda).order_by("-position").first()
        return (last.position if last else 0) + 1

    def _refused_changes_nothing(self, call, error=AgendaError):
        before = _rows(self.agenda)
        state = Agenda.objects.get(pk=self.agenda.pk).state
        with pytest.raises(error):
            call()
        assert _rows(self.agenda) == before
        assert Agenda.objects.get(pk=self.agenda.pk).state == state

    # --- rules ---------------------------------------------------------------------------------

    @precondition(lambda self: not self.closed)
    # Titles come through forms, which refuse NUL characters (no text column holds one).
    @rule(title=st.text(NO_NUL, min_size=1, max_size=20).filter(str.strip))
    def add_main_item(self, title):
        number = max((row[2] for row in _rows(self.agenda)), default=0) + 1
        item = AgendaItem.objects.create(
            agenda=self.agenda, number=number, title=title, position=self._next_position()
        )
        agenda_renumber(agenda=self.agenda)
        self.mains.append(item.pk)
        self.subs[item.pk] = []

    @precondition(lambda self: not self.closed and self.mains)
    @rule(data=st.data())
    def add_sub_item(self, data):
        parent = AgendaItem.objects.get(pk=data.draw(st.sampled_from(self.mains)))
        family = [parent.pk, *self.subs[parent.pk]]
        last = AgendaItem.objects.filter(pk__in=family).order_by("-position").first()
        item = AgendaItem.objects.create(
            agenda=self.agenda,
            parent=parent,
            number=parent.number,
            sub_item=_expected_letter(len(self.subs[parent.pk])),
            title="Sub-item",
            position=last.position,
        )
        agenda_renumber(agenda=self.agenda)
        self.subs[parent.pk].append(item.pk)

    @precondition(lambda self: self.mains)
    @rule(data=st.data(), position=st.integers(min_value=-3, max_value=12))
    def move(self, data, position):
        pk = data.draw(st.sampled_from(self._all_items()))
        item = AgendaItem.objects.get(pk=pk)
        if self.closed:
            self._refused_changes_nothing(
                lambda: agenda_item_move(item=item, position=position), AgendaClosedError
            )
            return
        moved = agenda_item_move(item=item, position=position)
        siblings = self.mains if item.parent_id is None else self.subs[item.parent_id]
        siblings.remove(pk)
        siblings.insert(min(max(position, 1), len(siblings) + 1) - 1, pk)
        assert moved.pk == pk

    @precondition(lambda self: not self.closed and self.mains)
    @rule(data=st.data())
    def delete(self, data):
        pk = data.draw(st.sampled_from(self._all_items()))
        item = AgendaItem.objects.get(pk=pk)
        item.delete()
        agenda_renumber(agenda=self.agenda)
        if item.parent_id is None:
            self.mains.remove(pk)
            del self.subs[pk]
        else:
            self.subs[item.parent_id].remove(pk)

    @rule()
    def renumber(self):
        if self.closed:
            self._refused_changes_nothing(
                lambda: agenda_renumber(agenda=self.agenda), AgendaClosedError
            )
            return
        before = _rows(self.agenda)
        agenda_renumber(agenda=self.agenda)
        assert _rows(self.agenda) == before  # already numbered: renumbering again changes nothing

    @rule()
    def adopt_or_close(self):
        """Adopting a draft and closing an unadopted agenda are refused and change nothing."""
        agenda = Agenda.objects.get(pk=self.agenda.pk)
        if agenda.state == AgendaState.DRAFT:
            self._refused_changes_nothing(
                lambda: agenda_adopt(agenda=agenda, by=self.user), AgendaStateError
            )
            self._refused_changes_nothing(
                lambda: agenda_close(agenda=agenda, by=self.user), AgendaStateError
            )
        elif agenda.state == AgendaState.CLOSED:
            self._refused_changes_nothing(
                lambda: agenda_publish(agenda=agenda, by=self.user), AgendaError
            )

    @precondition(lambda self: not self.closed and self.mains)
    @rule()
    def publish_adopt_close(self):
        agenda_publish(agenda=self.agenda, by=self.user)
        agenda_adopt(agenda=self.agenda, by=self.user)
        agenda_close(agenda=self.agenda, by=self.user)
        self.closed = True

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def numbered_as_printed(self):
        rows = _rows(self.agenda)
        assert [row[0] for row in rows] == self._all_items()
        mains = [row for row in rows if row[1] is None]
        assert [row[2] for row in mains] == list(range(1, len(mains) + 1))
        assert all(row[3] == "" for row in mains)
        number_of = {row[0]: row[2] for row in mains}
        for main in mains:
            subs = [row for row in rows if row[1] == main[0]]
            assert [row[3] for row in subs] == [_expected_letter(i) for i in range(len(subs))]
            assert all(row[2] == number_of[main[0]] for row in subs)


def test_agenda_numbering_holds_for_any_sequence_of_calls():
    run_state_machine_as_test(AgendaNumbering, settings=FAST)


# --- Conflicts ------------------------------------------------------------------------------------

times = st.sampled_from([None, *(dt.time(h, m) for h in range(9, 13) for m in (0, 30))])
slots = st.builds(
    lambda start, length, day: PlannedSlot(
        DAY + dt.timedelta(days=day),
        start,
        None
        if start is None or length is None
        else dt.time(min(start.hour + length, 23), start.minute),
    ),
    times,
    st.sampled_from([None, 1, 2]),
    st.integers(min_value=0, max_value=1),
)


@given(a=slots, b=slots)
def test_slot_overlap_is_symmetric(a, b):
    assert a.overlaps(b) == b.overlaps(a)
    assert a.overlaps(a) == (a.start_time is not None)


def _room_pairs(conflicts, label_to_pk) -> set[frozenset]:
    pairs = set()
    for conflict in conflicts:
        if conflict.field != "room":
            continue
        other = conflict.message.split(" overlaps ", 1)[1].split(" of ", 1)[0]
        pairs.add(frozenset({conflict.key, label_to_pk[other]}))
    return pairs


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    plan=st.lists(st.lists(slots, min_size=0, max_size=2), min_size=2, max_size=4),
    reverse=st.booleans(),
)
def test_room_conflicts_are_symmetric_and_the_same_whichever_item_is_checked(plan, reverse):
    with transaction.atomic():
        agenda = AgendaFactory(
            council_session=CouncilSessionFactory(
                start_date=DAY, end_date=DAY + dt.timedelta(days=1)
            )
        )
        room = RoomFactory()
        items = []
        for index, item_slots in enumerate(plan, start=1):
            item = AgendaItem.objects.create(
                agenda=agenda, number=index, position=index, title=f"Item {index}", room=room
            )
            for slot in item_slots:
                AgendaSlotFactory(
                    item=item, day=slot.day, start_time=slot.start_time, end_time=slot.end_time
                )
            items.append((item, item_slots))
        if reverse:
            agenda_item_move(item=items[-1][0], position=1)
        labels = {f"Item {it.number}": it.pk for it in AgendaItem.objects.filter(agenda=agenda)}

        expected = {
            frozenset({a.pk, b.pk})
            for i, (a, a_slots) in enumerate(items)
            for b, b_slots in items[i + 1 :]
            if any(s.overlaps(t) and not s.same_times(t) for s in a_slots for t in b_slots)
        }
        assert _room_pairs(agenda_conflicts(agenda=agenda), labels) == expected
        for stale, _slots in items:
            item = AgendaItem.objects.get(pk=stale.pk)
            focused = agenda_conflicts(agenda=agenda, items=[PlannedItem.from_item(item)])
            assert {c.key for c in focused} <= {item.pk}
            assert all(item.pk in pair for pair in _room_pairs(focused, labels))
            assert {p for p in expected if item.pk in p} <= _room_pairs(
                agenda_conflicts(agenda=agenda), labels
            )
            # Editing one item reports a clash with every item it shares a moment with.
            assert _room_pairs(focused, labels) == {p for p in expected if item.pk in p}
        transaction.set_rollback(True)
