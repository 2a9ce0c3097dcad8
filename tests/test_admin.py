"""The admin of the four apps: every model's pages open, and the agenda reads as printed.

The IDM dataset is loaded once for the module inside a transaction that is rolled back at the
end; each test runs in its own savepoint on top of it.
"""

import datetime as dt
import html
import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import HistoricalChanges

from idm.admin import agenda_as_printed
from idm.models import Agenda, AgendaItem, Meeting
from recommendations.enums import ImplementationStatus, ReminderKind, ReportKind
from recommendations.models import (
    Assignment,
    EvidenceFile,
    FollowUpReport,
    Recommendation,
    Reminder,
    ReminderItem,
    ReportRun,
)
from stakeholders.enums import ActingRole, OrganisationKind
from stakeholders.models import (
    IdempotencyRecord,
    Organisation,
    OrganisationAPIKey,
    Person,
    Representative,
)
from workshops.models import ProposalSupport, Registration, ThemeProposal, Workshop

APPS = {"stakeholders", "idm", "workshops", "recommendations"}
MODEL_ADMINS = sorted(
    (
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in APPS
    ),
    key=lambda pair: pair[0]._meta.label,
)
MODEL_IDS = [model._meta.label for model, _ in MODEL_ADMINS]


def _add_rows_the_dataset_lacks() -> None:
    """One row for each model the dataset leaves empty, so that its change page can open."""
    organisation = Organisation.objects.order_by("pk").first()
    person = Person.objects.order_by("pk").first()
    user = get_user_model().objects.create_user("delegate", password="unused-in-tests")
    Representative.objects.create(
        user=user, organisation=organisation, role=ActingRole.DELEGATION, person=person
    )
    Registration.objects.create(
        workshop=Workshop.objects.order_by("pk").first(), person=person, organisation=organisation
    )
    ProposalSupport.objects.create(
        proposal=ThemeProposal.objects.order_by("pk").first(),
        organisation=Organisation.objects.filter(kind=OrganisationKind.MEMBER_STATE).first(),
    )
    report = FollowUpReport.objects.create(
        assignment=Assignment.objects.order_by("pk").first(),
        period_start=dt.date(2006, 1, 1),
        period_end=dt.date(2006, 6, 30),
        status=ImplementationStatus.IN_PROGRESS,
        progress=40,
        narrative="Workshop held; report in preparation.",
    )
    OrganisationAPIKey.objects.create_key(name="Statistics client", organisation=organisation)
    IdempotencyRecord.objects.create(
        caller="api-key:test",
        key="retry-1",
        fingerprint="0" * 64,
        status_code=201,
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    # Only the name of a file: no file is written for a page that just links to it.
    EvidenceFile.objects.create(
        report=report,
        file="evidence/minutes.txt",
        original_name="minutes.txt",
        size=23,
        content_type="text/plain",
    )
    digest = Reminder.objects.create(
        kind=ReminderKind.FOLLOWUP_DUE,
        recipient_key=f"organisation:{organisation.pk}",
        occurrence="2006-07-01",
        due_on=dt.date(2006, 7, 1),
        organisation=organisation,
        to_emails=["focal.point@example.org"],
        subject="Follow-up due",
    )
    ReminderItem.objects.create(
        reminder=digest,
        assignment=report.assignment,
        due_date=dt.date(2006, 7, 1),
        occurrence="due",
    )
    ReportRun.objects.create(kind=ReportKind.ON_DEMAND)


@pytest.fixture(scope="module", autouse=True)
def idm_admin_data(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_idm_data", verbosity=0)
        _add_rows_the_dataset_lacks()
        yield
        transaction.set_rollback(True)


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_model_of_the_four_apps_is_registered():
    models = {
        model
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        if not issubclass(model, HistoricalChanges)
    }
    assert {model._meta.label for model in models - set(admin.site._registry)} == set()


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_models_with_history_show_it(model, model_admin):
    has_history = hasattr(model._meta, "simple_history_manager_attribute")
    assert isinstance(model_admin, SimpleHistoryAdmin) == has_history


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_changelist_search_and_add_page_open(admin_client, admin_user, rf, model, model_admin):
    request = rf.get("/")
    request.user = admin_user
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert admin_client.get(_url(model, "changelist"), {"q": "migration"}).status_code == 200
    # Published agenda versions are made by publishing, never added by hand.
    can_add = model_admin.has_add_permission(request)
    assert admin_client.get(_url(model, "add")).status_code == (200 if can_add else 403)


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_change_page_of_first_row_opens(admin_client, model, model_admin):
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {model._meta.label} row to open"

    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200
    assert admin_client.get(_url(model, "history", obj.pk)).status_code == 200
    if isinstance(model_admin, SimpleHistoryAdmin):
        record = obj.history.order_by("history_id").first()
        if record is None:  # made by a data migration (the default reminder rules): no history
            return
        history_record_url = _url(model, "simple_history", obj.pk, record.history_id)
        assert admin_client.get(history_record_url).status_code == 200


AUTOCOMPLETES = sorted(
    {
        (admin_class.model, field_name)
        for _, model_admin in MODEL_ADMINS
        for admin_class in (model_admin, *model_admin.inlines)
        for field_name in admin_class.autocomplete_fields
    },
    key=lambda pair: (pair[0]._meta.label, pair[1]),
)


@pytest.mark.parametrize(
    ("model", "field_name"),
    AUTOCOMPLETES,
    ids=[f"{model._meta.label}.{field_name}" for model, field_name in AUTOCOMPLETES],
)
def test_autocomplete_answers(admin_client, model, field_name):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "",
            "app_label": model._meta.app_label,
            "model_name": model._meta.model_name,
            "field_name": field_name,
        },
    )
    assert response.status_code == 200
    assert "results" in response.json()


