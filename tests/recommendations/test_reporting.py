"""Follow-up reports: the figures checked against counts made here, the files, the schedule."""

import csv
import datetime as dt
import gzip
import io
from collections import Counter, defaultdict
from pathlib import Path

import openpyxl
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from idm.models import PolicyDomain
from recommendations import reporting
from recommendations.enums import (
    ImplementationStatus,
    RecommendationState,
    ReportKind,
    ReportRunState,
)
from recommendations.models import Assignment, Recommendation, ReportRun
from recommendations.reporting import (
    ReportError,
    report_run_build,
    report_run_create,
    report_runs_rebuild_failed,
    report_runs_schedule,
)
from tests.factories.idm import CouncilSessionFactory, DialogueFactory
from tests.factories.recommendations import AssignmentFactory, RecommendationFactory
from tests.factories.stakeholders import OrganisationFactory

CONCLUDED = ImplementationStatus.concluded
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SECRETARIAT_EMAILS = ["idm@example.org", "head@example.org"]
    return settings.MEDIA_ROOT


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def vary(assignments):
    """Give the 2005 assignments a spread of statuses, progress, responses and due dates."""
    statuses = list(ImplementationStatus)
    responses = ["pending", "supported", "supported_in_part", "noted"]
    for index, assignment in enumerate(assignments):
        status = statuses[index % len(statuses)]
        assignment.status = status
        assignment.progress = {"not_started": 0, "implemented": 100}.get(status, (index * 13) % 100)
        assignment.response = responses[index % 4]
        assignment.due_date = dt.date(2025, 6, 1) + dt.timedelta(days=40 * (index % 11))
        assignment.save()


def csv_sections(text: str) -> dict[str, list[list[str]]]:
    sections, current = {}, None
    for row in csv.reader(io.StringIO(text)):
        if row and row[0].startswith("# "):
            current = row[0][2:]
            sections[current] = []
        elif row and current is not None:
            sections[current].append(row)
    return sections


def same(value):
    """A cell as a number when it is one (XLSX gives 100.0 back as 100), else as text."""
    text = "" if value is None else str(value)
    try:
        return float(text)
    except ValueError:
        return text


def build(**kwargs) -> ReportRun:
    run = report_run_create(kind=kwargs.pop("kind", ReportKind.ON_DEMAND), queue=False, **kwargs)
    return report_run_build(run=run)


