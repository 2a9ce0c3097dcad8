"""A workshop agenda built in the admin in Chromium: a secretariat officer adds two items in one
room, gives them overlapping times and sees the overlap error, fixes the time, publishes the
agenda with the admin action and opens the printable agenda page."""

import datetime
import re

import pytest

from idm.models import AgendaItem, AgendaVersion
from stakeholders.enums import ActingRole, OrganisationKind
from stakeholders.services import representative_login_ensure
from tests.factories.idm import RoomFactory, VenueFactory
from tests.factories.stakeholders import OrganisationFactory
from tests.factories.workshops import WorkshopFactory

from .conftest import CHROMIUM

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests",
)

PASSWORD = "a-browser-test-password"
TITLE = "Migration and Development in Practice"
DAY = datetime.date(2026, 3, 10)


def _pick(page, row: str, field: str, text: str) -> None:
    """Choose ``text`` in an admin autocomplete (select2) widget of an inline row, and wait
    until the widget shows it. Under load a click can be lost: the one that opens the list (on
    a row just added), or the one on an option while the search's answer redraws the list.
    Each step then waits 5 s, and the whole choice is made again, up to three times."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    widget = page.locator(f"#{row} .field-{field}")
    search = page.locator(".select2-container--open .select2-search__field")
    option = page.locator(".select2-container--open .select2-results__option", has_text=text)
    for attempt in range(3):
        try:
            if attempt:
                page.keyboard.press("Escape")  # a list left open by a lost click
            widget.locator(".select2-selection").click()
            search.fill(text, timeout=5_000)
            option.first.click(timeout=5_000)
            expect(widget.locator(".select2-selection__rendered")).to_contain_text(
                text, timeout=5_000
            )
            return
        except (AssertionError, PlaywrightError):
            if attempt == 2:
                raise


def _slot(page, *, start: str, end: str, add: bool = True) -> None:
    if add:
        page.locator("#slots-group .add-row a").click()
    page.locator("input[name='slots-0-day']").fill(DAY.isoformat())
    page.locator("input[name='slots-0-start_time']").fill(start)
    page.locator("input[name='slots-0-end_time']").fill(end)
    page.locator("input[name='_continue']").click()


def test_an_officer_builds_checks_publishes_and_prints_a_workshop_agenda(live_server, new_page):
    from playwright.sync_api import expect

    representative_login_ensure(
        username="officer",
        password=PASSWORD,
        organisation=OrganisationFactory(
            name="IOM Administration", kind=OrganisationKind.INTERGOVERNMENTAL
        ),
        role=ActingRole.SECRETARIAT,
        email="officer@example.org",
    )
    venue = VenueFactory(name="Centre International de Conférences")
    RoomFactory(venue=venue, name="Salle 3")
    workshop = WorkshopFactory(
        title=TITLE, start_date=DAY, end_date=DAY + datetime.timedelta(days=1), venue=venue
    )

    page = new_page()
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("officer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")

    # The workshop, then its agenda with two items in the same room.
    page.goto(f"/admin/workshops/workshop/{workshop.pk}/change/")
    expect(page.locator("input[name=title]")).to_have_value(TITLE)
    page.goto(f"/admin/idm/agenda/add/?workshop={workshop.pk}")
    page.locator("input[name=title]").fill("Provisional agenda")
    for index, title in enumerate(["Opening and welcome", "Panel on remittances"]):
        page.locator("#items-group .add-row a").click()
        page.locator(f"input[name='items-{index}-number']").fill(str(index + 1))
        page.locator(f"input[name='items-{index}-position']").fill(str(index + 1))
        page.locator(f"input[name='items-{index}-title']").fill(title)
        _pick(page, f"items-{index}", "room", "Salle 3")
    page.locator("input[name='_continue']").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    opening, panel = AgendaItem.objects.filter(agenda__workshop=workshop).order_by("number")

    # Times on each item's page: the second overlaps the first in the same room.
    page.goto(f"/admin/idm/agendaitem/{opening.pk}/change/")
    _slot(page, start="10:00", end="11:00")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    page.goto(f"/admin/idm/agendaitem/{panel.pk}/change/")
    _slot(page, start="10:30", end="11:30")
    error = page.locator("#slots-group .errorlist")
    expect(error).to_contain_text("overlaps Item 1")
    expect(error).to_contain_text("Salle 3")
    assert not panel.slots.exists()
    _slot(page, start="11:00", end="12:00", add=False)
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    # Publish with the admin action, then read the printable agenda.
    page.goto("/admin/idm/agenda/")
    page.get_by_role("checkbox", name=re.compile(re.escape(TITLE))).check()
    page.locator("select[name=action]").select_option("publish")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("published as version 1")
    assert AgendaVersion.objects.filter(agenda__workshop=workshop, number=1).exists()

    page.goto(f"/events/workshop-{workshop.pk}/agenda/")
    agenda = page.locator("article.agenda")
    expect(agenda).to_contain_text("Opening and welcome")
    expect(agenda).to_contain_text("Panel on remittances")
    expect(agenda).to_contain_text("10.00 - 11.00")
    expect(agenda).to_contain_text("11.00 - 12.00")
