"""Permissions, exhaustively: every URL × every role × every method against a table.

The URLs are not listed by hand: every pattern of the URL resolver (the portal, the public
pages, exports, calendars, the login pages, ``/healthz``, the API, its schema and docs; not the
Django admin, nor the ``.json``-style format-suffix aliases DRF adds to each API route, which
reach the same view) and every operation of the OpenAPI schema. A meta-test fails when one of
them has no row in ``tests/permission_table.py`` (a new endpoint cannot be forgotten), when the
table has a row for an endpoint that no longer exists, or when the schema documents a method
that the table says nobody may use.

Each URL is called with GET, HEAD, OPTIONS, POST, PUT, PATCH and DELETE by six roles, on
objects owned by delegation A and agency A, so that what B may do with A's objects is tested:
anonymous, delegation A, delegation B, agency A, agency B and a secretariat officer, all with a
session login; on the API, the two delegations and the two agencies also with their API keys
(``Authorization: Api-Key``), which must be treated exactly as their organisation's logins.
Bodies are minimal (``{}``): the walk is about permission, not validation, so a 400 proves that
the caller was let in. Each call runs in a savepoint rolled back afterwards, so a write by one
role (a submit, a withdraw, a logout) does not change what the next one finds.

The world is small and built once per module with factories and the services: see
``build_world``. The outcome classes are those of ``tests/permission_table.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from http.cookies import SimpleCookie
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from idm.models import Agenda
from idm.selectors import event_key
from idm.services import agenda_publish
from recommendations.enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationState,
    ReportKind,
    ReportRunState,
    ReportState,
)
from recommendations.models import ReportRun
from recommendations.reporting import report_run_build
from stakeholders.enums import ActingRole, OrganisationKind
from stakeholders.models import OrganisationAPIKey
from stakeholders.services import representative_login_ensure
from tests.factories.idm import (
    AgendaItemFactory,
    AgendaSlotFactory,
    DialogueFactory,
    MeetingFactory,
    PolicyDomainFactory,
)
from tests.factories.recommendations import (
    AssignmentFactory,
    EvidenceFileFactory,
    FollowUpReportFactory,
    RecommendationFactory,
)
from tests.factories.stakeholders import OrganisationFactory
from tests.factories.workshops import RegistrationFactory, WorkshopFactory
from tests.permission_table import CLASSES, METHODS, ROLES, TABLE, parse_table
from workshops.enums import ProposalKind
from workshops.models import ProposalRound
from workshops.services import proposal_create, proposal_submit

# Roles that also call the API with their organisation's key, checked against the same column.
KEY_ROLES = ("delegation_a", "delegation_b", "agency_a", "agency_b")
API_PREFIX = "/api/v1/"

# Cells where the app is known to differ from the table: {(target, method, role): reason}.
# The row's test is an expected failure (strict: it fails once the gap is closed, so the entry
# must then be removed). Every other difference fails the test.
KNOWN_GAPS: dict[tuple[str, str, str], str] = {}


# --- What there is to walk ------------------------------------------------------------------------

FORMAT_SUFFIX = re.compile(r"\(\?P<format>|<drf_format_suffix:format>")
ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def _regex_template(regex: str) -> str:
    """``^assignments/(?P<pk>[^/.]+)/$`` → ``assignments/{pk}/``."""
    regex = regex.removeprefix("^").removesuffix("$")
    out, i = [], 0
    while i < len(regex):
        if regex.startswith("(?P<", i):
            name = regex[i + 4 : regex.index(">", i)]
            depth, j = 0, i
            while True:  # to the group's closing parenthesis
                if regex[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(regex[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append("{" + name + "}")
            i = j
        else:
            out.append(regex[i].replace("\\", ""))
            i += 1
    return "".join(out)


def _template(pattern) -> str:
    text = str(pattern.pattern)
    if text.startswith("^") or text.endswith("$") or "(?P<" in text:
        return _regex_template(text)
    return ROUTE_PARAMETER.sub(r"{\1}", text)


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if FORMAT_SUFFIX.search(str(pattern.pattern)):
            continue
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + _template(pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + _template(pattern)


def resolver_templates() -> list[str]:
    """Every URL the site serves, as ``/path/{parameter}/``; not the admin, static or media."""
    templates = {"/" + route for route in _walk(get_resolver().url_patterns)}
    skipped = ("/admin/", "/static/", "/media/")
    return sorted(t for t in templates if not t.startswith(skipped))


def schema_operations() -> set[tuple[str, str]]:
    """(path, METHOD) of every operation of the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(path, method.upper()) for path, item in schema["paths"].items() for method in item}


