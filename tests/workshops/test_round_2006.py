"""The 2006 inter-sessional workshop round of the seed, played out to its end.

The discussion note lists three candidate topics, two to be selected at the informal
consultations, and stops there. Here the round is closed, Migration and the Environment and
Migration of Healthcare Workers are selected, a third selection is refused without a
confirmation, and South/South Migration is deferred to 2007, where it comes back with its history.
"""

from unittest import mock

import pytest
from django.urls import reverse

from idm.models import Dialogue, Meeting
from stakeholders.enums import ActingRole, OrganisationKind
from stakeholders.models import Organisation
from tests.factories.stakeholders import RepresentativeFactory, UserFactory
from workshops import tasks
from workshops.enums import PartnerRole, ProposalEventKind, ProposalKind, ProposalState
from workshops.models import ProposalRound, ThemeProposal
from workshops.services import (
    ProposalError,
    SelectionLimitError,
    proposal_decide,
    proposal_history,
    proposal_support,
    round_close,
    round_create,
    workshop_create_from_proposal,
)

ENVIRONMENT = "Migration and the Environment"
SOUTH_SOUTH = "South/South Migration"
HEALTHCARE = "Migration of Healthcare Workers"


@pytest.fixture
def round_2006(idm_data):
    return ProposalRound.objects.get(target_year=2006, kind=ProposalKind.WORKSHOP_TOPIC)


@pytest.fixture
def secretariat(idm_data):
    administration = Organisation.objects.get(dataset_id="org-iom-administration")
    return RepresentativeFactory(
        organisation=administration,
        role=ActingRole.SECRETARIAT,
        user=UserFactory(username="secretariat", email="idm@iom.int", is_staff=True),
    ).user


@pytest.fixture
def queued(monkeypatch):
    delay = mock.Mock()
    monkeypatch.setattr(tasks.notify_proposal_decision_task, "delay", delay)
    return delay


def candidate(title: str) -> ThemeProposal:
    return ThemeProposal.objects.get(title=title, target_year=2006)


def steps(proposal) -> list[tuple[str, int | None]]:
    return [(event.kind, event.year) for event in proposal_history(proposal=proposal)]


def test_the_seed_round_is_open_with_its_three_candidates_and_their_histories(round_2006):
    assert round_2006.is_open()
    assert (round_2006.opens_at, round_2006.closes_at) == (None, None)
    assert round_2006.topics_to_select == 2
    assert round_2006.decision_meeting == Meeting.objects.get(
        dataset_id="mtg-informal-consultations-2006"
    )
    candidates = round_2006.proposals.order_by("title")
    assert [(p.title, p.state) for p in candidates] == [
        (ENVIRONMENT, ProposalState.SUBMITTED),
        (HEALTHCARE, ProposalState.SUBMITTED),
        (SOUTH_SOUTH, ProposalState.SUBMITTED),
    ]
    assert steps(candidate(ENVIRONMENT)) == [
        (ProposalEventKind.DEFERRED, 2006),
        (ProposalEventKind.PROPOSED, 2006),
    ]
    assert steps(candidate(SOUTH_SOUTH)) == [
        (ProposalEventKind.NOT_ENDORSED, 2005),
        (ProposalEventKind.PROPOSED, 2006),
    ]
    assert steps(candidate(HEALTHCARE)) == [
        (ProposalEventKind.NOTE, None),
        (ProposalEventKind.PROPOSED, 2006),
    ]


