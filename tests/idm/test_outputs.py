import copy
import csv
import datetime
import html
import io
import json
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from icalendar import Calendar
from openpyxl import load_workbook

from idm import outputs
from idm.models import AgendaVersion, CouncilSession
from idm.selectors import event_key
from tests.factories.idm import AgendaFactory, MeetingFactory
from tests.factories.stakeholders import OrganisationFactory, PersonFactory, UserFactory
from tests.factories.workshops import RegistrationFactory, WorkshopFactory
from workshops.enums import RegistrationRole

ZURICH = ZoneInfo("Europe/Zurich")

# The Ninetieth Session's provisional agenda as printed (the seed text, in reading order).
NINETIETH_AGENDA_IN_ORDER = [
    "PROVISIONAL AGENDA",
    "NINETIETH SESSION",
    "to be held in Conference Room XVII,",
    "at the Palais des Nations, Geneva,",
    "Tuesday, 29 November to Friday, 2 December 2005",
    "Tuesday, 29 November 2005",
    "10.00 - 11.00",
    "Opening procedures, election of officers and admission of new Members and observers",
    "Item 1:",
    "Opening of the session and credentials of representatives and observers",
    "Item 2:",
    "Election of officers",
    "Item 3:",
    "Adoption of the agenda",
    "11.00 - 12.00",
    "Item 4:",
    "Special Panel: Launching the IOM Business Advisory Board",
    "12.00 - 13.00",
    "Item 5:",
    "International Dialogue on Migration - Towards Policy Coherence on Migration",
    "(a)",
    "Opening Presentation",
    "by Mr. Gervais Appave, Director, Migration Policy, Research and Communications",
    "15.00 - 18.00",
    "(b)",
    "Towards Policy Coherence on Migration - High-level plenary presentations and discussion",
    "Wednesday, 30 November 2005",
    "10.00 - 13.00",
    "Item 5:",
    "International Dialogue on Migration",
    "(cont'd)",
    "(c)",
    "The Year in Review: Presentations and discussion of selected migration developments in 2005",
    "15.00 - 17.30",
    "(d)",
    "Migration and Development: Lessons learned and effective approaches - "
    "High level plenary presentations and discussion",
    "Policy coherence between migration and development",
    "Migration and the Millennium Development Goals",
    "Diaspora support to migration and development",
    "Partnerships",
    "17.30 - 18.00",
    "(e)",
    "Wrap-Up of the International Dialogue on Migration",
    "Thursday, 1 December 2005",
    "10.00 - 13.00",
    "Item 6:",
    "General Debate",
    "(a)",
    "Statements by the Director General and the Deputy Director General",
    "(b)",
    "Statements by Members and observers",
    "15.00 - 18.00",
    "General Debate (cont'd)",
    "Friday, 2 December 2005",
    "10.00",
    "Item 6:",
    "General Debate (cont'd)",
    "Item 7:",
    "Implications for IOM of the report of the Global Commission on International Migration",
    "Item 8:",
    "IOM Strategy document",
    "Item 9:",
    "Draft reports on the Eighty-eighth Session and the Eighty-ninth (Special) Session of the "
    "Council",
    "Item 10:",
    "Report on the Hundred and second Session of the Executive Committee",
    "Item 11:",
    "Summary update on the Programme and Budget for 2005",
    "Item 12:",
    "Status report on outstanding contributions to the Administrative Part of the Budget",
    "Item 13:",
    "Programme and Budget for 2006",
    "Item 14:",
    "IOM social security scheme",
    "Item 15:",
    "Other items arising from the Report of the Subcommittee on Budget and Finance",
    "Item 16:",
    "Election of the Executive Committee",
    "Item 17:",
    "Any other business",
    "Item 18:",
    "Date and place of the next session",
]

# Timed slots of the published agenda: items 1-4 one each, item 5 four, 5(a)-(e) one each,
# item 6 three, 6(a) and 6(b) one each. Items 7-18 have a day but no time.
TIMED_SLOTS = 18
ITEMS = 25


@pytest.fixture
def session_key(idm_data):
    return event_key(CouncilSession.objects.get(number=90))


def page_text(response) -> str:
    """The agenda article's text, tags dropped, entities decoded, whitespace collapsed."""
    page = response.content.decode()
    article = page[page.index('<article class="agenda">') : page.index("</article>")]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", article)).split())


def assert_in_order(text: str, expected: list[str]) -> None:
    position = 0
    for part in expected:
        found = text.find(part, position)
        assert found >= 0, f"{part!r} missing after …{text[max(0, position - 80) : position]!r}"
        position = found + len(part)