def _text_of(markup: str) -> str:
    text = re.sub(r"<[^>]+>", " ", markup)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


# The Ninetieth Session's provisional agenda as seed 001 prints it (lines 186-317), whitespace
# normalised, in the order it is printed.
NINETIETH_SESSION_AS_PRINTED = [
    "Tuesday, 29 November 2005",
    "10.00 - 11.00",
    "Opening procedures, election of officers and admission of new Members and observers",
    "Item 1: Opening of the session and credentials of representatives and observers",
    "Item 2: Election of officers",
    "Item 3: Adoption of the agenda",
    "11.00 - 12.00",
    "Item 4: Special Panel: Launching the IOM Business Advisory Board",
    "12.00 - 13.00",
    "Item 5: International Dialogue on Migration - Towards Policy Coherence on Migration",
    "(a) Opening Presentation",
    "by Mr. Gervais Appave, Director, Migration Policy, Research and Communications",
    "15.00 - 18.00",
    "(b) Towards Policy Coherence on Migration - High-level plenary presentations and discussion",
    "Wednesday, 30 November 2005",
    "10.00 - 13.00",
    "Item 5: International Dialogue on Migration",
    "(cont'd)",
    "(c) The Year in Review: Presentations and discussion of selected migration developments "
    "in 2005",
    "15.00 - 17.30",
    "(d) Migration and Development: Lessons learned and effective approaches - High level "
    "plenary presentations and discussion",
    "Policy coherence between migration and development",
    "Migration and the Millennium Development Goals",
    "Diaspora support to migration and development",
    "Partnerships",
    "17.30 - 18.00",
    "(e) Wrap-Up of the International Dialogue on Migration",
    "Thursday, 1 December 2005",
    "10.00 - 13.00",
    "Item 6: General Debate",
    "(a) Statements by the Director General and the Deputy Director General",
    "(b) Statements by Members and observers",
    "15.00 - 18.00",
    "General Debate (cont'd)",
    "Friday, 2 December 2005",
    "10.00",
    "Item 6: General Debate (cont'd)",
    "Item 7: Implications for IOM of the report of the Global Commission on International "
    "Migration",
    "Item 8: IOM Strategy document",
    "Item 9: Draft reports on the Eighty-eighth Session and the Eighty-ninth (Special) Session "
    "of the Council",
    "Item 10: Report on the Hundred and second Session of the Executive Committee",
    "Item 11: Summary update on the Programme and Budget for 2005",
    "Item 12: Status report on outstanding contributions to the Administrative Part of the Budget",
    "Item 13: Programme and Budget for 2006",
    "Item 14: IOM social security scheme",
    "Item 15: Other items arising from the Report of the Subcommittee on Budget and Finance",
    "Item 16: Election of the Executive Committee",
    "Item 17: Any other business",
    "Item 18: Date and place of the next session",
]


def _as_printed_section(admin_client, agenda) -> str:
    response = admin_client.get(_url(Agenda, "change", agenda.pk))
    assert response.status_code == 200
    content = response.content.decode()
    start = content.index('<div class="agenda-as-printed">')
    end = content.index("</section></div>", start)
    return _text_of(content[start:end])


def test_ninetieth_session_agenda_reads_as_printed(admin_client):
    agenda = Agenda.objects.get(council_session__number=90)

    text = _as_printed_section(admin_client, agenda)

    position = 0
    for expected in NINETIETH_SESSION_AS_PRINTED:
        found = text.find(expected, position)
        assert found >= 0, f"{expected!r} missing or out of order after: {text[position:][:200]!r}"
        position = found + len(expected)
    for number in range(1, 19):
        assert text.count(f"Item {number}:") == (2 if number in (5, 6) else 1), number
    # Item 5's afternoon slots are printed through their sub-items, never as a bare repeat.
    assert "15.00 - 18.00 Item 5" not in text
    assert text.count("Mr. Gervais Appave") == 1


