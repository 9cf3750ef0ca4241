"""The cache's link to Redis: one round trip per read with its throttle, the circuit breaker, the invalidations a
process owes and their repair, the epoch, the per-user budget in normal use, and throttling on cached reads.

Fault scenarios run on a redis-server of the test's own (tests/redis_server.py); round trips are counted on
the client's connections (what leaves the process), SQL with Django's query capture.
"""

import datetime as dt
import time
import uuid
from http import HTTPStatus

import pytest
import redis.connection
from celery import current_app

from fido import cache as response_cache
from tests.redis_server import faulty_cache
from transactions.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)

HISTORY = "/api/v1/users/{}/transactions/"
ANALYTICS = "/api/v1/users/{}/analytics/"
DAILY = "/api/v1/users/{}/analytics/daily/"
OVERVIEW = "/api/v1/analytics/overview/"
TRANSACTIONS = "/api/v1/transactions/"
STALENESS_BOUND = 30.0  # SPEC §6: no answer older than the last acknowledged write for more than this


@pytest.fixture
def cache_server(settings):
    with faulty_cache(settings) as server:
        yield server


@pytest.fixture
def round_trips(monkeypatch):
    """How many times the process sent something to Redis (a pipeline counts once)."""
    sent = []
    real = redis.connection.AbstractConnection.send_packed_command

    def counted(self, *args, **kwargs):
        sent.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return sent


@pytest.fixture
def published(monkeypatch):
    """Events handed to the broker, kept here: nothing processes them unless the test does."""
    events: list[int] = []
    task = current_app.tasks["analytics.tasks.process_event"]
    monkeypatch.setattr(task, "apply_async", lambda args=None, kwargs=None, **options: events.append(args[0]))
    return events


def _warm(client, *urls) -> None:
    for url in urls:
        client.get(url)
        assert client.get(url)["X-Cache"] == "HIT", url


@pytest.mark.parametrize("url", [ANALYTICS.format(42), DAILY.format(42), OVERVIEW, HISTORY.format(42)])
def test_a_cached_read_is_one_round_trip_with_its_throttle_and_no_sql(
    url, cache_server, create, read_client, round_trips, django_assert_num_queries, settings
):
    settings.THROTTLE_RATE_USER = "1000/min"  # a limit applies: the throttle is counted
    create()
    _warm(read_client, url)
    round_trips.clear()

    with django_assert_num_queries(0):
        response = read_client.get(url)

    assert (response.status_code, response["X-Cache"]) == (HTTPStatus.OK, "HIT")
    assert len(round_trips) == 1
    # The reader's window counted each of its reads (the writer has a window of its own).
    counts = [int(cache_server.admin().get(key)) for key in cache_server.scan_keys("*throttle:client:*")]
    assert max(counts) == 3


def test_a_request_without_a_cache_entry_pays_one_round_trip_for_its_throttle(
    cache_server, create, read_client, round_trips
):
    create()
    read_client.get(TRANSACTIONS)
    round_trips.clear()

    assert read_client.get(TRANSACTIONS).status_code == HTTPStatus.OK
    assert len(round_trips) == 1


def test_a_miss_costs_three_round_trips(cache_server, create, read_client, round_trips):
    create()
    read_client.get(ANALYTICS.format(42))  # the token resolved, the generation installed
    round_trips.clear()

    response = read_client.get(ANALYTICS.format(42), {"date_from": "2026-01-01"})

    assert response["X-Cache"] == "MISS"
    assert len(round_trips) == 3  # read (with the throttle), dogpile guard, store (releasing the guard)


def test_while_the_breaker_is_open_requests_do_not_touch_redis(cache_server, create, read_client, round_trips):
    create()
    _warm(read_client, ANALYTICS.format(42))

    with cache_server.fault("stopped"):
        first = read_client.get(ANALYTICS.format(42))  # waits one socket timeout, opens the breaker
        round_trips.clear()
        others = [read_client.get(ANALYTICS.format(42)) for _ in range(5)]

    assert first.status_code == HTTPStatus.OK
    assert [(r.status_code, r["X-Cache"]) for r in others] == [(HTTPStatus.OK, "MISS")] * 5
    assert round_trips == []


def _until_cached(read, bound: float = STALENESS_BOUND) -> tuple[list, float]:
    """Every (X-Cache, figure) read until one is a HIT, polling, and the seconds that took; fails past `bound`."""
    started, seen = time.monotonic(), []
    while not seen or seen[-1][0] != "HIT":
        assert time.monotonic() - started < bound, f"not cached again after {bound:.0f} s: {seen[-5:]}"
        response = read()
        seen.append((response["X-Cache"], response.json()["transaction_count"]))
        time.sleep(0.02)
    return seen, time.monotonic() - started


