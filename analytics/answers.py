"""The analytics endpoints' answers (docs/api.md) through the response cache (fido/cache.py): how each kind is computed.

A user's analytics and daily rows are cached under the user's generation, so a read after a write reflects
it; the overview is one entry shared by every client, cached for OVERVIEW_CACHE_TTL seconds. The views read
them with their throttles' counters in the same round trip (``read_*``); ``cached_*`` read them alone.
"""

from django.conf import settings

from fido import cache
from fido.dates import as_date, iso

from . import selectors


def _analytics(user_id: int, date_from: str | None, date_to: str | None) -> dict | None:
    if not selectors.user_has_transactions(user_id=user_id):
        return None
    return selectors.user_analytics(user_id=user_id, date_from=as_date(date_from), date_to=as_date(date_to))


def _daily(user_id: int, date_from: str | None, date_to: str | None) -> list | None:
    if not selectors.user_has_transactions(user_id=user_id):
        return None
    return selectors.user_daily(user_id=user_id, date_from=as_date(date_from), date_to=as_date(date_to))


def _overview(date_from: str | None, date_to: str | None) -> dict:
    return selectors.overview(date_from=as_date(date_from), date_to=as_date(date_to))


def register_kinds() -> None:
    """Tell the response cache how the analytics kinds are computed (AnalyticsConfig.ready())."""
    cache.register("analytics", cache.Kind(_analytics))
    cache.register("daily", cache.Kind(_daily))
    cache.register("overview", cache.Kind(_overview))


def read_user_analytics(*, user_id: int, date_from=None, date_to=None, counters=()) -> cache.Read:
    """The analytics of a user (value None: the user has no transactions at all), read with `counters`."""
    return cache.read_user_entry("analytics", user_id, [iso(date_from), iso(date_to)], counters=counters)


def read_user_daily(*, user_id: int, date_from=None, date_to=None, counters=()) -> cache.Read:
    """The daily rows of a user (value None: the user has no transactions at all), read with `counters`."""
    return cache.read_user_entry("daily", user_id, [iso(date_from), iso(date_to)], counters=counters)


def read_overview(*, date_from=None, date_to=None, counters=()) -> cache.Read:
    """The service-wide overview, shared by every client; with the upkeep's delay, at most OVERVIEW_MAX_AGE old."""
    return cache.read_shared_entry(
        "overview", [iso(date_from), iso(date_to)], ttl=settings.OVERVIEW_CACHE_TTL, counters=counters
    )


def cached_user_analytics(*, user_id: int, date_from=None, date_to=None) -> cache.Cached:
    """The analytics of a user (value None: the user has no transactions at all)."""
    return read_user_analytics(user_id=user_id, date_from=date_from, date_to=date_to).answer()


def cached_user_daily(*, user_id: int, date_from=None, date_to=None) -> cache.Cached:
    """The daily rows of a user (value None: the user has no transactions at all)."""
    return read_user_daily(user_id=user_id, date_from=date_from, date_to=date_to).answer()


def cached_overview(*, date_from=None, date_to=None) -> cache.Cached:
    """The service-wide overview (see read_overview)."""
    return read_overview(date_from=date_from, date_to=date_to).answer()