# --- Figures -------------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_report_figures_on_the_2005_dataset_match_counts_made_independently(idm_data):
    vary(Assignment.objects.order_by("pk"))
    # One draft and one archived recommendation are not under follow-up.
    drafted = Recommendation.objects.order_by("pk")[0]
    Recommendation.objects.filter(pk=drafted.pk).update(state=RecommendationState.DRAFT)
    archived = Recommendation.objects.order_by("pk")[1]
    Recommendation.objects.filter(pk=archived.pk).update(archived_at=timezone.now())

    run = build()

    assert run.state == ReportRunState.DONE, run.error
    figures = run.figures
    today = timezone.localdate()
    recommendations = [
        r
        for r in Recommendation.objects.prefetch_related("assignments", "policy_domains")
        if r.state == RecommendationState.ADOPTED and r.archived_at is None
    ]
    assignments = [a for r in recommendations for a in r.assignments.all()]
    assert run.recommendation_count == len(recommendations) == figures["totals"]["recommendations"]
    assert len(recommendations) == 257
    # Recommendations under several policy domains are counted once in the totals.
    assert any(len(r.policy_domains.all()) > 1 and r.assignments.all() for r in recommendations)
    assert figures["totals"]["assignments"] == len(assignments) > 50

    def overdue(a):
        return a.due_date is not None and a.due_date < today and a.status not in CONCLUDED

    concluded = sum(a.status in CONCLUDED for a in assignments)
    totals = figures["totals"]
    assert totals["concluded"] == concluded
    assert totals["completion_rate"] == round(100 * concluded / len(assignments), 1)
    assert totals["average_progress"] == round(
        sum(a.progress for a in assignments) / len(assignments), 1
    )
    assert totals["overdue"] == sum(overdue(a) for a in assignments) > 0
    assert totals["statuses"] == Counter(a.status for a in assignments) | {
        s: 0 for s in ImplementationStatus.values if s not in {a.status for a in assignments}
    }

    # Per agency.
    agencies = defaultdict(list)
    for a in assignments:
        agencies[a.organisation_id].append(a)
    by_agency = {row["id"]: row for row in figures["by_agency"]}
    assert len(by_agency) == len(agencies)
    for org_id, mine in agencies.items():
        row = by_agency[org_id]
        assert mine[0].organisation.name in row["label"]
        assert row["assignments"] == row["recommendations"] == len(mine)
        assert row["overdue"] == sum(overdue(a) for a in mine)
        assert row["concluded"] == sum(a.status in CONCLUDED for a in mine)
        for response in ("pending", "supported", "supported_in_part", "noted"):
            assert row["responses"][response] == sum(a.response == response for a in mine)

    # Per dialogue.
    by_dialogue = {row["key"]: row for row in figures["by_dialogue"]}
    in_2005 = [r for r in recommendations if r.dialogue_id and r.dialogue.year == 2005]
    assert by_dialogue["2005"]["recommendations"] == len(in_2005) > 0
    assert by_dialogue["2005"]["assignments"] == sum(r.assignments.count() for r in in_2005)
    assert sum(row["recommendations"] for row in figures["by_dialogue"]) == len(recommendations)
    assert sum(row["recommendations"] for row in figures["by_workshop"]) == len(recommendations)

    # Per policy domain, the coherence matrix and the domains with no active agency.
    by_domain = {row["key"]: row for row in figures["by_domain"]}
    matrix = {
        (domain["key"], agency["id"]): cell
        for domain, cells in zip(
            figures["coherence"]["domains"], figures["coherence"]["cells"], strict=True
        )
        for agency, cell in zip(figures["coherence"]["agencies"], cells, strict=True)
        if cell
    }
    expected_cells = defaultdict(lambda: [0, 0])
    without_active = []
    for domain in PolicyDomain.objects.all():
        mine = [r for r in recommendations if domain in r.policy_domains.all()]
        if not mine:
            assert domain.slug not in by_domain
            continue
        row = by_domain[domain.slug]
        theirs = [a for r in mine for a in r.assignments.all()]
        assert row["recommendations"] == len(mine)
        assert row["assignments"] == len(theirs)
        assert row["overdue"] == sum(overdue(a) for a in theirs)
        open_ = [
            r
            for r in mine
            if not r.assignments.all()
            or any(a.status not in CONCLUDED for a in r.assignments.all())
        ]
        unattended = [
            r for r in open_ if all(a.status != "in_progress" for a in r.assignments.all())
        ]
        assert row["open"] == len(open_)
        assert row["without_active_agency"] == len(unattended)
        if open_ and not any(a.status == "in_progress" for a in theirs):
            without_active.append(domain.name)
        for a in theirs:
            key = (domain.slug, a.organisation_id)
            expected_cells[key][0] += 1
            if a.status in {"in_progress", *CONCLUDED} and not overdue(a):
                expected_cells[key][1] += 1
    assert matrix == dict(expected_cells)
    assert sorted(figures["domains_without_active_agency"]) == sorted(without_active)
    assert without_active  # the 2005 data leaves some domains without an agency at work

    # The overdue list: every overdue assignment with its days, longest first.
    expected_days = sorted(
        ((today - a.due_date).days for a in assignments if overdue(a)), reverse=True
    )
    assert [row["days overdue"] for row in figures["overdue"]["top"]] == expected_days[:200]