def _shape(template: str) -> str:
    """The template with its parameters unnamed: the schema says {id} where the router has pk."""
    return re.sub(r"\{\w+\}", "{}", template)


# --- Path parameters: objects of delegation A and agency A ---------------------------------------

PROPOSALS = {
    "draft": lambda w: {"pk": w.draft_a.pk},
    "submitted": lambda w: {"pk": w.submitted_a.pk},
}
REPORT_RUN = {"": lambda w: {"pk": w.run.pk}}
FILLS = {
    "/events/{event_key}/agenda/": {"": lambda w: {"event_key": w.meeting_key}},
    "/events/{event_key}/agenda.pdf": {"": lambda w: {"event_key": w.meeting_key}},
    "/events/{event_key}/agenda-export.{fmt}": {
        "": lambda w: {"event_key": w.meeting_key, "fmt": "csv"}
    },
    "/events/{event_key}/calendar.ics": {"": lambda w: {"event_key": w.meeting_key}},
    "/workshops/{pk}/participants.{fmt}": {"": lambda w: {"pk": w.workshop.pk, "fmt": "csv"}},
    "/rounds/{pk}/": {"": lambda w: {"pk": w.round.pk}},
    "/rounds/{pk}/propose/": {"": lambda w: {"pk": w.round.pk}},
    **{
        f"/proposals/{{pk}}/{suffix}": PROPOSALS
        for suffix in ("", "edit/", "submit/", "withdraw/", "support/", "unsupport/")
    },
    "/evidence/{pk}/download/": {
        "submitted": lambda w: {"pk": w.evidence_submitted.pk},
        "accepted": lambda w: {"pk": w.evidence_accepted.pk},
    },
    "/accounts/reset/{uidb64}/{token}/": {"": lambda w: {"uidb64": "MQ", "token": "not-a-token"}},
    "/api/v1/meetings/{id}/": {"": lambda w: {"id": w.meeting_key}},
    "/api/v1/meetings/{id}/agenda/": {"": lambda w: {"id": w.meeting_key}},
    **{
        f"/api/v1/theme-proposals/{{pk}}/{suffix}": PROPOSALS
        for suffix in ("", "submit/", "withdraw/", "support/", "unsupport/")
    },
    "/api/v1/proposal-rounds/{pk}/": {"": lambda w: {"pk": w.round.pk}},
    "/api/v1/recommendations/{reference}/": {
        "adopted": lambda w: {"reference": w.rec_a.reference},
        "draft": lambda w: {"reference": w.rec_draft.reference},
    },
    **{
        f"/api/v1/assignments/{{pk}}/{suffix}": {
            "adopted": lambda w: {"pk": w.assignment_a.pk},
            "draft": lambda w: {"pk": w.assignment_draft.pk},
        }
        for suffix in ("", "follow-ups/")
    },
    **{
        f"/api/v1/follow-ups/{{pk}}/{suffix}": {
            "submitted": lambda w: {"pk": w.report_submitted.pk},
            "returned": lambda w: {"pk": w.report_returned.pk},
            "accepted": lambda w: {"pk": w.report_accepted.pk},
        }
        for suffix in ("", "evidence/", "resubmit/")
    },
    "/api/v1/evidence/{pk}/download/": {
        "submitted": lambda w: {"pk": w.evidence_submitted.pk},
        "accepted": lambda w: {"pk": w.evidence_accepted.pk},
    },
    "/api/v1/organisations/{pk}/": {"": lambda w: {"pk": w.delegation_a.pk}},
    "/api/v1/policy-domains/{slug}/": {"": lambda w: {"slug": w.domain.slug}},
    "/api/v1/dialogues/{year}/": {"": lambda w: {"year": w.dialogue.year}},
    **{f"/api/v1/reports/{{pk}}/{suffix}": REPORT_RUN for suffix in ("", "html/", "csv/", "xlsx/")},
}