@pytest.mark.parametrize("state", ["stopped", "paused_write", "read_only"])
def test_a_lost_invalidation_is_repaired_by_the_process_that_lost_it(
    state, cache_server, create, read_client, published, capsys
):
    """Without waiting for the event's processing (the broker may be down too): the process that lost it
    retries it, and reads nothing from Redis before it has landed. No stale answer, then HITs again."""
    create(transaction_amount="10.00")
    published.clear()
    _warm(read_client, ANALYTICS.format(42))

    with cache_server.fault(state):
        create(transaction_amount="30.00")  # its invalidation is lost, and owed
    seen, cached_after = _until_cached(lambda: read_client.get(ANALYTICS.format(42)))

    with capsys.disabled():
        stale = sum(1 for _, count in seen if count != 2)
        print(f"\n[staleness] {state}: {stale} stale answers of {len(seen)}; cached again {cached_after:.2f} s after")
    assert [count for _, count in seen] == [2] * len(seen)


def test_more_lost_invalidations_than_a_process_remembers_replace_the_epoch(
    cache_server, create, read_client, published, monkeypatch
):
    monkeypatch.setattr(response_cache, "OWED_MAX", 2)
    for user_id in (1, 2, 3, 4):
        create(user_id=user_id)
    for user_id in (1, 2, 3, 4):
        _warm(read_client, ANALYTICS.format(user_id))

    with cache_server.fault("read_only"):
        for user_id in (1, 2, 3):
            create(user_id=user_id)  # three owed: past the bound, the epoch is owed instead

    seen, _ = _until_cached(lambda: read_client.get(ANALYTICS.format(3)))
    assert [count for _, count in seen] == [2] * len(seen)
    # User 4 was never written: its entry fell with the epoch (a MISS), then it is cached again.
    assert [read_client.get(ANALYTICS.format(4))["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    assert [read_client.get(ANALYTICS.format(1)).json()["transaction_count"] for _ in range(2)] == [2, 2]


def test_over_budget_the_user_starts_again_and_repeated_reads_stay_hits(cache_server, create, read_client):
    create()
    _warm(read_client, ANALYTICS.format(42), DAILY.format(42), HISTORY.format(42))

    # Normal use: a few periods and pages, each read again, are HITs.
    for params in ({"date_from": "2026-01-01"}, {"date_to": "2026-12-31"}, {"page_size": 10}):
        url = HISTORY.format(42) if "page_size" in params else ANALYTICS.format(42)
        read_client.get(url, params)
        assert read_client.get(url, params)["X-Cache"] == "HIT"
    assert read_client.get(HISTORY.format(42))["X-Cache"] == "HIT"

    # Past the budget (entries), the hash keeps only the entry just stored: the next identical read is a HIT.
    periods = [{"date_to": (dt.date(2027, 1, 1) + dt.timedelta(days=n)).isoformat()} for n in range(40)]
    for period in periods:
        assert read_client.get(ANALYTICS.format(42), period)["X-Cache"] == "MISS"
    assert read_client.get(ANALYTICS.format(42), periods[-1])["X-Cache"] == "HIT"
    stored = cache_server.admin().hlen(cache_server.scan_keys("*an:3:u:42")[0])
    assert stored <= response_cache.USER_ENTRIES + 1  # entries and the byte count


# --- Throttling on cached reads (the default cache: in-process, or the run's Redis) -----------------


@pytest.fixture
def fresh_namespace(settings):
    # Counters of this test only: user ids repeat across test databases, Redis outlives them.
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


@pytest.mark.parametrize("url", [ANALYTICS.format(42), DAILY.format(42), OVERVIEW, HISTORY.format(42)])
def test_a_cached_read_over_the_rate_is_a_429_even_when_its_entry_is_cached(
    url, create, read_client, settings, fresh_namespace
):
    create()
    settings.THROTTLE_RATE_USER = "3/hour"

    statuses = [read_client.get(url).status_code for _ in range(3)]
    throttled = read_client.get(url)

    assert statuses == [HTTPStatus.OK] * 3
    assert throttled.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 1 <= int(throttled["Retry-After"]) <= 3600
    assert throttled.json()["errors"][0]["code"] == "throttled"


def test_bad_parameters_count_against_the_rate(create, read_client, settings, fresh_namespace):
    create()
    settings.THROTTLE_RATE_USER = "2/hour"

    bad = [read_client.get(ANALYTICS.format(42), {"date_from": "yesterday"}).status_code for _ in range(2)]
    bad_page = read_client.get(HISTORY.format(42), {"page_size": "x"})

    assert bad == [HTTPStatus.BAD_REQUEST] * 2
    assert bad_page.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_a_throttled_create_writes_nothing(write_client, txn_body, settings, fresh_namespace):
    settings.THROTTLE_RATE_USER = "1/hour"

    first = write_client.post(TRANSACTIONS, txn_body, format="json")
    second = write_client.post(TRANSACTIONS, {**txn_body, "transaction_amount": "1.00"}, format="json")

    assert (first.status_code, second.status_code) == (HTTPStatus.CREATED, HTTPStatus.TOO_MANY_REQUESTS)
    assert Transaction.objects.count() == 1
