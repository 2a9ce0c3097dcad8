"""CSV/XLSX import and export of recommendations with their assignments, and the dataset's."""

import datetime as dt
import json

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from idm.dataset import DATASET_PATH
from recommendations.enums import AssignmentRole, RecommendationState
from recommendations.models import Assignment, Recommendation
from recommendations.resources import RecommendationResource, parse_addressees
from tests.factories.idm import CouncilSessionFactory, DialogueFactory, PolicyDomainFactory
from tests.factories.recommendations import AssignmentFactory, RecommendationFactory
from tests.factories.stakeholders import OrganisationFactory

pytestmark = pytest.mark.django_db

HEADERS = ["reference", "text", "kind", "state", "dialogue", "policy_domains", "addressees"]
IMPORT_URL = reverse("admin:recommendations_recommendation_import")
PROCESS_URL = reverse("admin:recommendations_recommendation_process_import")
EXPORT_URL = reverse("admin:recommendations_recommendation_export")
CSV_FORMAT, XLSX_FORMAT = "0", "1"  # the admin's formats, in order


@pytest.fixture
def partners(db):
    return {
        "ilo": OrganisationFactory(name="International Labour Organization", acronym="ILO"),
        "who": OrganisationFactory(name="World Health Organization", acronym="WHO"),
        "gmg1": OrganisationFactory(
            name="Global Migration Group", acronym="GMG", dataset_id="org-global-migration-group"
        ),
        "gmg2": OrganisationFactory(
            name="Geneva Migration Group", acronym="GMG", dataset_id="org-geneva-migration-group"
        ),
        "session": CouncilSessionFactory(number=292, start_date=dt.date(2026, 11, 24)),
        "dialogue": DialogueFactory(year=2026),
        "domain": PolicyDomainFactory(name="Labour migration", slug="labour-migration"),
    }


def dataset(*rows, headers=HEADERS) -> tablib.Dataset:
    data = tablib.Dataset(headers=headers)
    for row in rows:
        data.append(row)
    return data


GOOD_ROWS = [
    (
        "IDM-2026-R001",
        "Protect the rights of migrant workers.",
        "recommendation",
        "adopted",
        "2026",
        "labour-migration",
        "ILO (lead, due 2026-06-30); WHO (supporting, due before session 292)",
    ),
    (
        "IDM-2026-R002",
        "Share data on health of migrants.",
        "recommendation",
        "draft",
        "",
        "",
        "WHO; org-geneva-migration-group (supporting)",
    ),
    (
        "IDM-2026-R003",
        "Review the 2005 approach.",
        "recommendation",
        "closed",
        "2026",
        "",
        "ilo (Lead)",
    ),
]


# --- The addressees column ----------------------------------------------------------------------


def test_addressees_are_read_with_role_and_due_date(partners):
    specs = parse_addressees(
        "ILO (lead, due 2026-06-30); WHO (supporting, due before session 292); "
        "org-global-migration-group"
    )

    assert [(s.organisation, s.role, s.due_date, s.due_before_session) for s in specs] == [
        (partners["ilo"], AssignmentRole.LEAD, dt.date(2026, 6, 30), None),
        (partners["who"], AssignmentRole.SUPPORTING, None, partners["session"]),
        (partners["gmg1"], AssignmentRole.LEAD, None, None),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("UNKNOWN", "unknown organisation"),
        ("GMG", "names several organisations"),
        ("ILO (lead, due 2026-13-01)", "bad date"),
        ("ILO (due 2026-02-30)", "bad date"),
        ("ILO (chair)", "cannot read 'chair'"),
        ("ILO (due before session 999)", "unknown Council session 999"),
        ("ILO (due 2026-06-30, due before session 292)", "not both"),
        ("ILO; ilo", "listed twice"),
        ("ILO (lead", "cannot read"),
        ("#999999", "unknown organisation"),
    ],
)
def test_bad_addressees_are_refused_with_a_reason(partners, value, message):
    with pytest.raises(ValueError, match=message):
        parse_addressees(value)


def test_executive_committee_sessions_and_ids_are_understood(partners):
    excom = CouncilSessionFactory(body="executive_committee", number=102)

    [spec] = parse_addressees(f"#{partners['ilo'].pk} (due before ExCom session 102)")

    assert (spec.organisation, spec.due_before_session) == (partners["ilo"], excom)


# --- Import through the resource -----------------------------------------------------------------


