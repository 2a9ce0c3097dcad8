"""One command for a newcomer: a database with the real 2005 data, demo logins, a running system."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from idm.dataset import DatasetError, dataset_load
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
    return logins


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


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
            _("A Celery worker with beat runs on %(broker)s. Ctrl-C stops everything.")
            % {"broker": settings.CELERY_BROKER_URL}
        )
        self._serve(host, port)

    def _serve(self, host: str, port: int) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        commands = [
            [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--beat",
                "--loglevel=INFO",
                "--concurrency=2",
                "--schedule",
                str(Path(settings.VAR_DIR) / "celerybeat-schedule"),
            ],
        ]
        processes = [subprocess.Popen(command, cwd=BASE_DIR, env=env) for command in commands]  # noqa: S603
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
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 15
            for process in processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        self.stdout.write(_("Demo stopped."))
