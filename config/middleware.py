"""A database that cannot be reached answers 503 with Retry-After, not 500.

While PostgreSQL restarts (or a SQLite file is locked for too long) a request fails on its first
query; the client is told to retry in a few seconds: in the API's error shape under /api/, as a
plain page elsewhere. Every write runs in a transaction, so nothing is half-written.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from rest_framework import exceptions, status

logger = logging.getLogger("idm.database")
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is briefly unavailable; retry in a few seconds."
    default_code = "database_unavailable"


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("database unavailable for %s %s: %s", request.method, request.path, exception)
        from .api import error_json, is_api_request  # REST framework's views load config.api

        if is_api_request(request):
            response = error_json(DatabaseUnavailable())
        else:
            response = HttpResponse(
                "The service is briefly unavailable; retry in a few seconds.",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class NullCharacterRefused(exceptions.ParseError):
    default_detail = "A parameter holds a NUL character (%00), which no field accepts."
    default_code = "invalid"


class NullCharacterMiddleware:
    """A query parameter with a NUL character is refused with a 400 before any view runs (no
    text column can hold one; PostgreSQL would fail the query)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            from .api import error_json, is_api_request

            if is_api_request(request):
                return error_json(NullCharacterRefused())
            return HttpResponse(
                NullCharacterRefused.default_detail,
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
