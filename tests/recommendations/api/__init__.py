"""A small world for the recommendations API tests, and clients acting in it.

Two agencies (ILO and WHO) reach the API with their own keys, a delegation and the secretariat
with a session. IDM-2005-R001 is adopted and addressed to both agencies (ILO leads, overdue;
WHO supports); IDM-2005-R002 is a draft addressed to ILO; IDM-2005-R003 is adopted and addressed
to WHO only. ILO has a submitted, a returned and an accepted report on R001, WHO a returned one.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from rest_framework.test import APIClient

from recommendations.enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationState,
    ReportState,
)
from stakeholders.enums import ActingRole, OrganisationKind
from stakeholders.models import OrganisationAPIKey
from tests.factories.idm import CouncilSessionFactory, DialogueFactory, PolicyDomainFactory
from tests.factories.recommendations import (
    AssignmentFactory,
    FollowUpReportFactory,
    RecommendationFactory,
)
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory
from tests.factories.workshops import WorkshopFactory

ACTORS = ["anonymous", "delegation", "agency_a", "agency_b", "secretariat"]
FAR_FUTURE = dt.date(2099, 12, 31)
LONG_AGO = dt.date(2001, 1, 1)


def api_key_for(organisation, name: str = "tracker", **fields) -> tuple[OrganisationAPIKey, str]:
    return OrganisationAPIKey.objects.create_key(name=name, organisation=organisation, **fields)


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def build_world() -> SimpleNamespace:
    w = SimpleNamespace()
    w.ilo = OrganisationFactory(
        name="International Labour Organization",
        acronym="ILO",
        kind=OrganisationKind.UN_AGENCY,
        dataset_id="org-test-ilo",
    )
    w.who = OrganisationFactory(
        name="World Health Organization",
        acronym="WHO",
        kind=OrganisationKind.UN_AGENCY,
        dataset_id="org-test-who",
    )
    w.state = OrganisationFactory(name="Philippines", kind=OrganisationKind.MEMBER_STATE)
    w.iom = OrganisationFactory(
        name="IOM Administration", acronym="IOM", kind=OrganisationKind.INTERGOVERNMENTAL
    )
    w.delegate = RepresentativeFactory(organisation=w.state, role=ActingRole.DELEGATION).user
    w.officer = RepresentativeFactory(organisation=w.iom, role=ActingRole.SECRETARIAT).user
    w.ilo_key_row, w.ilo_key = api_key_for(w.ilo, "ILO tracker")
    w.who_key_row, w.who_key = api_key_for(w.who, "WHO tracker")

    w.dialogue = DialogueFactory(year=2005)
    w.workshop = WorkshopFactory(dialogue=w.dialogue)
    w.labour = PolicyDomainFactory(name="Labour migration", slug="labour-migration")
    w.health = PolicyDomainFactory(name="Migration and health", slug="migration-health")
    w.session = CouncilSessionFactory(start_date=FAR_FUTURE)

    w.r1 = RecommendationFactory(
        reference="IDM-2005-R001",
        text="Coherent policies on labour migration.",
        state=RecommendationState.ADOPTED,
        dialogue=w.dialogue,
        workshop=w.workshop,
    )
    w.r1.policy_domains.add(w.labour)
    w.r2 = RecommendationFactory(
        reference="IDM-2005-R002", text="A draft on health.", state=RecommendationState.DRAFT
    )
    w.r2.policy_domains.add(w.health)
    w.r3 = RecommendationFactory(
        reference="IDM-2005-R003",
        text="Health of migrants.",
        state=RecommendationState.ADOPTED,
    )
    w.r3.policy_domains.add(w.health)

    w.a_ilo = AssignmentFactory(
        recommendation=w.r1, organisation=w.ilo, role=AssignmentRole.LEAD, due_date=LONG_AGO
    )
    w.a_who = AssignmentFactory(
        recommendation=w.r1,
        organisation=w.who,
        role=AssignmentRole.SUPPORTING,
        due_before_session=w.session,
    )
    w.a_draft = AssignmentFactory(recommendation=w.r2, organisation=w.ilo)
    w.a_who_r3 = AssignmentFactory(recommendation=w.r3, organisation=w.who, due_date=FAR_FUTURE)

    w.ilo_submitted = FollowUpReportFactory(
        assignment=w.a_ilo,
        period_start=dt.date(2006, 1, 1),
        period_end=dt.date(2006, 6, 30),
        state=ReportState.SUBMITTED,
    )
    w.ilo_returned = FollowUpReportFactory(
        assignment=w.a_ilo,
        period_start=dt.date(2005, 7, 1),
        period_end=dt.date(2005, 12, 31),
        state=ReportState.RETURNED,
        review_comment="Give the number of workshops held.",
    )
    w.ilo_accepted = FollowUpReportFactory(
        assignment=w.a_ilo,
        period_start=dt.date(2005, 1, 1),
        period_end=dt.date(2005, 6, 30),
        state=ReportState.ACCEPTED,
        status=ImplementationStatus.IN_PROGRESS,
        progress=20,
    )
    w.who_returned = FollowUpReportFactory(
        assignment=w.a_who,
        period_start=dt.date(2005, 7, 1),
        period_end=dt.date(2005, 12, 31),
        state=ReportState.RETURNED,
        review_comment="Attach the minutes.",
    )
    return w


def client_for(world: SimpleNamespace, actor: str) -> APIClient:
    if actor == "anonymous":
        return APIClient()
    if actor == "delegation":
        return session_client(world.delegate)
    if actor == "agency_a":
        return key_client(world.ilo_key)
    if actor == "agency_b":
        return key_client(world.who_key)
    if actor == "secretariat":
        return session_client(world.officer)
    raise ValueError(actor)


def report_body(**overrides) -> dict:
    return {
        "period_start": "2007-01-01",
        "period_end": "2007-06-30",
        "status": "in_progress",
        "progress": 60,
        "narrative": "Two national workshops held; a third is planned.",
        "evidence_urls": ["https://www.ilo.org/report-2007.pdf"],
        **overrides,
    }