def add_version(session_key: str, *, number: int, change=None) -> AgendaVersion:
    first = AgendaVersion.objects.get(number=1, agenda__council_session__number=90)
    snapshot = copy.deepcopy(first.snapshot)
    if change:
        change(snapshot)
    return AgendaVersion.objects.create(
        agenda=first.agenda,
        number=number,
        state=first.state,
        published_at=datetime.datetime(2005, 11, 15, 9, 0, tzinfo=ZURICH),
        snapshot=snapshot,
    )


# -- Printable page --------------------------------------------------------------------------


def test_printable_agenda_shows_every_item_time_and_presenter_in_printed_order(session_key, client):
    response = client.get(reverse("idm:agenda-print", args=[session_key]))
    assert response.status_code == 200
    text = page_text(response)
    assert_in_order(text, NINETIETH_AGENDA_IN_ORDER)
    # a time shared by several rows is printed once, as on paper
    assert text.count("10.00 - 11.00") == 1
    assert "15.00 - 18.00 General Debate (cont'd) Friday" in text
    assert "10.00 Item 6: General Debate (cont'd) Item 7:" in text


def test_printable_agenda_is_public_and_shows_its_version_and_downloads(session_key, client):
    response = client.get(reverse("idm:agenda-print", args=[session_key]))
    page = html.unescape(response.content.decode())
    assert "Version 1 of the Provisional agenda, Council, Ninetieth Session" in page
    assert "publication date not recorded" in page
    assert reverse("idm:agenda-pdf", args=[session_key]) in page
    assert reverse("idm:event-ical", args=[session_key]) in page
    assert reverse("idm:agenda-export", args=[session_key, "xlsx"]) in page
    assert "idm/print.css" in page


def test_print_stylesheet_is_a4_and_hides_the_navigation():
    with open(finders.find("idm/print.css"), encoding="utf-8") as stylesheet:
        css = stylesheet.read()
    assert "size: A4" in css
    print_rules = css[css.index("@media print") :]
    assert "header.site" in print_rules and "display: none" in print_rules


def test_printable_agenda_query_count_does_not_grow_with_the_items(
    session_key, client, django_assert_max_num_queries
):
    url = reverse("idm:agenda-print", args=[session_key])
    with django_assert_max_num_queries(4):
        assert client.get(url).status_code == 200

    def triple(snapshot):
        snapshot["items"] = snapshot["items"] * 3

    add_version(session_key, number=2, change=triple)
    with django_assert_max_num_queries(4):
        assert client.get(url).status_code == 200


def test_printable_agenda_shows_the_latest_version_and_earlier_ones_on_request(session_key, client):
    def retitle(snapshot):
        snapshot["items"][3]["title"] = "Special Panel: the IOM Business Advisory Board"

    add_version(session_key, number=2, change=retitle)
    url = reverse("idm:agenda-print", args=[session_key])

    latest = client.get(url)
    assert "Special Panel: the IOM Business Advisory Board" in page_text(latest)
    assert "published 15 November 2005" in latest.content.decode()
    assert f'href="{url}?version=1"' in latest.content.decode()

    earlier = client.get(url, {"version": 1})
    assert "Special Panel: Launching the IOM Business Advisory Board" in page_text(earlier)
    assert f"{reverse('idm:agenda-pdf', args=[session_key])}?version=1" in (
        earlier.content.decode()
    )


def test_a_published_version_prints_the_same_after_the_agenda_changes(session_key, client):
    from idm.models import AgendaItem

    url = reverse("idm:agenda-print", args=[session_key])
    before = page_text(client.get(url))
    AgendaItem.objects.filter(title="Election of officers").update(title="Changed afterwards")
    assert page_text(client.get(url)) == before


@pytest.mark.parametrize(
    "name",
    ["idm:agenda-print", "idm:agenda-pdf", "idm:agenda-export"],
)
@pytest.mark.parametrize("version", ["99", "0", "two", "²", "99999999999999999999999"])
def test_an_unknown_version_is_not_found(session_key, client, name, version):
    args = [session_key, "csv"] if name == "idm:agenda-export" else [session_key]
    assert client.get(reverse(name, args=args), {"version": version}).status_code == 404


@pytest.mark.parametrize(
    "key",
    [
        "council-session-999",
        "meeting-999",
        "nonsense",
        "workshop-x",
        "workshop-²",
        "meeting-" + "9" * 30,
    ],
)
@pytest.mark.parametrize("name", ["idm:agenda-print", "idm:agenda-pdf", "idm:event-ical"])
def test_an_unknown_event_is_not_found(db, client, key, name):
    assert client.get(reverse(name, args=[key])).status_code == 404


