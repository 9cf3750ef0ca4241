"""Per-client rate limits through the cache: 429 with `Retry-After` in the one error shape.

A fixed window counted with one atomic ``INCR`` per request (DRF's own throttles keep a list of
timestamps per client, rewritten on every request, and lose counts under concurrency), in one round
trip (fido/cache.py). A view whose answer is one cache entry counts it in the same round trip as its
read (``CountedWithCacheRead``); any other request pays one round trip for it, before its handler runs
(so a write is refused before it is made). When the cache is down the count is unknown and the request
is let through: throttling protects the service, it must not take it down with Redis (fail-open, see
docs/operators.md, "Throttling").
"""

import time
from dataclasses import dataclass

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.throttling import BaseThrottle

from fido import cache
from fido.proxy import client_ip

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """`"600/min"` → (600, 60); an empty rate means no limit."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


@dataclass(frozen=True)
class Window:
    """One identity's current fixed window: its counter, its limit and when it ends."""

    counter: cache.Counter
    limit: int
    ends_at: float


class FixedWindowThrottle(BaseThrottle):
    """At most N requests per period per identity; the setting named by ``rate_setting`` holds N/period."""

    scope = ""
    rate_setting = ""
    wait_seconds = None

    def get_ident_key(self, request) -> str | None:
        raise NotImplementedError

    def window(self, request) -> Window | None:
        """The window this request counts in; None when no limit applies to it."""
        rate = parse_rate(getattr(settings, self.rate_setting))
        ident = self.get_ident_key(request)
        if rate is None or ident is None:
            return None
        limit, period = rate
        number = int(time.time() // period)
        key = f"throttle:{self.scope}:{limit}/{period}:{ident}:{number}"
        return Window(cache.Counter(key, period + 1), limit, (number + 1) * period)

    def judge(self, window: Window | None, count: int | None) -> bool:
        """Whether the request is allowed, its window's count known (None: the cache is down, fail open)."""
        self.wait_seconds = None
        if window is None or count is None or count <= window.limit:
            return True
        self.wait_seconds = max(1, int(window.ends_at - time.time() + 0.999))
        return False

    def allow_request(self, request, view) -> bool:
        window = self.window(request)
        if window is None:
            return self.judge(None, None)
        [count] = cache.count([window.counter])
        return self.judge(window, count)

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
        # Behind the proxy, its X-Forwarded-For; from anyone else the peer's own address (fido/proxy.py).
        return client_ip(request)


class CountedWithCacheRead:
    """For a DRF view whose GET answers one cache entry: its throttles count in the round trip that reads it.

    The view names its entry in ``read_cache(counters)`` (validating its parameters there); the handler's
    ``cached_answer()`` is then the entry read with the throttles, or the value computed on a miss. Bad
    parameters are still counted (one round trip for the throttles alone) before their 400, as DRF orders a
    throttle before the handler's validation.
    """

    cache_read: cache.Read | None = None

    def read_cache(self, counters: list[cache.Counter]) -> cache.Read:
        raise NotImplementedError

    def cached_answer(self) -> cache.Cached:
        """The entry read at the throttle check (or now, if that check did not read it), or computed."""
        read = self.cache_read if self.cache_read is not None else self.read_cache([])
        return read.answer()

    def check_throttles(self, request) -> None:
        throttles = self.get_throttles()
        if request.method not in ("GET", "HEAD") or not all(isinstance(t, FixedWindowThrottle) for t in throttles):
            return super().check_throttles(request)
        windows = [(throttle, throttle.window(request)) for throttle in throttles]
        windows = [(throttle, window) for throttle, window in windows if window is not None]
        try:
            self.cache_read = self.read_cache([window.counter for _, window in windows])
        except ValidationError:
            super().check_throttles(request)
            raise
        waits = [
            throttle.wait()
            for (throttle, window), count in zip(windows, self.cache_read.counts, strict=True)
            if not throttle.judge(window, count)
        ]
        if waits:
            self.throttled(request, max(waits))
        return None
