"""Read replicas: reads that need no freshness go to a replica, writes and fresh reads to the primary,
and a replica that fails never fails a read.

`replica_1` (tests/production/conftest.py) is a second connection to the test database, as a
replica would be; the tests look at which connection ran the queries. A failing replica is that same
connection really failing: pointed at an address where nothing answers, or its server process
terminated mid-request (PostgreSQL). ci/scale/run.py proves the same against a real streaming standby.
"""

import contextvars
import socket
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fido import db_router
from fido.db_router import PrimaryReplicaRouter
from transactions import services
from transactions.client_models import ApiClient
from transactions.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica_1"])


@pytest.fixture(autouse=True)
def _replica_routing(settings):
    settings.DATABASE_REPLICAS = ["replica_1"]
    settings.DATABASE_ROUTERS = ["fido.db_router.PrimaryReplicaRouter"]
    db_router.health.reset()
    yield
    db_router.health.reset()


@pytest.fixture
def replica_unreachable(monkeypatch):
    """replica_1's next connection attempt really fails: a port where nothing listens (PostgreSQL), or a
    file in a directory that does not exist (SQLite). Undone at the end of the test."""
    replica = connections["replica_1"]
    replica.close()
    # A copy: a test mirror shares its settings dict with the primary.
    if replica.vendor == "postgresql":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]
        unreachable = {"HOST": "127.0.0.1", "PORT": str(closed_port)}
    else:
        unreachable = {"NAME": "/nonexistent-fido-dir/replica.sqlite3"}
        # Django never closes an in-memory SQLite connection; set it aside (restored at the end) instead.
        monkeypatch.setattr(replica, "connection", None)
    monkeypatch.setattr(replica, "settings_dict", {**replica.settings_dict, **unreachable})
    yield
    replica.close()


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


def test_a_replica_that_cannot_be_reached_leaves_reads_to_the_primary(write_client, txn_body, replica_unreachable):
    txn_body["user_id"] = 9_100_001  # a user of its own: no history page of an earlier test is cached
    created = write_client.post("/api/v1/transactions/", txn_body, format="json")

    with CaptureQueriesContext(connections["default"]) as primary:
        response = write_client.get(f"/api/v1/users/{txn_body['user_id']}/transactions/")

    assert response.status_code == HTTPStatus.OK
    assert [row["id"] for row in response.json()["results"]] == [created.json()["id"]]
    assert "transactions_transaction" in _sql(primary)
    assert db_router.health.down() == ["replica_1"]


def test_a_replica_marked_down_is_left_alone_then_tried_again_after_the_pause(
    settings, write_client, txn_body, replica_unreachable, client_clock, monkeypatch
):
    monkeypatch.setattr(db_router.health, "clock", client_clock)
    settings.DATABASE_REPLICA_RETRY_AFTER = 5
    router = PrimaryReplicaRouter()
    read = contextvars.Context().run  # a fresh request's context: nothing pinned

    assert read(router.db_for_read, Transaction) == "default"
    client_clock.advance(4.9)
    attempts = []
    monkeypatch.setattr(db_router, "_connected", lambda alias: attempts.append(alias) or False)
    assert read(router.db_for_read, Transaction) == "default"
    assert attempts == []  # still within the pause: no connection attempt at all

    monkeypatch.undo()  # the replica is reachable again (and the clock still ours)
    monkeypatch.setattr(db_router.health, "clock", client_clock)
    client_clock.advance(0.2)
    assert read(router.db_for_read, Transaction) == "replica_1"
    assert db_router.health.down() == []


def test_only_one_read_tries_a_replica_again_after_the_pause(settings, client_clock, monkeypatch):
    monkeypatch.setattr(db_router.health, "clock", client_clock)
    settings.DATABASE_REPLICA_RETRY_AFTER = 5
    db_router.health.mark_down("replica_1")
    client_clock.advance(5.1)

    turns = [db_router.health.take_turn("replica_1") for _ in range(3)]

    assert turns == [True, False, False]


@pytest.mark.skipif("connections['default'].vendor != 'postgresql'", reason="terminates a PostgreSQL backend")
def test_a_read_whose_replica_fails_mid_request_is_answered_from_the_primary(write_client, txn_body):
    txn_body["user_id"] = 9_100_002
    created = write_client.post("/api/v1/transactions/", txn_body, format="json")
    replica = connections["replica_1"]
    terminated = []

    def terminate_replica_session_first(execute, sql, params, many, context):
        # The replica's server process dies after the request began, as when a standby stops under load.
        if not terminated:
            pid = replica.connection.info.backend_pid
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            terminated.append(pid)
        return execute(sql, params, many, context)

    write_client.raise_request_exception = False  # the first attempt's error is logged, as in production
    with replica.execute_wrapper(terminate_replica_session_first):
        response = write_client.get(f"/api/v1/users/{txn_body['user_id']}/transactions/")

    assert terminated
    assert response.status_code == HTTPStatus.OK
    assert [row["id"] for row in response.json()["results"]] == [created.json()["id"]]
    assert db_router.health.down() == ["replica_1"]


def test_a_read_whose_last_used_time_is_due_still_reads_from_the_replica(write_client, txn_body, client_clock):
    txn_body["user_id"] = 9_100_003
    write_client.post("/api/v1/transactions/", txn_body, format="json")
    client_clock.advance(3600)  # the client's resolved token and its "last used" time are both stale now
    ApiClient.objects.update(last_used_at=timezone.now() - timedelta(hours=1))

    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica_1"]) as replica,
    ):
        response = write_client.get(f"/api/v1/users/{txn_body['user_id']}/analytics/?date_from=2026-11-01")

    assert response.status_code == HTTPStatus.OK
    assert "UPDATE" in _sql(primary)  # the bookkeeping write...
    assert "analytics_userdayfigures" in _sql(replica)  # ... does not pin the request's reads to the primary
    assert "analytics_userdayfigures" not in _sql(primary)
