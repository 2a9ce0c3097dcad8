import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from idm.enums import AgendaState, MeetingKind, MeetingStatus
from idm.filters import EventStatus
from idm.models import AgendaVersion, CouncilSession
from idm.selectors import agenda_snapshot
from tests.factories.idm import (
    AgendaFactory,
    AgendaItemFactory,
    AgendaSlotFactory,
    CouncilSessionFactory,
    DialogueFactory,
    MeetingFactory,
    RoomFactory,
    VenueFactory,
)
from tests.factories.stakeholders import UserFactory
from tests.factories.workshops import WorkshopFactory
from workshops.enums import WorkshopKind, WorkshopStatus

LIST_URL = "/api/v1/meetings/"


def detail_url(key: str) -> str:
    return f"/api/v1/meetings/{key}/"


def agenda_url(key: str) -> str:
    return f"/api/v1/meetings/{key}/agenda/"


def ninetieth_session_key() -> str:
    return f"council-session-{CouncilSession.objects.get(number=90).pk}"


def all_results(client, query: str = "") -> list[dict]:
    response = client.get(f"{LIST_URL}?page_size=100&{query}")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == len(response.json()["results"])
    return response.json()["results"]


# -- The list ----------------------------------------------------------------------------------


def test_meeting_list_merges_sessions_meetings_and_workshops(idm_data, client):
    response = client.get(LIST_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 37
    assert set(body) == {"count", "next", "previous", "results"}
    results = all_results(client)
    kinds = [entry["kind"] for entry in results]
    assert kinds.count("council_session") == 4
    assert kinds.count("idm_sitting") + kinds.count("informal_consultation") == 2
    assert kinds.count("workshop") == 31
    assert len({entry["id"] for entry in results}) == 37


def test_meeting_list_entry_of_the_ninetieth_session(idm_data, client):
    key = ninetieth_session_key()
    entry = next(e for e in all_results(client) if e["id"] == key)
    assert entry == {
        "id": key,
        "kind": "council_session",
        "workshop_kind": None,
        "title": "Council, Ninetieth Session",
        "year": 2005,
        "start_date": "2005-11-29",
        "end_date": "2005-12-02",
        "date_text": None,
        "status": "held",
        "venue": "Palais des Nations, Geneva",
        "room": "Conference Room XVII",
        "dialogue": 2005,
        "agenda_state": "provisional",
        "published_version": 1,
        "links": entry["links"],
    }


def test_meeting_links_are_absolute_urls_of_the_public_pages(idm_data, client):
    key = ninetieth_session_key()
    links = client.get(detail_url(key)).json()["links"]
    assert links == {
        "agenda": f"http://testserver/events/{key}/agenda/",
        "pdf": f"http://testserver/events/{key}/agenda.pdf",
        "ical": f"http://testserver/events/{key}/calendar.ics",
    }
    assert links["agenda"] == "http://testserver" + reverse("idm:agenda-print", args=[key])
    assert links["pdf"] == "http://testserver" + reverse("idm:agenda-pdf", args=[key])
    assert links["ical"] == "http://testserver" + reverse("idm:event-ical", args=[key])


def test_meeting_links_lead_to_the_public_pages(idm_data, client):
    for entry in all_results(client):
        for name, url in entry["links"].items():
            if url is not None:
                assert client.get(url).status_code == 200, (entry["id"], name, url)


def test_meeting_without_a_published_agenda_links_only_its_calendar(idm_data, client):
    for entry in all_results(client):
        links = entry["links"]
        assert links["ical"] == f"http://testserver/events/{entry['id']}/calendar.ics"
        if entry["published_version"] is None:
            assert (links["agenda"], links["pdf"]) == (None, None), entry["id"]
        else:
            assert links["agenda"] and links["pdf"]


def test_meeting_link_is_null_while_its_page_does_not_exist(idm_data, rf):
    from idm.api.serializers import event_link

    assert event_link(rf.get("/"), "idm:no-such-page", "meeting-1") is None
    assert event_link(None, "idm:event-ical", "meeting-1") == "/events/meeting-1/calendar.ics"


def test_meeting_list_shows_workshop_kind_and_date_text(idm_data, client):
    workshops = [e for e in all_results(client) if e["kind"] == "workshop"]
    assert {e["workshop_kind"] for e in workshops} <= set(WorkshopKind.values)
    assert {e["workshop_kind"] for e in workshops} > {"idm_intersessional", "conference"}
    planned = [e for e in workshops if e["date_text"] == "first quarter of 2006"]
    assert len(planned) == 1
    assert planned[0]["year"] == 2006  # from its dialogue: no dates yet
    assert planned[0]["start_date"] is None
    assert planned[0]["status"] == "planned"


def test_meeting_list_is_newest_first_undated_last_then_by_title(idm_data, client):
    results = all_results(client)
    dated = [e for e in results if e["start_date"]]
    undated = [e for e in results if not e["start_date"]]
    assert results == dated + undated
    starts = [e["start_date"] for e in dated]
    assert starts == sorted(starts, reverse=True)
    titles = [e["title"].casefold() for e in undated]
    assert titles == sorted(titles)
    # Same first day: by title.
    same_day = [e["title"] for e in dated if e["start_date"] == "2005-11-29"]
    assert same_day == [
        "Council, Ninetieth Session",
        "International Dialogue on Migration 2005 at the Ninetieth Session",
    ]
    # Stable: asking again, or page by page, gives the same order.
    assert [e["id"] for e in all_results(client)] == [e["id"] for e in results]
    paged = []
    for page in (1, 2, 3, 4):
        paged += client.get(f"{LIST_URL}?page_size=10&page={page}").json()["results"]
    assert [e["id"] for e in paged] == [e["id"] for e in results]


def test_meeting_list_is_paginated(idm_data, client):
    body = client.get(f"{LIST_URL}?page_size=10&page=2").json()
    assert body["count"] == 37
    assert len(body["results"]) == 10
    assert body["next"] == "http://testserver/api/v1/meetings/?page=3&page_size=10"
    assert body["previous"] == "http://testserver/api/v1/meetings/?page_size=10"
    last = client.get(f"{LIST_URL}?page_size=10&page=4").json()
    assert len(last["results"]) == 7
    assert last["next"] is None
    assert client.get(f"{LIST_URL}?page=99").status_code == 404


def test_meeting_list_page_size_is_capped_at_100(db, client):
    WorkshopFactory.create_batch(105)
    body = client.get(f"{LIST_URL}?page_size=500").json()
    assert body["count"] == 105
    assert len(body["results"]) == 100


def test_meeting_list_filters_by_year(idm_data, client):
    results = all_results(client, "year=2005")
    assert {e["year"] for e in results} == {2005}
    assert len(results) == 7
    assert ninetieth_session_key() in {e["id"] for e in results}
    # A workshop without dates counts in its dialogue's year.
    assert "Migration and Development: Mainstreaming" in " ".join(e["title"] for e in results)
    assert {e["year"] for e in all_results(client, "year=2006")} == {2006}
    assert all_results(client, "year=1900") == []


def test_meeting_list_filters_by_kind(idm_data, client):
    sessions = all_results(client, "kind=council_session")
    assert len(sessions) == 4
    assert {e["kind"] for e in sessions} == {"council_session"}
    assert [e["kind"] for e in all_results(client, "kind=idm_sitting")] == ["idm_sitting"]
    assert [e["kind"] for e in all_results(client, "kind=informal_consultation")] == [
        "informal_consultation"
    ]
    assert len(all_results(client, "kind=workshop")) == 31


def test_meeting_list_filters_by_status(idm_data, client):
    held = all_results(client, "status=held")
    assert held
    assert {e["status"] for e in held} == {"held"}
    for status in EventStatus.values:
        results = all_results(client, f"status={status}")
        assert {e["status"] for e in results} <= {status}
    total = sum(len(all_results(client, f"status={s}")) for s in EventStatus.values)
    assert total == 37


def test_meeting_list_filters_combine(idm_data, client):
    results = all_results(client, "year=2005&kind=council_session&status=held")
    assert [e["id"] for e in results] == [ninetieth_session_key()]
    assert all_results(client, "year=2005&kind=council_session&status=planned") == []
    workshops = all_results(client, "year=2005&kind=workshop&status=held")
    assert len(workshops) == 5
    assert {(e["year"], e["kind"], e["status"]) for e in workshops} == {(2005, "workshop", "held")}


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("year=abc", {"year"}),
        ("year=2005.5", {"year"}),
        ("kind=nope", {"kind"}),
        ("kind=seminar", {"kind"}),
        ("status=finished", {"status"}),
        ("year=x&kind=y&status=z", {"year", "kind", "status"}),
    ],
)
def test_meeting_list_refuses_bad_filters_with_field_messages(db, client, query, fields):
    response = client.get(f"{LIST_URL}?{query}")
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["code"]) == (400, "invalid")
    assert set(body["errors"]) == fields
    assert all(isinstance(messages, list) and messages for messages in body["errors"].values())


