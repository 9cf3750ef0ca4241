"""Fixtures shared by every test area: API clients by scope, and a valid transaction body."""

import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from fido import cache as response_cache
from fido.authentication import client_cache
from transactions.clients import api_client_create


@pytest.fixture(autouse=True)
def _no_static_file_scan_per_client(settings):
    # Every test client builds its own middleware chain, and WhiteNoise with finders (DEBUG) scans
    # every static file each time: ~0.1 s per client. Tests never fetch static files through it
    # (pytest-django's live_server serves them itself).
    settings.WHITENOISE_USE_FINDERS = False


@pytest.fixture(autouse=True)
def _empty_response_cache():
    # Cached answers outlive a test's database (its writes roll back, their invalidations never run): each test
    # starts with none of this run's entries (its KEY_PREFIX only, never another checkout's) and a closed breaker.
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("an:*")
    else:
        cache.clear()
    response_cache._link.reset()  # the process-wide breaker and the invalidations it still owes
    yield


@pytest.fixture(autouse=True)
def _fresh_client_cache():
    # Resolved tokens live in a per-process cache; each test starts with none resolved.
    client_cache.clear()
    yield
    client_cache.clear()


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = time.monotonic()  # entries cached before the test took the clock keep their meaning

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def client_clock(monkeypatch) -> FakeClock:
    """The clock of the resolved-token cache, under the test's control (no sleeping out a TTL)."""
    clock = FakeClock()
    monkeypatch.setattr(client_cache, "clock", clock)
    return clock


def _client_with_token(key: str | None) -> APIClient:
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def read_client(db) -> APIClient:
    return _client_with_token(api_client_create(name="reader", scope="read").key)


@pytest.fixture
def write_client(db) -> APIClient:
    return _client_with_token(api_client_create(name="writer", scope="write").key)


@pytest.fixture
def txn_body() -> dict:
    return {
        "user_id": 42,
        "full_name": "Ama Mensah",
        "transaction_date": "2026-11-20T14:03:00Z",
        "transaction_amount": "125.50",
        "transaction_type": "credit",
    }