def targets() -> list[tuple[str, str, str]]:
    """(target, template, variant) for every URL: a template once per kind of object it takes."""
    out = []
    for template in resolver_templates():
        variants = FILLS.get(template, {"": None}) if "{" in template else {"": None}
        for variant in variants:
            out.append((f"{template}@{variant}" if variant else template, template, variant))
    return out


def url_of(world, template: str, variant: str) -> str:
    if "{" not in template:
        return template
    return template.format(**FILLS[template][variant](world))


# --- The world ------------------------------------------------------------------------------------


def build_world() -> SimpleNamespace:
    """Two delegations, two agencies and the secretariat, each with its logins and keys.

    Delegation A has a draft and a submitted proposal in an open round. Agency A is the only
    addressee of an adopted recommendation (with a submitted, a returned and an accepted
    follow-up report, evidence on the submitted and on the accepted one) and of a draft one;
    agency B is addressed by another recommendation. A published agenda, a workshop with a
    participant and a finished follow-up report run complete it.
    """
    w = SimpleNamespace()
    now = timezone.now()
    member, agency = OrganisationKind.MEMBER_STATE, OrganisationKind.UN_AGENCY
    w.delegation_a = OrganisationFactory(name="Atlantis", kind=member)
    w.delegation_b = OrganisationFactory(name="Borduria", kind=member)
    w.agency_a = OrganisationFactory(name="Agency A", acronym="AGA", kind=agency)
    w.agency_b = OrganisationFactory(name="Agency B", acronym="AGB", kind=agency)
    w.iom = OrganisationFactory(
        name="IOM Administration", acronym="IOM", kind=OrganisationKind.INTERGOVERNMENTAL
    )
    w.users, w.keys = {}, {}
    for role, organisation, acting in (
        ("delegation_a", w.delegation_a, ActingRole.DELEGATION),
        ("delegation_b", w.delegation_b, ActingRole.DELEGATION),
        ("agency_a", w.agency_a, ActingRole.AGENCY),
        ("agency_b", w.agency_b, ActingRole.AGENCY),
        ("secretariat", w.iom, ActingRole.SECRETARIAT),
    ):
        w.users[role] = representative_login_ensure(
            username=f"walk-{role}",
            password="walk-password",
            organisation=organisation,
            role=acting,
        ).user
        if role in KEY_ROLES:
            _row, w.keys[role] = OrganisationAPIKey.objects.create_key(
                name=f"walk {role}", organisation=organisation, role=acting
            )
    officer = w.users["secretariat"]

    # Theme proposals of delegation A in an open round.
    w.dialogue = DialogueFactory(year=2005)
    w.domain = PolicyDomainFactory(name="Labour migration", slug="labour-migration")
    w.round = ProposalRound.objects.create(
        title="Workshops of 2099",
        target_year=2099,
        kind=ProposalKind.WORKSHOP_TOPIC,
        opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=365),
    )
    delegate_a = w.users["delegation_a"]
    w.draft_a = proposal_create(
        round=w.round, delegation=w.delegation_a, by=delegate_a, title="Draft", rationale="Why."
    )
    w.submitted_a = proposal_create(
        round=w.round, delegation=w.delegation_a, by=delegate_a, title="Sent", rationale="Why."
    )
    w.submitted_a = proposal_submit(proposal=w.submitted_a, by=delegate_a)

    # Recommendations addressed to agency A only, and to agency B.
    w.rec_a = RecommendationFactory(
        reference="IDM-2005-R001", state=RecommendationState.ADOPTED, dialogue=w.dialogue
    )
    w.rec_a.policy_domains.add(w.domain)
    w.rec_b = RecommendationFactory(reference="IDM-2005-R002", state=RecommendationState.ADOPTED)
    w.rec_draft = RecommendationFactory(reference="IDM-2005-R003", state=RecommendationState.DRAFT)
    w.assignment_a = AssignmentFactory(
        recommendation=w.rec_a, organisation=w.agency_a, role=AssignmentRole.LEAD
    )
    w.assignment_b = AssignmentFactory(recommendation=w.rec_b, organisation=w.agency_b)
    w.assignment_draft = AssignmentFactory(recommendation=w.rec_draft, organisation=w.agency_a)
    report = {"assignment": w.assignment_a, "status": ImplementationStatus.IN_PROGRESS}
    w.report_submitted = FollowUpReportFactory(
        **report, period_start=dt.date(2006, 1, 1), period_end=dt.date(2006, 6, 30)
    )
    w.report_returned = FollowUpReportFactory(
        **report,
        period_start=dt.date(2005, 7, 1),
        period_end=dt.date(2005, 12, 31),
        state=ReportState.RETURNED,
        review_comment="Give figures.",
    )
    w.report_accepted = FollowUpReportFactory(
        **report,
        period_start=dt.date(2005, 1, 1),
        period_end=dt.date(2005, 6, 30),
        state=ReportState.ACCEPTED,
    )
    w.evidence_submitted = EvidenceFileFactory(report=w.report_submitted)
    w.evidence_accepted = EvidenceFileFactory(report=w.report_accepted)

    # Public events: a meeting with a published agenda; a workshop with a participant.
    w.meeting = MeetingFactory(dialogue=w.dialogue, start_date=dt.date(2005, 11, 29))
    agenda = Agenda.objects.create(meeting=w.meeting)
    AgendaSlotFactory(item=AgendaItemFactory(agenda=agenda))
    agenda_publish(agenda=agenda, by=officer)
    w.meeting_key = event_key(w.meeting)
    w.workshop = WorkshopFactory(dialogue=w.dialogue)
    RegistrationFactory(workshop=w.workshop)

    # A finished follow-up report run, with its files.
    w.run = report_run_build(run=ReportRun.objects.create(kind=ReportKind.ON_DEMAND))
    assert w.run.state == ReportRunState.DONE, w.run.error
    return w