def test_council_session_status_is_derived_from_its_dates(db, client):
    today = timezone.localdate()
    day = datetime.timedelta(days=1)
    past = CouncilSessionFactory(start_date=today - 3 * day, end_date=today - day)
    ongoing = CouncilSessionFactory(start_date=today - day, end_date=today)
    future = CouncilSessionFactory(start_date=today + day, end_date=today + 2 * day)
    undated = CouncilSessionFactory()
    statuses = {e["id"]: e["status"] for e in all_results(client)}
    assert statuses == {
        f"council-session-{past.pk}": "held",
        f"council-session-{ongoing.pk}": "planned",
        f"council-session-{future.pk}": "planned",
        f"council-session-{undated.pk}": "planned",
    }
    assert [e["id"] for e in all_results(client, "status=held")] == [f"council-session-{past.pk}"]
    assert len(all_results(client, "status=planned")) == 3
    assert all_results(client, "status=confirmed") == []


def test_meeting_and_workshop_status_are_their_own(db, client):
    MeetingFactory(status=MeetingStatus.CANCELLED)
    WorkshopFactory(status=WorkshopStatus.REPORT_PUBLISHED)
    assert {e["status"] for e in all_results(client)} == {"cancelled", "report_published"}
    assert [e["kind"] for e in all_results(client, "status=cancelled")] == ["informal_consultation"]


