"""What a locked-out client is told (django-axes calls ``lockout_response``)."""

import math

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication


class LockedOut(exceptions.Throttled):
    default_code = "locked_out"


def _cooloff_minutes() -> int:
    return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)


def _lockout_message() -> str:
    return _(
        "Too many failed sign-ins for this account from your address: try again in "
        "%(minutes)s minutes, or reset your password."
    ) % {"minutes": _cooloff_minutes()}


def lockout_response(request, original_response=None, credentials=None):
    """429 with Retry-After: in the API's error shape under /api/, else the lockout page."""
    from .api import error_json, is_api_request  # REST framework's views load this module

    minutes = _cooloff_minutes()
    if is_api_request(request):
        response = error_json(LockedOut(detail=_lockout_message()))
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
            status=429,
        )
    response["Retry-After"] = str(minutes * 60)
    return response


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every sign-in that comes with an HTTP request.

    A sign-in without one (a shell, a script, Django's test client) has no client address to
    count failures against, so it is left to the next backend instead of being refused.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class LockoutBasicAuthentication(BasicAuthentication):
    """HTTP basic auth for the API, counted by django-axes like any other sign-in.

    The check runs on Django's own request (REST framework's wrapper would hide django-axes'
    mark from its middleware); a locked-out client gets a 429 in the API's error shape.
    """

    def authenticate_credentials(self, userid, password, request=None):
        django_request = getattr(request, "_request", request)
        try:
            return super().authenticate_credentials(userid, password, request=django_request)
        except exceptions.AuthenticationFailed:
            if getattr(django_request, "axes_locked_out", False):
                raise LockedOut(
                    detail=_lockout_message(), wait=settings.AXES_COOLOFF_TIME.total_seconds()
                ) from None
            raise


class LockoutBasicAuthenticationScheme(OpenApiAuthenticationExtension):
    """In the OpenAPI schema, the locked-out-aware basic auth is plain HTTP basic auth."""

    target_class = "config.security.LockoutBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}