@time_machine.travel(NOW, tick=False)
def test_csv_and_xlsx_hold_the_same_numbers_and_the_html_shows_them(idm_data):
    vary(Assignment.objects.order_by("pk"))
    run = build()

    text = run.csv_file.open("rb").read().decode("utf-8")
    sections = csv_sections(text)
    workbook = openpyxl.load_workbook(run.xlsx_file.path, read_only=True)
    expected_titles = [
        "Summary",
        "By dialogue",
        "By workshop",
        "By agency",
        "By policy domain",
        "Coherence matrix",
        "Changes since previous report",
        "Overdue",
    ]
    assert list(sections) == expected_titles
    assert workbook.sheetnames == [title[:31] for title in expected_titles]
    for title in expected_titles:
        sheet_rows = [
            [same(value) for value in row]
            for row in workbook[title[:31]].iter_rows(values_only=True)
        ]
        assert sheet_rows == [[same(value) for value in row] for row in sections[title]], title
    summary = dict(sections["Summary"][1:])
    assert summary["overdue assignments"] == str(run.figures["totals"]["overdue"])
    assert len(sections["Overdue"]) - 1 == run.figures["totals"]["overdue"]
    agency_rows = {row[0]: row for row in sections["By agency"][1:]}
    header = sections["By agency"][0]
    for row in run.figures["by_agency"]:
        assert agency_rows[row["label"]][header.index("overdue")] == str(row["overdue"])

    page = run.html_file.open("rb").read().decode("utf-8")
    assert "<svg" in page and "<script" not in page
    assert "Coherence matrix" in page and "Completion rate" in page
    for name in run.figures["domains_without_active_agency"]:
        assert name in page


@pytest.mark.parametrize("earlier_format", [False, True], ids=["snapshot", "text snapshot"])
def test_changes_since_the_previous_report(db, earlier_format):
    """Also against a snapshot in the earlier format (a tab-separated line per assignment), as
    left by a report made before an upgrade."""
    ilo, who = OrganisationFactory(acronym="ILO"), OrganisationFactory(acronym="WHO")
    adopted = {"state": RecommendationState.ADOPTED}
    r1, r2, r3 = (RecommendationFactory(**adopted) for _ in range(3))
    a1 = AssignmentFactory(recommendation=r1, organisation=ilo)
    AssignmentFactory(recommendation=r1, organisation=who)
    AssignmentFactory(recommendation=r2, organisation=ilo)
    with time_machine.travel(NOW, tick=False):
        first = build()
    assert first.figures["changes"]["previous"] is None
    with first.snapshot_file.open("rb") as snapshot:
        rows = [row for block in reporting.read_snapshot(snapshot) for row in block.decoded()]
    assert [row[:3] for row in rows] == [
        (a.recommendation_id, a.pk, a.organisation_id)
        for a in Assignment.objects.order_by("recommendation_id", "pk")
    ]
    if earlier_format:
        with gzip.open(first.snapshot_file.path, "wt", encoding="utf-8") as snapshot:
            snapshot.writelines("\t".join(map(str, row)) + "\n" for row in rows)

    Assignment.objects.filter(pk=a1.pk).update(status="implemented", progress=100)
    Recommendation.objects.filter(pk=r2.pk).update(archived_at=NOW)  # no longer followed
    AssignmentFactory(recommendation=r3, organisation=who)  # new
    with time_machine.travel(NOW + dt.timedelta(days=31), tick=False):
        second = build()

    assert second.previous == first
    changes = second.figures["changes"]
    assert changes["previous"]["id"] == first.pk
    assert changes["counts"] == {
        "changed": 1,
        "status changed": 1,
        "newly concluded": 1,
        "new": 1,
        "closed": 1,
    }
    rows = {(row["reference"], row["change"]): row for row in changes["top"]}
    assert rows[(r1.reference, "changed")]["status"] == "Implemented"
    assert rows[(r1.reference, "changed")]["previous progress"] == 0
    assert rows[(r1.reference, "changed")]["progress"] == 100
    assert (r2.reference, "closed") in rows and (r3.reference, "new") in rows
    section = csv_sections(second.csv_file.open("rb").read().decode())[
        "Changes since previous report"
    ]
    assert len(section) == 4  # header and three rows
    # Progress over time: a point per run.
    assert [point["completion_rate"] for point in second.figures["history"]] == [0.0, 33.3]


