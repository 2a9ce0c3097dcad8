"""One command for a newcomer: a database with the real 2005 data, demo logins, a running system."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from config.queue import publish
from idm.dataset import DatasetError, dataset_load
from idm.demo_data import demo_scenario_ensure
from stakeholders.enums import ActingRole
from stakeholders.models import Organisation
from stakeholders.services import representative_login_ensure

# (username, password, organisation dataset id, role, first name, last name)
DEMO_LOGINS = [
    (
        "secretariat",
        "idm-demo-secretariat",
        "org-iom-administration",
        ActingRole.SECRETARIAT,
        "Secretariat",
        "Officer",
    ),
    (
        "delegate",
        "idm-demo-delegate",
        "org-state-philippines",
        ActingRole.DELEGATION,
        "Delegate",
        "of the Philippines",
    ),
    ("agency", "idm-demo-agency", "org-ilo", ActingRole.AGENCY, "Focal point", "ILO"),
]
BASE_DIR = Path(settings.BASE_DIR)


def demo_setup(*, stdout=None) -> list[tuple[str, str, str, bool]]:
    """Migrate, load the dataset and ensure the demo logins; returns (user, password, role, new)."""
    call_command("migrate", interactive=False, verbosity=0)
    result = dataset_load()
    if stdout is not None:
        stdout.write(_("IDM dataset: %(count)s new records.") % {"count": result.total_created})
    logins = []
    for username, password, org_id, role, first, last in DEMO_LOGINS:
        organisation = Organisation.objects.get(dataset_id=org_id)
        ensured = representative_login_ensure(
            username=username,
            password=password,
            organisation=organisation,
            role=role,
            first_name=first,
            last_name=last,
        )
        logins.append((username, password, f"{role.label} — {organisation}", ensured.created))
    officer = get_user_model().objects.get(username=DEMO_LOGINS[0][0])
    scenario = demo_scenario_ensure(today=timezone.localdate(), by=officer)
    if stdout is not None and (scenario.addresses or scenario.contacts or scenario.due_dates):
        stdout.write(
            _(
                "Demo scenario: %(addresses)s addresses, %(contacts)s focal points and heads of "
                "office, %(due)s follow-up due dates around today, %(reports)s accepted follow-up "
                "reports, and the upcoming workshop "
                "“%(workshop)s” with a published agenda."
            )
            % {
                "addresses": scenario.addresses,
                "contacts": scenario.contacts,
                "due": scenario.due_dates,
                "reports": scenario.reports,
                "workshop": scenario.workshop,
            }
        )
    return logins


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _broker_description() -> str:
    """The broker in words, without a password that a broker URL may hold."""
    broker_url = settings.CELERY_BROKER_URL
    if broker_url.startswith("filesystem://"):
        return _("the embedded broker (files under %(folder)s)") % {"folder": settings.BROKER_DIR}
    parts = urlsplit(broker_url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def _mail_description() -> str:
    """Where the emails of reminders, reports and decisions go, in one line."""
    backend = settings.EMAIL_BACKEND
    if backend == "django.core.mail.backends.filebased.EmailBackend":
        # Relative to the folder the worker runs in (the project's), as Django resolves it.
        folder = (BASE_DIR / settings.EMAIL_FILE_PATH).resolve()
        return _("Emails are not sent: each one is written as a file in %(folder)s.") % {
            "folder": folder
        }
    if backend == "django.core.mail.backends.console.EmailBackend":
        return _("Emails are not sent: they are printed here, in the worker's output.")
    if backend == "django.core.mail.backends.smtp.EmailBackend":
        return _("Emails are sent through %(host)s:%(port)s (EMAIL_URL).") % {
            "host": settings.EMAIL_HOST,
            "port": settings.EMAIL_PORT,
        }
    return _("Emails go to %(backend)s (EMAIL_URL).") % {"backend": backend}


class Command(BaseCommand):
    help = _(
        "Start the whole system with demo data: migrate, load the 2005 IDM data, create one demo "
        "login per role, then serve the site and run a Celery worker with beat until Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help=_("Port to serve on."))
        parser.add_argument("--host", default="127.0.0.1", help=_("Address to serve on."))
        parser.add_argument(
            "--setup-only",
            action="store_true",
            help=_("Prepare the database and logins, print them, and exit without serving."),
        )

    def handle(self, *args, port: int, host: str, setup_only: bool, **options):
        if not 0 < port < 65536:
            raise CommandError(
                _("--port must be between 1 and 65535, not %(port)s") % {"port": port}
            )
        if not setup_only and not _port_is_free(host, port):
            raise CommandError(
                _("Port %(port)s on %(host)s is in use; choose another with --port.")
                % {"port": port, "host": host}
            )
        try:
            logins = demo_setup(stdout=self.stdout)
        except DatasetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(_("Demo logins")))
        for username, password, role, created in logins:
            note = "" if created else _(" (kept from an earlier run)")
            self.stdout.write(f"  {username:<12} {password:<22} {role}{note}")
        if setup_only:
            return
        url = f"http://{host}:{port}/"
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(_("Serving %(url)s (admin: %(url)sadmin/)") % {"url": url})
        )
        self.stdout.write(
            _(
                "A Celery worker runs the tasks queued on %(broker)s, with beat running the "
                "schedule kept in the database (%(url)sadmin/django_celery_beat/periodictask/)."
            )
            % {"broker": _broker_description(), "url": url}
        )
        self.stdout.write(_mail_description())
        self.stdout.write(_("Ctrl-C stops everything."))
        self._serve(host, port)

    def _serve(self, host: str, port: int) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        commands = [
            [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            # One process for the demo: a worker that also runs beat. Beat's scheduler is
            # django-celery-beat's DatabaseScheduler (the schedule is edited in the admin; no
            # schedule file); the worker consumes the broker of the settings.
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--beat",
                "--scheduler",
                settings.CELERY_BEAT_SCHEDULER,
                "--loglevel=INFO",
                "--concurrency=2",
            ],
        ]
        processes = [subprocess.Popen(command, cwd=BASE_DIR, env=env) for command in commands]  # noqa: S603
        # Beat runs the sweep every 15 minutes and the reports each morning: run both once now,
        # so that the day's reminders and the month's report are there within a minute.
        from recommendations.tasks import schedule_reports_task, sweep_reminders_task

        publish(sweep_reminders_task)
        publish(schedule_reports_task)
        stopping = False

        def stop(*_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for process in processes:
                    if process.poll() is not None:
                        self.stderr.write(
                            _("%(command)s stopped (exit %(code)s); stopping the demo.")
                            % {"command": " ".join(process.args[1:4]), "code": process.returncode}
                        )
                        stopping = True
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            # SIGTERM, not SIGINT: a process started from a background job ignores SIGINT.
            # Celery takes SIGTERM as a warm shutdown: the running tasks finish first.
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 15
            for process in processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        self.stdout.write(_("Demo stopped."))
