"""Caching of history and analytics: HIT after MISS, read-your-writes, outages, dogpile, no plain names."""

import json
import threading
import time
from http import HTTPStatus

import pytest
from django.core.cache import cache
from django.test import override_settings

from analytics import answers
from analytics.tasks import reconcile_analytics, refresh_analytics
from fido import cache as response_cache
from transactions.models import Transaction

# Real commits: generations are replaced on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

HISTORY = "/api/v1/users/{}/transactions/"
ANALYTICS = "/api/v1/users/{}/analytics/"
DAILY = "/api/v1/users/{}/analytics/daily/"
OVERVIEW = "/api/v1/analytics/overview/"
DETAIL = "/api/v1/transactions/{}/"


@pytest.mark.parametrize("url", [HISTORY.format(42), ANALYTICS.format(42), DAILY.format(42), OVERVIEW])
def test_repeated_read_is_a_hit(create, read_client, url):
    create()

    first = read_client.get(url)
    second = read_client.get(url)

    assert first.status_code == second.status_code == HTTPStatus.OK
    assert (first["X-Cache"], second["X-Cache"]) == ("MISS", "HIT")
    assert first.json() == second.json()


def test_different_periods_and_pages_are_different_entries(create, read_client):
    create()

    assert read_client.get(ANALYTICS.format(42))["X-Cache"] == "MISS"
    assert read_client.get(ANALYTICS.format(42), {"date_from": "2026-01-01"})["X-Cache"] == "MISS"
    assert read_client.get(HISTORY.format(42))["X-Cache"] == "MISS"
    assert read_client.get(HISTORY.format(42), {"page_size": 1})["X-Cache"] == "MISS"


def test_a_404_is_cached_and_a_first_write_ends_it(create, read_client):
    assert read_client.get(ANALYTICS.format(42)).status_code == HTTPStatus.NOT_FOUND
    assert read_client.get(ANALYTICS.format(42))["X-Cache"] == "HIT"

    create()

    assert read_client.get(ANALYTICS.format(42)).status_code == HTTPStatus.OK


def _warm(client, user_id):
    for url in (HISTORY, ANALYTICS):
        client.get(url.format(user_id))
        assert client.get(url.format(user_id))["X-Cache"] == "HIT"


def test_read_your_writes_after_create(create, read_client):
    create(transaction_amount="10.00")
    _warm(read_client, 42)

    create(transaction_amount="30.00")

    assert len(read_client.get(HISTORY.format(42)).json()["results"]) == 2
    assert read_client.get(ANALYTICS.format(42)).json()["credit"] == {"count": 2, "total": "40.00"}


def test_read_your_writes_after_update(create, write_client, read_client):
    txn = create(transaction_amount="10.00")
    _warm(read_client, 42)

    write_client.patch(DETAIL.format(txn["id"]), {"transaction_amount": "12.34", "full_name": "Kofi"}, format="json")

    assert read_client.get(HISTORY.format(42)).json()["results"][0]["full_name"] == "Kofi"
    assert read_client.get(ANALYTICS.format(42)).json()["credit"]["total"] == "12.34"


def test_read_your_writes_after_moving_to_another_user(create, write_client, read_client):
    txn = create(transaction_amount="10.00")
    create(user_id=7, transaction_amount="1.00")
    _warm(read_client, 42)
    _warm(read_client, 7)

    write_client.patch(DETAIL.format(txn["id"]), {"user_id": 7}, format="json")

    assert read_client.get(HISTORY.format(42)).json()["results"] == []
    assert read_client.get(ANALYTICS.format(42)).status_code == HTTPStatus.NOT_FOUND
    assert len(read_client.get(HISTORY.format(7)).json()["results"]) == 2
    assert read_client.get(ANALYTICS.format(7)).json()["credit"] == {"count": 2, "total": "11.00"}


def test_read_your_writes_after_changing_the_date(create, write_client, read_client):
    txn = create(transaction_date="2026-03-01T10:00:00Z")
    read_client.get(DAILY.format(42))

    write_client.patch(DETAIL.format(txn["id"]), {"transaction_date": "2026-03-05T10:00:00Z"}, format="json")

    assert [row["date"] for row in read_client.get(DAILY.format(42)).json()] == ["2026-03-05"]


def test_read_your_writes_after_delete(create, write_client, read_client):
    txn = create()
    create(transaction_amount="1.00")
    _warm(read_client, 42)

    write_client.delete(DETAIL.format(txn["id"]))

    assert [row["id"] for row in read_client.get(HISTORY.format(42)).json()["results"]] != [txn["id"]]
    assert len(read_client.get(HISTORY.format(42)).json()["results"]) == 1
    assert read_client.get(ANALYTICS.format(42)).json()["transaction_count"] == 1


def _stored_entries(user_id: int) -> dict:
    """Every entry stored for the user, as the cache holds it (Redis hash or in-process dict)."""
    key = response_cache.user_key(user_id)
    if hasattr(cache, "client") and hasattr(cache.client, "get_client"):
        stored = cache.client.get_client().hgetall(cache.make_key(key))
    else:
        stored = cache.get(key) or {}
    return {name.decode() if isinstance(name, bytes) else name: value for name, value in stored.items()}