def test_every_meeting_status_can_be_filtered_on():
    assert set(MeetingStatus.values) <= set(EventStatus.values)
    assert set(WorkshopStatus.values) <= set(EventStatus.values)


def _make_events(count: int) -> None:
    """``count`` events of each table, each with everything an entry shows."""
    for _ in range(count):
        dialogue = DialogueFactory()
        room = RoomFactory()
        session = CouncilSessionFactory(
            dialogue=dialogue,
            venue=room.venue,
            room=room,
            start_date=datetime.date(2005, 11, 29),
            end_date=datetime.date(2005, 12, 2),
        )
        meeting = MeetingFactory(
            kind=MeetingKind.IDM_SITTING,
            council_session=session,
            dialogue=dialogue,
            venue=room.venue,
            room=room,
        )
        workshop = WorkshopFactory(dialogue=dialogue, venue=VenueFactory())
        for field, event in (
            ("council_session", session),
            ("meeting", meeting),
            ("workshop", workshop),
        ):
            agenda = AgendaFactory(**{field: event}, state=AgendaState.PROVISIONAL, title="Agenda")
            AgendaSlotFactory(item=AgendaItemFactory(agenda=agenda))
            for number in (1, 2):
                AgendaVersion.objects.create(
                    agenda=agenda,
                    number=number,
                    state=AgendaState.PROVISIONAL,
                    snapshot=agenda_snapshot(agenda),
                )


@pytest.mark.parametrize("count", [1, 12])
def test_meeting_list_query_count_does_not_grow_with_rows(
    db, client, django_assert_max_num_queries, count
):
    _make_events(count)
    with django_assert_max_num_queries(3):
        body = client.get(f"{LIST_URL}?page_size=100").json()
    assert body["count"] == 3 * count
    assert {e["published_version"] for e in body["results"]} == {2}
    assert {e["agenda_state"] for e in body["results"]} == {"provisional"}
    assert all(e["dialogue"] and e["venue"] for e in body["results"])