def test_an_event_without_a_published_agenda_has_no_printable_agenda(db, client):
    agenda = AgendaFactory()  # a draft, never published
    key = event_key(agenda.event)
    assert client.get(reverse("idm:agenda-print", args=[key])).status_code == 404
    assert client.get(reverse("idm:agenda-pdf", args=[key])).status_code == 404


def test_the_printed_text_escapes_what_officers_type(session_key, client):
    def inject(snapshot):
        snapshot["items"][0]["title"] = "<script>alert(1)</script>"

    add_version(session_key, number=2, change=inject)
    page = client.get(reverse("idm:agenda-print", args=[session_key])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


# -- PDF -------------------------------------------------------------------------------------


def test_agenda_pdf_is_served_inline(session_key, client):
    response = client.get(reverse("idm:agenda-pdf", args=[session_key]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (f'inline; filename="{session_key}-agenda-v1.pdf"')
    assert response.content.startswith(b"%PDF")
    assert len(response.content) > 1000


def test_agenda_pdf_holds_the_agenda_text_and_is_the_same_every_time(session_key):
    snapshot = AgendaVersion.objects.get(agenda__council_session__number=90).snapshot
    pdf = outputs.agenda_pdf(snapshot, footer="Version 1", compress=False)
    for text in (
        b"PROVISIONAL AGENDA",
        b"NINETIETH SESSION",
        b"Tuesday, 29 November 2005",
        b"10.00 - 11.00",
        b"Opening Presentation",
        b"by Mr. Gervais Appave",
        b"Partnerships",
        b"Date and place of the next session",
    ):
        assert text in pdf, text
    assert outputs.agenda_pdf(snapshot, footer="Version 1") == outputs.agenda_pdf(
        snapshot, footer="Version 1"
    )


# -- iCalendar -------------------------------------------------------------------------------


def vevents(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    return calendar, list(calendar.walk("VEVENT"))


def test_event_calendar_has_one_entry_per_timed_slot(session_key, client):
    calendar, events = vevents(client.get(reverse("idm:event-ical", args=[session_key])))
    assert len(events) == TIMED_SLOTS
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == len(uids)
    assert all(uid.endswith("@idm-secretariat") for uid in uids)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Zurich"]


def test_item_5a_runs_on_29_november_2005_from_noon_to_one_in_geneva(session_key, client):
    _calendar, events = vevents(client.get(reverse("idm:event-ical", args=[session_key])))
    (opening,) = [e for e in events if str(e["SUMMARY"]) == "Item 5(a): Opening Presentation"]
    assert opening["DTSTART"].dt == datetime.datetime(2005, 11, 29, 12, 0, tzinfo=ZURICH)
    assert opening["DTEND"].dt == datetime.datetime(2005, 11, 29, 13, 0, tzinfo=ZURICH)
    assert opening["DTSTART"].params["TZID"] == "Europe/Zurich"
    assert str(opening["LOCATION"]) == "Conference Room XVII, Palais des Nations, Geneva"
    assert "by Mr. Gervais Appave, Director, Migration Policy" in str(opening["DESCRIPTION"])
    assert str(opening["UID"]).startswith(f"{session_key}-item")


def test_a_slot_without_an_end_lasts_an_hour_and_bullets_are_described(session_key, client):
    _calendar, events = vevents(client.get(reverse("idm:event-ical", args=[session_key])))
    (friday,) = [
        e for e in events if e["DTSTART"].dt == datetime.datetime(2005, 12, 2, 10, tzinfo=ZURICH)
    ]
    assert str(friday["SUMMARY"]) == "Item 6: General Debate (cont'd)"
    assert "DTEND" not in friday
    assert friday["DURATION"].dt == datetime.timedelta(hours=1)
    (development,) = [e for e in events if str(e["SUMMARY"]).startswith("Item 5(d):")]
    assert "• Diaspora support to migration and development" in str(development["DESCRIPTION"])


def test_event_calendar_without_an_agenda_is_one_all_day_entry(db, client):
    workshop = WorkshopFactory(
        start_date=datetime.date(2006, 3, 9), end_date=datetime.date(2006, 3, 10)
    )
    _calendar, events = vevents(client.get(reverse("idm:event-ical", args=[event_key(workshop)])))
    (entry,) = events
    assert entry["DTSTART"].dt == datetime.date(2006, 3, 9)
    assert entry["DTEND"].dt == datetime.date(2006, 3, 11)  # exclusive, per RFC 5545
    assert str(entry["SUMMARY"]) == workshop.title


def test_all_events_calendar_has_agenda_slots_and_dated_events(
    session_key, client, django_assert_max_num_queries
):
    workshop = WorkshopFactory(title="Migration and the Environment workshop")
    workshop.start_date = datetime.date(2006, 3, 9)
    workshop.save()
    MeetingFactory(start_date=None)  # undated: left out
    with django_assert_max_num_queries(6):
        response = client.get(reverse("idm:calendar-ical"))
    _calendar, events = vevents(response)
    uids = {str(e["UID"]) for e in events}
    assert sum(uid.startswith(f"{session_key}-item") for uid in uids) == TIMED_SLOTS
    assert f"{session_key}@idm-secretariat" not in uids  # its agenda stands for it
    assert f"workshop-{workshop.pk}@idm-secretariat" in uids
    assert len(uids) == len(events)


# -- Exports ---------------------------------------------------------------------------------


def test_agenda_csv_has_one_row_per_item(session_key, client):
    response = client.get(reverse("idm:agenda-export", args=[session_key, "csv"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:12] == [
        "Item",
        "Number",
        "Sub-item",
        "Title",
        "Block",
        "Day",
        "Start",
        "End",
        "Room",
        "Presenters",
        "Sub-topics",
        "Documents",
    ]
    assert len(rows) == ITEMS + 1
    opening = rows[6]
    assert opening[:10] == [
        "Item 5(a)",
        "5",
        "a",
        "Opening Presentation",
        "",
        "2005-11-29",
        "12:00",
        "13:00",
        "Conference Room XVII, Palais des Nations",
        "Mr. Gervais Appave, Director, Migration Policy, Research and Communications",
    ]
    assert rows[-1][0] == "Item 18"
    assert rows[-1][3] == "Date and place of the next session"


def test_agenda_xlsx_has_the_same_rows_as_the_csv(session_key, client):
    csv_rows = list(
        csv.reader(
            io.StringIO(
                client.get(reverse("idm:agenda-export", args=[session_key, "csv"])).content.decode()
            )
        )
    )
    response = client.get(reverse("idm:agenda-export", args=[session_key, "xlsx"]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    sheet = load_workbook(io.BytesIO(response.content)).active
    xlsx_rows = [
        ["" if value is None else str(value) for value in row]
        for row in sheet.iter_rows(values_only=True)
    ]
    assert xlsx_rows == csv_rows


def test_agenda_json_lists_the_items_with_their_version(session_key, client):
    response = client.get(reverse("idm:agenda-export", args=[session_key, "json"]))
    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert data["version"] == 1
    assert len(data["items"]) == ITEMS
    assert data["items"][8]["bullets"][0] == "Policy coherence between migration and development"


def test_an_unknown_export_format_is_not_found(session_key, client):
    url = reverse("idm:agenda-export", args=[session_key, "docx"])
    assert client.get(url).status_code == 404


# -- Participants ----------------------------------------------------------------------------


@pytest.fixture
def registrations(db):
    workshop = WorkshopFactory()
    donor = OrganisationFactory(name="Australia")
    RegistrationFactory(
        workshop=workshop,
        person=PersonFactory(name="Ana Pérez"),
        organisation=OrganisationFactory(name="Mexico"),
        role=RegistrationRole.SPEAKER,
        attendance_confirmed=True,
        funded_by=donor,
    )
    RegistrationFactory(workshop=workshop, person=PersonFactory(name="=HYPERLINK(1)"))
    return workshop


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_participants_export_needs_a_staff_login(registrations, client, fmt):
    url = reverse("idm:participants-export", args=[registrations.pk, fmt])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    client.force_login(UserFactory(is_staff=False))
    assert client.get(url).status_code == 302


def test_participants_csv_lists_registrations_safely(registrations, client):
    client.force_login(UserFactory(is_staff=True))
    response = client.get(reverse("idm:participants-export", args=[registrations.pk, "csv"]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["Person", "Organisation", "Role", "Attendance confirmed", "Funded by"],
        ["'=HYPERLINK(1)", "", "Participant", "no", ""],
        ["Ana Pérez", "Mexico", "Speaker", "yes", "Australia"],
    ]


def test_participants_xlsx_opens_with_the_same_people(registrations, client):
    client.force_login(UserFactory(is_staff=True))
    response = client.get(reverse("idm:participants-export", args=[registrations.pk, "xlsx"]))
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0] == "=HYPERLINK(1)"  # kept as text, not run as a formula
    assert sheet.cell(row=2, column=1).data_type == "s"
    assert rows[2] == ("Ana Pérez", "Mexico", "Speaker", True, "Australia")
    assert (
        client.get(reverse("idm:participants-export", args=[registrations.pk, "pdf"])).status_code
        == 404
    )
