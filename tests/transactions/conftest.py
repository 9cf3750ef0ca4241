"""Fixtures of the transactions API tests."""

import pytest
from django.db import connection

LIST_URL = "/api/v1/transactions/"


def detail_url(txn_id: int) -> str:
    return f"{LIST_URL}{txn_id}/"


def history_url(user_id: int) -> str:
    return f"/api/v1/users/{user_id}/transactions/"


@pytest.fixture(autouse=True)
def _skip_services_tests_when_embedded(request):
    """Tests marked `services` need real PostgreSQL (row locks, concurrent sessions): skipped on SQLite."""
    if request.node.get_closest_marker("services") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (services mode)")


@pytest.fixture
def create_txn(write_client, txn_body):
    """POST a transaction (the valid body, with `overrides`) and return its JSON."""

    def create(**overrides) -> dict:
        response = write_client.post(LIST_URL, {**txn_body, **overrides}, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    return create
