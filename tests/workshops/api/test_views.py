"""The theme-proposal API: flows, who gets 403 or 404, bad input, and a flat query count."""

import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from stakeholders.enums import ActingRole, OrganisationKind
from tests.factories.idm import PolicyDomainFactory
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory
from tests.factories.workshops import (
    ProposalEventFactory,
    ProposalRoundFactory,
    ProposalSupportFactory,
    ThemeProposalFactory,
)
from workshops.enums import ProposalKind, ProposalState
from workshops.models import ProposalRound, ProposalSupport, ThemeProposal

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/theme-proposals/"
ROUNDS_URL = "/api/v1/proposal-rounds/"
ACTORS = ["delegation_a", "delegation_b", "agency", "anonymous", "secretariat"]


def _not_logged_in_status() -> int:
    """401 when the API asks for credentials (WWW-Authenticate), else 403, as DRF answers."""
    view = APIView()
    request = view.initialize_request(APIRequestFactory().get("/"))
    return 401 if view.get_authenticate_header(request) else 403


NOT_LOGGED_IN = _not_logged_in_status()


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """Request counts of the API's throttling live in the cache: none left from other tests."""
    cache.clear()
    yield
    cache.clear()


def message(response) -> str:
    """The sentence of an error, whatever the API's error shape."""
    body = response.json()
    return body.get("message") or body.get("detail") or ""


def field_errors(response) -> dict:
    body = response.json()
    return body.get("errors", body)


def url(proposal, action: str = "") -> str:
    return f"{LIST_URL}{proposal.pk}/" + (f"{action}/" if action else "")


def days(n: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=n)


@pytest.fixture
def world():
    member = OrganisationKind.MEMBER_STATE
    a = OrganisationFactory(name="Delegation A", acronym="A", kind=member)
    b = OrganisationFactory(name="Delegation B", acronym="B", kind=member)

    def login(organisation, role=ActingRole.DELEGATION):
        return RepresentativeFactory(organisation=organisation, role=role).user

    users = {
        "delegation_a": login(a),
        "delegation_a2": login(a),
        "delegation_b": login(b),
        "agency": login(OrganisationFactory(kind=OrganisationKind.UN_AGENCY), ActingRole.AGENCY),
        "secretariat": login(OrganisationFactory(name="IOM"), ActingRole.SECRETARIAT),
        "anonymous": None,
    }
    round_ = ProposalRoundFactory(
        title="Topics for 2030", target_year=2030, opens_at=days(-5), closes_at=days(5)
    )
    return {"a": a, "b": b, "users": users, "round": round_}


def client_for(world, actor: str) -> APIClient:
    client = APIClient()
    user = world["users"][actor]
    if user is not None:
        client.force_login(user)
    return client


def proposal_of(world, state=ProposalState.SUBMITTED, **fields):
    round_ = fields.pop("round", world["round"])
    return ThemeProposalFactory(
        round=round_,
        kind=round_.kind,
        target_year=round_.target_year,
        proposing_organisation=fields.pop("delegation", world["a"]),
        state=state,
        **fields,
    )


# --- Flows -------------------------------------------------------------------------------------