def test_a_good_file_imports_recommendations_and_assignments_through_the_services(
    partners, admin_user
):
    result = RecommendationResource().import_data(dataset(*GOOD_ROWS), user=admin_user)

    assert not result.has_errors() and not result.has_validation_errors()
    first, second, third = Recommendation.objects.order_by("reference")
    assert (first.state, second.state, third.state) == ("adopted", "draft", "closed")
    assert first.dialogue == partners["dialogue"]
    assert list(first.policy_domains.all()) == [partners["domain"]]
    lead, supporting = first.assignments.order_by("role")
    assert (lead.organisation, lead.role, lead.due_date) == (
        partners["ilo"],
        "lead",
        dt.date(2026, 6, 30),
    )
    assert (supporting.organisation, supporting.role, supporting.due_before_session) == (
        partners["who"],
        "supporting",
        partners["session"],
    )
    assert {a.organisation for a in second.assignments.all()} == {
        partners["who"],
        partners["gmg2"],
    }
    assert third.assignments.get().organisation == partners["ilo"]
    # The states were reached by the services, each move in the history with its user.
    reasons = list(
        third.history.order_by("history_id").values_list("history_change_reason", flat=True)
    )
    assert reasons[-2:] == ["State: Adopted", "State: Closed"]
    assert third.history.latest().history_user == admin_user


def test_a_bad_file_in_a_dry_run_shows_row_errors_and_writes_nothing(partners):
    rows = [
        GOOD_ROWS[0],
        ("IDM-2026-R010", "Unknown addressee.", "recommendation", "adopted", "", "", "XYZ"),
        ("R10", "Bad reference.", "recommendation", "draft", "", "", "ILO"),
        ("IDM-2026-R011", "Bad date.", "recommendation", "draft", "", "", "ILO (due 2026-02-31)"),
        ("IDM-2026-R012", "Bad state.", "recommendation", "published", "", "", ""),
        ("IDM-2026-R013", "Bad year.", "recommendation", "draft", "1999", "", ""),
        ("IDM-2026-R014", "Bad domain.", "recommendation", "draft", "", "no-such", ""),
        ("IDM-2026-R015", "Bad kind.", "wish", "draft", "", "", ""),
        ("IDM-2026-R016", "", "recommendation", "draft", "", "", ""),
    ]
    counts = Recommendation.objects.count(), Assignment.objects.count()

    result = RecommendationResource().import_data(dataset(*rows), dry_run=True)

    assert result.has_validation_errors()
    errors = {row.number: row.error_dict for row in result.invalid_rows}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert "unknown organisation 'XYZ'" in errors[2]["addressees"][0]
    assert errors[3] == {"__all__": ["Use a reference such as IDM-2005-R001."]}
    assert "bad date '2026-02-31'" in errors[4]["addressees"][0]
    assert "unknown state 'published'" in errors[5]["state"][0]
    assert "no dialogue of the year" in errors[6]["dialogue"][0]
    assert "unknown policy domain 'no-such'" in errors[7]["policy_domains"][0]
    assert "kind" in errors[8]
    assert "text" in errors[9] or "__all__" in errors[9]
    assert (Recommendation.objects.count(), Assignment.objects.count()) == counts


def test_a_row_refused_by_a_service_leaves_nothing_behind(partners, admin_user):
    rows = [
        GOOD_ROWS[0],
        # A superseded recommendation must name its successor: refused after the row was saved.
        ("IDM-2026-R020", "Old text.", "recommendation", "superseded", "", "", "ILO"),
    ]

    result = RecommendationResource().import_data(dataset(*rows), user=admin_user)

    assert [row.number for row in result.invalid_rows] == [2]
    assert "superseded_by" in result.invalid_rows[0].error_dict
    assert not Recommendation.objects.filter(reference="IDM-2026-R020").exists()
    assert not Assignment.objects.filter(recommendation__reference="IDM-2026-R020").exists()


def test_a_move_the_moves_table_forbids_is_a_row_error(partners, admin_user):
    RecommendationFactory(reference="IDM-2026-R001", state=RecommendationState.CLOSED)

    result = RecommendationResource().import_data(
        dataset(("IDM-2026-R001", "Text.", "recommendation", "adopted", "", "", "")),
        user=admin_user,
    )

    assert "cannot become adopted" in result.invalid_rows[0].error_dict["state"][0]
    assert Recommendation.objects.get().state == RecommendationState.CLOSED