def test_no_plain_name_is_cached(create, read_client):
    create(full_name="Zebulon Quartermaine")
    read_client.get(HISTORY.format(42))
    assert read_client.get(HISTORY.format(42))["X-Cache"] == "HIT"

    stored = _stored_entries(42)
    entry = stored[response_cache.entry_field("history", [50, None])]

    assert b"Quartermaine" not in entry
    assert b"Zebulon" not in entry
    assert len(entry) > 200  # the page is there, encrypted


CLOSED_PORT_CACHE = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
            "SOCKET_CONNECT_TIMEOUT": 0.25,
            "SOCKET_TIMEOUT": 0.25,
            "IGNORE_EXCEPTIONS": True,
        },
    }
}


def test_cache_outage_still_answers_correctly(create, write_client, read_client):
    txn = create(transaction_amount="10.00")
    with override_settings(CACHES=CLOSED_PORT_CACHE):
        started = time.monotonic()
        analytics = read_client.get(ANALYTICS.format(42))
        history = read_client.get(HISTORY.format(42))
        overview = read_client.get(OVERVIEW)
        write_client.patch(DETAIL.format(txn["id"]), {"transaction_amount": "20.00"}, format="json")
        after_write = read_client.get(ANALYTICS.format(42))
        elapsed = time.monotonic() - started

    assert analytics.status_code == history.status_code == overview.status_code == HTTPStatus.OK
    assert analytics["X-Cache"] == history["X-Cache"] == "MISS"
    assert analytics.json()["credit"]["total"] == "10.00"
    assert history.json()["results"][0]["id"] == txn["id"]
    assert overview.json()["transaction_count"] == 1
    assert after_write.json()["credit"]["total"] == "20.00"
    assert elapsed < 30  # generous: a hang on the closed port would be far longer


def test_burst_of_identical_misses_computes_once(create, read_client, monkeypatch):
    create()
    calls = []
    real = response_cache.KINDS["analytics"]

    def slow_compute(*args):
        calls.append(args)
        time.sleep(0.3)
        return real.compute(*args)

    monkeypatch.setitem(response_cache.KINDS, "analytics", response_cache.Kind(slow_compute))
    results = []

    def read():
        results.append(answers.cached_user_analytics(user_id=42))

    # The first miss takes the guard; the others arrive while it computes.
    first = threading.Thread(target=read)
    first.start()
    time.sleep(0.05)
    others = [threading.Thread(target=read) for _ in range(4)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join()

    assert len(calls) == 1
    assert sorted(result.hit for result in results) == [False, True, True, True, True]
    assert len({json.dumps(result.value) for result in results}) == 1


@override_settings(ANALYTICS_CACHE_TTL=2)
def test_periodic_refresh_recomputes_entries_before_they_expire(create, read_client):
    """A fix made behind the API shows at the next read after the reconciliation (well within the TTL); the
    periodic refresh no longer re-stores entries itself (an entry nobody reads must not live on): the read
    after the fix computes it, the one after is a HIT again."""
    txn = create(transaction_amount="10.00")
    read_client.get(ANALYTICS.format(42))
    # A fix made behind the API: no signal, no generation change.
    Transaction.objects.filter(pk=txn["id"]).update(transaction_amount="99.00")
    time.sleep(1.1)  # past half the TTL: what the refresh used to recompute

    reconcile_analytics()  # the figures follow the fix, and the user's cached answers are invalidated
    refresh_analytics()  # stores nothing
    assert _stored_entries(42) == {}
    first = read_client.get(ANALYTICS.format(42))
    second = read_client.get(ANALYTICS.format(42))

    assert (first["X-Cache"], first.json()["credit"]["total"]) == ("MISS", "99.00")
    assert (second["X-Cache"], second.json()["credit"]["total"]) == ("HIT", "99.00")


@override_settings(ANALYTICS_CACHE_TTL=3)
def test_history_pages_expire_after_the_ttl_and_the_refresh_does_not_restore_them(create, read_client):
    """A change behind the API that the figures do not see (a name fixed in SQL) shows once the TTL is over."""
    txn = create(full_name="Ama Mensah")
    read_client.get(HISTORY.format(42))
    Transaction.objects.filter(pk=txn["id"]).update(full_name="Ama Mensah-Boateng")  # behind the API
    time.sleep(1.6)  # past half the TTL

    refresh_analytics()
    within_ttl = read_client.get(HISTORY.format(42))
    time.sleep(1.6)  # past the TTL of the entry stored by the first read
    after_ttl = read_client.get(HISTORY.format(42))

    assert (within_ttl["X-Cache"], within_ttl.json()["results"][0]["full_name"]) == ("HIT", "Ama Mensah")
    assert (after_ttl["X-Cache"], after_ttl.json()["results"][0]["full_name"]) == ("MISS", "Ama Mensah-Boateng")
