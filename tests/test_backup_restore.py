"""The documented backup and restore procedure (loadtests/backup_restore.sh) loses nothing.

A populated database (the IDM dataset, a follow-up report with an evidence file, a built report
run with its files) is backed up with the script (pg_dump in custom format and a tar of
MEDIA_ROOT), restored with it into a new database and an empty media folder, and every table has
the same rows again, the spot-checked rows their values and every file its bytes.

PostgreSQL only (.ci/run runs the suite on it too): the procedure is pg_dump/pg_restore. The rows
must be committed for pg_dump to see them, hence ``transaction=True``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection

from recommendations.enums import RecommendationState, ReportKind, ReportRunState
from recommendations.models import Assignment, EvidenceFile, FollowUpReport, ReportRun
from recommendations.reporting import report_run_build, report_run_create
from recommendations.services import followup_submit
from stakeholders.models import Organisation
from tests.factories.stakeholders import UserFactory

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "loadtests" / "backup_restore.sh"
BASH = shutil.which("bash") or "/bin/bash"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="backup and restore use pg_dump/pg_restore: PostgreSQL only (DATABASE_URL)",
    ),
]


def pg_bin() -> Path | None:
    """The folder of pg_dump and pg_restore: the ones on PATH, else Debian's newest."""
    candidates = []
    if found := shutil.which("pg_dump"):
        candidates.append(Path(found).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / name).exists() for name in ("pg_dump", "pg_restore", "psql")):
            return folder
    return None


def conninfo(dbname: str) -> str:
    """A libpq connection string for ``dbname`` on the test database's server."""
    settings_dict = connection.settings_dict
    parts = {
        "host": settings_dict.get("HOST") or "",
        "port": str(settings_dict.get("PORT") or ""),
        "user": settings_dict.get("USER") or "",
        "dbname": dbname,
    }
    return " ".join(f"{key}='{value}'" for key, value in parts.items() if value)


def run_script(action: str, folder: Path, *, database: str, media: Path) -> str:
    env = dict(
        os.environ,
        DATABASE_URL=conninfo(database),
        MEDIA_ROOT=str(media),
        PG_BIN=str(pg_bin()),
        PGPASSWORD=connection.settings_dict.get("PASSWORD") or "",
    )
    result = subprocess.run(  # noqa: S603 - our own script, arguments from the test
        [BASH, str(SCRIPT), action, str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def table_counts(cursor) -> dict[str, int]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    tables = [row[0] for row in cursor.fetchall()]
    counts = {}
    for table in tables:
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - names from the catalog
        counts[table] = cursor.fetchone()[0]
    return counts


def file_digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def restored_database():
    """An empty database next to the test database, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restored_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield name
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(media: Path) -> tuple[FollowUpReport, EvidenceFile, ReportRun]:
    call_command("load_idm_data", verbosity=0)
    officer = UserFactory()
    assignment = (
        Assignment.objects.filter(recommendation__state=RecommendationState.ADOPTED)
        .order_by("pk")
        .first()
    )
    report = followup_submit(
        assignment=assignment,
        by=officer,
        period_start=dt.date(2006, 1, 1),
        period_end=dt.date(2006, 6, 30),
        status="in_progress",
        progress=40,
        narrative="Regional workshop held; the backup must keep this sentence: é ü ñ.",
        evidence_urls=["https://www.ilo.org/report.pdf"],
        files=[SimpleUploadedFile("Mission report.pdf", PDF, content_type="application/pdf")],
    )
    run = report_run_create(kind=ReportKind.ON_DEMAND, by=officer, queue=False)
    run = report_run_build(run=run)
    assert run.state == ReportRunState.DONE, run.error
    return report, report.files.get(), run


def test_backup_and_restore_find_every_row_and_file_again(media, restored_database, tmp_path):
    if pg_bin() is None:
        pytest.skip("pg_dump/pg_restore not installed (see .ci/run's find_pg_bin)")
    report, evidence, run = populate(media)
    with connection.cursor() as cursor:
        counts = table_counts(cursor)
    files = file_digests(media)
    assert evidence.file.name in files
    assert {run.html_file.name, run.csv_file.name, run.xlsx_file.name} <= set(files)

    backup = tmp_path / "backup"
    out = run_script("backup", backup, database=connection.settings_dict["NAME"], media=media)
    assert "backup in" in out
    assert {p.name for p in backup.iterdir()} == {"database.dump", "media.tar.gz", "SHA256SUMS"}

    restored_media = tmp_path / "restored-media"
    out = run_script("restore", backup, database=restored_database, media=restored_media)
    assert "restored into" in out

    password = connection.settings_dict.get("PASSWORD") or None
    with (
        psycopg.connect(conninfo(restored_database), password=password) as restored,
        restored.cursor() as cursor,
    ):
        restored_counts = table_counts(cursor)
        cursor.execute(
            "SELECT narrative, progress, assignment_id FROM recommendations_followupreport "
            "WHERE id = %s",
            [report.pk],
        )
        assert cursor.fetchone() == (report.narrative, 40, report.assignment_id)
        cursor.execute(
            "SELECT original_name, file, size FROM recommendations_evidencefile WHERE id = %s",
            [evidence.pk],
        )
        assert cursor.fetchone() == ("Mission report.pdf", evidence.file.name, len(PDF))
        cursor.execute(
            "SELECT state, html_file, xlsx_file, recommendation_count "
            "FROM recommendations_reportrun WHERE id = %s",
            [run.pk],
        )
        assert cursor.fetchone() == (
            ReportRunState.DONE,
            run.html_file.name,
            run.xlsx_file.name,
            run.recommendation_count,
        )
        cursor.execute("SELECT acronym FROM stakeholders_organisation ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == list(
            Organisation.objects.order_by("pk").values_list("acronym", flat=True)
        )
        # The sequences go on after the restored rows: a new row does not collide.
        cursor.execute("SELECT nextval('recommendations_followupreport_id_seq')")
        assert cursor.fetchone()[0] > report.pk

    assert restored_counts == counts
    assert counts["recommendations_recommendation"] > 0
    assert counts["recommendations_followupreport"] >= 1
    assert file_digests(restored_media) == files
    assert (restored_media / evidence.file.name).read_bytes() == PDF


def test_restore_refuses_a_database_that_is_not_empty(media, tmp_path):
    if pg_bin() is None:
        pytest.skip("pg_dump/pg_restore not installed (see .ci/run's find_pg_bin)")
    backup = tmp_path / "backup"
    run_script("backup", backup, database=connection.settings_dict["NAME"], media=media)
    env = dict(
        os.environ,
        DATABASE_URL=conninfo(connection.settings_dict["NAME"]),
        MEDIA_ROOT=str(tmp_path / "other-media"),
        PG_BIN=str(pg_bin()),
        PGPASSWORD=connection.settings_dict.get("PASSWORD") or "",
    )
    result = subprocess.run(  # noqa: S603 - our own script, arguments from the test
        [BASH, str(SCRIPT), "restore", str(backup)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "the target database is not empty" in result.stderr
