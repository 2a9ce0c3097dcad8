"""``Authorization: Api-Key <key>``: machine clients of the API, each acting for an organisation.

The key is looked up by its prefix and checked against its stored hash. A valid key that is
neither revoked nor expired authenticates as its service login (``OrganisationAPIKey.user``),
whose ``Representative`` makes the rules treat it as the organisation's agency or delegation;
``request.auth`` is the key itself. ``last_used_at`` is written at most once a minute per key.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from .models import OrganisationAPIKey

KEYWORD = "Api-Key"
LAST_USED_EVERY = dt.timedelta(minutes=1)


def touch_last_used(api_key: OrganisationAPIKey) -> None:
    """Record the key's use, unless it was recorded less than a minute ago (one UPDATE at most)."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_EVERY:
        return
    OrganisationAPIKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
    ).update(last_used_at=now)
    api_key.last_used_at = now


class OrganisationAPIKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``; any other scheme is left to the next class."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                _('Give the key after "Api-Key" and one space: "Authorization: Api-Key <key>".')
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(_("This API key is not valid.")) from None
        prefix, dot, _secret = key.partition(".")
        api_key = None
        if dot and prefix:
            api_key = (
                OrganisationAPIKey.objects.select_related(
                    "organisation", "user__representative__organisation"
                )
                .filter(prefix=prefix)
                .first()
            )
        if api_key is None or not api_key.is_valid(key):
            raise AuthenticationFailed(_("This API key is not valid."))
        if api_key.revoked:
            raise AuthenticationFailed(_("This API key has been revoked."))
        if api_key.has_expired:
            raise AuthenticationFailed(_("This API key has expired."))
        user = api_key.user
        if user is None or not user.is_active:
            raise AuthenticationFailed(_("This API key has been revoked."))
        touch_last_used(api_key)
        return user, api_key

    def authenticate_header(self, request) -> str:
        """Sent in ``WWW-Authenticate`` with a 401, which DRF answers only when this is set."""
        return f'{KEYWORD} realm="api"'


class OrganisationAPIKeyScheme(OpenApiAuthenticationExtension):
    """The key in the OpenAPI schema, as the ``ApiKeyAuth`` security scheme."""

    target_class = OrganisationAPIKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                'An organisation\'s API key, sent as "Authorization: Api-Key <key>". Keys are '
                "created by the secretariat (admin, or manage.py create_api_key), shown once, "
                "and may be revoked or expire; requests are throttled per key."
            ),
        }
