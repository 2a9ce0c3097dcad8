"""CSV import of agenda items (the export read back), the delete action on closed agendas and
the query counts of the agenda page and the agenda admin lists."""

import csv
import datetime
import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from idm.enums import AgendaState
from idm.imports import AgendaImportError, agenda_items_import, agenda_items_import_plan
from idm.models import Agenda, AgendaItem, AgendaSlot, CouncilSession
from idm.outputs import AGENDA_COLUMNS
from idm.selectors import event_key
from idm.services import agenda_publish
from tests.factories.idm import (
    AgendaFactory,
    AgendaItemFactory,
    AgendaSlotFactory,
    CouncilSessionFactory,
    RoomFactory,
)
from tests.factories.stakeholders import PersonFactory

pytestmark = pytest.mark.django_db

TUESDAY = datetime.date(2005, 11, 29)
HEADER = ",".join(header for _key, header in AGENDA_COLUMNS)


def _csv(*rows: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[header for _key, header in AGENDA_COLUMNS])
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def _row(number, title, *, sub="", day="2005-11-29", start="10:00", end="11:00", **more):
    return {
        "Number": number,
        "Sub-item": sub,
        "Title": title,
        "Day": day,
        "Start": start,
        "End": end,
        **more,
    }


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _import_url(agenda) -> str:
    return reverse("admin:idm_agenda_import_items", args=[agenda.pk])


def _set_aside(agenda) -> None:
    """Move an agenda's items to another room and unlink their presenters, so that the same
    items imported elsewhere at the same times are not a double booking."""
    AgendaItem.objects.filter(agenda=agenda).update(room=RoomFactory())
    AgendaItem.presenters.through.objects.filter(agendaitem__agenda=agenda).delete()


def _printed(agenda) -> list[tuple]:
    return [
        (
            item.full_label,
            item.title,
            [(s.day, s.start_time, s.end_time, s.continued) for s in item.slots.all()],
        )
        for item in AgendaItem.objects.filter(agenda=agenda)
        .prefetch_related("slots")
        .order_by("position", "number", "sub_item")
    ]