def test_a_delegation_proposes_submits_and_another_supports_then_unsupports(world):
    a, b = client_for(world, "delegation_a"), client_for(world, "delegation_b")
    domain = PolicyDomainFactory(slug="health", name="Health")
    partner = OrganisationFactory(name="WHO", kind=OrganisationKind.UN_AGENCY)

    created = a.post(
        LIST_URL,
        {
            "round": world["round"].pk,
            "title": "Health workers",
            "rationale": "Demand keeps growing.",
            "policy_domains": ["health"],
            "suggested_partners": [partner.pk],
            "preferred_quarter": 2,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["state"] == "draft"
    assert body["proposing_delegation"] == {
        "id": world["a"].pk,
        "name": "Delegation A",
        "acronym": "A",
    }
    assert body["policy_domains"] == [{"slug": "health", "name": "Health"}]
    assert body["suggested_partners"][0]["name"] == "WHO"
    assert (body["kind"], body["target_year"], body["round"]) == (
        "workshop_topic",
        2030,
        world["round"].pk,
    )
    assert body["support_count"] == 0 and body["supported_by_me"] is False
    proposal = ThemeProposal.objects.get(pk=body["id"])
    assert domain in proposal.policy_domains.all()

    assert b.get(url(proposal)).status_code == 404  # a draft is the delegation's own

    submitted = a.post(url(proposal, "submit"))
    assert submitted.status_code == 200
    assert submitted.json()["state"] == "submitted"
    assert [e["kind"] for e in submitted.json()["history"]] == ["submitted"]

    supported = b.post(url(proposal, "support"))
    assert supported.status_code == 200, supported.json()
    assert (supported.json()["support_count"], supported.json()["supported_by_me"]) == (1, True)
    assert a.get(url(proposal)).json()["supported_by_me"] is False

    unsupported = b.post(url(proposal, "unsupport"))
    assert unsupported.status_code == 200
    assert (unsupported.json()["support_count"], unsupported.json()["supported_by_me"]) == (
        0,
        False,
    )

    edited = a.patch(url(proposal), {"title": "Migration of health workers"}, format="json")
    assert edited.status_code == 200
    assert edited.json()["title"] == "Migration of health workers"
    assert edited.json()["policy_domains"] == [{"slug": "health", "name": "Health"}]

    withdrawn = a.post(url(proposal, "withdraw"))
    assert withdrawn.status_code == 200
    assert withdrawn.json()["state"] == "withdrawn"
    assert b.get(url(proposal)).status_code == 404  # withdrawn: back with its delegation


def test_a_colleague_of_the_same_delegation_acts_for_it(world):
    proposal = proposal_of(world, ProposalState.DRAFT)
    response = client_for(world, "delegation_a2").post(url(proposal, "submit"))
    assert response.status_code == 200


# --- Who gets 403, who gets 404 ----------------------------------------------------------------

READ = {
    "delegation_a": 200,
    "delegation_b": 200,
    "agency": 200,
    "anonymous": 200,
    "secretariat": 200,
}
HIDDEN = {
    "delegation_a": 200,
    "delegation_b": 404,
    "agency": 404,
    "anonymous": 404,
    "secretariat": 200,
}


def _others(code_a: int, hidden: bool) -> dict[str, int]:
    """Delegation A gets ``code_a``; the others 404 when they may not see it, else 403 (and
    an anonymous caller that may see it is asked to log in)."""
    codes = dict.fromkeys(ACTORS, 403)
    codes.update(delegation_a=code_a, anonymous=NOT_LOGGED_IN)
    if hidden:
        codes.update(delegation_b=404, agency=404, anonymous=404)
    return codes


MATRIX = [
    # state, method, action, body, expected status per actor
    ("draft", "get", "", None, HIDDEN),
    ("submitted", "get", "", None, READ),
    ("selected", "get", "", None, READ),
    ("withdrawn", "get", "", None, HIDDEN),
    ("draft", "patch", "", {"title": "New"}, _others(200, hidden=True)),
    ("submitted", "patch", "", {"title": "New"}, _others(200, hidden=False)),
    ("selected", "patch", "", {"title": "New"}, _others(403, hidden=False)),
    ("draft", "post", "submit", None, _others(200, hidden=True)),
    ("submitted", "post", "submit", None, _others(403, hidden=False)),
    ("draft", "post", "withdraw", None, _others(200, hidden=True)),
    ("submitted", "post", "withdraw", None, _others(200, hidden=False)),
    ("not_endorsed", "post", "withdraw", None, _others(403, hidden=False)),
    ("draft", "post", "support", None, _others(403, hidden=True)),
    (
        "submitted",
        "post",
        "support",
        None,
        {**_others(403, hidden=False), "delegation_b": 200},
    ),
    ("deferred", "post", "support", None, _others(403, hidden=False)),
]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    ("state", "method", "action", "body", "codes"),
    MATRIX,
    ids=[f"{m[1]}-{m[2] or 'detail'}-{m[0]}" for m in MATRIX],
)
def test_who_may_see_and_act(world, actor, state, method, action, body, codes):
    proposal = proposal_of(
        world, state, deferred_to_year=2031 if state == ProposalState.DEFERRED else None
    )
    client = client_for(world, actor)
    response = getattr(client, method)(url(proposal, action), body, format="json")
    assert response.status_code == codes[actor], response.content
    if response.status_code >= 400:
        assert message(response)


def test_unsupport_is_for_the_supporting_delegation(world):
    proposal = proposal_of(world)
    ProposalSupportFactory(proposal=proposal, organisation=world["b"])
    for actor, code in {"delegation_a": 403, "agency": 403, "anonymous": NOT_LOGGED_IN}.items():
        assert client_for(world, actor).post(url(proposal, "unsupport")).status_code == code
    assert client_for(world, "delegation_b").post(url(proposal, "unsupport")).status_code == 200


@pytest.mark.parametrize(
    ("actor", "code"),
    [("delegation_b", 400), ("agency", 403), ("anonymous", NOT_LOGGED_IN), ("secretariat", 403)],
)
def test_only_a_delegate_may_propose_and_before_the_body_is_read(world, actor, code):
    response = client_for(world, actor).post(LIST_URL, {}, format="json")
    assert response.status_code == code
    if code == 400:
        assert set(field_errors(response)) == {"round", "title"}
    else:  # refused before the (empty) body was validated: no field errors
        assert "errors" not in response.json() and "title" not in response.json()
        assert message(response)


def test_who_may_act_is_checked_before_the_body_is_validated(world):
    proposal = proposal_of(world)
    response = client_for(world, "delegation_b").patch(
        url(proposal), {"title": "", "preferred_quarter": 9}, format="json"
    )
    assert response.status_code == 403


# --- Bad input ---------------------------------------------------------------------------------


def test_a_proposal_without_a_title_is_refused_with_field_messages(world):
    response = client_for(world, "delegation_a").post(
        LIST_URL, {"round": world["round"].pk, "preferred_quarter": 5}, format="json"
    )
    assert response.status_code == 400
    errors = field_errors(response)
    assert errors["title"] == ["This field is required."]
    assert errors["preferred_quarter"] == ["Ensure this value is less than or equal to 4."]
    assert not ThemeProposal.objects.exists()


def test_a_proposal_in_a_closed_round_is_refused_with_a_field_message(world):
    closed = ProposalRoundFactory(opens_at=days(-9), closes_at=days(-1))
    response = client_for(world, "delegation_a").post(
        LIST_URL, {"round": closed.pk, "title": "Late"}, format="json"
    )
    assert response.status_code == 400
    assert "closed on" in field_errors(response)["round"][0]
    assert not ThemeProposal.objects.exists()


def test_a_second_support_is_refused(world):
    proposal = proposal_of(world)
    client = client_for(world, "delegation_b")
    assert client.post(url(proposal, "support")).status_code == 200

    response = client.post(url(proposal, "support"))

    assert response.status_code == 400
    assert message(response) == "Your delegation already supports this proposal."
    assert ProposalSupport.objects.count() == 1


def test_supporting_ones_own_proposal_is_refused_with_the_reason(world):
    proposal = proposal_of(world)
    response = client_for(world, "delegation_a").post(url(proposal, "support"))
    # The rules say a delegation supports others' proposals: the attempt is forbidden (403),
    # with the reason in words.
    assert response.status_code == 403
    assert "supporting one's own proposal" in message(response)
    assert not ProposalSupport.objects.exists()


def test_editing_after_the_deadline_is_refused_with_the_reason(world):
    proposal = proposal_of(world)
    ProposalRound.objects.filter(pk=world["round"].pk).update(closes_at=days(-1))
    response = client_for(world, "delegation_a").patch(url(proposal), {"title": "X"}, format="json")
    assert response.status_code == 403
    assert "round has closed" in message(response)


def test_a_proposal_stays_in_its_round(world):
    proposal = proposal_of(world, ProposalState.DRAFT)
    other = ProposalRoundFactory(opens_at=days(-1), closes_at=days(3))
    response = client_for(world, "delegation_a").patch(
        url(proposal), {"round": other.pk}, format="json"
    )
    assert response.status_code == 400
    assert field_errors(response)["round"] == ["A proposal stays in the round it was made in."]


def test_a_service_refusal_is_a_400_with_its_message(world):
    proposal = proposal_of(world, ProposalState.DRAFT)
    response = client_for(world, "delegation_a").patch(
        url(proposal), {"title": "   "}, format="json"
    )
    assert response.status_code == 400
    assert field_errors(response)["title"] == ["This field may not be blank."]


@pytest.mark.parametrize("method", ["delete", "put"])
def test_delete_and_put_are_not_allowed(world, method):
    proposal = proposal_of(world, ProposalState.DRAFT)
    response = getattr(client_for(world, "delegation_a"), method)(url(proposal), {}, format="json")
    assert response.status_code == 405
    assert ThemeProposal.objects.filter(pk=proposal.pk).exists()


# --- Lists, filters and query counts -----------------------------------------------------------


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_the_list_shows_what_the_caller_may_see(world):
    mine = proposal_of(world, ProposalState.DRAFT, title="A draft")
    public = proposal_of(world, title="A submitted", delegation=world["b"])
    proposal_of(world, ProposalState.DRAFT, title="B draft", delegation=world["b"])

    titles = {
        actor: sorted(p["title"] for p in _results(client_for(world, actor).get(LIST_URL)))
        for actor in ACTORS
    }

    assert titles["delegation_a"] == ["A draft", "A submitted"]
    assert titles["delegation_b"] == ["A submitted", "B draft"]
    assert titles["agency"] == titles["anonymous"] == ["A submitted"]
    assert titles["secretariat"] == ["A draft", "A submitted", "B draft"]
    mine_only = _results(client_for(world, "delegation_a").get(LIST_URL, {"mine": "true"}))
    assert [p["id"] for p in mine_only] == [mine.pk]
    not_mine = _results(client_for(world, "delegation_a").get(LIST_URL, {"mine": "false"}))
    assert [p["id"] for p in not_mine] == [public.pk]


def test_the_list_filters_by_round_state_kind_and_year(world):
    theme_round = ProposalRoundFactory(target_year=2031, kind=ProposalKind.DIALOGUE_THEME)
    topic = proposal_of(world, title="Topic")
    theme = proposal_of(world, title="Theme", round=theme_round)
    selected = proposal_of(world, ProposalState.SELECTED, title="Chosen")
    client = client_for(world, "anonymous")

    def ids(**query):
        return sorted(p["id"] for p in _results(client.get(LIST_URL, query)))

    assert ids(round=theme_round.pk) == [theme.pk]
    assert ids(state="selected") == [selected.pk]
    assert ids(kind="dialogue_theme") == [theme.pk]
    assert ids(target_year=2030) == sorted([topic.pk, selected.pk])
    assert client.get(LIST_URL, {"state": "nonsense"}).status_code == 400


# Session, user, representative and delegation; the count, the page, three prefetches and the
# history events (plus one a generation of earlier versions outside the page): 1 row or 12 alike.
QUERY_BUDGET = 10


def _many(world, count: int) -> None:
    earlier = None
    for n in range(count):
        proposal = proposal_of(world, title=f"P{n}", earlier_version=earlier)
        proposal.co_sponsors.add(OrganisationFactory())
        proposal.policy_domains.add(PolicyDomainFactory())
        proposal.suggested_partners.add(OrganisationFactory())
        ProposalSupportFactory(proposal=proposal, organisation=world["b"])
        ProposalEventFactory(proposal=proposal, year=2030)
        earlier = proposal if n % 2 == 0 else None


@pytest.mark.parametrize("count", [1, 12])
@pytest.mark.parametrize("actor", ["delegation_b", "anonymous"])
def test_list_queries_do_not_grow_with_rows(world, django_assert_max_num_queries, actor, count):
    _many(world, count)
    client = client_for(world, actor)
    with django_assert_max_num_queries(QUERY_BUDGET):
        results = _results(client.get(LIST_URL))
    assert len(results) == count
    assert all(p["support_count"] == 1 for p in results)
    assert all(p["supported_by_me"] is (actor == "delegation_b") for p in results)
    if count > 1:
        chained = next(p for p in results if p["title"] == "P1")
        assert [e["proposal"] for e in chained["history"]] == [
            ThemeProposal.objects.get(title="P0").pk,
            chained["id"],
        ]


# --- Rounds ------------------------------------------------------------------------------------


def test_rounds_are_listed_and_filtered(world):
    closed = ProposalRoundFactory(
        title="Past", target_year=2020, opens_at=days(-30), closes_at=days(-20)
    )
    theme = ProposalRoundFactory(
        title="Theme", target_year=2030, kind=ProposalKind.DIALOGUE_THEME, opens_at=days(3)
    )
    proposal_of(world)
    proposal_of(world, ProposalState.DRAFT)
    client = client_for(world, "anonymous")

    def titles(**query):
        return [r["title"] for r in _results(client.get(ROUNDS_URL, query))]

    assert titles() == ["Theme", "Topics for 2030", "Past"]
    assert titles(open="true") == ["Topics for 2030"]
    assert titles(open="false") == ["Theme", "Past"]
    assert titles(target_year=2020) == ["Past"]
    assert titles(kind="dialogue_theme") == ["Theme"]
    detail = client.get(f"{ROUNDS_URL}{world['round'].pk}/").json()
    assert detail["is_open"] is True
    assert detail["proposal_count"] == 1  # the draft is nobody else's business
    assert client.get(f"{ROUNDS_URL}{closed.pk}/").json()["is_open"] is False
    assert client_for(world, "secretariat").post(ROUNDS_URL, {}).status_code == 405
    assert client.get(f"{ROUNDS_URL}{theme.pk}/").json()["kind"] == "dialogue_theme"


def test_the_schema_documents_the_proposal_api(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths[LIST_URL]) == {"get", "post"}
    assert set(paths[LIST_URL + "{id}/"]) == {"get", "patch"}
    for action in ("submit", "withdraw", "support", "unsupport"):
        assert set(paths[f"{LIST_URL}{{id}}/{action}/"]) == {"post"}
    assert set(paths[ROUNDS_URL]) == {"get"}
    components = schema["components"]["schemas"]
    for name in ("ThemeProposal", "ThemeProposalWrite", "ProposalEvent", "ProposalRound"):
        for field, spec in components[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} is not documented"
    assert components["ProposalStateEnum"]["enum"] == [s.value for s in ProposalState]
