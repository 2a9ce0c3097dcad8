"""The delegation portal, page by page and role by role, on the real 2006 rounds."""

import datetime

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from idm.models import PolicyDomain
from stakeholders.enums import ActingRole, OrganisationKind
from stakeholders.models import Organisation
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory, UserFactory
from tests.factories.workshops import ProposalSupportFactory, ThemeProposalFactory
from workshops.enums import ProposalKind, ProposalState
from workshops.models import ProposalRound, ProposalSupport, ThemeProposal
from workshops.services import ProposalError, proposal_create, proposal_submit

ROLES = ["anonymous", "delegate", "agency", "secretariat"]


@pytest.fixture
def workshop_round(idm_data):
    return ProposalRound.objects.get(target_year=2006, kind=ProposalKind.WORKSHOP_TOPIC)


@pytest.fixture
def environment(idm_data):
    return ThemeProposal.objects.get(title="Migration and the Environment")


@pytest.fixture
def philippines(idm_data):
    return Organisation.objects.get(dataset_id="org-state-philippines")


def _login(client, *, organisation, role=ActingRole.DELEGATION, username=None):
    user = UserFactory(
        is_staff=role == ActingRole.SECRETARIAT,
        **({"username": username} if username else {}),
    )
    RepresentativeFactory(user=user, organisation=organisation, role=role)
    client.force_login(user)
    return user


@pytest.fixture
def as_delegate(client, philippines):
    """The Philippines delegation, as the demo's delegate login."""
    _login(client, organisation=philippines, username="delegate")
    return client


@pytest.fixture
def other_delegate(idm_data):
    """A second delegation in its own browser session."""
    from django.test import Client

    client = Client()
    organisation = OrganisationFactory(name="Republic of Testland", kind="member_state")
    client.user = _login(client, organisation=organisation)
    client.organisation = organisation
    return client


@pytest.fixture
def as_role(client, idm_data, philippines):
    def log_in(role):
        if role == "delegate":
            _login(client, organisation=philippines)
        elif role == "agency":
            ilo = Organisation.objects.get(dataset_id="org-ilo")
            _login(client, organisation=ilo, role=ActingRole.AGENCY)
        elif role == "secretariat":
            iom = Organisation.objects.get(dataset_id="org-iom-administration")
            _login(client, organisation=iom, role=ActingRole.SECRETARIAT)
        return client

    return log_in


