"""What every API endpoint shares: errors, permissions, throttling, ETags and idempotency.

* **Errors** have one shape (``exception_handler``)::

      {"status": 400, "code": "invalid", "message": "…", "errors": {"field": ["…"]}}

  ``errors`` only when there are field (or query parameter) errors. 400 bad input, 401 no or
  bad credentials (with ``WWW-Authenticate``), 403 what the caller may see but not change,
  404 what it may not see (also any unknown URL under ``/api/``, ``config.urls.handler404``),
  405, 412 a stale ``If-Match``, 422 an ``Idempotency-Key`` reused for another request, 429
  throttled (with ``Retry-After``), 500 (``config.urls.handler500``).
* **Permissions**: ``RulesPermission`` asks ``request.user.has_perm(name, obj)`` the permission
  the view names for the action (``rules_permissions``), before the request body is read.
* **Throttling**: ``ApiRateThrottle`` (every endpoint: ``DEFAULT_THROTTLE_CLASSES``), one
  budget per API key, per login and per anonymous client, counted in the default cache, at the
  rates of ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``api_key``, ``user``,
  ``anon``), read at each request.
* **ETags**: detail responses carry ``ETag``; ``If-None-Match`` gives a 304; a write with an
  ``If-Match`` that no longer matches is refused with 412 (``check_if_match``, called on the
  row locked with ``select_for_update`` in the write's transaction).
* **Idempotency**: ``idempotent(request, run)`` answers a POST retried with the same
  ``Idempotency-Key`` (per caller, 24 hours) with the first response, without acting again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from config.throttling import ApiRateThrottle  # noqa: F401 - re-exported for the views

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
IDEMPOTENCY_TTL = dt.timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"
# Response headers a replay repeats.
REPLAYED_HEADERS = ("ETag", "Location")


# --- Errors --------------------------------------------------------------------------------------


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _(
        "The resource has changed since you read it (If-Match does not match its ETag): "
        "read it again and retry."
    )
    default_code = "precondition_failed"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _(
        "This Idempotency-Key was already used for a different request: use a new key."
    )
    default_code = "idempotency_key_reused"


class Refused(exceptions.APIException):
    """A domain rule refused the action (a report in the wrong state…); nothing changed."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("The request was refused.")
    default_code = "refused"


def _messages(detail, prefix: str = "") -> list[str]:
    """Error messages of a (possibly nested) DRF error detail, as plain strings."""
    if isinstance(detail, dict):
        return [
            message
            for key, value in detail.items()
            for message in _messages(
                value, f"{prefix}item {key + 1}: " if isinstance(key, int) else f"{prefix}{key}: "
            )
        ]
    if isinstance(detail, list):
        nested = any(isinstance(item, dict | list) for item in detail)
        if nested:
            return [
                message
                for position, item in enumerate(detail)
                for message in _messages(item, f"{prefix}item {position + 1}: ")
            ]
        return [f"{prefix}{item}" for item in detail]
    return [f"{prefix}{detail}"]


def error_body(exc: exceptions.APIException) -> dict:
    """The one error shape of the API for ``exc``."""
    body: dict = {"status": exc.status_code}
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        body["code"] = "invalid"
        non_field = api_settings.NON_FIELD_ERRORS_KEY
        if isinstance(detail, dict):
            general = _messages(detail.get(non_field, []))
            errors = {
                str(field): _messages(value)
                for field, value in detail.items()
                if field != non_field
            }
            first_field = next(((f, m) for f, m in errors.items() if m), None)
            if general:
                body["message"] = " ".join(general)
            elif first_field is not None:
                body["message"] = f"{first_field[0]}: {first_field[1][0]}"
            else:
                body["message"] = str(_("Invalid input."))
            if errors:
                body["errors"] = errors
        else:
            body["message"] = " ".join(_messages(detail)) or str(_("Invalid input."))
        return body
    codes = exc.get_codes()
    body["code"] = codes if isinstance(codes, str) else exc.default_code
    body["message"] = " ".join(_messages(detail))
    return body


def exception_handler(exc, context):
    """REST framework's exception handler, answering every error in the API's one shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(math.ceil(exc.wait))
    set_rollback()
    return Response(error_body(exc), status=exc.status_code, headers=headers)


class ApiErrorSerializer(serializers.Serializer):
    """The API's one error shape (documentation only)."""

    status = serializers.IntegerField(help_text=_("The HTTP status code, repeated."))
    code = serializers.CharField(
        help_text=_(
            "A stable, machine-readable code: invalid, refused, not_authenticated, "
            "authentication_failed, permission_denied, not_found, method_not_allowed, "
            "precondition_failed, idempotency_key_reused, throttled, parse_error, "
            "unsupported_media_type, server_error…"
        )
    )
    message = serializers.CharField(help_text=_("What went wrong, in a sentence for people."))
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=_(
            "Only for invalid input: for each body field or query parameter in error, its messages."
        ),
    )


