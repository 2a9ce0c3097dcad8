"""``manage.py build_report``: build a follow-up report now, in this process.

    manage.py build_report                          # on demand, all recommendations
    manage.py build_report --dialogue 2005          # on demand, one dialogue's
    manage.py build_report --kind monthly           # this month's report (made once a month)
    manage.py build_report --kind session --session 90   # before Council session 90
    manage.py build_report --output /tmp/reports    # also copy the HTML, CSV and XLSX there

Prints one summary line and the files' paths. A monthly or session report already made is not
built again: its summary and files are printed. Bad arguments and a failed build end with one
line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from idm.enums import CouncilBody
from idm.models import CouncilSession, Dialogue
from idm.selectors import event_from_key

from ...enums import ReportKind, ReportRunState
from ...reporting import (
    ReportError,
    file_stem,
    report_run_build,
    report_run_create,
    report_run_summary,
    report_scope,
)


class Command(BaseCommand):
    help = "Build a follow-up report (HTML, CSV, XLSX) now and print where its files are."

    def add_arguments(self, parser):
        parser.add_argument(
            "--kind",
            help="monthly, session or on_demand (the default; session when --session is given).",
        )
        parser.add_argument(
            "--session",
            help="The Council session, for --kind session: its number (90) or key "
            '("council-session-1").',
        )
        parser.add_argument(
            "--dialogue", help="Only this dialogue's recommendations: its year (on demand only)."
        )
        parser.add_argument("--output", help="A folder to copy the HTML, CSV and XLSX files to.")

    def handle(self, *args, **options):
        session = self._session(options["session"]) if options["session"] else None
        kind = options["kind"] or (ReportKind.SESSION if session else ReportKind.ON_DEMAND)
        if kind not in ReportKind.values:
            kinds = ", ".join(ReportKind.values)
            raise CommandError(f"--kind must be one of {kinds}, not {kind!r}.")
        dialogue = self._dialogue(options["dialogue"]) if options["dialogue"] else None
        output = Path(options["output"]) if options["output"] else None
        if output is not None and output.exists() and not output.is_dir():
            raise CommandError(f"--output {output} is not a folder.")
        try:
            run = report_run_create(
                kind=kind, dialogue=dialogue, council_session=session, queue=False
            )
        except ReportError as error:
            option = {"council_session": "--session", "period": "--kind"}.get(
                error.field, f"--{error.field}" if error.field else ""
            )
            raise CommandError(f"{option}: {error.message}" if option else error.message) from None

        if run.state != ReportRunState.DONE:
            total = report_scope(dialogue_id=run.dialogue_id).count()
            show = options["verbosity"] > 0 and sys.stderr.isatty()
            with tqdm(total=total, unit="rec", desc="build_report", disable=not show) as bar:
                run = report_run_build(run=run, progress=bar.update)
        if run.state != ReportRunState.DONE:
            raise CommandError(f"The report could not be built: {run.error}")

        self.stdout.write(report_run_summary(run))
        for field_name in ("html_file", "csv_file", "xlsx_file"):
            field_file = getattr(run, field_name)
            if output is not None:
                output.mkdir(parents=True, exist_ok=True)
                target = output / Path(field_file.name).name
                with field_file.open("rb") as source, target.open("wb") as handle:
                    for chunk in source.chunks():
                        handle.write(chunk)
                self.stdout.write(str(target))
            else:
                self.stdout.write(field_file.path if _local(field_file) else field_file.name)
        if output is None and not _local(run.html_file):
            self.stdout.write(f"(in the media storage; --output copies them: {file_stem(run)})")

    def _session(self, value: str) -> CouncilSession:
        value = value.strip()
        if value.isdigit():
            session = CouncilSession.objects.filter(
                body=CouncilBody.COUNCIL, number=int(value)
            ).first()
        else:
            session = event_from_key(value)
        if not isinstance(session, CouncilSession):
            raise CommandError(
                f"--session {value!r}: no Council session has this number or key "
                '(give e.g. 90 or "council-session-1").'
            )
        return session

    def _dialogue(self, value: str) -> Dialogue:
        dialogue = Dialogue.objects.filter(year=int(value)).first() if value.isdigit() else None
        if dialogue is None:
            raise CommandError(f"--dialogue {value!r}: no dialogue of this year.")
        return dialogue


def _local(field_file) -> bool:
    try:
        field_file.path  # noqa: B018 - only local storages have a path
    except NotImplementedError:
        return False
    return True