@pytest.mark.parametrize("damage", ["cut off", "not gzip"])
def test_a_damaged_previous_snapshot_lists_no_changes_and_the_report_is_made(db, damage, caplog):
    organisation = OrganisationFactory()
    for _ in range(30):
        AssignmentFactory(
            recommendation=RecommendationFactory(state=RecommendationState.ADOPTED),
            organisation=organisation,
        )
    first = build()
    path = Path(first.snapshot_file.path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "cut off" else b"not a snapshot" * 50)
    Assignment.objects.update(status="in_progress", progress=50)

    second = build()

    assert second.state == ReportRunState.DONE, second.error
    assert second.previous == first
    changes = second.figures["changes"]
    assert changes["previous"] is None and changes["top"] == []
    assert set(changes["counts"].values()) == {0}
    sections = csv_sections(second.csv_file.open("rb").read().decode())
    assert len(sections["Changes since previous report"]) == 1  # the header only
    assert "is unreadable" in caplog.text
    # The next report compares with this one's snapshot again.
    Assignment.objects.update(progress=60)
    assert build().figures["changes"]["counts"]["changed"] == 30


@pytest.mark.parametrize("shifted", [False, True], ids=["same batches", "batches shifted"])
def test_changes_are_found_whether_or_not_the_batches_line_up_with_the_previous_ones(
    db, monkeypatch, shifted
):
    """A batch the same as the previous report's is passed whole; one that differs, or whose
    bounds moved (a recommendation archived before it), is compared row by row."""
    from recommendations import report_outputs, report_reading

    monkeypatch.setattr(report_reading, "BATCH_SIZE", 3)
    organisation = OrganisationFactory()
    recommendations = [RecommendationFactory(state=RecommendationState.ADOPTED) for _ in range(9)]
    assignments = [
        AssignmentFactory(recommendation=recommendation, organisation=organisation)
        for recommendation in recommendations
    ]
    first = build()
    with first.snapshot_file.open("rb") as snapshot:
        assert len(list(reporting.read_snapshot(snapshot))) == 3  # a block per batch
    Assignment.objects.filter(pk=assignments[7].pk).update(status="in_progress", progress=40)
    if shifted:
        Recommendation.objects.filter(pk=recommendations[1].pk).update(archived_at=NOW)
    decoded = []
    original = report_outputs.SnapshotBlock.decoded
    monkeypatch.setattr(
        report_outputs.SnapshotBlock,
        "decoded",
        lambda block: decoded.append(block.last) or original(block),
    )
    second = build()
    if shifted:  # every block unzipped and compared
        assert decoded == [recommendations[index].pk for index in (2, 5, 8)]
    else:  # the first two taken whole, unchanged; only the third compared
        assert decoded == [recommendations[8].pk]

    assert second.previous == first
    changes = second.figures["changes"]
    assert changes["counts"]["changed"] == 1 and changes["counts"]["new"] == 0
    assert changes["counts"]["closed"] == (1 if shifted else 0)
    changed = [row for row in changes["top"] if row["change"] == "changed"]
    assert [row["reference"] for row in changed] == [recommendations[7].reference]
    # The next report finds nothing new against this one.
    assert set(build().figures["changes"]["counts"].values()) == {0}


def test_report_limited_to_a_dialogue_and_compared_with_the_same_scope(db):
    dialogue = DialogueFactory()
    mine = RecommendationFactory(state=RecommendationState.ADOPTED, dialogue=dialogue)
    RecommendationFactory(state=RecommendationState.ADOPTED)
    everything = build()
    one = build(dialogue=dialogue)
    assert everything.recommendation_count == 2
    assert one.recommendation_count == 1
    assert one.previous is None  # the full report is another scope
    assert one.figures["by_dialogue"][0]["key"] == str(dialogue.year)
    with one.snapshot_file.open("rb") as snapshot:
        blocks = list(reporting.read_snapshot(snapshot))
    assert [block.decoded() for block in blocks] == [[]]  # no assignment yet
    assert one.figures["by_dialogue"][0]["recommendations"] == 1
    assert mine.dialogue == dialogue


# --- Streaming -----------------------------------------------------------------------------------