def test_meeting_list_query_count_with_filters(db, client, django_assert_max_num_queries):
    _make_events(5)
    with django_assert_max_num_queries(3):
        response = client.get(f"{LIST_URL}?year=2005&status=held&kind=council_session")
    assert response.json()["count"] == 5


# -- One event ---------------------------------------------------------------------------------


def test_meeting_detail(idm_data, client):
    key = ninetieth_session_key()
    response = client.get(detail_url(key))
    assert response.status_code == 200
    listed = next(e for e in all_results(client) if e["id"] == key)
    assert response.json() == listed


def test_meeting_detail_of_a_meeting_and_a_workshop(db, client):
    meeting = MeetingFactory(title="Informal consultation")
    workshop = WorkshopFactory(kind=WorkshopKind.SEMINAR, date_text="June 2005")
    body = client.get(detail_url(f"meeting-{meeting.pk}")).json()
    assert (body["kind"], body["title"], body["date_text"]) == (
        "informal_consultation",
        "Informal consultation",
        None,
    )
    assert body["agenda_state"] is None
    assert body["published_version"] is None
    body = client.get(detail_url(f"workshop-{workshop.pk}")).json()
    assert (body["kind"], body["workshop_kind"], body["date_text"]) == (
        "workshop",
        "seminar",
        "June 2005",
    )


@pytest.mark.parametrize(
    "key", ["council-session-9999", "meeting-9999", "workshop-0", "nope-1", "workshop-x", "42"]
)
def test_meeting_detail_of_an_unknown_or_malformed_id_is_404(idm_data, client, key):
    response = client.get(detail_url(key))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": 404, "code": "not_found", "message": "Not found."}


# -- Agendas -----------------------------------------------------------------------------------


def test_agenda_of_the_ninetieth_session(idm_data, client):
    key = ninetieth_session_key()
    response = client.get(agenda_url(key))
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 1
    assert body["state"] == "provisional"
    assert body["title"] == "Provisional agenda"
    assert body["event"]["id"] == key
    assert body["event"]["title"] == "Council, Ninetieth Session"
    assert [(d["date"], d["weekday"]) for d in body["days"]] == [
        ("2005-11-29", "Tuesday"),
        ("2005-11-30", "Wednesday"),
        ("2005-12-01", "Thursday"),
        ("2005-12-02", "Friday"),
    ]
    entries = [entry for day in body["days"] for entry in day["items"]]
    assert len({entry["key"] for entry in entries}) == 25
    assert len({entry["label"] for entry in entries}) == 25

    first_day = body["days"][0]["items"]
    item_5a = next(entry for entry in first_day if entry["label"] == "Item 5(a)")
    assert item_5a["number"] == 5
    assert item_5a["sub_item"] == "a"
    assert item_5a["parent"] == "Item 5"
    assert (item_5a["start_time"], item_5a["end_time"]) == ("12:00", "13:00")
    assert item_5a["continued"] is False
    assert [p["name"] for p in item_5a["presenters"]] == ["Mr. Gervais Appave"]
    assert item_5a["presenters"][0]["title"]
    assert item_5a["title"] == "Opening Presentation"

    # Printed order on the first day: by time, items before their sub-items.
    assert [(e["label"], e["start_time"]) for e in first_day] == [
        ("Item 1", "10:00"),
        ("Item 2", "10:00"),
        ("Item 3", "10:00"),
        ("Item 4", "11:00"),
        ("Item 5", "12:00"),
        ("Item 5(a)", "12:00"),
        ("Item 5", "15:00"),
        ("Item 5(b)", "15:00"),
    ]
    item_1 = first_day[0]
    assert item_1["block_title"].startswith("Opening procedures")
    assert item_1["parent"] is None
    # Item 5 runs on: (cont'd) on the second day.
    second_day = body["days"][1]["items"]
    assert second_day[0]["label"] == "Item 5"
    assert second_day[0]["continued"] is True
    # Untimed items follow the timed ones of their day.
    last_day = body["days"][-1]["items"]
    assert last_day[0]["label"] == "Item 6"
    assert last_day[-1]["label"] == "Item 18"
    assert last_day[-1]["start_time"] is None
    item_5b = next(e for e in first_day if e["label"] == "Item 5(b)")
    assert "MC/INF/279" in [d["symbol"] for d in item_5b["documents"]]


