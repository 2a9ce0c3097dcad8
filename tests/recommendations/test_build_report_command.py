"""``manage.py build_report``: builds now, prints a line and the paths, fails in one line."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from recommendations import reporting
from recommendations.enums import RecommendationState, ReportKind, ReportRunState
from recommendations.models import ReportRun
from tests.factories.idm import CouncilSessionFactory, DialogueFactory
from tests.factories.recommendations import RecommendationFactory

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def run_command(*args) -> list[str]:
    out = StringIO()
    call_command("build_report", *args, stdout=out)
    return out.getvalue().splitlines()


def test_builds_an_on_demand_report_and_prints_its_files(db, tmp_path):
    RecommendationFactory(state=RecommendationState.ADOPTED)
    summary, *paths = run_command("--output", str(tmp_path / "out"))
    run = ReportRun.objects.get()
    assert run.state == ReportRunState.DONE and run.kind == ReportKind.ON_DEMAND
    assert "1 recommendations" in summary
    assert [Path(p).suffix for p in paths] == [".html", ".csv", ".xlsx"]
    assert all(Path(p).is_file() and Path(p).parent == tmp_path / "out" for p in paths)


def test_the_monthly_report_is_built_once(db):
    first = run_command("--kind", "monthly")
    second = run_command("--kind", "monthly")
    assert first == second
    assert ReportRun.objects.filter(kind=ReportKind.MONTHLY).count() == 1


def test_session_and_dialogue_options(db):
    session = CouncilSessionFactory(number=321)
    dialogue = DialogueFactory(year=2040)
    run_command("--session", "321")
    run_command("--dialogue", "2040")
    assert ReportRun.objects.get(kind=ReportKind.SESSION).council_session == session
    assert ReportRun.objects.get(kind=ReportKind.ON_DEMAND).dialogue == dialogue


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "weekly"], "--kind must be one of"),
        (["--kind", "session"], "--session"),
        (["--session", "999"], "no Council session"),
        (["--dialogue", "1999"], "no dialogue of this year"),
        (["--kind", "monthly", "--dialogue", "2040"], "--dialogue"),
    ],
)
def test_bad_arguments_end_in_one_line(db, args, message):
    DialogueFactory(year=2040)
    with pytest.raises(CommandError) as error:
        run_command(*args)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert ReportRun.objects.count() == 0


def test_a_failed_build_is_an_error(db, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(reporting, "write_csv", broken)
    with pytest.raises(CommandError, match="could not be built: OSError: disk full"):
        run_command()
    assert ReportRun.objects.get().state == ReportRunState.FAILED


def test_exit_status_from_the_shell(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
    }
    bad = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", "build_report", "--kind", "weekly"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "CommandError: --kind must be one of monthly, session, on_demand, not 'weekly'."
    ]
