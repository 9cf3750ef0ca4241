"""Per-client rate limits through the cache: 429 with `Retry-After` in the one error shape.

A fixed window counted with one atomic ``INCR`` per request (DRF's own throttles keep a list of
timestamps per client, rewritten on every request, and lose counts under concurrency). When the
cache is down the count is unknown and the request is let through: throttling protects the
service, it must not take it down with Redis (fail-open, see docs/operators.md, "Throttling").
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """`"600/min"` → (600, 60); an empty rate means no limit."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


class FixedWindowThrottle(BaseThrottle):
    """At most N requests per period per identity; the setting named by ``rate_setting`` holds N/period."""

    scope = ""
    rate_setting = ""

    def get_ident_key(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        self.wait_seconds = None
        rate = parse_rate(getattr(settings, self.rate_setting))
        ident = self.get_ident_key(request)
        if rate is None or ident is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.scope}:{limit}/{period}:{ident}:{window}"
        cache.add(key, 0, timeout=period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # the key expired between add and incr: a fresh window
            count = 1
        if count is None or count <= limit:  # None: cache down, fail open
            return True
        self.wait_seconds = max(1, int((window + 1) * period - now + 0.999))
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


class ClientRateThrottle(FixedWindowThrottle):
    """Per API client (the authenticated user), `THROTTLE_RATE_USER`."""

    scope = "client"
    rate_setting = "THROTTLE_RATE_USER"

    def get_ident_key(self, request) -> str | None:
        user = request.user
        return f"u{user.pk}" if user and user.is_authenticated else None


class AnonRateThrottle(FixedWindowThrottle):
    """Per client address for unauthenticated requests (the schema and docs), `THROTTLE_RATE_ANON`."""

    scope = "anon"
    rate_setting = "THROTTLE_RATE_ANON"

    def get_ident_key(self, request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)
