"""The outbox: written with the write, published after commit, processed once, retried, relayed, requeued."""

import datetime as dt
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics import statistics, tasks
from analytics.models import Alert, OverviewChange, UserDayFigures, UserStatistics
from fido.celery import app as celery_app
from transactions import outbox, services
from transactions.models import OutboxEvent, Transaction

pytestmark = pytest.mark.django_db

LIST = "/api/v1/transactions/"


def test_a_write_is_published_only_after_its_commit(
    write_client, txn_body, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = write_client.post(LIST, txn_body, format="json")
        assert response.status_code == HTTPStatus.CREATED
        assert published == []
    event = OutboxEvent.objects.get(transaction_id=response.json()["id"])
    assert event.status == OutboxEvent.Status.PENDING

    for callback in callbacks:
        callback()

    assert published == [event.pk]


def test_a_rolled_back_write_publishes_nothing_and_leaves_no_event(published, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.transaction_create(
            user_id=7,
            full_name="Kofi Boateng",
            transaction_date=timezone.now(),
            transaction_amount="50.00",
            transaction_type="credit",
        )
        raise RuntimeError("the caller changed its mind")

    assert callbacks == []
    assert published == []
    assert not OutboxEvent.objects.exists()
    assert not Transaction.objects.exists()


def test_the_event_is_stored_in_the_writes_own_transaction(write_client, txn_body, published):
    table = OutboxEvent._meta.db_table
    write_client.raise_request_exception = False
    with connection.cursor() as cursor:  # the outbox is unavailable: its insert fails in the database
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        response = write_client.post(LIST, txn_body, format="json")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert not Transaction.objects.exists()
    assert not UserDayFigures.objects.exists()
    assert published == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs them one after the other")
def test_on_postgresql_the_figures_the_overview_note_and_the_event_are_one_statement():
    with CaptureQueriesContext(connection) as queries:
        services.transaction_create(
            user_id=7,
            full_name="Kofi Boateng",
            transaction_date=timezone.now(),
            transaction_amount=Decimal("50.00"),
            transaction_type="credit",
        )

    owed = [query["sql"] for query in queries if OutboxEvent._meta.db_table in query["sql"]]
    assert len(owed) == 1
    assert UserDayFigures._meta.db_table in owed[0] and OverviewChange._meta.db_table in owed[0]
    assert UserDayFigures.objects.get(user_id=7).credit_cents == 5000
    assert OverviewChange.objects.count() == 1


def test_update_and_delete_store_events_naming_both_users(write_api):
    txn = write_api.create(user_id=1)
    write_api.patch(txn["id"], user_id=2)
    write_api.delete(txn["id"])

    events = list(OutboxEvent.objects.values_list("kind", "user_id", "previous_user_id", "status"))
    assert events == [
        ("created", 1, None, "done"),
        ("updated", 2, 1, "done"),
        ("deleted", 2, None, "done"),
    ]


@override_settings(LARGE_TRANSACTION_THRESHOLD=Decimal("1000.00"))
def test_delivering_the_same_event_twice_applies_it_once(write_client, txn_body, published):
    response = write_client.post(LIST, {**txn_body, "transaction_amount": "5000.00"}, format="json")
    event = OutboxEvent.objects.get(transaction_id=response.json()["id"])

    tasks.process_event.apply(args=[event.pk])
    stats_after_first = UserStatistics.objects.values().get(user_id=42)
    tasks.process_event.apply(args=[event.pk])

    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DONE
    assert event.attempts == 1
    assert Alert.objects.filter(transaction_id=event.transaction_id).count() == 1
    assert UserStatistics.objects.values().get(user_id=42) == stats_after_first


def test_statistics_follow_creates_moves_and_deletes(write_api):
    first = write_api.create(user_id=1, transaction_amount="100.00", transaction_date="2026-01-01T10:00:00Z")
    write_api.create(
        user_id=1, transaction_amount="40.00", transaction_type="debit", transaction_date="2026-02-01T10:00:00Z"
    )
    stats = UserStatistics.objects.get(user_id=1)
    assert (stats.transaction_count, stats.credit_total, stats.debit_total) == (2, 100, 40)
    assert stats.first_transaction_at == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    assert stats.last_transaction_at == dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC)

    write_api.patch(first["id"], user_id=2)

    moved_from, moved_to = UserStatistics.objects.get(user_id=1), UserStatistics.objects.get(user_id=2)
    assert (moved_from.transaction_count, moved_from.credit_total) == (1, 0)
    assert (moved_to.transaction_count, moved_to.credit_total) == (1, 100)
    assert moved_to.last_event_id == OutboxEvent.objects.latest("id").pk

    write_api.delete(first["id"])

    emptied = UserStatistics.objects.get(user_id=2)
    assert (emptied.transaction_count, emptied.first_transaction_at) == (0, None)


def test_a_task_that_keeps_failing_is_retried_then_recorded_failed_and_can_be_requeued(
    write_client, txn_body, published, monkeypatch, django_capture_on_commit_callbacks
):
    response = write_client.post(LIST, txn_body, format="json")
    event = OutboxEvent.objects.get(transaction_id=response.json()["id"])
    real_refresh = statistics.refresh_locked
    calls = []

    def failing_refresh(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("statistics store unreachable")

    monkeypatch.setattr(statistics, "refresh_locked", failing_refresh)
    tasks.process_event.apply(args=[event.pk])

    event.refresh_from_db()
    assert len(calls) == event.attempts == settings.OUTBOX_MAX_ATTEMPTS
    assert event.status == OutboxEvent.Status.FAILED
    assert event.last_error == "ConnectionError: statistics store unreachable"
    assert not UserStatistics.objects.filter(user_id=42, transaction_count=1).exists()

    monkeypatch.setattr(statistics, "refresh_locked", real_refresh)
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.requeue(event_ids=[event.pk])
    assert published == [event.pk]
    tasks.process_event.apply(args=[event.pk])

    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == (OutboxEvent.Status.DONE, 1, "")
    assert UserStatistics.objects.get(user_id=42).transaction_count == 1


def test_a_failure_followed_by_success_is_done_after_a_retry(write_client, txn_body, published, monkeypatch):
    response = write_client.post(LIST, txn_body, format="json")
    event = OutboxEvent.objects.get(transaction_id=response.json()["id"])
    real_refresh = statistics.refresh_locked
    failures = [ConnectionError("blip")]

    def flaky_refresh(*args, **kwargs):
        if failures:
            raise failures.pop()
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(statistics, "refresh_locked", flaky_refresh)
    tasks.process_event.apply(args=[event.pk])

    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxEvent.Status.DONE, 2)


def test_retry_delays_grow_exponentially_with_jitter():
    delays = [outbox.retry_delay(attempts) for attempts in range(1, 10)]
    bases = [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert all(base <= delay <= base * 1.25 for base, delay in zip(bases, delays, strict=True))


def test_the_relay_publishes_pending_events_once_per_lease_and_skips_done_ones(write_client, txn_body, published):
    first = write_client.post(LIST, txn_body, format="json").json()
    second = write_client.post(LIST, txn_body, format="json").json()
    done = write_client.post(LIST, txn_body, format="json").json()
    OutboxEvent.objects.filter(transaction_id=done["id"]).update(status=OutboxEvent.Status.DONE)
    pending = list(
        OutboxEvent.objects.filter(transaction_id__in=[first["id"], second["id"]]).values_list("pk", flat=True)
    )

    assert tasks.relay_pending_work.apply().get() == {"events": 2, "alert_deliveries": 0}
    assert published == sorted(pending)
    # Claimed for a lease: the next run does not publish them again while a worker works on them.
    assert tasks.relay_pending_work.apply().get() == {"events": 0, "alert_deliveries": 0}
    later = timezone.now() + dt.timedelta(seconds=settings.OUTBOX_RELAY_LEASE + 1)
    assert outbox.relay(now=later).published == 2


@override_settings(OUTBOX_RELAY_BATCH=2)
def test_the_relay_publishes_a_backlog_in_batches_in_one_run(write_client, txn_body, published):
    for _ in range(5):
        write_client.post(LIST, txn_body, format="json")

    assert outbox.relay() == outbox.Relayed(5, complete=True)
    assert published == sorted(OutboxEvent.objects.values_list("pk", flat=True))


def test_a_failed_publish_stops_the_relay_and_leaves_the_rest_due_for_the_next_run(write_client, txn_body, monkeypatch):
    for _ in range(3):
        write_client.post(LIST, txn_body, format="json")
    attempts = []

    def broker_down_after_one(event_id):
        attempts.append(event_id)
        return len(attempts) == 1

    monkeypatch.setattr(outbox, "publish", broker_down_after_one)

    assert outbox.relay() == outbox.Relayed(1, complete=False)
    assert len(attempts) == 2
    # The unpublished two are due at once; the published one is leased.
    monkeypatch.setattr(outbox, "publish", lambda event_id: attempts.append(event_id) or True)
    assert outbox.relay() == outbox.Relayed(2, complete=True)
    assert set(attempts[2:]) == set(OutboxEvent.objects.values_list("pk", flat=True)) - {attempts[0]}


def test_with_a_broker_a_write_publishes_nothing_itself(
    write_client, txn_body, published, django_capture_on_commit_callbacks
):
    celery_app.conf.task_always_eager = False  # restored by the _task_mode fixture
    with django_capture_on_commit_callbacks(execute=True):
        response = write_client.post(LIST, txn_body, format="json")
    assert response.status_code == HTTPStatus.CREATED

    assert published == []
    assert outbox.relay().published == 1
    assert published == [OutboxEvent.objects.get(transaction_id=response.json()["id"]).pk]


def test_bulk_loads_are_brought_up_to_date_by_refresh_users():
    when = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    services.transactions_bulk_create(
        rows=[
            {
                "user_id": user_id,
                "full_name": "Esi Owusu",
                "transaction_date": when,
                "transaction_amount": "20.00",
                "transaction_type": "credit",
            }
            for user_id in (5, 5, 6)
        ]
    )
    assert not UserStatistics.objects.exists()

    assert statistics.refresh_users() == 2

    assert dict(UserStatistics.objects.values_list("user_id", "transaction_count")) == {5: 2, 6: 1}
    assert not Alert.objects.exists()