def test_queries_per_batch_are_constant(db):
    organisation = OrganisationFactory()
    for _ in range(7):
        recommendation = RecommendationFactory(state=RecommendationState.ADOPTED)
        AssignmentFactory(recommendation=recommendation, organisation=organisation)
    scope = reporting.report_scope()
    today = dt.date(2026, 1, 1)
    with CaptureQueriesContext(connection) as three_batches:
        assert len(list(reporting.iter_batches(scope, today=today, batch_size=3))) == 3
    with CaptureQueriesContext(connection) as seven_batches:
        assert len(list(reporting.iter_batches(scope, today=today, batch_size=1))) == 7
    per_batch = reporting.QUERIES_PER_BATCH
    # A constant set-up (labels), then per batch; a last query finds nothing more unless the
    # last batch was short.
    setup = len(three_batches) - 3 * per_batch
    assert 0 < setup <= 10
    assert len(seven_batches) == setup + 7 * per_batch + 1
    # The figures are counted with the batches, by the queries counted above.
    counts = reporting.Counts()
    batches = reporting.iter_batches(scope, today=today, batch_size=3, counts=counts)
    assert len(list(batches)) == 3
    tally = counts.result()
    assert sum(tally.recommendations.values()) == 7 and sum(tally.assignments.values()) == 7


def test_reading_stopped_early_leaves_the_connection_usable(db):
    """The connection still serves other queries between batches, and after the reading is
    closed half-way."""
    for _ in range(3):
        AssignmentFactory(recommendation=RecommendationFactory(state=RecommendationState.ADOPTED))
    batches = reporting.iter_batches(
        reporting.report_scope(), today=dt.date(2026, 1, 1), batch_size=1
    )
    assert len(next(batches).snapshot) == 1
    assert Recommendation.objects.filter(state=RecommendationState.ADOPTED).count() == 3
    assert len(next(batches).snapshot) == 1
    batches.close()
    assert Recommendation.objects.count() == 3
    again = reporting.iter_batches(
        reporting.report_scope(), today=dt.date(2026, 1, 1), batch_size=2
    )
    assert sum(len(batch.snapshot) for batch in again) == 3


# --- Building: once, all or nothing, mailed ------------------------------------------------------


def test_build_mails_the_secretariat_with_the_csv_and_xlsx_and_a_link(db, mailoutbox, settings):
    settings.SITE_URL = "https://idm.example.org"
    RecommendationFactory(state=RecommendationState.ADOPTED)
    run = build()
    assert run.emailed_at is not None
    (mail,) = mailoutbox
    assert mail.to == ["idm@example.org", "head@example.org"]
    assert sorted(name.rsplit(".", 1)[1] for name, _content, _type in mail.attachments) == [
        "csv",
        "xlsx",
    ]
    link = f"https://idm.example.org/admin/recommendations/reportrun/{run.pk}/change/"
    assert link in mail.body
    assert link in mail.alternatives[0][0]
    assert "\n" not in mail.subject


def test_files_beyond_the_attachment_budget_are_linked_not_attached(db, mailoutbox, monkeypatch):
    RecommendationFactory(state=RecommendationState.ADOPTED)
    run = build()  # mailed with both files
    ReportRun.objects.filter(pk=run.pk).update(emailed_at=None)
    run.refresh_from_db()
    monkeypatch.setattr(reporting, "MAX_ATTACHMENT_BYTES", run.xlsx_file.size)

    reporting.report_run_email(run=run)

    mail = mailoutbox[-1]
    assert [name.rsplit(".", 1)[1] for name, _content, _type in mail.attachments] == ["xlsx"]
    csv_name = Path(run.csv_file.name).name
    assert f"Too large to attach, download them from the admin: {csv_name}." in " ".join(
        mail.body.split()
    )
    assert csv_name in mail.alternatives[0][0]


def test_building_a_done_run_again_changes_nothing(db, mailoutbox):
    RecommendationFactory(state=RecommendationState.ADOPTED)
    run = build()
    files = sorted(stored_files(Path(run.html_file.path).parents[3]))
    again = report_run_build(run=run)
    assert again.finished_at == run.finished_at and again.html_file.name == run.html_file.name
    assert sorted(stored_files(Path(run.html_file.path).parents[3])) == files
    assert len(mailoutbox) == 1