API_PATH_PREFIX = "/api/"


def is_api_request(request) -> bool:
    """The request is for the API (``/api/…``): its errors are answered in the API's shape."""
    return request.path_info.startswith(API_PATH_PREFIX)


class ServerError(exceptions.APIException):
    """Only to shape the body of a 500 answered outside REST framework (``handler500``)."""

    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = _("A server error occurred; it has been logged. Please retry later.")
    default_code = "server_error"


def error_json(exc: exceptions.APIException) -> JsonResponse:
    """``exc`` in the API's error shape, for answers made outside REST framework's views."""
    return JsonResponse(error_body(exc), status=exc.status_code)


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ApiErrorSerializer, description=description)


ERROR_RESPONSES = {
    "400": error_response(
        _("Bad input (code invalid, with errors per field) or refused by a rule (code refused).")
    ),
    "401": error_response(
        _("No credentials, or an invalid, revoked or expired API key (WWW-Authenticate: Api-Key).")
    ),
    "403": error_response(_("The caller may see this resource but not do this.")),
    "404": error_response(_("No such resource among those the caller may see.")),
    "412": error_response(_("If-Match does not match the resource's current ETag.")),
    "422": error_response(_("The Idempotency-Key was already used for another request.")),
    "429": error_response(_("Too many requests: retry after Retry-After seconds.")),
}


def errors(*codes: int) -> dict:
    return {code: ERROR_RESPONSES[str(code)] for code in codes}


LIST_ERROR_RESPONSES = {
    "400": error_response(_("A query parameter is invalid (code invalid, errors per parameter).")),
    "404": error_response(_("No such page: page is not a positive number or is past the last.")),
}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the error answers any operation can give documented.

    401 (any endpoint refuses invalid credentials, even one that needs none) and 429 for every
    operation; 404 for one with an object in its path; 400 (a bad filter) and 404 (a bad page)
    for a list. A view's own declaration of a code takes precedence.
    """

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        extra = {"401": ERROR_RESPONSES["401"], "429": ERROR_RESPONSES["429"]}
        if "{" in self.path:
            extra["404"] = ERROR_RESPONSES["404"]
        if self._is_list_view():
            extra.update(LIST_ERROR_RESPONSES)
        for code, response in extra.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


# --- Permissions ---------------------------------------------------------------------------------

READ_ACTIONS = frozenset({"list", "retrieve", "metadata"})


class RulesPermission(BasePermission):
    """Each action of a view is a django-rules permission asked of ``request.user.has_perm``.

    The view names them in ``rules_permissions``: ``"read"`` is the permission to see its
    objects (``None``: public), and each other action maps to the permission it needs on the
    object. Before the body is read, the caller must hold the read permission (401 without
    credentials, 403 for a login that may read none of them); on the object, one it may not
    read is a 404 and one it may read but not act on a 403, with the view's ``refusal``.
    An action the view does not name is refused (fail closed).
    """

    def has_permission(self, request, view) -> bool:
        read = view.rules_permissions.get("read")
        if read is None or request.user.has_perm(read):
            return True
        self._deny(request, view, None)
        return False

    def has_object_permission(self, request, view, obj) -> bool:
        permissions = view.rules_permissions
        read = permissions.get("read")
        if read is not None and not request.user.has_perm(read, obj):
            raise exceptions.NotFound()
        if view.action in READ_ACTIONS:
            return True
        name = permissions.get(view.action)
        if name is not None and request.user.has_perm(name, obj):
            return True
        self._deny(request, view, obj)
        return False

    @staticmethod
    def _deny(request, view, obj):
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        refusal = getattr(view, "refusal", None)
        message = refusal(view.action, obj) if refusal is not None else None
        raise exceptions.PermissionDenied(message)


# --- Pagination ----------------------------------------------------------------------------------


class ApiPagination(PageNumberPagination):
    """``page`` and ``page_size`` (default 50, at most 100); ``count``, ``next``, ``previous``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100


# --- ETags ---------------------------------------------------------------------------------------