@pytest.fixture
def ninetieth_csv(idm_data, client) -> str:
    session = CouncilSession.objects.get(number=90)
    response = client.get(reverse("idm:agenda-export", args=[event_key(session), "csv"]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def empty_agenda(idm_data):
    """A draft agenda of another Council session, without dates: the file carries the days."""
    return AgendaFactory(council_session=CouncilSessionFactory(name="Ninety-ninth Session"))


# -- Round trip -----------------------------------------------------------------------------


def test_the_ninetieth_agenda_exported_and_imported_back_is_the_same(
    ninetieth_csv, empty_agenda, admin_client, admin_user
):
    source = Agenda.objects.get(council_session__number=90)
    expected = _printed(source)
    # The same room at the same times on two agendas would be a conflict: the session moves.
    _set_aside(source)

    preview = admin_client.post(
        _import_url(empty_agenda),
        {"file": SimpleUploadedFile("agenda.csv", ninetieth_csv.encode(), "text/csv")},
    )
    assert preview.status_code == 200
    plan = preview.context["plan"]
    assert plan.ok, plan.problems
    assert plan.created == len(expected) and plan.updated == 0
    assert "Import these items" in preview.content.decode()
    assert not AgendaItem.objects.filter(agenda=empty_agenda).exists()  # a preview writes nothing

    confirmed = admin_client.post(
        _import_url(empty_agenda), {"content": preview.context["content"], "confirm": "1"}
    )
    assert confirmed.status_code == 302
    assert _printed(empty_agenda) == expected
    sub_item = AgendaItem.objects.get(agenda=empty_agenda, number=5, sub_item="a")
    assert sub_item.parent.number == 5 and not sub_item.parent.sub_item
    assert [str(p) for p in sub_item.presenters.all()] == ["Mr. Gervais Appave"]
    assert "Imported" in " ".join(_messages(confirmed))
    assert sub_item.history.first().history_user == admin_user
    assert empty_agenda.items.first().room.name == "Conference Room XVII"


def test_importing_the_file_again_updates_and_creates_nothing(ninetieth_csv, empty_agenda):
    _set_aside(Agenda.objects.get(council_session__number=90))
    agenda_items_import(agenda=empty_agenda, content=ninetieth_csv, by=None)
    before = _printed(empty_agenda)
    plan = agenda_items_import(agenda=empty_agenda, content=ninetieth_csv, by=None)
    assert plan.created == 0 and plan.updated == len(before)
    assert _printed(empty_agenda) == before


def test_an_import_that_would_double_book_the_room_is_refused_whole(ninetieth_csv, empty_agenda):
    plan = agenda_items_import_plan(agenda=empty_agenda, content=ninetieth_csv)
    assert not plan.ok
    assert any("Conference Room XVII" in conflict.message for conflict in plan.conflicts)
    with pytest.raises(AgendaImportError):
        agenda_items_import(agenda=empty_agenda, content=ninetieth_csv, by=None)
    assert not AgendaItem.objects.filter(agenda=empty_agenda).exists()


def test_the_admin_lists_the_conflicts_and_imports_nothing(
    ninetieth_csv, empty_agenda, admin_client
):
    response = admin_client.post(
        _import_url(empty_agenda), {"content": ninetieth_csv, "confirm": "1"}
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="import-conflicts"' in content and "Conference Room XVII" in content
    assert "Nothing was imported" in " ".join(_messages(response))
    assert not AgendaItem.objects.filter(agenda=empty_agenda).exists()


# -- Bad files ------------------------------------------------------------------------------


def test_a_bad_file_shows_row_errors_and_writes_nothing(admin_client):
    agenda = AgendaFactory()
    room = RoomFactory(name="Room Z")
    bad = _csv(
        _row(1, "Opening", Room="Room Z"),
        _row(2, "Bad time", start="25:99"),
        _row(3, "Backwards", start="12:00", end="11:00"),
        _row(4, "Unknown presenter", Presenters="Ms. Nobody Known, Director"),
        _row(7, "Orphan", sub="a"),
        _row(1, "Opening again", start="14:00", end="15:00"),
        _row("x", "Bad number"),
    )
    preview = admin_client.post(
        _import_url(agenda), {"file": SimpleUploadedFile("a.csv", bad.encode(), "text/csv")}
    )
    assert preview.status_code == 200
    plan = preview.context["plan"]
    errors = {row.line: " ".join(row.errors) for row in plan.rows}
    assert errors[2] == ""
    assert plan.rows[0].room == room
    assert 'Bad start time "25:99"' in errors[3]
    assert "is not after the start" in errors[4]
    assert 'Unknown presenter "Ms. Nobody Known"' in errors[5]
    assert "sub-item without its main item 7" in errors[6]
    assert "Item 1 is already on line 2" in errors[7]
    assert 'Bad item number "x"' in errors[8]
    content = preview.content.decode()
    assert "Import these items" not in content
    assert "is not after the start" in content

    confirmed = admin_client.post(_import_url(agenda), {"content": bad, "confirm": "1"})
    assert confirmed.status_code == 200
    assert "Nothing was imported" in " ".join(_messages(confirmed))
    assert not AgendaItem.objects.filter(agenda=agenda).exists()
    assert not AgendaSlot.objects.filter(item__agenda=agenda).exists()


def test_a_file_without_the_export_columns_is_refused():
    plan = agenda_items_import_plan(agenda=AgendaFactory(), content="Title,When\nA,B\n")
    assert not plan.ok
    assert "lacks the columns" in plan.errors[0]


def test_presenters_are_matched_by_name_and_a_sub_item_may_use_a_saved_parent():
    agenda = AgendaFactory()
    main = AgendaItemFactory(agenda=agenda, number=1, title="Debate")
    AgendaSlotFactory(item=main, day=TUESDAY, start_time=datetime.time(10), end_time=None)
    person = PersonFactory(name="Ada Example", honorific="Dr.", title="Adviser")
    plan = agenda_items_import(
        agenda=agenda,
        content=_csv(
            _row(
                1,
                "Panel",
                sub="a",
                start="10:30",
                end="11:00",
                Presenters="Dr. Ada Example, Adviser",
            ),
        ),
        by=None,
    )
    assert (plan.created, plan.updated) == (1, 0)
    panel = AgendaItem.objects.get(agenda=agenda, sub_item="a")
    assert panel.parent == main
    assert list(panel.presenters.all()) == [person]
    assert panel.presenter_text == ""  # what the linked person prints anyway


def test_a_closed_agenda_refuses_the_import(admin_client):
    agenda = AgendaFactory(state=AgendaState.CLOSED)
    plan = agenda_items_import_plan(agenda=agenda, content=_csv(_row(1, "Opening")))
    assert not plan.ok and "closed" in plan.errors[0]
    with pytest.raises(AgendaImportError):
        agenda_items_import(agenda=agenda, content=_csv(_row(1, "Opening")), by=None)
    response = admin_client.post(
        _import_url(agenda), {"content": _csv(_row(1, "Opening")), "confirm": "1"}
    )
    assert "closed" in " ".join(_messages(response))
    assert not AgendaItem.objects.filter(agenda=agenda).exists()


def test_the_agenda_page_links_to_the_import(admin_client):
    agenda = AgendaFactory()
    page = admin_client.get(reverse("admin:idm_agenda_change", args=[agenda.pk]))
    assert _import_url(agenda) in page.content.decode()
    assert admin_client.get(_import_url(agenda)).status_code == 200


# -- "Delete selected" on a closed agenda ------------------------------------------------------


@pytest.mark.parametrize("model", ["agendaitem", "agendaslot"])
def test_delete_selected_refuses_rows_of_a_closed_agenda(admin_client, model):
    open_slot = AgendaSlotFactory()
    closed_slot = AgendaSlotFactory(item=AgendaItemFactory(agenda=AgendaFactory()))
    Agenda.objects.filter(pk=closed_slot.item.agenda_id).update(state=AgendaState.CLOSED)
    if model == "agendaslot":
        selected = [open_slot, closed_slot]
    else:
        selected = [open_slot.item, closed_slot.item]
    url = reverse(f"admin:idm_{model}_changelist")
    response = admin_client.post(
        url,
        {
            "action": "delete_selected",
            "_selected_action": [obj.pk for obj in selected],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert "is closed" in " ".join(_messages(response))
    assert "Nothing was deleted." in " ".join(_messages(response))
    assert AgendaSlot.objects.filter(pk__in=[open_slot.pk, closed_slot.pk]).count() == 2
    assert AgendaItem.objects.filter(pk__in=[open_slot.item_id, closed_slot.item_id]).count() == 2


@pytest.mark.parametrize("model", ["agendaitem", "agendaslot"])
def test_delete_selected_still_deletes_rows_of_an_open_agenda(admin_client, model):
    slot = AgendaSlotFactory()
    obj = slot if model == "agendaslot" else slot.item
    response = admin_client.post(
        reverse(f"admin:idm_{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not type(obj).objects.filter(pk=obj.pk).exists()


# -- Query counts ----------------------------------------------------------------------------


def _agenda_with(items: int, room, presenters, *, day) -> Agenda:
    agenda = AgendaFactory(council_session=CouncilSessionFactory())
    for index in range(items):
        item = AgendaItemFactory(agenda=agenda, number=index + 1, position=index + 1, room=room)
        item.presenters.set(presenters)
        AgendaSlotFactory(
            item=item, day=day, start_time=datetime.time(8 + index % 10), end_time=None
        )
        AgendaItemFactory(parent=item, title=f"Sub-item of {index + 1}")
    return agenda


def _queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url, params).status_code == 200
    return len(context.captured_queries)


def test_printable_agenda_page_queries_do_not_grow_with_the_items(client):
    room = RoomFactory()
    presenters = [PersonFactory(), PersonFactory()]
    few = _agenda_with(2, room, presenters, day=TUESDAY)
    many = _agenda_with(25, room, presenters, day=TUESDAY + datetime.timedelta(days=1))
    for agenda in (few, many):
        agenda_publish(agenda=agenda, by=None)
    url = reverse("idm:agenda-print", args=[event_key(few.event)])
    client.get(url)
    assert _queries(client, reverse("idm:agenda-print", args=[event_key(many.event)])) <= (
        _queries(client, url)
    )


def test_agenda_item_and_agenda_changelists_do_not_grow_with_the_items(admin_client):
    room = RoomFactory()
    presenters = [PersonFactory(), PersonFactory()]
    _agenda_with(2, room, presenters, day=TUESDAY)
    items_url = reverse("admin:idm_agendaitem_changelist")
    agendas_url = reverse("admin:idm_agenda_changelist")
    admin_client.get(items_url)
    few_items = _queries(admin_client, items_url)
    few_agendas = _queries(admin_client, agendas_url)
    for index in range(4):
        _agenda_with(10, room, presenters, day=TUESDAY + datetime.timedelta(days=index + 1))
    assert _queries(admin_client, items_url) <= few_items
    assert _queries(admin_client, agendas_url) <= few_agendas