def test_a_failed_build_is_marked_failed_and_leaves_no_file(
    db, media_root, monkeypatch, mailoutbox
):
    RecommendationFactory(state=RecommendationState.ADOPTED)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(reporting, "write_xlsx", broken)
    run = build()
    assert run.state == ReportRunState.FAILED
    assert "disk full" in run.error
    assert not run.html_file and not run.csv_file and not run.xlsx_file
    assert stored_files(media_root) == []
    assert mailoutbox == []


def test_a_failure_while_storing_the_files_removes_those_already_stored(
    db, media_root, monkeypatch
):
    RecommendationFactory(state=RecommendationState.ADOPTED)
    field = ReportRun._meta.get_field("xlsx_file")
    real_save = field.attr_class.save

    def save(self, name, content, save=True):
        if name.endswith(".xlsx"):
            raise OSError("storage went away")
        return real_save(self, name, content, save)

    monkeypatch.setattr(field.attr_class, "save", save)
    run = build()
    assert run.state == ReportRunState.FAILED
    assert stored_files(media_root) == []
    fresh = ReportRun.objects.get(pk=run.pk)
    assert not fresh.html_file and fresh.figures == {}

    monkeypatch.setattr(field.attr_class, "save", real_save)
    (requeued,) = report_runs_rebuild_failed(runs=ReportRun.objects.all())
    assert requeued.state == ReportRunState.QUEUED
    rebuilt = report_run_build(run=requeued)
    assert rebuilt.state == ReportRunState.DONE and rebuilt.error == ""


# --- Creating and scheduling ---------------------------------------------------------------------


def test_create_queues_the_build_after_commit(db, django_capture_on_commit_callbacks, monkeypatch):
    published = []
    monkeypatch.setattr(reporting, "enqueue_on_commit", lambda task, **kw: published.append(kw))
    run = report_run_create(kind=ReportKind.ON_DEMAND)
    assert published == [{"run_id": run.pk}]
    assert run.state == ReportRunState.QUEUED


def test_a_period_already_made_returns_the_existing_run(db):
    with time_machine.travel(NOW, tick=False):
        first = report_run_create(kind=ReportKind.MONTHLY, queue=False)
        again = report_run_create(kind=ReportKind.MONTHLY, queue=False)
    assert first == again and first.period_key == "2026-03"
    assert ReportRun.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "weekly"}, "kind"),
        ({"kind": ReportKind.SESSION}, "council_session"),
        ({"kind": ReportKind.MONTHLY, "period_key": "2026-13"}, "period"),
        ({"kind": ReportKind.MONTHLY, "dialogue": "dialogue"}, "dialogue"),
    ],
)
def test_create_refuses_what_cannot_be_made(db, kwargs, field):
    if kwargs.get("dialogue") == "dialogue":
        kwargs["dialogue"] = DialogueFactory()
    with pytest.raises(ReportError) as refused:
        report_run_create(queue=False, **kwargs)
    assert refused.value.field == field
    assert ReportRun.objects.count() == 0


def test_schedule_makes_the_monthly_report_once_a_month(db, monkeypatch):
    queued = []
    monkeypatch.setattr(reporting, "enqueue_on_commit", lambda task, **kw: queued.append(kw))
    with time_machine.travel(dt.datetime(2026, 3, 1, 0, 5, tzinfo=dt.UTC), tick=False):
        (monthly,) = report_runs_schedule()
        assert report_runs_schedule() == []
    assert monthly.kind == ReportKind.MONTHLY and monthly.period_key == "2026-03"
    # A schedule that missed days catches up; the next month gets its own.
    with time_machine.travel(dt.datetime(2026, 3, 20, tzinfo=dt.UTC), tick=False):
        assert report_runs_schedule() == []
    with time_machine.travel(dt.datetime(2026, 4, 3, tzinfo=dt.UTC), tick=False):
        (april,) = report_runs_schedule()
    assert april.period_key == "2026-04"
    assert queued[0] == {"run_id": monthly.pk} and {"run_id": april.pk} in queued


