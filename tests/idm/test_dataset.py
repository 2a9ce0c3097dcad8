import json

import pytest
from django.core.management import CommandError, call_command

from idm.dataset import dataset_load
from idm.models import (
    Agenda,
    AgendaItem,
    AgendaSlot,
    CouncilSession,
    Dialogue,
    Document,
    PolicyDomain,
)
from recommendations.models import Assignment, Recommendation
from stakeholders.models import Group, Organisation, Person
from workshops.enums import ProposalState
from workshops.models import ProposalRound, ThemeProposal, Workshop

# The counts the dataset's README states for each kind of record.
DATASET_COUNTS = {
    Organisation: 241,
    Person: 59,
    CouncilSession: 4,
    Dialogue: 4,
    AgendaItem: 25,
    Workshop: 31,
    ThemeProposal: 12,
    PolicyDomain: 27,
    Recommendation: 259,
    Document: 175,
}

# The Ninetieth Session's provisional agenda as the discussion note prints it (seed 001).
NINETIETH_AGENDA = [
    ("Item 1", "Opening of the session and credentials of representatives and observers"),
    ("Item 2", "Election of officers"),
    ("Item 3", "Adoption of the agenda"),
    ("Item 4", "Special Panel: Launching the IOM Business Advisory Board"),
    ("Item 5", "International Dialogue on Migration - Towards Policy Coherence on Migration"),
    ("(a)", "Opening Presentation"),
    (
        "(b)",
        "Towards Policy Coherence on Migration - High-level plenary presentations and discussion",
    ),
    (
        "(c)",
        "The Year in Review: Presentations and discussion of selected migration "
        "developments in 2005",
    ),
    (
        "(d)",
        "Migration and Development: Lessons learned and effective approaches - High level "
        "plenary presentations and discussion",
    ),
    ("(e)", "Wrap-Up of the International Dialogue on Migration"),
    ("Item 6", "General Debate"),
    ("(a)", "Statements by the Director General and the Deputy Director General"),
    ("(b)", "Statements by Members and observers"),
    (
        "Item 7",
        "Implications for IOM of the report of the Global Commission on International Migration",
    ),
    ("Item 8", "IOM Strategy document"),
    (
        "Item 9",
        "Draft reports on the Eighty-eighth Session and the Eighty-ninth (Special) Session "
        "of the Council",
    ),
    ("Item 10", "Report on the Hundred and second Session of the Executive Committee"),
    ("Item 11", "Summary update on the Programme and Budget for 2005"),
    (
        "Item 12",
        "Status report on outstanding contributions to the Administrative Part of the Budget",
    ),
    ("Item 13", "Programme and Budget for 2006"),
    ("Item 14", "IOM social security scheme"),
    ("Item 15", "Other items arising from the Report of the Subcommittee on Budget and Finance"),
    ("Item 16", "Election of the Executive Committee"),
    ("Item 17", "Any other business"),
    ("Item 18", "Date and place of the next session"),
]


def _counts():
    models = [*DATASET_COUNTS, AgendaSlot, Agenda, Assignment, Group, ProposalRound]
    return {model: model.objects.count() for model in models}


def test_dataset_loads_every_record_of_the_readme_counts(idm_data):
    for model, expected in DATASET_COUNTS.items():
        assert model.objects.count() == expected, model.__name__


def test_second_load_creates_nothing_new(idm_data):
    before = _counts()
    result = dataset_load()
    assert result.total_created == 0
    assert _counts() == before


def test_reload_keeps_what_an_officer_edited(idm_data):
    iom = Organisation.objects.get(acronym="IOM")
    iom.name = "International Organization for Migration (edited)"
    iom.save()
    dataset_load()
    iom.refresh_from_db()
    assert iom.name.endswith("(edited)")


def test_ninetieth_session_agenda_is_in_the_printed_order(idm_data):
    session = CouncilSession.objects.get(body="council", number=90)
    assert session.name == "Ninetieth Session"
    assert str(session.room) == "Conference Room XVII, Palais des Nations"
    items = list(session.agenda.items.order_by("position"))
    assert [(item.label, item.title) for item in items] == NINETIETH_AGENDA
    assert [item.number for item in items if not item.sub_item] == list(range(1, 19))


