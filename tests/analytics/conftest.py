"""Fixtures of the analytics tests: a cache emptied per test, helpers to write and read through the API."""

import pytest
from django.conf import settings

# Tasks in-process unless a test is marked `services`: a write's processing (the overview's upkeep included)
# has run when its request returns, in both CI modes.
from tests.processing.conftest import _task_mode  # noqa: F401

TRANSACTIONS = "/api/v1/transactions/"


def services_available() -> bool:
    return (
        settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        and bool(settings.REDIS_URL)
        and bool(settings.CELERY_BROKER_URL)
    )


@pytest.fixture(autouse=True)
def _services_only(request):
    if request.node.get_closest_marker("services") and not services_available():
        pytest.skip("needs real PostgreSQL, Redis and a Celery broker")


@pytest.fixture
def create(write_client, txn_body, django_capture_on_commit_callbacks):
    """POST a transaction (fields override txn_body) and return its JSON, its after-commit work done."""

    def _create(**fields) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = write_client.post(TRANSACTIONS, {**txn_body, **fields}, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    return _create
