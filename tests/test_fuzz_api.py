"""Hostile and malformed input: Schemathesis fuzzes every operation of the served OpenAPI schema.

The schema is read from ``/api/v1/schema/`` of the Django WSGI application itself (no server),
and every operation is called with generated valid and invalid input (negative mode: wrong
types, missing fields, junk query parameters…) as each kind of caller: anonymous, a member-state
delegation's API key, a partner agency's API key and a secretariat login (HTTP basic auth). The
database holds the real 2003–2006 dataset, an open proposal round and keys for each role.

Every answer must be no 5xx, a status code the schema declares for the operation, a declared
content type and a body matching the declared schema. Path identifiers are often swapped for
ones that exist (half of the time), so the fuzzing reaches real objects and not only 404s.

Bounded for CI by ``FUZZ_MAX_EXAMPLES`` (examples per operation and role, default 45); the
longer run against a live server is ``loadtests/fuzz_api.sh``. Select with ``-m fuzz``.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import json
import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from recommendations.models import Assignment, FollowUpReport, Recommendation
from stakeholders.enums import ActingRole, OrganisationKind
from stakeholders.models import Organisation, OrganisationAPIKey, Representative
from workshops.enums import ProposalKind
from workshops.models import ProposalRound, ThemeProposal

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "45"))
ROLES = ["anonymous", "delegation", "agency", "secretariat"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SECRETARIAT_PASSWORD = "fuzz-secretariat-password"

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", WSGIHandler())

# Cases sent per "METHOD path" (all roles); written to $FUZZ_STATS (JSON) at the end, if set.
CASES_SENT: collections.Counter = collections.Counter()

# Identifiers of existing objects, per path parameter name (filled by the ``fuzz_world`` fixture).
KNOWN_IDS: dict[str, dict[str, list]] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """As often as not, point the generated path at an object that exists."""
    known = KNOWN_IDS.get(context.operation.path, {})
    names = [name for name, values in known.items() if values and name in (path_parameters or {})]
    if not names:
        return st.just(path_parameters)
    swaps = st.fixed_dictionaries(
        {
            name: st.one_of(st.just(path_parameters[name]), st.sampled_from(known[name]))
            for name in names
        }
    )
    return swaps.map(lambda chosen: {**path_parameters, **chosen})


def _known_ids() -> dict[str, dict[str, list]]:
    pk = lambda model: list(model.objects.values_list("pk", flat=True)[:200])  # noqa: E731
    from idm.models import Dialogue, Meeting, PolicyDomain
    from recommendations.models import EvidenceFile

    assignments = pk(Assignment)
    reports = pk(FollowUpReport)
    proposals = pk(ThemeProposal)
    meetings = pk(Meeting)
    return {
        "/api/v1/assignments/{id}/": {"id": assignments},
        "/api/v1/assignments/{id}/follow-ups/": {"id": assignments},
        "/api/v1/dialogues/{year}/": {
            "year": list(Dialogue.objects.values_list("year", flat=True))
        },
        "/api/v1/evidence/{id}/download/": {"id": pk(EvidenceFile)},
        "/api/v1/follow-ups/{id}/": {"id": reports},
        "/api/v1/follow-ups/{id}/evidence/": {"id": reports},
        "/api/v1/follow-ups/{id}/resubmit/": {"id": reports},
        "/api/v1/meetings/{id}/": {"id": meetings},
        "/api/v1/meetings/{id}/agenda/": {"id": meetings},
        "/api/v1/organisations/{id}/": {"id": pk(Organisation)},
        "/api/v1/policy-domains/{slug}/": {
            "slug": list(PolicyDomain.objects.values_list("slug", flat=True))
        },
        "/api/v1/proposal-rounds/{id}/": {"id": pk(ProposalRound)},
        "/api/v1/recommendations/{reference}/": {
            "reference": list(Recommendation.objects.values_list("reference", flat=True))
        },
        **{
            f"/api/v1/theme-proposals/{{id}}/{suffix}": {"id": proposals}
            for suffix in ("", "submit/", "support/", "unsupport/", "withdraw/")
        },
    }


def _build_world() -> dict[str, str | None]:
    """The real dataset, an open round, and the credentials of each role."""
    from django.contrib.auth import get_user_model

    call_command("load_idm_data", verbosity=0)
    now = timezone.now()
    ProposalRound.objects.create(
        title="Workshops of 2099",
        target_year=2099,
        kind=ProposalKind.WORKSHOP_TOPIC,
        opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=365),
    )
    delegation = (
        Organisation.objects.filter(kind=OrganisationKind.MEMBER_STATE)
        .filter(theme_proposals__isnull=False)
        .distinct()
        .order_by("pk")
        .first()
    ) or Organisation.objects.filter(kind=OrganisationKind.MEMBER_STATE).order_by("pk").first()
    agency = (
        Organisation.objects.filter(assignments__isnull=False)
        .exclude(kind__in=[OrganisationKind.MEMBER_STATE, OrganisationKind.OBSERVER_STATE])
        .distinct()
        .order_by("pk")
        .first()
    )
    secretariat_org = Organisation.objects.create(
        name="IOM Administration (fuzz)", kind=OrganisationKind.INTERGOVERNMENTAL
    )
    officer = get_user_model().objects.create_user("fuzz-officer", password=SECRETARIAT_PASSWORD)
    Representative.objects.create(
        user=officer, organisation=secretariat_org, role=ActingRole.SECRETARIAT
    )
    _, delegation_key = OrganisationAPIKey.objects.create_key(
        name="fuzz delegation", organisation=delegation, role=ActingRole.DELEGATION
    )
    _, agency_key = OrganisationAPIKey.objects.create_key(
        name="fuzz agency", organisation=agency, role=ActingRole.AGENCY
    )
    basic = base64.b64encode(f"fuzz-officer:{SECRETARIAT_PASSWORD}".encode()).decode()
    return {
        "anonymous": None,
        "delegation": f"Api-Key {delegation_key}",
        "agency": f"Api-Key {agency_key}",
        "secretariat": f"Basic {basic}",
    }


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction rolled back at its end.

    Each test's own transaction (pytest-django) nests in it as a savepoint, so what one
    operation's fuzzing writes is undone before the next.
    """
    # The login's password is checked under the tests' fast hasher (tests/conftest.py).
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast:
        outer = transaction.atomic()
        outer.__enter__()
        try:
            credentials = _build_world()
            KNOWN_IDS.update(_known_ids())
            yield credentials
        finally:
            KNOWN_IDS.clear()
            if os.environ.get("FUZZ_STATS"):
                with open(os.environ["FUZZ_STATS"], "w") as stats:
                    json.dump(dict(sorted(CASES_SENT.items())), stats, indent=1)
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def wsgi_in_test_transaction(settings):
    """Serve requests in the test's transaction, unthrottled.

    The WSGI handler closes "old" database connections at each request's start and end, which
    would end the test's transaction (Django's test client disconnects the same signal). The
    throttling budget is lifted so that fuzzing is not answered with 429 after a minute.
    """
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": None, "user": None, "anon": None},
    }
    settings.AXES_ENABLED = False
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_any_input_within_its_schema(case, role, fuzz_world, wsgi_in_test_transaction):
    headers = {"Authorization": fuzz_world[role]} if fuzz_world[role] else {}
    if not headers and case.headers:
        case.headers.pop("Authorization", None)
    response = case.call(headers=headers)
    CASES_SENT[f"{case.method} {case.path}"] += 1
    case.validate_response(response, checks=CHECKS)