def test_ninetieth_session_agenda_has_the_printed_times_and_presenter(idm_data):
    agenda = CouncilSession.objects.get(number=90, body="council").agenda
    item_5a = agenda.items.get(number=5, sub_item="a")
    assert item_5a.parent.number == 5
    assert item_5a.presenter_text == (
        "Mr. Gervais Appave, Director, Migration Policy, Research and Communications"
    )
    assert [str(p) for p in item_5a.presenters.all()] == ["Mr. Gervais Appave"]
    slot = item_5a.slots.get()
    assert str(slot) == "Tuesday 29 November 2005 12.00 - 13.00"
    item_5d = agenda.items.get(number=5, sub_item="d")
    assert [str(s) for s in item_5d.slots.all()] == ["Wednesday 30 November 2005 15.00 - 17.30"]
    assert item_5d.bullets == [
        "Policy coherence between migration and development",
        "Migration and the Millennium Development Goals",
        "Diaspora support to migration and development",
        "Partnerships",
    ]
    item_5 = agenda.items.get(number=5, sub_item="")
    assert [(str(s), s.continued) for s in item_5.slots.all()] == [
        ("Tuesday 29 November 2005 12.00 - 13.00", False),
        ("Tuesday 29 November 2005 15.00 - 18.00", False),
        ("Wednesday 30 November 2005 10.00 - 13.00", True),
        ("Wednesday 30 November 2005 15.00 - 18.00", True),
    ]
    assert str(agenda.items.get(number=1).slots.get()) == "Tuesday 29 November 2005 10.00 - 11.00"


def test_records_keep_their_source_in_the_seeds(idm_data):
    paper = Document.objects.get(symbol="MC/INF/279")
    assert paper.dataset_id == "doc-seed-000-idm2005-paper"
    assert paper.source["file"] == "000_873854d64a514fd8.txt"
    assert paper.source_reference.startswith("000 (IDM 2005 paper (MC/INF/279)), lines 1-4")


def test_recommendations_load_with_their_addressees(idm_data):
    assert Assignment.objects.count() == 79
    assert Recommendation.objects.filter(reference="IDM-2005-R001").exists()
    assert Recommendation.objects.filter(reference__startswith="IDM-2013-").count() == 222
    ilo = Organisation.objects.get(acronym="ILO")
    assert ilo.assignments.count() == 4
    multi = Recommendation.objects.get(
        dataset_id__isnull=False,
        assignments__isnull=False,
        text__icontains="GCC countries",
        reference__startswith="IDM-2013",
    )
    assert multi.assignments.count() >= 1


def test_2006_workshop_round_is_open_with_three_candidate_topics(idm_data):
    round_ = ProposalRound.objects.get(target_year=2006, kind="workshop_topic")
    assert round_.topics_to_select == 2
    proposals = {p.title: p for p in round_.proposals.all()}
    assert set(proposals) == {
        "Migration and the Environment",
        "South/South Migration",
        "Migration of Healthcare Workers",
    }
    # The seed stops before the decision: nothing is selected yet.
    assert {p.state for p in proposals.values()} == {ProposalState.SUBMITTED}
    environment = proposals["Migration and the Environment"].events.values_list("kind", flat=True)
    assert "deferred" in environment
    south = proposals["South/South Migration"].events.values_list("kind", "year")
    assert ("not_endorsed", 2005) in south


def test_workshop_funding_is_as_reported(idm_data):
    workshop = Workshop.objects.get(title="Developing Capacity to Manage Migration")
    assert workshop.attendance_total == 175
    funding = workshop.fundings.get()
    assert funding.funded_participants == 60
    assert {d.name for d in funding.donors.all()} == {"United States", "Australia"}


def test_load_command_reports_a_missing_file_in_one_line(tmp_path):
    with pytest.raises(CommandError, match="dataset file not found"):
        call_command("load_idm_data", path=tmp_path / "missing.json")


def test_load_command_refuses_a_file_of_the_wrong_shape(tmp_path, db):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"organisations": []}))
    with pytest.raises(CommandError, match="lacks council_sessions, agenda_items"):
        call_command("load_idm_data", path=bad)
    assert Organisation.objects.count() == 0