def _session_client(user) -> Client:
    client = Client(raise_request_exception=False)  # a 500 is an outcome, "500"
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once, inside a transaction rolled back at the module's end; tests nest in it."""
    media = tmp_path_factory.mktemp("media")
    with (
        django_db_blocker.unblock(),
        override_settings(
            MEDIA_ROOT=media, PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
        ),
    ):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            w = build_world()
            w.clients = {"anonymous": _session_client(None)}
            for role, user in w.users.items():
                w.clients[role] = _session_client(user)
            for role, key in w.keys.items():
                w.clients[f"{role}:key"] = Client(
                    headers={"Authorization": f"Api-Key {key}"}, raise_request_exception=False
                )
            yield w
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def unthrottled(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": None, "user": None, "anon": None},
    }


# --- One call, one outcome ------------------------------------------------------------------------

LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def outcome(response) -> str:
    """The class of a response (see ``tests/permission_table.py``)."""
    code = response.status_code
    if code in (301, 302, 303, 307, 308):
        if urlsplit(response["Location"]).path in LOGIN_PATHS:
            return "deny"
        # A portal button refused: back to the proposal's page with an error message.
        refused = any(m.level >= messages.ERROR for m in get_messages(response.wsgi_request))
        return "deny" if refused else "ok"
    if 200 <= code < 300 or code == 304:
        return "ok"
    return {400: "bad", 401: "deny", 403: "deny", 404: "hide", 405: "n/a"}.get(code, str(code))