def test_the_2006_round_played_out(
    round_2006, secretariat, queued, django_capture_on_commit_callbacks
):
    # A member state supports a candidate while the round is open.
    state = Organisation.objects.filter(kind=OrganisationKind.MEMBER_STATE).order_by("name")[0]
    delegate = RepresentativeFactory(organisation=state).user
    proposal_support(proposal=candidate(ENVIRONMENT), delegation=state, by=delegate)

    # The round has no closing date: decisions wait until the secretariat closes it.
    with pytest.raises(ProposalError, match="close the round"):
        proposal_decide(
            proposal=candidate(ENVIRONMENT), outcome=ProposalState.SELECTED, by=secretariat
        )
    round_close(round=round_2006, by=secretariat)

    # The informal consultations select two topics.
    with django_capture_on_commit_callbacks(execute=True):
        for title in (ENVIRONMENT, HEALTHCARE):
            proposal_decide(
                proposal=candidate(title),
                outcome=ProposalState.SELECTED,
                by=secretariat,
                note="Selected at the informal consultations.",
            )
    assert queued.call_count == 2

    # A third selection is refused without a confirmation; South/South is deferred instead.
    with pytest.raises(SelectionLimitError, match="selects 2 topic"):
        proposal_decide(
            proposal=candidate(SOUTH_SOUTH), outcome=ProposalState.SELECTED, by=secretariat
        )
    proposal_decide(
        proposal=candidate(SOUTH_SOUTH),
        outcome=ProposalState.DEFERRED,
        deferred_to_year=2007,
        by=secretariat,
        note="Of general interest; taken up again in 2007.",
    )
    assert not ThemeProposal.objects.filter(target_year=2007).exists()  # no 2007 round yet

    environment = candidate(ENVIRONMENT)
    assert environment.state == ProposalState.SELECTED
    assert environment.decision_meeting == round_2006.decision_meeting
    # "proposed for 2005 — deferred to 2006 — selected"
    assert steps(environment) == [
        (ProposalEventKind.DEFERRED, 2006),
        (ProposalEventKind.PROPOSED, 2006),
        (ProposalEventKind.SELECTED, 2006),
    ]
    assert candidate(SOUTH_SOUTH).state == ProposalState.DEFERRED

    # The 2007 workshop round, created by the secretariat, takes South/South back.
    round_2007 = round_create(
        by=secretariat,
        title="Topics for the 2007 inter-sessional workshops",
        target_year=2007,
        kind=ProposalKind.WORKSHOP_TOPIC,
        topics_to_select=2,
    )
    again = round_2007.proposals.get()
    assert (again.title, again.state, again.target_year) == (
        SOUTH_SOUTH,
        ProposalState.SUBMITTED,
        2007,
    )
    assert again.earlier_version == candidate(SOUTH_SOUTH)
    assert again.proposing_organisation.dataset_id == "org-iom-administration"
    assert set(again.policy_domains.values_list("dataset_id", flat=True)) == {
        "pd-development",
        "pd-internal-migration-urbanisation",
        "pd-capacity-building",
    }
    # "not endorsed for 2005 — proposed for 2006 — deferred to 2007 — proposed for 2007"
    assert steps(again) == [
        (ProposalEventKind.NOT_ENDORSED, 2005),
        (ProposalEventKind.PROPOSED, 2006),
        (ProposalEventKind.DEFERRED, 2007),
        (ProposalEventKind.PROPOSED, 2007),
    ]

    # The selected topic becomes the first 2006 workshop of the dialogue.
    workshop = workshop_create_from_proposal(proposal=environment, by=secretariat)
    assert workshop.title == ENVIRONMENT
    assert workshop.dialogue == Dialogue.objects.get(year=2006)
    assert list(workshop.partnerships.values_list("organisation__dataset_id", "role")) == [
        ("org-iom-administration", PartnerRole.REQUESTED_BY)
    ]


