"""Read replicas: reads that need no freshness go to a replica, writes and fresh reads to the primary.

`replica_1` (tests/production/conftest.py) is a second connection to the test database, as a
replica would be; the tests look at which connection ran the queries.
"""

import contextvars
from http import HTTPStatus

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from fido.db_router import PrimaryReplicaRouter
from transactions import services
from transactions.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica_1"])


@pytest.fixture(autouse=True)
def _replica_routing(settings):
    settings.DATABASE_REPLICAS = ["replica_1"]
    settings.DATABASE_ROUTERS = ["fido.db_router.PrimaryReplicaRouter"]


def _sql(captured: CaptureQueriesContext) -> str:
    return "\n".join(query["sql"] for query in captured.captured_queries)


def test_a_read_request_is_served_by_the_replica(write_client, txn_body):
    created = write_client.post("/api/v1/transactions/", txn_body, format="json")
    assert created.status_code == HTTPStatus.CREATED

    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica_1"]) as replica,
    ):
        response = write_client.get(f"/api/v1/users/{txn_body['user_id']}/transactions/")

    assert response.status_code == HTTPStatus.OK
    assert [row["id"] for row in response.json()["results"]] == [created.json()["id"]]
    assert "transactions_transaction" in _sql(replica)
    assert primary.captured_queries == []


def test_a_write_request_reads_and_writes_only_on_the_primary(write_client, txn_body):
    created = write_client.post("/api/v1/transactions/", txn_body, format="json")

    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica_1"]) as replica,
    ):
        response = write_client.patch(
            f"/api/v1/transactions/{created.json()['id']}/", {"transaction_amount": "7.00"}, format="json"
        )

    assert response.status_code == HTTPStatus.OK
    assert "UPDATE" in _sql(primary)
    assert replica.captured_queries == []


def test_reads_inside_a_transaction_stay_on_the_primary(txn_body):
    with CaptureQueriesContext(connections["replica_1"]) as replica, transaction.atomic():
        list(Transaction.objects.all())

    assert replica.captured_queries == []


def test_reads_after_a_write_in_the_same_context_stay_on_the_primary(txn_body):
    def write_then_read():
        with CaptureQueriesContext(connections["replica_1"]) as replica:
            before = Transaction.objects.count()
            services.transaction_create(**{**txn_body, "transaction_amount": "1.00"})
            after = Transaction.objects.count()
        return before, after, replica.captured_queries

    # A fresh context, as a new request or task starts with.
    before, after, replica_queries = contextvars.Context().run(write_then_read)

    assert (before, after) == (0, 1)
    assert len(replica_queries) == 1  # the first count, before any write


def test_migrations_never_target_a_replica():
    router = PrimaryReplicaRouter()

    assert router.allow_migrate("default", "transactions")
    assert not router.allow_migrate("replica_1", "transactions")