def test_schedule_makes_a_session_report_before_a_dialogue_session(db, monkeypatch):
    monkeypatch.setattr(reporting, "enqueue_on_commit", lambda task, **kw: None)
    session = CouncilSessionFactory(start_date=dt.date(2026, 3, 24), dialogue=DialogueFactory())
    CouncilSessionFactory(start_date=dt.date(2026, 3, 20))  # no dialogue held there
    CouncilSessionFactory(start_date=dt.date(2026, 4, 30), dialogue=DialogueFactory())  # later
    with time_machine.travel(dt.datetime(2026, 3, 5, tzinfo=dt.UTC), tick=False):
        report_runs_schedule()  # the monthly one
        assert report_runs_schedule() == []  # 19 days before: not yet
    with time_machine.travel(dt.datetime(2026, 3, 12, tzinfo=dt.UTC), tick=False):
        (before,) = report_runs_schedule()
        assert report_runs_schedule() == []
    assert before.kind == ReportKind.SESSION
    assert before.council_session == session
    assert before.period_key == f"council-session-{session.pk}"
    with time_machine.travel(dt.datetime(2026, 3, 25, tzinfo=dt.UTC), tick=False):
        assert report_runs_schedule() == []  # the session has started
    assert ReportRun.objects.count() == 2


# --- Admin ---------------------------------------------------------------------------------------


@pytest.fixture
def officer(client):
    from stakeholders.enums import ActingRole
    from stakeholders.services import representative_login_ensure

    user = representative_login_ensure(
        username="officer",
        password="unused",
        organisation=OrganisationFactory(acronym="IOM"),
        role=ActingRole.SECRETARIAT,
    ).user
    client.force_login(user)
    return client


def test_admin_lists_runs_and_serves_their_files_to_staff_only(db, officer, client):
    from django.urls import reverse

    RecommendationFactory(state=RecommendationState.ADOPTED)
    run = build()
    page = officer.get(reverse("admin:recommendations_reportrun_changelist"))
    assert page.status_code == 200
    assert reverse("admin:recommendations_reportrun_build").encode() in page.content
    detail = officer.get(reverse("admin:recommendations_reportrun_change", args=[run.pk]))
    assert detail.status_code == 200
    assert b"/media/" not in detail.content
    for kind, disposition in (("html", "inline"), ("csv", "attachment"), ("xlsx", "attachment")):
        url = reverse("admin:recommendations_reportrun_file", args=[run.pk, kind])
        assert url.encode() in detail.content
        response = officer.get(url)
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith(disposition)
    officer.logout()
    url = reverse("admin:recommendations_reportrun_file", args=[run.pk, "csv"])
    assert officer.get(url).status_code == 302  # to the login page


def test_admin_builds_a_report_now_and_rebuilds_failed_ones(db, officer, monkeypatch):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    queued = []
    monkeypatch.setattr(reporting, "enqueue_on_commit", lambda task, **kw: queued.append(kw))
    build_url = reverse("admin:recommendations_reportrun_build")
    assert officer.get(build_url).status_code == 200
    response = officer.post(build_url, {"dialogue": ""})
    run = ReportRun.objects.get()
    assert response.status_code == 302 and queued == [{"run_id": run.pk}]
    queued_page = officer.get(response.url)  # the run's page, files to come
    assert queued_page.status_code == 200 and b"Queued" in queued_page.content
    assert run.kind == ReportKind.ON_DEMAND and run.requested_by is not None

    ReportRun.objects.filter(pk=run.pk).update(state=ReportRunState.FAILED, error="boom")
    officer.post(
        reverse("admin:recommendations_reportrun_changelist"),
        {"action": "rebuild_failed", ACTION_CHECKBOX_NAME: [run.pk]},
    )
    run.refresh_from_db()
    assert run.state == ReportRunState.QUEUED and run.error == ""
    assert queued[-1] == {"run_id": run.pk}