def test_importing_supersedes_through_the_service(partners, admin_user):
    old = RecommendationFactory(reference="IDM-2005-R001", state=RecommendationState.ADOPTED)
    new = RecommendationFactory(reference="IDM-2026-R001", state=RecommendationState.ADOPTED)
    headers = ["reference", "text", "state", "superseded_by"]

    result = RecommendationResource().import_data(
        dataset(("IDM-2005-R001", old.text, "superseded", "IDM-2026-R001"), headers=headers),
        user=admin_user,
    )

    assert not result.has_validation_errors()
    old.refresh_from_db()
    assert (old.state, old.superseded_by) == (RecommendationState.SUPERSEDED, new)


def test_an_archived_recommendation_is_not_changed_by_an_import(partners, admin_user):
    from django.utils import timezone

    RecommendationFactory(reference="IDM-2026-R001", text="Old.", archived_at=timezone.now())

    result = RecommendationResource().import_data(
        dataset(
            ("IDM-2026-R001", "New.", "recommendation", "", "", "", ""),
            headers=HEADERS,
        ),
        user=admin_user,
    )

    assert "archived" in str(result.invalid_rows[0].error_dict)
    assert Recommendation.objects.get().text == "Old."


def test_an_existing_addressee_left_out_of_the_row_keeps_its_assignment(partners, admin_user):
    recommendation = RecommendationFactory(reference="IDM-2026-R001")
    AssignmentFactory(recommendation=recommendation, organisation=partners["who"])

    RecommendationResource().import_data(
        dataset(("IDM-2026-R001", recommendation.text, "recommendation", "draft", "", "", "ILO")),
        user=admin_user,
    )

    assert set(recommendation.addressees.all()) == {partners["who"], partners["ilo"]}


def test_blank_lines_and_spaces_in_a_spreadsheet_are_ignored(partners, admin_user):
    rows = [
        ("  IDM-2026-R001 ", " Text. ", "recommendation", " adopted ", "", "", " ILO "),
        (None, None, None, None, None, None, None),
        ("", "", "", "", "", "", ""),
    ]

    result = RecommendationResource().import_data(dataset(*rows), user=admin_user)

    assert not result.has_validation_errors(), [r.error_dict for r in result.invalid_rows]
    recommendation = Recommendation.objects.get()
    assert (recommendation.reference, recommendation.text) == ("IDM-2026-R001", "Text.")


# --- Round trips ---------------------------------------------------------------------------------


def _import(data, user, *, dry_run=False):
    result = RecommendationResource().import_data(data, dry_run=dry_run, user=user)
    assert not result.has_errors(), [e.error for row in result.error_rows for e in row.errors]
    assert not result.has_validation_errors(), [r.error_dict for r in result.invalid_rows]
    return result


def _snapshot():
    return {
        recommendation.reference: (
            recommendation.text,
            recommendation.state,
            recommendation.dialogue_id,
            sorted(recommendation.policy_domains.values_list("pk", flat=True)),
            sorted(
                recommendation.assignments.values_list(
                    "organisation_id", "role", "due_date", "due_before_session_id"
                )
            ),
        )
        for recommendation in Recommendation.objects.all()
    }


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_export_then_import_round_trips(partners, admin_user, file_format):
    _import(dataset(*GOOD_ROWS), admin_user)
    before = _snapshot()
    exported = RecommendationResource().export(Recommendation.objects.all())
    content = exported.export(file_format)

    for model in (Recommendation, Assignment):
        model.history.all().delete()
    Assignment.objects.all().delete()
    Recommendation.objects.all().update(superseded_by=None)
    Recommendation.objects.all().delete()
    _import(tablib.Dataset().load(content, format=file_format), admin_user)

    assert _snapshot() == before


def test_re_importing_an_export_unchanged_writes_nothing(partners, admin_user):
    _import(dataset(*GOOD_ROWS), admin_user)
    exported = RecommendationResource().export(Recommendation.objects.all())
    history = Recommendation.history.count(), Assignment.history.count()

    result = _import(tablib.Dataset().load(exported.export("csv"), format="csv"), admin_user)

    assert result.totals["skip"] == 3
    assert (Recommendation.history.count(), Assignment.history.count()) == history


def test_the_dataset_exports_and_re_imports_unchanged(idm_data, admin_user):
    before = _snapshot()
    exported = RecommendationResource().export(Recommendation.objects.all())

    assert len(exported) == 259
    assert "org-global-migration-group" in exported.export("csv")  # GMG is ambiguous
    result = _import(tablib.Dataset().load(exported.export("csv"), format="csv"), admin_user)

    assert result.totals["skip"] == 259
    assert _snapshot() == before


