"""The API's rate limit, in a module of its own.

DRF reads ``DEFAULT_THROTTLE_CLASSES`` when ``rest_framework.views`` is first imported; this
module imports nothing of DRF's views, so loading it never runs into that import.
"""

import logging

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

try:  # the production cache is Redis: its client raises errors of its own
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a dependency
    RedisError = OSError

logger = logging.getLogger("idm.throttling")
CACHE_ERRORS = (RedisError, ConnectionError, TimeoutError, OSError)


class ApiRateThrottle(SimpleRateThrottle):
    """One request budget per API key (scope ``api_key``), per login (``user``) and per
    anonymous client address (``anon``); rates from ``DEFAULT_THROTTLE_RATES``, read at each
    request so that a settings change applies at once. A scope without a rate is unthrottled.
    """

    def __init__(self):
        self.rate = None

    def _scope_and_ident(self, request) -> tuple[str, str]:
        caller_key = getattr(request.auth, "caller_key", None)
        if caller_key:
            return "api_key", caller_key
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return "user", str(user.pk)
        return "anon", self.get_ident(request)

    def allow_request(self, request, view) -> bool:
        self.scope, self.ident = self._scope_and_ident(request)
        self.rate = (api_settings.DEFAULT_THROTTLE_RATES or {}).get(self.scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as error:
            # The counts live in the cache (Redis in production). Without it, serving without a
            # limit for a while beats refusing every request: the API stays up.
            logger.warning("rate limit not applied, the cache is unreachable: %s", error)
            return True

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}