@pytest.mark.django_db(transaction=True)
def test_a_report_read_outside_a_transaction_has_the_figures_of_one_read_inside(settings, tmp_path):
    """As in the worker, outside a transaction: on PostgreSQL the reading is one REPEATABLE READ
    snapshot, read by ADBC. Its figures are those of the same report read inside a
    transaction (as in the other tests), batch by batch."""
    from django.db import transaction

    settings.MEDIA_ROOT = tmp_path
    organisation = OrganisationFactory()
    for index in range(5):
        recommendation = RecommendationFactory(state=RecommendationState.ADOPTED)
        AssignmentFactory(
            recommendation=recommendation,
            organisation=organisation,
            status=list(ImplementationStatus)[index],
            due_date=dt.date(2025, 1, 1),
        )
    outside = build()
    with transaction.atomic():
        run = report_run_create(kind=ReportKind.ON_DEMAND, queue=False)
        (tmp_path / "inside").mkdir()
        built = reporting.compute_report(run, tmp_path / "inside", batch_size=2)
    assert outside.state == ReportRunState.DONE, outside.error
    for name in ("totals", "by_dialogue", "by_agency", "by_domain", "coherence"):
        assert outside.figures[name] == built.figures[name], name
    assert outside.figures["totals"]["overdue"] == 2
    assert outside.figures["overdue"]["top"] == built.figures["overdue"]["top"]
    assert [row["status"] for row in outside.figures["overdue"]["top"]] == [
        "Not started",
        "In progress",
    ]


def test_longest_overdue_rows_keep_reading_order_among_equal_dates(db):
    """The HTML's overdue list is the longest overdue first; rows due the same day stay in the
    order of the recommendations, across batches, and the list is cut at its limit."""
    organisation = OrganisationFactory()
    references = []
    for due in ["2025-03-01", "2025-01-01", "2025-03-01", "2025-01-01", "2024-06-01", "2025-01-01"]:
        recommendation = RecommendationFactory(state=RecommendationState.ADOPTED)
        AssignmentFactory(
            recommendation=recommendation,
            organisation=organisation,
            status=ImplementationStatus.NOT_STARTED,
            due_date=dt.date.fromisoformat(due),
        )
        references.append(recommendation.reference)
    longest, counts = reporting.LongestOverdue(3), reporting.Counts()
    today = dt.date(2026, 1, 1)
    batches = reporting.iter_batches(
        reporting.report_scope(), today=today, batch_size=2, longest=longest, counts=counts
    )
    assert len(list(batches)) == 3
    top = longest.table(reporting.Labels.load(), today, counts)
    assert [row[0] for row in top] == [references[4], references[1], references[3]]
    assert [row[-1] for row in top] == [(today - dt.date(2024, 6, 1)).days, 365, 365]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: the reading is one snapshot there only",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("by_adbc", [True, False], ids=["ADBC", "cursor"])
def test_a_report_reads_one_snapshot_while_agencies_write(by_adbc):
    """A recommendation adopted while a report is being read, between two of its batches, is
    in neither its rows nor its counts: the whole reading is one snapshot of the database,
    also on ADBC's connection, which imports the snapshot of the reading's transaction."""
    import threading

    from django.db import connections

    organisation = OrganisationFactory()
    for _ in range(3):
        AssignmentFactory(
            recommendation=RecommendationFactory(state=RecommendationState.ADOPTED),
            organisation=organisation,
        )
    scope = reporting.report_scope()

    def adopt_another():
        try:
            AssignmentFactory(
                recommendation=RecommendationFactory(state=RecommendationState.ADOPTED),
                organisation=organisation,
            )
        finally:
            connections.close_all()

    counts = reporting.Counts()
    read = 0
    with reporting.consistent_reading() as snapshot:
        for batch in reporting.iter_batches(
            scope,
            today=timezone.localdate(),
            batch_size=1,
            counts=counts,
            snapshot=snapshot if by_adbc else None,
        ):
            if not read:
                writer = threading.Thread(target=adopt_another)
                writer.start()
                writer.join()
            read += batch.recommendations

    assert Recommendation.objects.filter(state=RecommendationState.ADOPTED).count() == 4
    assert read == 3
    tally = counts.result()
    assert sum(tally.recommendations.values()) == 3 and sum(tally.assignments.values()) == 3