def etag_of(*parts) -> str:
    """A strong, quoted ETag from the values that make up a representation's version."""
    text = json.dumps(parts, cls=DjangoJSONEncoder, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _listed_etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def check_if_match(request, current_etag: str) -> None:
    """Refuse with 412 when ``If-Match`` is given and names neither ``*`` nor the current ETag.

    Call it on the row as locked (``select_for_update``) inside the write's transaction, so
    that nothing can change between the comparison and the write.
    """
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = _listed_etags(header)
    if "*" in tags or current_etag in tags:
        return
    raise PreconditionFailed()


def not_modified(request, current_etag: str) -> bool:
    """``If-None-Match`` names the current ETag (weakly compared): answer 304."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = [tag.removeprefix("W/") for tag in _listed_etags(header)]
    return "*" in tags or current_etag in tags


class ETagMixin:
    """``retrieve`` with an ``ETag`` header (``get_etag``) and 304 on ``If-None-Match``."""

    def get_etag(self, obj) -> str:
        return etag_of(obj._meta.label, obj.pk, getattr(obj, "updated_at", None))

    def retrieve(self, request, *args, **kwargs):
        obj = self.get_object()
        etag = self.get_etag(obj)
        if not_modified(request, etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(self.get_serializer(obj).data, headers={"ETag": etag})


ETAG_HEADER = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201],
    description=_(
        "The version of the resource as returned; send it back in If-Match to change it only "
        "if nobody else has, or in If-None-Match to be told it has not changed (304)."
    ),
)
IF_NONE_MATCH_HEADER = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=_("An ETag you hold: 304 Not Modified, without a body, while it is current."),
)
IF_MATCH_HEADER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=_(
        "The ETag of the resource as you last read it: the change is made only if it is still "
        "current, and refused with 412 (nothing changed) otherwise. Optional."
    ),
)
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_KEY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=_(
        "A unique value of your choice (a UUID), at most 255 characters. A retry with the same "
        "key within 24 hours gets the first response again (same status and body, with "
        "Idempotent-Replayed: true) and changes nothing; the same key for a different request "
        "is refused with 422. Optional; keys are per API key or login."
    ),
)
LOCATION_HEADER = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    response=[201],
    description=_("The URL of the resource created."),
)
REPLAYED_HEADER_PARAMETER = OpenApiParameter(
    REPLAYED_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201],
    description=_('"true" when the response is the stored answer to an earlier request.'),
)
NOT_MODIFIED = OpenApiResponse(description=_("Not modified: the ETag in If-None-Match is current."))


# --- Idempotency ---------------------------------------------------------------------------------


def caller_key(request) -> str:
    """Who the caller is, for idempotency keys: an API key, else a login."""
    key = getattr(request.auth, "caller_key", None)
    return key or f"user:{request.user.pk}"


def _fingerprint(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder, default=str)
    except (TypeError, ValueError):
        body = repr(request.data)
    text = "\n".join((request.method, request.path, body))
    return hashlib.sha256(text.encode()).hexdigest()


def _idempotency_key(request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        raise exceptions.ValidationError(
            {
                IDEMPOTENCY_KEY_HEADER: [
                    _("Give 1 to %(count)d printable characters, such as a UUID.")
                    % {"count": IDEMPOTENCY_KEY_MAX_LENGTH}
                ]
            }
        )
    return key


def _replay(record) -> Response:
    response = Response(record.response_body, status=record.status_code)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(
    request, run: Callable[[], Response], *, authorize: Callable[[], object] | None = None
) -> Response:
    """``run()`` once per ``Idempotency-Key`` of the caller; retries get its first response.

    Without the header, just ``run()``. With it, in one transaction: the key's record is
    inserted first (a concurrent retry waits on the unique index, then replays), ``run()`` acts,
    and its response is stored. An error response raised by ``run()`` rolls the record back
    with everything else, so a corrected retry with the same key is carried out. A retry is
    replayed before ``run()`` checks who may act: the rules may refuse it now that the first
    request changed the object. ``authorize()`` (the view's permission check) runs before an
    invalid key is refused, so that a caller who may not act gets its 403 or 404, not a 400.
    """
    from stakeholders.models import IdempotencyRecord

    try:
        key = _idempotency_key(request)
    except exceptions.ValidationError:
        if authorize is not None:
            authorize()
        raise
    if key is None:
        return run()
    caller = caller_key(request)
    fingerprint = _fingerprint(request)
    with transaction.atomic():
        now = timezone.now()
        IdempotencyRecord.objects.filter(caller=caller, expires_at__lte=now).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    caller=caller,
                    key=key,
                    fingerprint=fingerprint,
                    expires_at=now + IDEMPOTENCY_TTL,
                )
        except IntegrityError:
            record = IdempotencyRecord.objects.select_for_update().get(caller=caller, key=key)
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused() from None
            return _replay(record)
        response = run()
        record.status_code = response.status_code
        record.response_body = json.loads(
            json.dumps(response.data, cls=DjangoJSONEncoder, default=str)
        )
        record.response_headers = {
            name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)
        }
        record.save(update_fields=["status_code", "response_body", "response_headers"])
        return response


def unknown_fields(data, allowed: Iterable[str]) -> dict[str, list[str]]:
    """Field errors for the keys of a request body that the endpoint does not take."""
    if not isinstance(data, dict):
        return {}
    allowed = set(allowed)
    return {
        str(name): [str(_("This endpoint does not take this field; nothing was changed."))]
        for name in data
        if name not in allowed
    }