def _draft(workshop_round, delegation, *, title="Return migration and reintegration"):
    user = UserFactory()
    RepresentativeFactory(user=user, organisation=delegation, role=ActingRole.DELEGATION)
    return proposal_create(
        round=workshop_round,
        delegation=delegation,
        by=user,
        title=title,
        rationale="Many delegations asked for it at the 90th Session.",
    ), user


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# -- Every page, every role ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_rounds_page_lists_the_open_2006_rounds_for_every_role(role, as_role, workshop_round):
    page = as_role(role).get(reverse("portal:rounds"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Topics for the 2006 inter-sessional workshops" in html
    assert "Theme of the 2006 International Dialogue on Migration" in html
    assert "2 topics will be selected" in html
    assert "No closing date set yet." in html
    assert html.count("<h1") == 1


@pytest.mark.parametrize("role", ROLES)
def test_round_page_shows_the_three_candidate_topics_for_every_role(role, as_role, workshop_round):
    page = as_role(role).get(reverse("portal:round", args=[workshop_round.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for topic in (
        "Migration and the Environment",
        "South/South Migration",
        "Migration of Healthcare Workers",
    ):
        assert topic in html
    assert ("Propose a topic" in html) == (role == "delegate")


@pytest.mark.parametrize("role", ROLES)
def test_proposal_page_shows_rationale_sponsor_and_history(role, as_role, environment):
    page = as_role(role).get(reverse("portal:proposal", args=[environment.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Migration and the Environment" in html
    assert "IOM Administration" in html
    assert "History" in html
    assert "Deferred" in html  # the seed: deferred from an earlier year
    assert "0 supporting delegations" in html
    assert html.count("<h1") == 1


def test_unknown_pages_are_404(client, idm_data):
    assert client.get(reverse("portal:round", args=[99999])).status_code == 404
    assert client.get(reverse("portal:proposal", args=[99999])).status_code == 404


@pytest.mark.parametrize("role", ["agency", "secretariat"])
def test_my_delegation_explains_itself_to_logins_without_a_delegation(role, as_role):
    page = as_role(role).get(reverse("portal:mine"))
    assert page.status_code == 200
    assert "does not act for a member-state delegation" in page.content.decode()


def test_my_delegation_and_propose_ask_anonymous_visitors_to_log_in(client, workshop_round):
    for url in (reverse("portal:mine"), reverse("portal:propose", args=[workshop_round.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_propose_page_is_a_form_with_a_label_for_every_input(as_delegate, workshop_round):
    page = as_delegate.get(reverse("portal:propose", args=[workshop_round.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for field in ("id_title", "id_rationale", "id_suggested_partners", "id_preferred_quarter"):
        assert f'for="{field}"' in html
    assert "<legend>Policy domains" in html
    assert 'name="csrfmiddlewaretoken"' in html


@pytest.mark.parametrize("role", ["agency", "secretariat"])
def test_only_delegations_may_open_the_propose_form(role, as_role, workshop_round):
    page = as_role(role).get(reverse("portal:propose", args=[workshop_round.pk]))
    assert page.status_code == 403
    assert "Only member-state delegations propose" in page.content.decode()


def test_navigation_shows_my_delegation_to_delegates_and_the_admin_to_staff(as_role, idm_data):
    client = as_role("delegate")
    html = client.get(reverse("portal:rounds")).content.decode()
    assert "My delegation" in html
    assert "Secretariat admin" not in html
    assert f'action="{reverse("logout")}"' in html
    client.logout()
    html = as_role("secretariat").get(reverse("portal:rounds")).content.decode()
    assert "Secretariat admin" in html
    assert "My delegation" not in html


# -- The whole cycle ------------------------------------------------------------------------------


def test_a_delegate_proposes_submits_and_another_delegation_supports(
    as_delegate, other_delegate, workshop_round, philippines
):
    from django.test import Client

    anonymous = Client()
    domains = list(PolicyDomain.objects.order_by("name")[:2])
    ilo = Organisation.objects.get(dataset_id="org-ilo")
    response = as_delegate.post(
        reverse("portal:propose", args=[workshop_round.pk]),
        {
            "title": "Return migration and reintegration",
            "rationale": "Many delegations asked for it.",
            "policy_domains": [domain.pk for domain in domains],
            "suggested_partners": [ilo.pk],
            "preferred_quarter": "2",
        },
    )
    proposal = ThemeProposal.objects.get(title="Return migration and reintegration")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:proposal", args=[proposal.pk])
    assert proposal.state == ProposalState.DRAFT
    assert proposal.proposing_organisation == philippines
    assert proposal.preferred_quarter == 2
    assert list(proposal.policy_domains.order_by("name")) == domains
    assert list(proposal.suggested_partners.all()) == [ilo]

    mine = as_delegate.get(reverse("portal:mine")).content.decode()
    assert "Return migration and reintegration" in mine
    round_url = reverse("portal:round", args=[workshop_round.pk])
    assert "Return migration" not in anonymous.get(round_url).content.decode()
    assert anonymous.get(reverse("portal:proposal", args=[proposal.pk])).status_code == 404

    page = as_delegate.get(reverse("portal:proposal", args=[proposal.pk])).content.decode()
    assert reverse("portal:submit", args=[proposal.pk]) in page
    assert reverse("portal:support", args=[proposal.pk]) not in page
    response = as_delegate.post(reverse("portal:submit", args=[proposal.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:proposal", args=[proposal.pk])
    assert "is submitted" in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED
    assert "Return migration and reintegration" in anonymous.get(round_url).content.decode()

    page = other_delegate.get(reverse("portal:proposal", args=[proposal.pk])).content.decode()
    assert reverse("portal:support", args=[proposal.pk]) in page
    assert reverse("portal:submit", args=[proposal.pk]) not in page
    assert reverse("portal:edit", args=[proposal.pk]) not in page
    response = other_delegate.post(reverse("portal:support", args=[proposal.pk]), follow=True)
    html = response.content.decode()
    assert "now supports" in html
    assert "1 supporting delegation<" in html
    assert "Republic of Testland" in html
    assert reverse("portal:unsupport", args=[proposal.pk]) in html
    assert reverse("portal:support", args=[proposal.pk]) not in html  # supported once

    # A second support (a second tab, a double click) is refused by the service, with its words.
    response = other_delegate.post(reverse("portal:support", args=[proposal.pk]))
    assert response.status_code == 302
    assert any("already supports" in text for text in _messages(response))
    assert ProposalSupport.objects.filter(proposal=proposal).count() == 1
    assert "1 supporting delegation<" in anonymous.get(round_url).content.decode()

    response = other_delegate.post(reverse("portal:unsupport", args=[proposal.pk]), follow=True)
    assert "no longer supports" in response.content.decode()
    assert not ProposalSupport.objects.filter(proposal=proposal).exists()


def test_my_delegation_lists_drafts_first(as_delegate, workshop_round, philippines):
    submitted, author = _draft(workshop_round, philippines, title="A submitted topic")
    proposal_submit(proposal=submitted, by=author)
    _draft(workshop_round, philippines, title="Zeta, a draft")
    html = as_delegate.get(reverse("portal:mine")).content.decode()
    assert html.index("Zeta, a draft") < html.index("A submitted topic")


def test_own_delegation_sees_no_support_button_and_a_forged_support_is_refused(
    as_delegate, workshop_round, philippines
):
    proposal, author = _draft(workshop_round, philippines)
    proposal_submit(proposal=proposal, by=author)
    url = reverse("portal:proposal", args=[proposal.pk])
    assert (
        reverse("portal:support", args=[proposal.pk]) not in as_delegate.get(url).content.decode()
    )

    response = as_delegate.post(reverse("portal:support", args=[proposal.pk]))
    assert response.status_code == 302
    assert response["Location"] == url
    assert any("cannot support its own" in text for text in _messages(response))
    assert not ProposalSupport.objects.filter(proposal=proposal).exists()


def test_a_draft_is_404_for_another_delegation(other_delegate, workshop_round, philippines):
    proposal, _author = _draft(workshop_round, philippines)
    for name in ("portal:proposal", "portal:edit"):
        assert other_delegate.get(reverse(name, args=[proposal.pk])).status_code == 404
    for name in ("portal:submit", "portal:withdraw", "portal:support"):
        assert other_delegate.post(reverse(name, args=[proposal.pk])).status_code == 404
    html = other_delegate.get(reverse("portal:round", args=[workshop_round.pk])).content.decode()
    assert "Return migration" not in html
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.DRAFT


def test_an_agency_sees_no_action_and_its_forged_posts_change_nothing(
    as_role, workshop_round, environment, philippines
):
    draft, _author = _draft(workshop_round, philippines)
    client = as_role("agency")
    html = client.get(reverse("portal:proposal", args=[environment.pk])).content.decode()
    assert "<button" not in html.split("<main", 1)[1]
    for name in ("portal:submit", "portal:withdraw", "portal:support", "portal:unsupport"):
        response = client.post(reverse(name, args=[environment.pk]))
        assert response.status_code == 403, name
        assert "Only member-state delegations" in response.content.decode()
    response = client.post(
        reverse("portal:edit", args=[environment.pk]),
        {"title": "Hijacked", "rationale": "x"},
    )
    assert response.status_code == 403
    response = client.post(
        reverse("portal:propose", args=[workshop_round.pk]),
        {"title": "From an agency", "rationale": "x"},
    )
    assert response.status_code == 403
    assert client.get(reverse("portal:proposal", args=[draft.pk])).status_code == 404
    environment.refresh_from_db()
    assert environment.title == "Migration and the Environment"
    assert environment.state == ProposalState.SUBMITTED
    assert not ProposalSupport.objects.exists()
    assert not ThemeProposal.objects.filter(title="From an agency").exists()


def test_actions_are_post_only(as_delegate, environment):
    for name in ("portal:submit", "portal:withdraw", "portal:support", "portal:unsupport"):
        response = as_delegate.get(reverse(name, args=[environment.pk]))
        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert reverse("portal:proposal", args=[environment.pk]) in response.content.decode()
    assert not ProposalSupport.objects.exists()
    environment.refresh_from_db()
    assert environment.state == ProposalState.SUBMITTED


def test_anonymous_posts_are_sent_to_the_login_page(client, environment):
    response = client.post(reverse("portal:support", args=[environment.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not ProposalSupport.objects.exists()


def test_editing_keeps_the_form_valid_and_saves_through_the_service(
    as_delegate, workshop_round, philippines
):
    proposal, _author = _draft(workshop_round, philippines)
    url = reverse("portal:edit", args=[proposal.pk])
    page = as_delegate.get(url)
    assert page.status_code == 200
    assert 'value="Return migration and reintegration"' in page.content.decode()
    response = as_delegate.post(url, {"title": "Return and reintegration", "rationale": "Why."})
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.title == "Return and reintegration"


def test_a_partner_that_is_a_state_cannot_be_suggested(as_delegate, workshop_round, philippines):
    response = as_delegate.post(
        reverse("portal:propose", args=[workshop_round.pk]),
        {"title": "A topic", "rationale": "Why.", "suggested_partners": [philippines.pk]},
    )
    assert response.status_code == 200
    assert 'href="#id_suggested_partners"' in response.content.decode()
    assert not ThemeProposal.objects.filter(title="A topic").exists()


def test_choosing_no_preferred_quarter_clears_it(as_delegate, workshop_round, philippines):
    proposal, _author = _draft(workshop_round, philippines)
    ThemeProposal.objects.filter(pk=proposal.pk).update(preferred_quarter=3)
    response = as_delegate.post(
        reverse("portal:edit", args=[proposal.pk]),
        {"title": proposal.title, "rationale": "Why.", "preferred_quarter": ""},
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.preferred_quarter is None


def test_a_service_refusal_is_a_form_error_and_saves_nothing(
    as_delegate, workshop_round, monkeypatch
):
    def refuse(**kwargs):
        raise ProposalError("The round is being closed by the secretariat.")

    monkeypatch.setattr("workshops.views.proposal_create", refuse)
    response = as_delegate.post(
        reverse("portal:propose", args=[workshop_round.pk]),
        {"title": "Refused topic", "rationale": "Why."},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="error-summary"' in html
    assert "The round is being closed by the secretariat." in html
    assert 'value="Refused topic"' in html
    assert not ThemeProposal.objects.filter(title="Refused topic").exists()


def test_an_empty_title_is_a_form_error_linked_from_the_summary(as_delegate, workshop_round):
    response = as_delegate.post(
        reverse("portal:propose", args=[workshop_round.pk]), {"title": " ", "rationale": "Why."}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="error-summary"' in html
    assert 'href="#id_title"' in html
    assert 'aria-describedby="id_title_helptext id_title_error"' in html
    assert 'aria-invalid="true"' in html
    assert not ThemeProposal.objects.filter(round=workshop_round, state="draft").exists()


def test_editing_after_the_round_closed_is_a_form_error_and_saves_nothing(
    as_delegate, workshop_round, philippines
):
    proposal, _author = _draft(workshop_round, philippines)
    workshop_round.closes_at = timezone.now() - datetime.timedelta(hours=1)
    workshop_round.save()
    response = as_delegate.post(
        reverse("portal:edit", args=[proposal.pk]),
        {"title": "Too late", "rationale": "After the deadline."},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="error-summary"' in html
    assert "closed on" in html
    assert 'value="Too late"' in html  # what was typed is kept
    proposal.refresh_from_db()
    assert proposal.title == "Return migration and reintegration"

    page = as_delegate.get(reverse("portal:proposal", args=[proposal.pk])).content.decode()
    assert reverse("portal:edit", args=[proposal.pk]) not in page
    rounds = as_delegate.get(reverse("portal:rounds")).content.decode()
    assert "Past rounds and their outcomes" in rounds
    round_page = as_delegate.get(reverse("portal:round", args=[workshop_round.pk]))
    assert "Propose a topic" not in round_page.content.decode()


def test_past_rounds_show_their_outcomes(client, workshop_round):
    workshop_round.closes_at = timezone.now() - datetime.timedelta(days=1)
    workshop_round.save()
    ThemeProposal.objects.filter(title="Migration and the Environment").update(
        state=ProposalState.SELECTED
    )
    ThemeProposal.objects.filter(title="South/South Migration").update(
        state=ProposalState.DEFERRED, deferred_to_year=2007
    )
    ThemeProposal.objects.filter(title="Migration of Healthcare Workers").update(
        state=ProposalState.NOT_ENDORSED
    )
    html = client.get(reverse("portal:rounds")).content.decode()
    past = html.split("Past rounds and their outcomes", 1)[1]
    assert "Topics for the 2006 inter-sessional workshops" in past
    assert "Selected" in past
    assert "Deferred to 2007" in past
    assert "Not endorsed" in past


# -- Robustness ---------------------------------------------------------------------------------


def _round_page_queries(client, workshop_round) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("portal:round", args=[workshop_round.pk])).status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", ["anonymous", "delegate"])
def test_round_page_query_count_does_not_grow_with_proposals(
    role, as_role, workshop_round, django_assert_max_num_queries
):
    client = as_role(role)
    few = _round_page_queries(client, workshop_round)
    for _index in range(12):
        proposal = ThemeProposalFactory(round=workshop_round, state=ProposalState.SUBMITTED)
        proposal.co_sponsors.add(OrganisationFactory(kind=OrganisationKind.MEMBER_STATE))
        ProposalSupportFactory(proposal=proposal)
    with django_assert_max_num_queries(few):
        assert client.get(reverse("portal:round", args=[workshop_round.pk])).status_code == 200


def test_rounds_page_query_count_does_not_grow_with_proposals(
    client, workshop_round, django_assert_max_num_queries
):
    workshop_round.closes_at = timezone.now() - datetime.timedelta(days=1)
    workshop_round.save()
    with CaptureQueriesContext(connection) as captured:
        client.get(reverse("portal:rounds"))
    for _index in range(12):
        ThemeProposalFactory(round=workshop_round, state=ProposalState.SELECTED)
    with django_assert_max_num_queries(len(captured)):
        assert client.get(reverse("portal:rounds")).status_code == 200


def test_titles_are_escaped_everywhere(as_delegate, workshop_round, philippines):
    proposal, author = _draft(workshop_round, philippines, title="<script>alert(1)</script>")
    ThemeProposal.objects.filter(pk=proposal.pk).update(rationale="<script>alert(1)</script>")
    proposal_submit(proposal=proposal, by=author)
    urls = [
        reverse("portal:round", args=[workshop_round.pk]),
        reverse("portal:proposal", args=[proposal.pk]),
        reverse("portal:edit", args=[proposal.pk]),
        reverse("portal:mine"),
    ]
    for url in urls:
        html = as_delegate.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
    response = as_delegate.post(reverse("portal:submit", args=[proposal.pk]), follow=True)
    assert "<script>alert(1)</script>" not in response.content.decode()


# -- Accounts -----------------------------------------------------------------------------------


def test_login_page_uses_the_site_layout(client, db):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'for="id_username"' in html
    assert 'for="id_password"' in html
    assert reverse("password_reset") in html
    assert html.count("<h1") == 1


def test_a_delegate_logs_in_and_out(client, philippines):
    user = UserFactory(username="delegate")
    RepresentativeFactory(user=user, organisation=philippines)
    response = client.post(
        reverse("login"),
        {"username": "delegate", "password": "password", "next": reverse("portal:mine")},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:mine")
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("portal:mine")).status_code == 302


def test_a_wrong_password_is_reported_at_the_top_of_the_form(client, db):
    response = client.post(reverse("login"), {"username": "nobody", "password": "wrong"})
    assert response.status_code == 200
    assert 'class="error-summary"' in response.content.decode()


def test_password_reset_sends_an_email_with_a_working_link(client, db, mailoutbox):
    UserFactory(username="delegate", email="delegate@example.org")
    response = client.post(reverse("password_reset"), {"email": "delegate@example.org"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["delegate@example.org"]
    assert "delegate" in mail.body
    link = next(line for line in mail.body.splitlines() if "/accounts/reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path, follow=True)
    assert page.status_code == 200
    assert "Choose a new password" in page.content.decode()
    for name in ("password_reset_done", "password_reset_complete"):
        assert client.get(reverse(name)).status_code == 200


def test_a_logged_in_user_changes_the_password(as_delegate):
    url = reverse("password_change")
    page = as_delegate.get(url)
    assert page.status_code == 200
    assert 'for="id_old_password"' in page.content.decode()
    response = as_delegate.post(
        url,
        {
            "old_password": "password",
            "new_password1": "a-much-longer-passphrase",
            "new_password2": "a-much-longer-passphrase",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    assert as_delegate.get(response["Location"]).status_code == 200
