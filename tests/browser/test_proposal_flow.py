"""The 2006 workshop round played in Chromium: a delegate proposes and submits a topic, another
delegation supports it, the secretariat closes the round and selects the topic in the admin, and
the first delegate sees "Selected" on the portal (and gets the decision by email)."""

import re

import pytest

from config.celery import app as celery_app
from stakeholders.enums import ActingRole
from stakeholders.models import Organisation
from stakeholders.services import representative_login_ensure
from tests.factories.stakeholders import OrganisationFactory
from workshops.enums import ProposalKind, ProposalState
from workshops.models import ProposalRound, ProposalSupport, ThemeProposal

from .conftest import CHROMIUM

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests",
)

TITLE = "Return migration and sustainable reintegration"
PASSWORD = "a-browser-test-password"


@pytest.fixture
def eager_celery():
    """Tasks queued after commit run in the live server's thread instead of the real broker."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def _login(username, organisation, role=ActingRole.DELEGATION):
    return representative_login_ensure(
        username=username,
        password=PASSWORD,
        organisation=organisation,
        role=role,
        email=f"{username}@example.org",
    ).user


def _log_in(page, username):
    page.goto("/accounts/login/?next=/rounds/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/rounds/")


def _admin_action(page, *, changelist: str, row: str, action: str):
    page.goto(changelist)
    page.get_by_role("checkbox", name=re.compile(re.escape(row))).check()
    page.locator("select[name=action]").select_option(action)
    page.get_by_role("button", name="Go").click()


def test_a_topic_is_proposed_supported_and_selected(
    idm_data, live_server, new_page, eager_celery, mailoutbox
):
    from playwright.sync_api import expect

    _login("delegate-a", Organisation.objects.get(dataset_id="org-state-philippines"))
    _login("delegate-b", OrganisationFactory(name="Kingdom of Testland"))
    _login(
        "officer",
        Organisation.objects.get(dataset_id="org-iom-administration"),
        ActingRole.SECRETARIAT,
    )
    workshop_round = ProposalRound.objects.get(target_year=2006, kind=ProposalKind.WORKSHOP_TOPIC)

    # Delegate A proposes a topic in the 2006 workshop round and submits it.
    a = new_page()
    _log_in(a, "delegate-a")
    a.get_by_role("link", name=workshop_round.title).first.click()
    expect(a.get_by_role("heading", level=1)).to_have_text(workshop_round.title)
    a.get_by_role("link", name="Propose a topic").click()
    a.get_by_label("Title").fill(TITLE)
    a.get_by_label("Rationale").fill("Delegations asked how returns can last.\n\nAnd how to help.")
    a.get_by_label("Preferred quarter").select_option("3")
    a.get_by_role("button", name="Save as draft").click()
    expect(a.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(a.locator(".messages")).to_contain_text("Only your delegation sees it")
    a.get_by_role("button", name="Submit", exact=True).click()
    expect(a.locator(".messages")).to_contain_text("is submitted")
    expect(a.locator("main .meta .state")).to_have_text("Submitted")
    proposal_url = a.url
    proposal = ThemeProposal.objects.get(title=TITLE)
    assert proposal.state == ProposalState.SUBMITTED

    # Delegate B, of another delegation, finds it on the round's page and supports it.
    b = new_page()
    _log_in(b, "delegate-b")
    b.get_by_role("link", name=workshop_round.title).first.click()
    b.get_by_role("link", name=TITLE).click()
    b.get_by_role("button", name="Support", exact=True).click()
    expect(b.locator(".messages")).to_contain_text("now supports")
    expect(b.get_by_text("1 supporting delegation", exact=True)).to_be_visible()
    assert ProposalSupport.objects.filter(proposal=proposal).count() == 1

    # The secretariat closes the round and records the membership's choice in the admin.
    s = new_page()
    _log_in(s, "officer")
    _admin_action(
        s,
        changelist="/admin/workshops/proposalround/",
        row=workshop_round.title,
        action="close_round",
    )
    expect(s.locator(".messagelist")).to_contain_text("is closed")
    _admin_action(
        s,
        changelist="/admin/workshops/themeproposal/?q=Return+migration",
        row=TITLE,
        action="decide_selected",
    )
    s.get_by_label("Note").fill("Chosen at the informal consultations.")
    s.get_by_role("button", name="Record decision: selected").click()
    expect(s.locator(".messagelist")).to_contain_text("selected recorded")

    # Delegate A sees "Selected" on the portal, and has had the decision by email.
    a.goto(proposal_url)
    expect(a.locator("main .meta .state")).to_have_text("Selected")
    expect(a.get_by_role("heading", name="Decision")).to_be_visible()
    expect(a.get_by_role("button", name="Submit", exact=True)).to_have_count(0)
    a.goto("/rounds/")
    past = a.locator("section", has=a.get_by_role("heading", name="Past rounds and their outcomes"))
    expect(past).to_contain_text(TITLE)
    expect(past.get_by_role("listitem").filter(has_text=TITLE)).to_contain_text("Selected")
    assert [mail.to for mail in mailoutbox] == [["delegate-a@example.org"]]