def test_agenda_earlier_version_by_number(idm_data, client):
    key = ninetieth_session_key()
    assert client.get(agenda_url(key) + "?version=1").json()["version"] == 1


def test_agenda_lists_the_latest_version_and_keeps_earlier_ones(db, client):
    agenda = AgendaFactory(state=AgendaState.PROVISIONAL, title="Agenda")
    item = AgendaItemFactory(agenda=agenda, title="First title")
    AgendaSlotFactory(item=item)
    AgendaVersion.objects.create(
        agenda=agenda, number=1, state=AgendaState.PROVISIONAL, snapshot=agenda_snapshot(agenda)
    )
    item.title = "Second title"
    item.save()
    AgendaVersion.objects.create(
        agenda=agenda,
        number=2,
        state=AgendaState.ADOPTED,
        symbol="MC/9999",
        snapshot=agenda_snapshot(agenda),
    )
    key = f"council-session-{agenda.council_session.pk}"
    latest = client.get(agenda_url(key)).json()
    assert (latest["version"], latest["state"], latest["symbol"]) == (2, "adopted", "MC/9999")
    assert latest["days"][0]["items"][0]["title"] == "Second title"
    first = client.get(agenda_url(key) + "?version=1").json()
    assert (first["version"], first["state"]) == (1, "provisional")
    assert first["days"][0]["items"][0]["title"] == "First title"
    assert client.get(detail_url(key)).json()["published_version"] == 2


def test_agenda_items_without_a_slot_come_last_without_a_date(db, client):
    agenda = AgendaFactory(state=AgendaState.PROVISIONAL, title="Agenda")
    AgendaSlotFactory(item=AgendaItemFactory(agenda=agenda, number=1, position=1))
    AgendaItemFactory(agenda=agenda, number=2, position=2)
    AgendaVersion.objects.create(
        agenda=agenda, number=1, state=AgendaState.PROVISIONAL, snapshot=agenda_snapshot(agenda)
    )
    days = client.get(agenda_url(f"council-session-{agenda.council_session.pk}")).json()["days"]
    assert [(d["date"], d["weekday"]) for d in days] == [("2005-11-29", "Tuesday"), (None, None)]
    assert [e["label"] for e in days[1]["items"]] == ["Item 2"]


def test_agenda_unknown_version_is_404(idm_data, client):
    response = client.get(agenda_url(ninetieth_session_key()) + "?version=2")
    assert response.status_code == 404
    assert "version 2" in response.json()["message"]


@pytest.mark.parametrize("value", ["x", "1.5", "0", "-1"])
def test_agenda_bad_version_is_400(idm_data, client, value):
    response = client.get(agenda_url(ninetieth_session_key()) + f"?version={value}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["version"]


def test_agenda_of_an_event_without_a_published_agenda_is_404(idm_data, client):
    session = CouncilSession.objects.get(number=88)
    response = client.get(agenda_url(f"council-session-{session.pk}"))
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "code": "not_found",
        "message": "This event has no published agenda.",
    }


def test_agenda_of_a_draft_agenda_is_404(db, client):
    agenda = AgendaFactory(workshop=WorkshopFactory())
    response = client.get(agenda_url(f"workshop-{agenda.workshop.pk}"))
    assert response.status_code == 404
    assert client.get(detail_url(f"workshop-{agenda.workshop.pk}")).json()["agenda_state"] == (
        "draft"
    )


def test_agenda_of_an_unknown_event_is_404(idm_data, client):
    assert client.get(agenda_url("meeting-9999")).status_code == 404
    assert client.get(agenda_url("bogus")).status_code == 404


# -- Read-only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("as_staff", [False, True])
def test_meetings_api_refuses_every_write(idm_data, client, method, as_staff):
    if as_staff:
        client.force_login(UserFactory(is_staff=True, is_superuser=True))
    key = ninetieth_session_key()
    for url in (LIST_URL, detail_url(key), agenda_url(key)):
        response = getattr(client, method)(url, data={}, content_type="application/json")
        assert response.status_code == 405, (method, url)
    assert client.get(LIST_URL).json()["count"] == 37