def test_the_decision_emails_reach_the_administration(
    round_2006, secretariat, mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(
        tasks.notify_proposal_decision_task,
        "delay",
        lambda **kwargs: tasks.notify_proposal_decision_task.run(**kwargs),
    )
    round_close(round=round_2006, by=secretariat)

    with django_capture_on_commit_callbacks(execute=True):
        proposal_decide(
            proposal=candidate(HEALTHCARE), outcome=ProposalState.SELECTED, by=secretariat
        )

    assert [message.to for message in mailoutbox] == [["idm@iom.int"]]
    assert HEALTHCARE in mailoutbox[0].subject


# --- The same round, played in the admin --------------------------------------------------------


def _changelist(model: str) -> str:
    return reverse(f"admin:workshops_{model}_changelist")


def _action(admin_client, model: str, action: str, objects, **data):
    return admin_client.post(
        _changelist(model),
        {"action": action, "_selected_action": [obj.pk for obj in objects], **data},
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_2006_round_played_in_the_admin(round_2006, admin_client, queued):
    environment, healthcare = candidate(ENVIRONMENT), candidate(HEALTHCARE)

    # Deciding in the open round is refused with a message, not an error page.
    response = _action(admin_client, "themeproposal", "decide_selected", [environment], apply="1")
    assert response.status_code == 200
    assert any("close the round" in m for m in _messages(response))
    assert candidate(ENVIRONMENT).state == ProposalState.SUBMITTED

    response = _action(admin_client, "proposalround", "close_round", [round_2006])
    assert any("is closed" in m for m in _messages(response))

    # The action first asks for the meeting and a note, then records both selections.
    page = _action(admin_client, "themeproposal", "decide_selected", [environment, healthcare])
    assert page.status_code == 200
    assert b'name="note"' in page.content and b"Record decision: selected" in page.content
    response = _action(
        admin_client,
        "themeproposal",
        "decide_selected",
        [environment, healthcare],
        apply="1",
        note="Selected at the informal consultations.",
    )
    assert response.status_code == 200
    assert {candidate(t).state for t in (ENVIRONMENT, HEALTHCARE)} == {ProposalState.SELECTED}
    assert candidate(ENVIRONMENT).decision_note == "Selected at the informal consultations."

    # A third selection shows the warning and asks for a confirmation.
    south = candidate(SOUTH_SOUTH)
    warned = _action(admin_client, "themeproposal", "decide_selected", [south], apply="1")
    assert warned.status_code == 200
    assert "selects 2 topic(s) and 2 already are" in warned.content.decode()
    assert b'name="confirm_over_limit"' in warned.content
    assert candidate(SOUTH_SOUTH).state == ProposalState.SUBMITTED

    # South/South is deferred to the next year instead.
    _action(admin_client, "themeproposal", "decide_deferred", [south], apply="1")
    assert (candidate(SOUTH_SOUTH).state, candidate(SOUTH_SOUTH).deferred_to_year) == (
        ProposalState.DEFERRED,
        2007,
    )

    # The 2007 round, added in the admin, takes it back.
    response = admin_client.post(
        reverse("admin:workshops_proposalround_add"),
        {
            "title": "Topics for the 2007 inter-sessional workshops",
            "target_year": "2007",
            "kind": ProposalKind.WORKSHOP_TOPIC,
            "topics_to_select": "2",
            "selection_process": "",
            "opens_at_0": "",
            "opens_at_1": "",
            "closes_at_0": "",
            "closes_at_1": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert any("carried into it" in m for m in _messages(response))
    round_2007 = ProposalRound.objects.get(target_year=2007, kind=ProposalKind.WORKSHOP_TOPIC)
    assert round_2007.proposals.get().earlier_version == candidate(SOUTH_SOUTH)

    # Both selected topics become planned workshops; a second time is refused with a message.
    _action(admin_client, "themeproposal", "create_workshop", [environment, healthcare])
    assert candidate(ENVIRONMENT).workshop.title == ENVIRONMENT
    response = _action(admin_client, "themeproposal", "create_workshop", [environment, south])
    errors = [m for m in _messages(response) if "already planned" in m or "only a selected" in m]
    assert len(errors) == 2


def test_a_round_closing_before_it_opens_is_refused_in_the_admin(admin_client, idm_data):
    response = admin_client.post(
        reverse("admin:workshops_proposalround_add"),
        {
            "title": "Backwards",
            "target_year": "2008",
            "kind": ProposalKind.WORKSHOP_TOPIC,
            "topics_to_select": "1",
            "opens_at_0": "2008-03-01",
            "opens_at_1": "10:00",
            "closes_at_0": "2008-02-01",
            "closes_at_1": "10:00",
        },
    )
    assert response.status_code == 200
    assert "A round must close after it opens." in response.content.decode()
    assert not ProposalRound.objects.filter(target_year=2008).exists()


def test_the_proposal_state_is_read_only_in_the_admin(admin_client, round_2006):
    response = admin_client.get(
        reverse("admin:workshops_themeproposal_change", args=[candidate(ENVIRONMENT).pk])
    )
    form = response.context["adminform"].form
    assert "state" not in form.fields and "deferred_to_year" not in form.fields


def test_a_confirmed_third_selection_is_recorded_in_the_admin(round_2006, admin_client, queued):
    round_close(round=round_2006, by=None)
    topics = [candidate(t) for t in (ENVIRONMENT, HEALTHCARE, SOUTH_SOUTH)]
    _action(admin_client, "themeproposal", "decide_selected", topics[:2], apply="1")

    response = _action(
        admin_client,
        "themeproposal",
        "decide_selected",
        topics[2:],
        apply="1",
        confirm_over_limit="on",
    )

    assert response.status_code == 200
    assert candidate(SOUTH_SOUTH).state == ProposalState.SELECTED
    assert round_2006.proposals.filter(state=ProposalState.SELECTED).count() == 3
