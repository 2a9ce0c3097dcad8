"""``GET /healthz``: can this process reach its database and its Celery broker?

Answers 200 when both answer, 503 otherwise, always as JSON and always within a few seconds:
every check catches its own errors, so a broken dependency is reported, never raised.
"""

import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

OK = "ok"
BROKER_TIMEOUT_SECONDS = 2
FILESYSTEM_BROKER_FOLDERS = (
    "data_folder_in",
    "data_folder_out",
    "processed_folder",
    "control_folder",
)


def _describe(error: BaseException) -> str:
    """A short, one-line description of a failed check, for the response body."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text[:200]


def check_database() -> str:
    """``"ok"`` when ``SELECT 1`` runs on the default database, else what went wrong."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        logger.warning("health check: database unavailable: %s", error)
        return _describe(error)
    return OK


def _check_filesystem_broker(transport_options: dict) -> str:
    """The embedded broker is a set of folders: they must exist and be writable."""
    problems = []
    for option in FILESYSTEM_BROKER_FOLDERS:
        folder = transport_options.get(option)
        if not folder:
            problems.append(f"{option} is not configured")
        elif not Path(folder).is_dir():
            problems.append(f"{option} {folder} does not exist")
        elif not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"{option} {folder} is not writable")
    return "; ".join(problems) or OK


def check_broker() -> str:
    """``"ok"`` when the Celery broker of the current settings answers, else what went wrong.

    The URL is read from the settings on every call (not from the Celery app's cached
    configuration), and the connection attempt is bounded: one try, a short timeout.
    """
    try:
        url = settings.CELERY_BROKER_URL
        transport_options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}))
        if url.startswith("filesystem://"):
            return _check_filesystem_broker(transport_options)
        if url.startswith(("redis://", "rediss://")):
            # Bound the PING too, not only the connect: a server that accepts and never answers.
            transport_options["socket_timeout"] = BROKER_TIMEOUT_SECONDS
        with celery_app.connection_for_write(
            url,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
            transport_options=transport_options,
        ) as connection:
            connection.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as error:
        logger.warning("health check: broker unavailable: %s", error)
        return _describe(error)
    return OK


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Report the database and the broker; 503 when either is unreachable. No login needed."""
    checks = {"database": check_database(), "broker": check_broker()}
    healthy = all(result == OK for result in checks.values())
    return JsonResponse(
        {"status": OK if healthy else "unavailable", **checks},
        status=200 if healthy else 503,
    )