def test_export_queries_do_not_grow_with_rows(partners, django_assert_max_num_queries):
    _import(dataset(*GOOD_ROWS[:1]), None)
    resource = RecommendationResource()
    with django_assert_max_num_queries(6) as one:
        resource.export(Recommendation.objects.all())
    for index in range(2, 30):
        recommendation = RecommendationFactory(reference=f"IDM-2026-R{index:03d}")
        AssignmentFactory(recommendation=recommendation, organisation=partners["who"])
        recommendation.policy_domains.add(partners["domain"])

    with django_assert_max_num_queries(len(one.captured_queries)):
        RecommendationResource().export(Recommendation.objects.all())


# --- Through the admin ---------------------------------------------------------------------------


def _csv(rows, headers=HEADERS) -> bytes:
    return dataset(*rows, headers=headers).export("csv").encode()


def test_admin_dry_run_of_a_bad_file_shows_row_errors_and_writes_nothing(admin_client, partners):
    bad = [
        GOOD_ROWS[0],
        ("IDM-2026-R010", "Unknown addressee.", "recommendation", "adopted", "", "", "XYZ"),
        ("R10", "Bad reference.", "recommendation", "draft", "", "", "ILO"),
        ("IDM-2026-R011", "Bad date.", "recommendation", "draft", "", "", "ILO (due 2026-02-31)"),
    ]

    response = admin_client.post(
        IMPORT_URL,
        {
            "format": CSV_FORMAT,
            "import_file": SimpleUploadedFile("bad.csv", _csv(bad), content_type="text/csv"),
        },
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert "unknown organisation &#x27;XYZ&#x27;" in content
    assert "Use a reference such as IDM-2005-R001." in content
    assert "bad date &#x27;2026-02-31&#x27;" in content
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None
    assert not Recommendation.objects.exists()
    assert not Assignment.objects.exists()


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_admin_imports_a_good_file_after_its_dry_run(admin_client, partners, file_format):
    data = dataset(*GOOD_ROWS).export(file_format)
    content = data.encode() if isinstance(data, str) else data
    format_index = CSV_FORMAT if file_format == "csv" else XLSX_FORMAT

    preview = admin_client.post(
        IMPORT_URL,
        {
            "format": format_index,
            "import_file": SimpleUploadedFile(f"good.{file_format}", content),
        },
    )

    assert preview.status_code == 200
    assert not Recommendation.objects.exists()  # the preview wrote nothing
    confirm = preview.context["confirm_form"]
    response = admin_client.post(PROCESS_URL, confirm.initial)
    assert response.status_code == 302
    assert Recommendation.objects.count() == 3
    assert Assignment.objects.count() == 5
    assert Recommendation.objects.get(reference="IDM-2026-R001").state == "adopted"


def test_admin_exports_recommendations_with_their_addressees(admin_client, partners):
    RecommendationResource().import_data(dataset(*GOOD_ROWS))
    fields = {
        f"recommendationresource_{name}": "on"
        for name in RecommendationResource().get_export_order()
    }

    response = admin_client.post(EXPORT_URL, {"format": CSV_FORMAT, **fields})

    assert response.status_code == 200
    text = response.content.decode()
    assert text.startswith("reference,text,kind,state")
    assert "ILO (lead, due 2026-06-30); WHO (supporting, due before session 292)" in text
    assert "org-geneva-migration-group (supporting)" in text


def test_only_the_secretariat_may_import(client, partners):
    from stakeholders.enums import ActingRole
    from stakeholders.services import representative_login_ensure

    delegate = representative_login_ensure(
        username="delegate",
        password="x",
        organisation=partners["ilo"],
        role=ActingRole.DELEGATION,
    ).user
    delegate.is_staff = True
    delegate.save()
    client.force_login(delegate)

    assert client.get(IMPORT_URL).status_code == 403


# --- The dataset ---------------------------------------------------------------------------------


def test_the_dataset_recommendations_load_with_their_addressees(idm_data):
    data = json.loads(DATASET_PATH.read_text(encoding="utf-8"))
    expected = {
        (record["id"], organisation_id)
        for record in data["recommendations"]
        for organisation_id in record.get("addressed_to_organisation_ids") or []
    }

    assignments = Assignment.objects.select_related("recommendation", "organisation")

    assert Recommendation.objects.count() == 259
    assert Recommendation.objects.filter(state=RecommendationState.ADOPTED).count() == 259
    assert assignments.count() == 79
    assert {(a.recommendation.dataset_id, a.organisation.dataset_id) for a in assignments} == (
        expected
    )
    # The stored roll-up agrees with the assignments from the start.
    assert set(Recommendation.objects.values_list("overall_status", "overall_progress")) == {
        ("not_started", 0)
    }
