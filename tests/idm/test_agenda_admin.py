"""The agenda admin: conflicts as form errors, lifecycle actions, closed agendas, versions."""

import datetime

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from idm.enums import AgendaState
from idm.models import Agenda, AgendaItem, AgendaSlot, AgendaVersion
from idm.services import agenda_publish
from tests.factories.idm import (
    AgendaFactory,
    AgendaItemFactory,
    AgendaSlotFactory,
    CouncilSessionFactory,
    RoomFactory,
)

pytestmark = pytest.mark.django_db

TUESDAY = datetime.date(2005, 11, 29)


def t(hours: int, minutes: int = 0) -> datetime.time:
    return datetime.time(hours, minutes)


def _data_as_rendered(response) -> dict:
    """The change form's values as the page shows them, inlines included."""
    forms = [response.context["adminform"].form]
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update(
            {management.add_prefix(name): management[name].value() for name in management.fields}
        )
        forms.extend(inline.formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            if isinstance(value, list | tuple):
                data[form.add_prefix(name)] = [str(each) for each in value]
            else:
                data[form.add_prefix(name)] = "on" if value is True else str(value)
    return data


def _change_url(obj) -> str:
    return reverse(f"admin:idm_{obj._meta.model_name}_change", args=[obj.pk])


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def session():
    return CouncilSessionFactory(
        name="Ninety-ninth Session", start_date=TUESDAY, end_date=datetime.date(2005, 12, 2)
    )


@pytest.fixture
def room():
    return RoomFactory(name="Conference Room XVIII")


@pytest.fixture
def agenda(session, room):
    agenda = AgendaFactory(council_session=session)
    first = AgendaItemFactory(agenda=agenda, number=1, position=1, room=room, title="Opening")
    AgendaSlotFactory(item=first, day=TUESDAY, start_time=t(10), end_time=t(11))
    second = AgendaItemFactory(agenda=agenda, number=2, position=2, room=room, title="Debate")
    AgendaSlotFactory(item=second, day=TUESDAY, start_time=t(11), end_time=t(12))
    return agenda


def test_an_overlapping_slot_is_an_error_on_the_item_page_and_nothing_is_saved(
    admin_client, agenda
):
    item = agenda.items.get(number=2)
    url = _change_url(item)
    data = _data_as_rendered(admin_client.get(url))
    data["slots-0-start_time"] = "10:30"

    response = admin_client.post(url, {**data, "_save": "1"})

    assert response.status_code == 200
    slot_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert slot_form.non_field_errors() == [
        "Item 2 overlaps Item 1 of Council, Ninety-ninth Session in Conference Room XVIII "
        "(Tuesday 29 November 2005 10.30-12.00)."
    ]
    assert AgendaSlot.objects.get(item=item).start_time == t(11)


def test_an_intended_parallel_session_saves(admin_client, agenda):
    item = agenda.items.get(number=2)
    url = _change_url(item)
    data = _data_as_rendered(admin_client.get(url))
    data["slots-0-start_time"] = "10:30"
    data["allow_overlap"] = "on"

    response = admin_client.post(url, {**data, "_save": "1"})

    assert response.status_code == 302
    assert AgendaSlot.objects.get(item=item).start_time == t(10, 30)


def test_a_room_change_on_the_agenda_page_is_an_error_on_that_item_row(admin_client, agenda):
    other_room = RoomFactory()
    AgendaSlot.objects.filter(item__number=2).update(start_time=t(10), end_time=t(12))
    AgendaItem.objects.filter(number=2).update(room=other_room)
    url = _change_url(agenda)
    data = _data_as_rendered(admin_client.get(url))
    index = next(i for i in range(2) if data[f"items-{i}-id"] == str(agenda.items.get(number=2).pk))
    data[f"items-{index}-room"] = str(agenda.items.get(number=1).room_id)

    response = admin_client.post(url, {**data, "_save": "1"})

    assert response.status_code == 200
    form = response.context["inline_admin_formsets"][0].formset.forms[index]
    assert form.errors["room"] == [
        "Item 2 overlaps Item 1 of Council, Ninety-ninth Session in Conference Room XVIII "
        "(Tuesday 29 November 2005 10.00-12.00)."
    ]
    assert agenda.items.get(number=2).room == other_room


def test_the_publish_action_creates_a_version(admin_client, agenda, admin_user):
    response = admin_client.post(
        reverse("admin:idm_agenda_changelist"),
        {"action": "publish", "_selected_action": [agenda.pk]},
        follow=True,
    )

    assert response.status_code == 200
    version = AgendaVersion.objects.get(agenda=agenda)
    assert (version.number, version.state, version.published_by) == (
        1,
        AgendaState.PROVISIONAL,
        admin_user,
    )
    assert _messages(response) == [f"{agenda} published as version 1."]
    agenda.refresh_from_db()
    assert agenda.state == AgendaState.PROVISIONAL


def test_publishing_an_empty_agenda_shows_an_error_message(admin_client):
    empty = AgendaFactory()

    response = admin_client.post(
        reverse("admin:idm_agenda_changelist"),
        {"action": "publish", "_selected_action": [empty.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert _messages(response) == [f"{empty}: {empty} has no items: there is nothing to publish."]
    assert not AgendaVersion.objects.filter(agenda=empty).exists()


def test_adopt_and_close_actions_follow_the_allowed_moves(admin_client, agenda):
    url = reverse("admin:idm_agenda_changelist")

    refused = admin_client.post(
        url, {"action": "close", "_selected_action": [agenda.pk]}, follow=True
    )
    assert "cannot be closed" in _messages(refused)[0]

    for action in ("publish", "adopt", "close"):
        admin_client.post(url, {"action": action, "_selected_action": [agenda.pk]})

    agenda.refresh_from_db()
    assert agenda.state == AgendaState.CLOSED
    assert list(agenda.versions.values_list("number", "state")) == [
        (2, AgendaState.ADOPTED),
        (1, AgendaState.PROVISIONAL),
    ]


def test_copy_to_next_year_action(admin_client, agenda, session):
    url = reverse("admin:idm_agenda_changelist")
    missing = admin_client.post(
        url, {"action": "copy_to_next_year", "_selected_action": [agenda.pk]}, follow=True
    )
    assert "there is no event of the next year" in _messages(missing)[0]

    following = CouncilSessionFactory(
        number=session.number + 1, start_date=datetime.date(2006, 11, 28)
    )
    admin_client.post(url, {"action": "copy_to_next_year", "_selected_action": [agenda.pk]})

    copy = Agenda.objects.get(council_session=following)
    assert (copy.state, copy.copied_from, copy.items.count()) == (AgendaState.DRAFT, agenda, 2)


def test_a_closed_agenda_refuses_edits(admin_client, agenda):
    Agenda.objects.filter(pk=agenda.pk).update(state=AgendaState.CLOSED)
    url = _change_url(agenda)
    data = _data_as_rendered(admin_client.get(url))
    data["items-0-title"] = "Changed"

    response = admin_client.post(url, {**data, "_save": "1"})

    assert response.status_code == 200
    assert f"{agenda} is closed: its items can no longer be changed." in (
        response.context["inline_admin_formsets"][0].formset.non_form_errors()
    )
    assert not agenda.items.filter(title="Changed").exists()

    item = agenda.items.get(number=1)
    data = _data_as_rendered(admin_client.get(_change_url(item)))
    data["title"] = "Changed"
    response = admin_client.post(_change_url(item), {**data, "_save": "1"})

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        f"{agenda} is closed: its items can no longer be changed."
    ]
    assert not agenda.items.filter(title="Changed").exists()


def test_state_is_read_only_on_the_agenda_page(admin_client, agenda):
    url = _change_url(agenda)
    data = _data_as_rendered(admin_client.get(url))

    response = admin_client.post(url, {**data, "state": AgendaState.CLOSED, "_save": "1"})

    assert response.status_code == 302
    agenda.refresh_from_db()
    assert agenda.state == AgendaState.DRAFT


def test_the_agenda_page_shows_changes_since_the_last_version(admin_client, agenda, admin_user):
    response = admin_client.get(_change_url(agenda))
    assert "Not published yet." in response.content.decode()

    agenda_publish(agenda=agenda, by=admin_user)
    AgendaItem.objects.filter(agenda=agenda, number=2).update(title="General debate")

    content = admin_client.get(_change_url(agenda)).content.decode()
    assert "Changes since the last published version" in content
    assert "Item 2 renamed: &quot;Debate&quot; → &quot;General debate&quot;" in content


def test_a_version_is_shown_readably_and_cannot_be_changed(admin_client, agenda, admin_user):
    version = agenda_publish(agenda=agenda, by=admin_user, symbol="MC/2190")
    url = _change_url(version)

    response = admin_client.get(url)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Tuesday 29 November 2005 10.00-11.00" in content
    assert "Opening" in content
    assert "First version." in content
    assert admin_client.post(url, {"symbol": "changed"}).status_code == 403
    assert AgendaVersion.objects.get(pk=version.pk).symbol == "MC/2190"


def test_items_of_a_closed_agenda_cannot_be_deleted(admin_client, agenda):
    Agenda.objects.filter(pk=agenda.pk).update(state=AgendaState.CLOSED)
    item = agenda.items.get(number=1)

    url = reverse("admin:idm_agendaitem_delete", args=[item.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert AgendaItem.objects.filter(pk=item.pk).exists()


def test_an_overlapping_slot_is_refused_on_the_slot_page(admin_client, agenda):
    slot = AgendaSlot.objects.get(item__number=2)
    url = _change_url(slot)
    data = _data_as_rendered(admin_client.get(url))
    data["end_time"] = "12:30"
    data["start_time"] = "10:45"

    response = admin_client.post(url, {**data, "_save": "1"})

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Item 2 overlaps Item 1 of Council, Ninety-ninth Session in Conference Room XVIII "
        "(Tuesday 29 November 2005 10.45-12.30)."
    ]
    slot.refresh_from_db()
    assert (slot.start_time, slot.end_time) == (t(11), t(12))


def test_the_renumber_action_numbers_items_by_their_order(admin_client, agenda):
    AgendaItem.objects.filter(agenda=agenda, number=1).update(position=3)

    admin_client.post(
        reverse("admin:idm_agenda_changelist"),
        {"action": "renumber", "_selected_action": [agenda.pk]},
    )

    assert list(agenda.items.order_by("number").values_list("title", flat=True)) == [
        "Debate",
        "Opening",
    ]


def test_publishing_an_unchanged_agenda_again_makes_no_version(admin_client, agenda):
    url = reverse("admin:idm_agenda_changelist")
    admin_client.post(url, {"action": "publish", "_selected_action": [agenda.pk]})

    response = admin_client.post(
        url, {"action": "publish", "_selected_action": [agenda.pk]}, follow=True
    )

    assert _messages(response)[-1] == (
        f"{agenda} has not changed since version 1: nothing new to publish."
    )
    assert agenda.versions.count() == 1


def test_export_action_downloads_the_working_items_as_csv(idm_data, admin_client):
    import csv
    import io

    from idm.models import Agenda

    agenda = Agenda.objects.get(council_session__number=90, council_session__body="council")
    response = admin_client.post(
        "/admin/idm/agenda/",
        {"action": "export_csv", "_selected_action": [agenda.pk]},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert len(rows) == 26  # the header and the 25 items
    assert any("Opening Presentation" in cell for row in rows for cell in row)