def test_agenda_as_printed_takes_three_queries_whatever_its_size(django_assert_num_queries):
    agenda = Agenda.objects.get(council_session__number=90)
    small = Agenda.objects.create(meeting=Meeting.objects.order_by("pk").first())
    AgendaItem.objects.create(agenda=small, number=1, title="Opening")

    for each in (agenda, small):
        with django_assert_num_queries(3):  # items, their slots, their presenters
            agenda_as_printed(each)


def _data_as_rendered(response) -> dict:
    """The change form's values as the page shows them, inlines included."""
    forms = [response.context["adminform"].form]
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update(
            {management.add_prefix(name): management[name].value() for name in management.fields}
        )
        forms.extend(inline.formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            if isinstance(value, list | tuple):
                data[form.add_prefix(name)] = [str(each) for each in value]
            else:
                data[form.add_prefix(name)] = "on" if value is True else str(value)
    return data


@pytest.mark.parametrize(
    ("model", "lookup"),
    [
        (Agenda, {"council_session__number": 90}),
        (AgendaItem, {"dataset_id": "ag-90-05d"}),
        (Recommendation, {"reference": "IDM-2005-R001"}),
    ],
    ids=["agenda", "agenda-item", "recommendation"],
)
def test_saving_a_change_page_unchanged_changes_nothing(admin_client, model, lookup):
    obj = model._default_manager.get(**lookup)
    agenda = Agenda.objects.get(council_session__number=90)
    printed_before = agenda_as_printed(agenda)
    fields_before = model_to_dict(obj)
    url = _url(model, "change", obj.pk)

    response = admin_client.post(url, {**_data_as_rendered(admin_client.get(url)), "_save": "1"})

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert model_to_dict(model._default_manager.get(pk=obj.pk)) == fields_before
    assert agenda_as_printed(agenda) == printed_before


def test_agenda_without_an_event_is_refused_with_a_message(admin_client):
    agendas = Agenda.objects.count()
    data = {"title": "Draft agenda", "state": "draft"}
    data.update({"items-TOTAL_FORMS": "0", "items-INITIAL_FORMS": "0"})

    response = admin_client.post(_url(Agenda, "add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
    assert Agenda.objects.count() == agendas


def _changelist_queries(admin_client, model, term: str) -> int:
    url = _url(model, "changelist")
    with CaptureQueriesContext(connection) as context:
        response = admin_client.get(url, {"q": term})
    assert response.status_code == 200
    return len(context.captured_queries)


def test_organisation_changelist_queries_do_not_grow_with_rows(
    admin_client, django_assert_max_num_queries
):
    parent = Organisation.objects.create(name="Zqx Parent", kind=OrganisationKind.OTHER)
    Organisation.objects.create(name="Zqx 0", kind=OrganisationKind.NGO, parent=parent)
    admin_client.get(_url(Organisation, "changelist"))
    few = _changelist_queries(admin_client, Organisation, "Zqx")

    for index in range(1, 30):
        other_parent = Organisation.objects.create(
            name=f"Zqx Parent {index}", kind=OrganisationKind.OTHER
        )
        Organisation.objects.create(
            name=f"Zqx {index}", kind=OrganisationKind.NGO, parent=other_parent
        )
    with django_assert_max_num_queries(few):
        response = admin_client.get(_url(Organisation, "changelist"), {"q": "Zqx"})
    assert response.context["cl"].result_count == 60


def _recommendation(index: int, *, person, organisations) -> Recommendation:
    recommendation = Recommendation.objects.create(
        reference=f"ZQX-2099-R{index:03d}",
        text=f"Zqx recommendation {index}",
        made_by_person=person,
        made_by_organisation=organisations[0],
    )
    for organisation in organisations:
        Assignment.objects.create(recommendation=recommendation, organisation=organisation)
    return recommendation


def test_recommendation_changelist_queries_do_not_grow_with_rows(
    admin_client, django_assert_max_num_queries
):
    organisations = list(Organisation.objects.order_by("pk")[:3])
    person = Person.objects.order_by("pk").first()
    _recommendation(0, person=person, organisations=organisations)
    admin_client.get(_url(Recommendation, "changelist"))
    few = _changelist_queries(admin_client, Recommendation, "Zqx")

    for index in range(1, 30):
        _recommendation(index, person=person, organisations=organisations)
    with django_assert_max_num_queries(few):
        response = admin_client.get(_url(Recommendation, "changelist"), {"q": "Zqx"})
    assert response.context["cl"].result_count == 30


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_changelist_of_the_dataset_stays_within_a_fixed_budget(
    admin_client, django_assert_max_num_queries, model, model_admin
):
    # Up to 100 rows a page (241 organisations, 259 recommendations, 47 workshop partners):
    # a query per row would go far beyond this. (One of them asks whether the account has an
    # authenticator device, for the second factor.)
    url = _url(model, "changelist")
    admin_client.get(url)
    with django_assert_max_num_queries(11):
        assert admin_client.get(url).status_code == 200