def call(client: Client, method: str, url: str):
    """``method`` on ``url`` with a minimal body: JSON ``{}`` for the API, an empty form else."""
    if method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return client.generic(method, url)
    if url.startswith(API_PREFIX) and not url.endswith("/evidence/"):
        return client.generic(method, url, "{}", content_type="application/json")
    if method == "POST":
        return client.post(url, {})  # multipart, as a browser form or an upload
    return client.generic(method, url, "", content_type="application/x-www-form-urlencoded")


def walk_cell(world, role: str, method: str, url: str) -> str:
    """One call in a savepoint rolled back afterwards, with the client's cookies put back."""
    client = world.clients[role]
    cookies = SimpleCookie()
    cookies.load(client.cookies.output(header="", sep=";"))
    try:
        with transaction.atomic():
            try:
                return outcome(call(client, method, url))
            finally:
                transaction.set_rollback(True)
    finally:
        client.cookies = cookies


# --- The tests ------------------------------------------------------------------------------------

EXPECTED = parse_table(TABLE)
TARGETS = targets()
CELLS = [
    (target, template, variant, method)
    for target, template, variant in TARGETS
    for method in METHODS
]


def test_every_endpoint_has_rows_and_no_row_is_stale():
    walked = {(target, method) for target, _t, _v, method in CELLS}
    missing = sorted(walked - set(EXPECTED))
    stale = sorted(set(EXPECTED) - walked)
    assert not missing, f"URLs without a row in tests/permission_table.py: {missing}"
    assert not stale, f"Rows of tests/permission_table.py for URLs that are gone: {stale}"
    templates = set(resolver_templates())
    unfilled = sorted(t for t in templates if "{" in t and t not in FILLS)
    assert not unfilled, f"URLs with parameters but no objects to fill them (FILLS): {unfilled}"
    assert not set(FILLS) - templates, f"FILLS for URLs that are gone: {set(FILLS) - templates}"
    for (target, method, role), reason in KNOWN_GAPS.items():
        assert (target, method) in walked and role in ROLES, f"stale known gap: {reason}"


def test_every_schema_operation_is_walked_and_allowed_to_someone():
    shapes = {_shape(template): template for template in resolver_templates()}
    for path, method in sorted(schema_operations()):
        template = shapes.get(_shape(path))
        assert template is not None, f"{method} {path} of the schema is not served"
        rows = [
            row
            for (target, m), row in EXPECTED.items()
            if m == method and (target == template or target.startswith(template + "@"))
        ]
        assert rows, f"{method} {path} has no row"
        assert any(cls != "n/a" for row in rows for cls in row.values()), (
            f"the schema documents {method} {path}, but the table lets nobody use it"
        )


def _roles_for(template: str) -> list[tuple[str, str]]:
    """(client, column) pairs: the six roles, and on the API the four keys too."""
    pairs = [(role, role) for role in ROLES]
    if template.startswith(API_PREFIX):
        pairs += [(f"{role}:key", role) for role in KEY_ROLES]
    return pairs


@pytest.mark.parametrize(
    ("target", "template", "variant", "method"),
    CELLS,
    ids=[f"{method} {target}" for target, _t, _v, method in CELLS],
)
def test_walk(world, unthrottled, db, target, template, variant, method):
    expected = EXPECTED[(target, method)]
    url = url_of(world, template, variant)
    differences, gaps, reasons = [], [], set()
    for client_role, column in _roles_for(template):
        got = walk_cell(world, client_role, method, url)
        want = expected[column]
        gap = KNOWN_GAPS.get((target, method, column))
        if got != want:
            line = f"{method} {url} as {client_role}: expected {want}, got {got}"
            (gaps if gap else differences).append(line)
            reasons.add(gap or "")
        elif gap:
            differences.append(
                f"{method} {url} as {client_role} now gives {want}: remove it from KNOWN_GAPS"
            )
    assert not differences, "\n".join(differences)
    if gaps:
        pytest.xfail("known gap: " + "; ".join(sorted(reasons - {""})) + "\n" + "\n".join(gaps))
    assert set(expected.values()) <= set(CLASSES)
